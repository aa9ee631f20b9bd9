"""Prometheus metrics of the operator (``prometheus_client``), served on ``--metrics-address``.

One :class:`OperatorMetrics` per process holds its own ``CollectorRegistry`` (never the library's global
one, so a test can :func:`use` a fresh instance). The rest of the code calls the small functions below:

- handlers wrap each reconcile in :func:`reconciling` and report its :class:`Outcome` with
  :func:`record_outcome`, and call :func:`forget_resource` once an object is finalized;
- clients wrap their single send point in :func:`exchange_call`, :func:`registry_call` or
  :func:`ibmcloud_call`, and the IAM token cache reports expiries with :func:`record_iam_token`
  (attributed to the resource being reconciled through a context variable, so the reconcile code
  stays unaware of metrics).

Label values are kinds, fixed words, HTTP status codes, path templates (``metrics_paths``) and the
namespace/name of our own resources: never an id, URL, token or password.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from horizon_publisher.conditions import READY
from horizon_publisher.metrics_paths import exchange_template, ibmcloud_api, registry_operation
from horizon_publisher.reconcile.outcome import Outcome

log = logging.getLogger(__name__)

PREFIX = "horizon_publisher_"
KINDS = ("EdgeServiceImage", "EdgePublication")
PUBLICATION_KIND = "EdgePublication"
READY_STATES = ("True", "False", "Unknown")
RESULTS = ("ready", "waiting", "failed", "invalid", "error")
SERVICE_ACCOUNT = "serviceaccount"  # the token label of token_expiry_timestamp_seconds
IAM = "iam"
TOKEN_LABELS = (SERVICE_ACCOUNT, IAM)
ERROR_CODE = "error"  # code label of a request that got no HTTP answer (connection, TLS, timeout)

# Reconciles may copy images (minutes); HTTP calls stream blobs (tens of seconds at worst).
RECONCILE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def result_of(outcome: Outcome) -> str:
    """Ready True -> ready, Unknown -> waiting, False -> failed (invalid when the spec is the reason)."""
    ready = next((c for c in outcome.conditions if c.type == READY), None)
    if ready is None or ready.status == "Unknown":
        return "waiting"
    if ready.status == "True":
        return "ready"
    return "invalid" if ready.reason == "InvalidSpec" else "failed"


@dataclass
class _Tracked:
    kind: str
    namespace: str
    name: str
    ready: str


class OperatorMetrics:
    """The metric families and the per-object memory behind the gauges. Thread-safe."""

    def __init__(self, *, process_collectors: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.reconciles = Counter(
            f"{PREFIX}reconcile_total", "Reconciles by kind and result", ["kind", "result"], registry=r
        )
        self.reconcile_seconds = Histogram(
            f"{PREFIX}reconcile_duration_seconds", "Reconcile time", ["kind"], buckets=RECONCILE_BUCKETS, registry=r
        )
        self.exchange_requests = Counter(
            f"{PREFIX}exchange_requests_total",
            "Exchange HTTP requests by method, path template and status",
            ["method", "endpoint", "code"],
            registry=r,
        )
        self.exchange_seconds = Histogram(
            f"{PREFIX}exchange_request_duration_seconds",
            "Exchange request time",
            ["method", "endpoint"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.registry_requests = Counter(
            f"{PREFIX}registry_requests_total",
            "Registry requests by operation and status",
            ["operation", "code"],
            registry=r,
        )
        self.registry_seconds = Histogram(
            f"{PREFIX}registry_request_duration_seconds",
            "Registry request time (to the response headers)",
            ["operation"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.ibmcloud_requests = Counter(
            f"{PREFIX}ibmcloud_requests_total",
            "IBM Cloud IAM and Container Registry API requests",
            ["api", "code"],
            registry=r,
        )
        self.ibmcloud_seconds = Histogram(
            f"{PREFIX}ibmcloud_request_duration_seconds",
            "IBM Cloud request time",
            ["api"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.token_expiry = Gauge(
            f"{PREFIX}token_expiry_timestamp_seconds",
            "When the registry token a resource uses expires (Unix time)",
            ["namespace", "name", "kind", "token"],
            registry=r,
        )
        self.resources = Gauge(
            f"{PREFIX}resources", "Resources by kind and Ready status", ["kind", "ready"], registry=r
        )
        self.published_services = Gauge(
            f"{PREFIX}published_services",
            "Exchange services an EdgePublication has published",
            ["namespace", "name"],
            registry=r,
        )
        if process_collectors:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        for kind in KINDS:  # every series from the start, so rate() and absent() work on a fresh operator
            for result in RESULTS:
                self.reconciles.labels(kind, result)
            for ready in READY_STATES:
                self.resources.labels(kind, ready).set(0)
        self._lock = threading.Lock()
        self._tracked: dict[str, _Tracked] = {}  # by uid: what the gauges count for that object

    def track(self, uid: str, kind: str, namespace: str, name: str, ready: str) -> None:
        """Count the object under its current Ready status (moving it from its previous one)."""
        with self._lock:
            before = self._tracked.get(uid)
            self._tracked[uid] = _Tracked(kind, namespace, name, ready)
            if before is not None and (before.kind, before.ready) != (kind, ready):
                self.resources.labels(before.kind, before.ready).dec()
            if before is None or (before.kind, before.ready) != (kind, ready):
                self.resources.labels(kind, ready).inc()

    def untrack(self, uid: str) -> None:
        """The object is gone: uncount it and drop its own series."""
        with self._lock:
            before = self._tracked.pop(uid, None)
            if before is None:
                return
            self.resources.labels(before.kind, before.ready).dec()
            for token in TOKEN_LABELS:
                self.token_expiry.remove(before.namespace, before.name, before.kind, token)
            if before.kind == PUBLICATION_KIND:  # an image of the same name has no series of its own here
                self.published_services.remove(before.namespace, before.name)


_current = OperatorMetrics()


def current() -> OperatorMetrics:
    return _current


def use(metrics: OperatorMetrics) -> OperatorMetrics:
    """Make ``metrics`` the process's metrics (tests); returns the previous instance."""
    global _current  # one registry per process is the point
    previous, _current = _current, metrics
    return previous


