"""Fault injection for the Kubernetes API emulator: a sandbox-only extension, not part of the Kubernetes API.

Tests arm rules; every resource request that matches a live rule gets the rule's fault instead of (or
before) its normal answer. Only the admin bearer token (``STATE/admin-token``, system:admin) may use it.

    POST   /_sandbox/faults        one rule, or {"rules": [...]}       -> {"ids": [1, 2]}
    GET    /_sandbox/faults        every rule (live and spent) with its hits, and the hit log
    DELETE /_sandbox/faults        clear every rule (held requests are released); ?hits=true clears the log
    DELETE /_sandbox/faults/{id}   clear one rule

A rule (JSON; unknown fields are a 400):

    verb        "get" | "list" | "watch" | "create" | "update" | "patch" | "delete" | "deletecollection",
                a list of them, or "*" (default)
    resource    "secrets" (the resource itself, no subresource), "edgepublications/status" (that subresource),
                "secrets/*" (the resource or any subresource) or "*" (anything; default)
    group       the API group ("" is core); default: any
    namespace   exact namespace of the request path; a cluster-wide list or watch has none; default: any
    name        exact object name (a create is matched by the name in its body); default: any
    userAgent   a substring of the request's User-Agent ("kopf/", "OpenAPI-Generator/"): fault one client only
    fault       "conflict"  409 Status, reason Conflict, the real "the object has been modified" message
                "internal"  500 Status, reason InternalError ("etcdserver: request timed out")
                "stall"     never answer; a watch gets its 200 and headers, then nothing, connection kept open
                "cut"       close the connection: a watch ``afterSeconds`` (default 0.2) into the stream, any
                            other request at once, without an answer
                "gone"      410: a watch that resumes from a resourceVersion gets 200 and an ERROR event with
                            the Status "too old resource version: RV (CURRENT)" (reason Expired), as the real
                            server sends it; a watch without one and any other request get HTTP 410
                "hold"      keep the request unanswered and unapplied until the rule is cleared, then serve it
                            normally (a client that went away meanwhile gets nothing and changes nothing)
    count       fault the first N matching requests (default 1)
    seconds     instead: fault every matching request for this many seconds from arming
    afterSeconds  "cut" on a new watch: how long the stream flows before it is cut

Arming a "stall" or "cut" rule that matches watches also applies it, at once, to the watch streams already
open (each counts as a hit): that is how a long-lived stream stalls or breaks in real life.

Every fault applied is logged (WARNING) and recorded in the hit log: time, rule id, fault, verb, path.
With no live rule the request path pays one truthiness test; open watches are tracked in a set.

Gaps:
- A stalled watch that was already open keeps being written by the emulator: its bytes are discarded at the
  transport, so the client sees silence (as with a real stall), but nothing queues up in the kernel.
- "cut" closes the TCP/TLS connection abruptly (no close_notify); there is no half-open connection, no
  connection refused (the listening socket stays up) and no latency injection short of "hold".
- "gone" on a watch that is already open is not supported (only new watch requests get it).
- Requests outside resource paths (discovery, /version, health) are never faulted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .api import JSON, SYSTEM_ADMIN, ApiError, ResourceType, UserInfo
from .errors import bad_request, conflict, expired
from .routing import Route

log = logging.getLogger(__name__)

PATH = "/_sandbox/faults"
FAULTS = ("conflict", "internal", "stall", "cut", "gone", "hold")
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
_RULE_FIELDS = {
    "verb",
    "resource",
    "group",
    "namespace",
    "name",
    "userAgent",
    "fault",
    "count",
    "seconds",
    "afterSeconds",
}
_POLL = 0.25  # how often a held or stalled request checks whether its client went away
_HIT_LOG = 2000
_ETCD_TIMEOUT = "etcdserver: request timed out"

Handle = Callable[[], Awaitable[web.StreamResponse]]


@dataclass
class Rule:
    id: int
    fault: str
    verbs: frozenset[str]  # empty: any
    plural: str  # "*": any
    subresource: str | None  # None: the resource itself; "*": itself or any subresource
    group: str | None
    namespace: str | None
    name: str | None
    user_agent: str | None
    count: int | None
    until: float | None  # time.monotonic() deadline
    after_seconds: float
    hits: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def live(self, now: float) -> bool:
        if self.released.is_set():
            return False
        if self.until is not None:
            return now < self.until
        return self.count is None or self.hits < self.count

    def matches(self, verb: str, route: Route, name: str | None, agent: str) -> bool:
        group = route.group_version.rpartition("/")[0]
        return (
            (not self.verbs or verb in self.verbs)
            and self.plural in ("*", route.plural)
            and (self.plural == "*" or self.subresource in ("*", route.subresource))
            and self.group in (None, group)
            and self.namespace in (None, route.namespace)
            and self.name in (None, name)
            and (self.user_agent is None or self.user_agent in agent)
        )

    def report(self, now: float) -> JSON:
        return {
            "id": self.id,
            "fault": self.fault,
            "verb": sorted(self.verbs) or "*",
            "resource": self.plural if self.subresource is None else f"{self.plural}/{self.subresource}",
            "group": self.group,
            "namespace": self.namespace,
            "name": self.name,
            "userAgent": self.user_agent,
            "count": self.count,
            "secondsLeft": None if self.until is None else max(self.until - now, 0.0),
            "hits": self.hits,
            "live": self.live(now),
        }


def parse_rule(raw: Any, rule_id: int) -> Rule:
    """A rule from its JSON; 400 BadRequest naming the field that is wrong."""
    if not isinstance(raw, dict):
        raise bad_request("a fault rule must be a JSON object")
    unknown = sorted(set(raw) - _RULE_FIELDS)
    if unknown:
        raise bad_request(f"unknown fault rule fields: {', '.join(unknown)}")
    fault = raw.get("fault")
    if fault not in FAULTS:
        raise bad_request(f"fault: must be one of {', '.join(FAULTS)}")
    verbs = raw.get("verb", "*")
    verbs = [] if verbs == "*" else [verbs] if isinstance(verbs, str) else verbs
    if not isinstance(verbs, list) or any(v not in VERBS for v in verbs):
        raise bad_request(f"verb: must be '*' or one or a list of {', '.join(VERBS)}")
    resource = raw.get("resource", "*")
    if not isinstance(resource, str) or not resource or resource.count("/") > 1:
        raise bad_request("resource: must be PLURAL, PLURAL/SUBRESOURCE, PLURAL/* or *")
    plural, _, subresource = resource.partition("/")
    texts = {key: raw.get(key) for key in ("group", "namespace", "name", "userAgent")}
    if any(value is not None and not isinstance(value, str) for value in texts.values()):
        raise bad_request("group, namespace, name and userAgent must be strings")
    count, seconds = raw.get("count"), raw.get("seconds")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise bad_request("count: must be a positive integer")
    if seconds is not None and (not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0):
        raise bad_request("seconds: must be a positive number")
    after = raw.get("afterSeconds", 0.2)
    if not isinstance(after, int | float) or isinstance(after, bool) or after < 0:
        raise bad_request("afterSeconds: must be a number >= 0")
    return Rule(
        id=rule_id,
        fault=str(fault),
        verbs=frozenset(verbs),
        plural=plural,
        subresource=subresource or None,
        group=texts["group"],
        namespace=texts["namespace"],
        name=texts["name"],
        user_agent=texts["userAgent"],
        count=None if seconds is not None else (count or 1),
        until=None if seconds is None else time.monotonic() + float(seconds),
        after_seconds=float(after),
    )


def request_verb(request: web.Request, route: Route) -> str:
    """The Kubernetes verb of a resource request, as the API server's RequestInfo names it."""
    method, named = request.method, route.name is not None
    if method == "GET" and (request.query.get("watch") in ("true", "1") or route.legacy_watch):
        return "watch"
    verbs = {"GET": "get" if named else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
             "DELETE": "delete" if named else "deletecollection"}  # fmt: skip
    return verbs.get(method, method.lower())


