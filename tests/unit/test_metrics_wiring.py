"""Metrics wiring: each client's send point counts what it sent (answers, retries, transport failures),
the handlers' reconcile scope and apply_outcome feed the gauges, the CLI option and the HTTP exposition."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
import requests
import yaml

from horizon_publisher import metrics
from horizon_publisher.cli import build_parser
from horizon_publisher.clients.exchange_http import ExchangeTransport, path_of
from horizon_publisher.clients.exchange_model import ExchangeEndpoint, ExchangeUnreachable
from horizon_publisher.clients.ibmcloud import IbmCloud, IbmCloudEndpoints
from horizon_publisher.clients.registry_model import RegistryEndpoint, RegistryError
from horizon_publisher.clients.registry_transport import RegistryTransport
from horizon_publisher.conditions import Condition
from horizon_publisher.handlers.common import apply_outcome, forget, reconciling
from horizon_publisher.handlers.context import OperatorContext
from horizon_publisher.metrics import OperatorMetrics, parse_address
from horizon_publisher.reconcile.outcome import Outcome
from horizon_publisher.runner import start_metrics

PASSWORD = "exchange-Pa55word"
API_KEY = "ibm-apikey-0123456789"


@pytest.fixture
def fresh() -> Iterator[OperatorMetrics]:
    made = OperatorMetrics(process_collectors=False)
    previous = metrics.use(made)
    try:
        yield made
    finally:
        metrics.use(previous)


def sample(m: OperatorMetrics, metric: str, /, **labels: str) -> float | None:
    return m.registry.get_sample_value(f"horizon_publisher_{metric}", labels)


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body if body is not None else {}).encode()
    response._content_consumed = True  # read already: closing it has no connection to release
    response.headers.update(headers or {})
    return response


class ScriptedSession(requests.Session):
    """Answers each request with the next scripted response (or raises the next exception)."""

    def __init__(self, answers: list[requests.Response | Exception]) -> None:
        super().__init__()
        self.answers = answers

    def request(self, method: str | bytes, url: str | bytes, *_: Any, **__: Any) -> requests.Response:  # type: ignore[override]
        scripted = self.answers.pop(0)
        if isinstance(scripted, Exception):
            raise scripted
        scripted.url = str(url)
        scripted.request = requests.Request(str(method), str(url)).prepare()
        return scripted


# --- clients ----------------------------------------------------------------------------------------


def exchange(answers: list[requests.Response | Exception], retries: int = 0) -> ExchangeTransport:
    endpoint = ExchangeEndpoint("https://exchange.example/v1/", "myorg", "alice", PASSWORD)
    return ExchangeTransport(
        endpoint, timeout=(1, 1), retries=retries, backoff=0, session=ScriptedSession(answers),
        sleep=lambda _: None, max_retry_after=0,
    )  # fmt: skip


def test_exchange_requests_counted_per_attempt(fresh: OperatorMetrics) -> None:
    dockauths = path_of("orgs", "myorg", "services", "com.example.x_1.0.0_amd64", "dockauths")
    exchange([answer(201, {"msg": "dockauth 7 added"})]).request("POST", dockauths, json_body={}, idempotent=False)
    exchange([answer(503), answer(200)], retries=1).request("GET", dockauths + "/7", idempotent=True)
    with pytest.raises(ExchangeUnreachable):
        exchange([requests.ConnectionError("refused")]).request("GET", "/admin/version", idempotent=True)
    template = "/orgs/{org}/services/{service}/dockauths"
    assert sample(fresh, "exchange_requests_total", method="POST", endpoint=template, code="201") == 1
    assert sample(fresh, "exchange_requests_total", method="GET", endpoint=template + "/{id}", code="503") == 1
    assert sample(fresh, "exchange_requests_total", method="GET", endpoint=template + "/{id}", code="200") == 1
    assert sample(fresh, "exchange_requests_total", method="GET", endpoint="/admin/version", code="error") == 1
    assert sample(fresh, "exchange_request_duration_seconds_count", method="GET", endpoint=template + "/{id}") == 2


def test_registry_requests_counted_with_the_token_round_trip(fresh: OperatorMetrics) -> None:
    challenge = 'Bearer realm="https://auth.example/token",service="r",scope="repository:team/app:pull"'
    answers: list[requests.Response | Exception] = [
        answer(401, headers={"WWW-Authenticate": challenge}),
        answer(200, {"token": "registry-token-xyz", "expires_in": 300}),
        answer(200),
        requests.ConnectionError("reset"),
    ]
    endpoint = RegistryEndpoint("r.example", username="u", password="registry-Pa55")
    with RegistryTransport(endpoint, session=ScriptedSession(answers)) as registry:
        url = registry.url("/v2/team/app/manifests/1.0.0")
        registry.request("GET", url, scope="repository:team/app:pull", ref="r.example/team/app:1.0.0").close()
        with pytest.raises(RegistryError):
            registry.request("HEAD", url, scope="repository:team/app:pull", ref="r.example/team/app:1.0.0")
    assert sample(fresh, "registry_requests_total", operation="manifest_get", code="401") == 1
    assert sample(fresh, "registry_requests_total", operation="token", code="200") == 1
    assert sample(fresh, "registry_requests_total", operation="manifest_get", code="200") == 1
    assert sample(fresh, "registry_requests_total", operation="manifest_head", code="error") == 1
    assert sample(fresh, "registry_request_duration_seconds_count", operation="manifest_get") == 2


def iam_token(expires: int) -> dict[str, Any]:
    claims = base64.urlsafe_b64encode(json.dumps({"account": {"bss": "acct"}, "iat": 1000, "exp": expires}).encode())
    return {"access_token": f"h.{claims.decode().rstrip('=')}.s", "expires_in": expires - 1000}


def test_ibmcloud_calls_and_the_iam_expiry_of_the_resource(fresh: OperatorMetrics) -> None:
    answers: list[requests.Response | Exception] = [answer(200, iam_token(5000)), answer(201)]
    cloud = IbmCloud(session_factory=lambda: ScriptedSession(answers), clock=lambda: 1500.0)
    endpoints = IbmCloudEndpoints("https://iam.example", "https://us.icr.example")
    labels = {"namespace": "ns", "name": "img", "kind": "EdgeServiceImage", "token": "iam"}
    with reconciling(memo(), body("u1", "img"), "EdgeServiceImage"):
        token = cloud.token(endpoints, API_KEY)
        cloud.ensure_namespace(endpoints, token, "team-a")
        metrics.record_outcome(Outcome([Condition("Ready", "True", "Reconciled")]), {})
    assert sample(fresh, "ibmcloud_requests_total", api="iam_token", code="200") == 1
    assert sample(fresh, "ibmcloud_requests_total", api="namespace_add", code="201") == 1
    assert sample(fresh, "token_expiry_timestamp_seconds", **labels) == 5000
    with reconciling(memo(), body("u1", "img"), "EdgeServiceImage"):  # cached: no request, still reported
        cloud.token(endpoints, API_KEY)
        metrics.record_outcome(Outcome([Condition("Ready", "True", "Reconciled")]), {})
    assert sample(fresh, "ibmcloud_requests_total", api="iam_token", code="200") == 1
    assert sample(fresh, "token_expiry_timestamp_seconds", **labels) == 5000


# --- handlers ---------------------------------------------------------------------------------------


def memo() -> kopf.Memo:
    return kopf.Memo(context=OperatorContext(kube=None))  # type: ignore[arg-type]


def body(uid: str, name: str = "pub") -> kopf.Body:
    return kopf.Body({"metadata": {"uid": uid, "name": name, "namespace": "ns", "generation": 1}, "status": {}})


def test_handler_scope_counts_results_and_forget_uncounts(fresh: OperatorMetrics) -> None:
    shared, subject = memo(), body("u1")
    ready = Outcome([Condition("Ready", "True", "Reconciled")], status_fields={"services": [{"arch": "a", "id": "s"}]})
    waiting = Outcome([Condition("Ready", "Unknown", "Pending")], retry_after=5, retry_reason="waiting")
    with pytest.raises(kopf.TemporaryError), reconciling(shared, subject, "EdgePublication"):
        apply_outcome(waiting, subject, kopf.Patch(), shared)
    with reconciling(shared, subject, "EdgePublication"):
        apply_outcome(ready, subject, kopf.Patch(), shared)
    assert sample(fresh, "reconcile_total", kind="EdgePublication", result="waiting") == 1  # a retry is no error
    assert sample(fresh, "reconcile_total", kind="EdgePublication", result="ready") == 1
    assert sample(fresh, "resources", kind="EdgePublication", ready="True") == 1
    assert sample(fresh, "resources", kind="EdgePublication", ready="Unknown") == 0
    assert sample(fresh, "published_services", namespace="ns", name="pub") == 1
    forget(shared, subject)
    assert sample(fresh, "resources", kind="EdgePublication", ready="True") == 0
    assert sample(fresh, "published_services", namespace="ns", name="pub") is None


# --- CLI and exposition -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "address"),
    [
        (["run"], "0.0.0.0:9090"),
        (["run", "--metrics-address", ""], ""),
        (["run", "--metrics-address", "127.0.0.1:0"], "127.0.0.1:0"),
        (["run", "--metrics-address", "[::1]:9090"], "[::1]:9090"),
    ],
)
def test_cli_metrics_address(argv: list[str], address: str) -> None:
    assert build_parser().parse_args(argv).metrics_address == address


@pytest.mark.parametrize("bad", ["9090", ":9090", "host:", "host:http", "host:65536", "[::1]"])
def test_cli_rejects_a_bad_metrics_address(bad: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--metrics-address", bad])
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address(bad)


def test_served_on_exactly_the_given_host(fresh: OperatorMetrics) -> None:
    server = metrics.serve("127.0.0.1:0", fresh)
    assert server is not None
    try:
        with requests.Session() as session:
            session.trust_env = False
            text = session.get(server.url, timeout=5).text
        assert "horizon_publisher_reconcile_total" in text
        assert "horizon_publisher_resources" in text
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.2", server.port), timeout=2):
            pass  # another loopback address: nothing listens there
    finally:
        server.close()
    assert metrics.serve("", fresh) is None


def test_a_busy_port_disables_metrics_not_the_operator(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with caplog.at_level(logging.ERROR):
            assert start_metrics(f"127.0.0.1:{busy.getsockname()[1]}") is None
    assert "metrics disabled" in caplog.text


DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_monitoring_component_scrapes_the_operator_metrics_port(tmp_path: Path) -> None:
    """Rendered with the base as an overlay would: the Service selects the operator's pods, its target port
    is the container port the CLI's default address listens on, and the ServiceMonitor selects it."""
    relative = os.path.relpath(DEPLOY, tmp_path)
    overlay = {"resources": [f"{relative}/base"], "components": [f"{relative}/components/monitoring"]}
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    rendered = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True, check=True)
    objects = {d["kind"]: d for d in yaml.safe_load_all(rendered.stdout) if d}
    service, monitor, deployment = objects["Service"], objects["ServiceMonitor"], objects["Deployment"]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == "metrics"]
    container_ports = {p["name"]: p["containerPort"] for c in deployment["spec"]["template"]["spec"]["containers"]
                       for p in c.get("ports", [])}  # fmt: skip
    default = parse_address(build_parser().parse_args(["run"]).metrics_address)
    assert default is not None
    assert container_ports[port["targetPort"]] == default[1] == port["port"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