# --- reconciles ---------------------------------------------------------------------------------------


@dataclass
class _Reconcile:
    kind: str
    namespace: str
    name: str
    uid: str
    result: str | None = None
    iam_expires_at: float | None = None


_reconcile: contextvars.ContextVar[_Reconcile | None] = contextvars.ContextVar("horizon_reconcile", default=None)


@contextmanager
def reconciling(kind: str, namespace: str, name: str, uid: str) -> Iterator[None]:
    """Time one reconcile and count it by the result :func:`record_outcome` saw (``error`` if none)."""
    scope = _Reconcile(kind, namespace, name, uid)
    token = _reconcile.set(scope)
    started = time.perf_counter()
    try:
        yield
    finally:
        _reconcile.reset(token)
        metrics = _current
        metrics.reconcile_seconds.labels(kind).observe(time.perf_counter() - started)
        metrics.reconciles.labels(kind, scope.result or "error").inc()
        if scope.iam_expires_at is not None:
            metrics.token_expiry.labels(namespace, name, kind, IAM).set(scope.iam_expires_at)
        elif scope.result is not None:  # a full pass without IAM: this resource has no IAM token (any more)
            metrics.token_expiry.remove(namespace, name, kind, IAM)


def record_outcome(outcome: Outcome, status: Mapping[str, Any]) -> None:
    """Inside :func:`reconciling`: the result, the Ready gauge, token expiry and published services.

    ``status``: the object's status as it will be after this reconcile's patch.
    """
    scope = _reconcile.get()
    if scope is None:
        return
    scope.result = result_of(outcome)
    ready = next((c.status for c in outcome.conditions if c.type == READY), "Unknown")
    metrics = _current
    metrics.track(scope.uid, scope.kind, scope.namespace, scope.name, ready)
    expiry = _epoch((status.get("credentials") or {}).get("tokenExpirationTime"))
    if expiry is not None:
        metrics.token_expiry.labels(scope.namespace, scope.name, scope.kind, SERVICE_ACCOUNT).set(expiry)
    else:
        metrics.token_expiry.remove(scope.namespace, scope.name, scope.kind, SERVICE_ACCOUNT)
    if scope.kind == PUBLICATION_KIND:
        published = [s for s in status.get("services") or [] if isinstance(s, Mapping) and s.get("id")]
        metrics.published_services.labels(scope.namespace, scope.name).set(len(published))