def internal_error() -> ApiError:
    return ApiError(
        500, "InternalError", f"Internal error occurred: {_ETCD_TIMEOUT}", {"causes": [{"message": _ETCD_TIMEOUT}]}
    )


@dataclass(eq=False)  # tracked in a set by identity
class OpenWatch:
    request: web.Request
    route: Route


class FaultInjector:
    """The armed rules, the hit log and the open watch streams of one emulator."""

    def __init__(self, current_resource_version: Callable[[], int]) -> None:
        self._resource_version = current_resource_version
        self._live: list[Rule] = []  # the fast path tests only this list
        self._rules: dict[int, Rule] = {}
        self._next_id = 1
        self._watches: set[OpenWatch] = set()
        self._closing = asyncio.Event()
        self.hits: deque[JSON] = deque(maxlen=_HIT_LOG)

    # --- the request path ---

    async def serve(self, request: web.Request, route: Route, handle: Handle) -> web.StreamResponse:
        """Serve a resource request, faulted when a live rule matches it."""
        if not self._live:
            return await self._serve_tracked(request, route, handle)
        verb = request_verb(request, route)
        name = route.name or (await _body_name(request) if verb == "create" else None)
        rule = self._match(verb, route, name, request.headers.get("User-Agent", ""))
        if rule is None:
            return await self._serve_tracked(request, route, handle)
        self._hit(rule, verb, request)
        return await self._apply(rule, verb, request, route, handle)

    async def _serve_tracked(self, request: web.Request, route: Route, handle: Handle) -> web.StreamResponse:
        if request.method != "GET" or not (route.legacy_watch or request.query.get("watch") in ("true", "1")):
            return await handle()
        with self._tracked(request, route):
            return await handle()

    @contextlib.contextmanager
    def _tracked(self, request: web.Request, route: Route) -> Iterator[None]:
        watch = OpenWatch(request, route)
        self._watches.add(watch)
        try:
            yield
        finally:
            self._watches.discard(watch)

    def _match(self, verb: str, route: Route, name: str | None, agent: str) -> Rule | None:
        now = time.monotonic()
        self._live = [rule for rule in self._live if rule.live(now)]
        return next((rule for rule in self._live if rule.matches(verb, route, name, agent)), None)

    def _hit(self, rule: Rule, verb: str, request: web.Request) -> None:
        rule.hits += 1
        if not rule.live(time.monotonic()):
            self._live = [r for r in self._live if r is not rule]
        path = request.path
        self.hits.append({"time": time.time(), "rule": rule.id, "fault": rule.fault, "verb": verb, "path": path})
        log.warning("fault injected by rule %d: %s on %s %s", rule.id, rule.fault, verb, path)

    async def _apply(
        self, rule: Rule, verb: str, request: web.Request, route: Route, handle: Handle
    ) -> web.StreamResponse:
        fault, watch = rule.fault, verb == "watch"
        if fault == "conflict":
            raise conflict_error(route, await _body_name(request) if verb == "create" else route.name)
        if fault == "internal":
            raise internal_error()
        if fault == "gone":
            return await self._gone(request, watch)
        if fault == "stall":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            if watch:
                await response.prepare(request)
            await self._until_gone(request)
            return response
        if fault == "cut":
            transport = request.transport
            if not watch or transport is None:
                if transport is not None:
                    transport.abort()
                return web.Response()
            asyncio.get_running_loop().call_later(rule.after_seconds, transport.abort)
            with self._tracked(request, route):
                return await handle()
        # hold: answer normally once released, unless the client left meanwhile
        await self._until_gone(request, rule.released)
        if request.transport is None or request.transport.is_closing():
            return web.Response()
        return await self._serve_tracked(request, route, handle)

    async def _gone(self, request: web.Request, watch: bool) -> web.StreamResponse:
        current = self._resource_version()
        since = request.query.get("resourceVersion", "")
        requested = int(since) if since.isdigit() else current
        error = expired(requested, current)
        if not watch or since in ("", "0"):
            raise error
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        event = {"type": "ERROR", "object": error.status()}
        await response.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
        await response.write_eof()
        return response

    async def _until_gone(self, request: web.Request, released: asyncio.Event | None = None) -> None:
        """Wait until the client goes away, the emulator stops, or ``released`` is set."""
        while not self._closing.is_set() and not (released is not None and released.is_set()):
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            waiters = [asyncio.ensure_future(self._closing.wait())]
            if released is not None:
                waiters.append(asyncio.ensure_future(released.wait()))
            _, pending = await asyncio.wait(waiters, timeout=_POLL, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()

    # --- arming and clearing ---

    def arm(self, raw_rules: list[Any]) -> list[int]:
        rules = [parse_rule(raw, self._next_id + i) for i, raw in enumerate(raw_rules)]
        self._next_id += len(rules)
        for rule in rules:
            self._rules[rule.id] = rule
            self._live.append(rule)
            if rule.fault in ("stall", "cut"):
                self._apply_to_open_watches(rule)
        return [rule.id for rule in rules]

    def _apply_to_open_watches(self, rule: Rule) -> None:
        for watch in list(self._watches):
            transport = watch.request.transport
            if not rule.live(time.monotonic()) or transport is None or transport.is_closing():
                continue
            agent = watch.request.headers.get("User-Agent", "")
            if not rule.matches("watch", watch.route, watch.route.name, agent):
                continue
            self._hit(rule, "watch", watch.request)
            if rule.fault == "cut":
                transport.abort()
            else:
                _silence(transport)

    def clear(self, rule_id: int | None = None, *, hits: bool = False) -> int:
        chosen = list(self._rules.values()) if rule_id is None else [self._rules[rule_id]]
        for rule in chosen:
            rule.released.set()
            del self._rules[rule.id]
        gone = {rule.id for rule in chosen}
        self._live = [rule for rule in self._live if rule.id not in gone]
        if hits:
            self.hits.clear()
        return len(chosen)

    def report(self) -> JSON:
        now = time.monotonic()
        return {
            "rules": [rule.report(now) for rule in self._rules.values()],
            "hits": list(self.hits),
            "openWatches": len(self._watches),
        }

    def close(self) -> None:
        """The emulator stops: stalled and held requests end."""
        self._closing.set()

    # --- the admin endpoint ---

    async def admin(self, request: web.Request, path: str, user: UserInfo) -> JSON:
        """``/_sandbox/faults[/{id}]``; the caller must be the sandbox admin (403 otherwise)."""
        if user is not SYSTEM_ADMIN:
            raise ApiError(403, "Forbidden", f'User "{user.username}" cannot use the sandbox fault endpoint')
        rest = path[len(PATH) :].strip("/")
        if request.method == "GET" and not rest:
            return self.report()
        if request.method == "POST" and not rest:
            try:
                body = json.loads(await request.read() or b"null")
            except ValueError as error:
                raise bad_request(f"fault rules are not JSON: {error}") from None
            raw_rules = body.get("rules") if isinstance(body, dict) and "rules" in body else [body]
            if not isinstance(raw_rules, list):
                raise bad_request("rules: must be a list")
            return {"ids": self.arm(raw_rules)}
        if request.method == "DELETE":
            if not rest:
                return {"cleared": self.clear(hits=request.query.get("hits") == "true")}
            if rest.isdigit() and int(rest) in self._rules:
                return {"cleared": self.clear(int(rest))}
        raise ApiError(404, "NotFound", "the server could not find the requested resource")


def conflict_error(route: Route, name: str | None) -> ApiError:
    """The real 409: ``Operation cannot be fulfilled on PLURAL.GROUP "NAME": the object has been modified...``."""
    group, _, version = route.group_version.rpartition("/")
    return conflict(ResourceType(group, version, route.plural, "", True), name or "")


def _silence(transport: asyncio.BaseTransport) -> None:
    """A stall on an open stream: nothing more reaches the client, the connection stays open."""

    def discard(*_: Any) -> None:
        return None

    transport.write = discard  # type: ignore[attr-defined]
    transport.writelines = discard  # type: ignore[attr-defined]


async def _body_name(request: web.Request) -> str | None:
    """``metadata.name`` of a JSON create body (aiohttp caches the body for the real handler)."""
    if not request.can_read_body:
        return None
    try:
        body = json.loads(await request.read())
    except ValueError:
        return None
    metadata = body.get("metadata") if isinstance(body, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None