def forget_resource(uid: str) -> None:
    """The object was finalized: it leaves the Ready count and its own series disappear."""
    _current.untrack(uid)


def record_iam_token(expires_at: float) -> None:
    """The IAM token the current reconcile uses expires at ``expires_at`` (epoch seconds)."""
    scope = _reconcile.get()
    if scope is not None:
        scope.iam_expires_at = expires_at


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


# --- requests -----------------------------------------------------------------------------------------


@dataclass
class Call:
    """One request being timed; set ``status`` once the server answered (left ``None``: no answer)."""

    status: int | None = None


def record_exchange_request(method: str, path: str, status: int | None, seconds: float) -> None:
    endpoint = exchange_template(path)
    _current.exchange_requests.labels(method, endpoint, _code(status)).inc()
    _current.exchange_seconds.labels(method, endpoint).observe(seconds)


def record_registry_request(method: str, url: str, status: int | None, seconds: float, operation: str = "") -> None:
    operation = operation or registry_operation(method, url)
    _current.registry_requests.labels(operation, _code(status)).inc()
    _current.registry_seconds.labels(operation).observe(seconds)


def record_ibmcloud_request(method: str, path: str, status: int | None, seconds: float) -> None:
    api = ibmcloud_api(method, path)
    _current.ibmcloud_requests.labels(api, _code(status)).inc()
    _current.ibmcloud_seconds.labels(api).observe(seconds)


@contextmanager
def exchange_call(method: str, path: str) -> Iterator[Call]:
    call, started = Call(), time.perf_counter()
    try:
        yield call
    finally:
        record_exchange_request(method.upper(), path, call.status, time.perf_counter() - started)


@contextmanager
def registry_call(method: str, url: str, operation: str = "") -> Iterator[Call]:
    """``operation``: when the URL cannot tell (``token`` for the token realm)."""
    call, started = Call(), time.perf_counter()
    try:
        yield call
    finally:
        record_registry_request(method, url, call.status, time.perf_counter() - started, operation)


@contextmanager
def ibmcloud_call(method: str, path: str) -> Iterator[Call]:
    call, started = Call(), time.perf_counter()
    try:
        yield call
    finally:
        record_ibmcloud_request(method, path, call.status, time.perf_counter() - started)


def _code(status: int | None) -> str:
    return ERROR_CODE if status is None else str(int(status))


# --- exposition ---------------------------------------------------------------------------------------


def parse_address(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[v6]:PORT`` too) -> (host, port); ``''`` -> None (metrics off); ValueError otherwise."""
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


@dataclass
class MetricsServer:
    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(address: str, metrics: OperatorMetrics | None = None) -> MetricsServer | None:
    """Serve ``/metrics`` on exactly ``address`` in a daemon thread; None when ``address`` is ''.

    Port 0 picks a free port (see the returned server). OSError when the address cannot be bound.
    """
    parsed = parse_address(address)
    if parsed is None:
        return None
    host, port = parsed
    server, thread = start_http_server(port, addr=host, registry=(metrics or _current).registry)
    return MetricsServer(host, int(server.server_port), server, thread)
