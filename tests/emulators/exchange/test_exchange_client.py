"""The Exchange client and ``horizon-publisher verify`` against the in-process Exchange emulator: ensure paths
with request counts, keys, dockauths, policies, patterns, errors, retries, lost POSTs, TLS, secrets."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from exchange_harness import ALICE, ALICE_API_KEY, BOB, NODE, ORG, Exchange, seeded_store, service_body
from requests.adapters import HTTPAdapter

from horizon_publisher.clients.ca_files import CA_FILES
from horizon_publisher.clients.exchange import ExchangeClient
from horizon_publisher.clients.exchange_model import (
    ExchangeConflict,
    ExchangeEndpoint,
    ExchangeForbidden,
    ExchangeNotFound,
    ExchangeRejected,
    ExchangeServerError,
    ExchangeTLSError,
    ExchangeUnauthorized,
    ExchangeUnreachable,
)
from horizon_publisher.desired.exchange_bodies import service_body as operator_service_body
from horizon_publisher.sandbox.exchange import create_exchange_app
from horizon_publisher.sandbox.pki import ensure_pki
from horizon_publisher.sandbox.tls_server import BackgroundServer, server_ssl_context
from horizon_publisher.verify import main as verify_main
from horizon_publisher.verify import verify_service

SID = "example.com-gps_1.0.0_amd64"
SVC = f"/v1/orgs/{ORG}/services/{SID}"
TOKEN = "tok-RECOGNIZABLE-0042"


@dataclass
class Fault:
    method: str
    path: str  # the request path ends with this
    kind: str  # "status" (answer without forwarding), "connect" (never sent), "lost" (sent, answer dropped)
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


class ScriptedAdapter(HTTPAdapter):
    """Records every request (method, path) and injects the scripted faults."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []
        self.faults: list[Fault] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        path = urlsplit(request.url).path
        self.calls.append((str(request.method), path))
        for fault in self.faults:
            if fault.times > 0 and fault.method == request.method and path.endswith(fault.path):
                fault.times -= 1
                if fault.kind == "connect":
                    raise requests.ConnectionError("injected: connection refused")
                if fault.kind == "lost":
                    with super().send(request, *args, **kwargs) as answered:
                        _ = answered.content
                    raise requests.ConnectionError("injected: connection reset before the answer")
                response = requests.Response()
                response.status_code, response.request, response.url = fault.status, request, str(request.url)
                response.headers.update(fault.headers)
                response._content = b'{"code":"internal_error","msg":"injected"}'
                return response
        return super().send(request, *args, **kwargs)

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]


@dataclass
class Harness:
    exchange: Exchange
    adapter: ScriptedAdapter
    sleeps: list[float]

    def client(self, user: tuple[str, str] = ALICE, **kwargs: Any) -> ExchangeClient:
        session = requests.Session()
        session.mount("http://", self.adapter)
        session.mount("https://", self.adapter)
        endpoint = ExchangeEndpoint(self.exchange.base, ORG, user[0].split("/")[1], user[1])
        return ExchangeClient(endpoint, session=session, sleep=self.sleeps.append, **kwargs)


@pytest.fixture
def harness(exchange: Exchange) -> Harness:
    return Harness(exchange, ScriptedAdapter(), [])


@pytest.fixture
def client(harness: Harness) -> Iterator[ExchangeClient]:
    with harness.client() as made:
        yield made


def _operator_body(label: str = "gps") -> dict[str, Any]:
    spec = {"label": label, "url": "https://example.com/gps", "version": "1.0.0", "sharable": "singleton",
            "userInput": [{"name": "HW_WHO", "label": "Who", "type": "string", "defaultValue": "World"}],
            "matchHardware": {"usbDeviceIds": "1546:01a7"}}  # fmt: skip
    return operator_service_body(spec, org=ORG, arch="amd64", deployment='{"services":{}}', signature="c2ln")


# --- ensure paths and request counts ---------------------------------------------------------------------


@pytest.mark.parametrize("make_body", [service_body, _operator_body], ids=["hzn-body-with-nulls", "operator-body"])
def test_ensure_service_created_unchanged_updated_with_minimal_requests(
    harness: Harness, client: ExchangeClient, make_body: Any
) -> None:
    body = make_body()
    assert client.ensure_service(SID, body) == "created"
    assert harness.adapter.calls == [("GET", SVC), ("POST", f"/v1/orgs/{ORG}/services")]
    harness.adapter.calls.clear()
    assert client.ensure_service(SID, body) == "unchanged"
    assert harness.adapter.calls == [("GET", SVC)]
    harness.adapter.calls.clear()
    assert client.ensure_service(SID, {**body, "label": "gps v2"}) == "updated"
    assert harness.adapter.calls == [("GET", SVC), ("PUT", SVC)]
    stored = client.get_service(SID)
    assert stored is not None
    assert stored["label"] == "gps v2"


@pytest.mark.parametrize(
    "change",
    [
        {"matchHardware": None},  # dropped: the Exchange stores {} now
        {"userInput": []},
        {"description": "other"},
        {"deployment": '{"services":{"x":{}}}'},
        {"public": True},
    ],
)
def test_every_field_we_send_counts(harness: Harness, client: ExchangeClient, change: dict[str, Any]) -> None:
    body = _operator_body()
    client.ensure_service(SID, body)
    assert client.ensure_service(SID, {**body, **change}) == "updated"
    assert client.ensure_service(SID, {**body, **change}) == "unchanged"


def test_required_services_compare_despite_the_filled_in_version_range(client: ExchangeClient) -> None:
    client.ensure_service("example.com-dep_1.0.0_amd64", service_body(url="https://example.com/dep"))
    ref = {"url": "https://example.com/dep", "org": ORG, "version": "1.0.0", "arch": "amd64"}
    body = service_body(requiredServices=[ref])
    assert client.ensure_service(SID, body) == "created"
    stored = client.get_service(SID)
    assert stored is not None
    assert stored["requiredServices"][0]["versionRange"] == "1.0.0"
    assert client.ensure_service(SID, body) == "unchanged"


def test_ensure_service_refuses_an_id_that_does_not_match_the_body(harness: Harness, client: ExchangeClient) -> None:
    with pytest.raises(ValueError, match="does not match"):
        client.ensure_service("other_1.0.0_amd64", service_body())
    assert harness.adapter.calls == []


@pytest.mark.parametrize(
    ("overrides", "server_says"),
    [
        ({"version": "1.0.0-beta"}, "version '1.0.0-beta' is not valid version format."),
        ({"sharable": "shared"}, "invalid value 'shared' for the sharable attribute."),
        ({"deploymentSignature": ""}, "this service definition is not signed."),
        (
            {"requiredServices": [{"url": "nope", "org": ORG, "version": "1.0.0", "arch": "amd64"}]},
            "the following required service does not exist in the exchange",
        ),
    ],
)
def test_invalid_service_is_rejected_with_the_servers_message(
    client: ExchangeClient, overrides: dict[str, Any], server_says: str
) -> None:
    body = service_body(**overrides)
    sid = client.service_id(body["url"], body["version"], body["arch"])
    with pytest.raises(ExchangeRejected) as caught:
        client.ensure_service(sid, body)
    assert server_says in caught.value.message
    assert (caught.value.status, caught.value.reason) == (400, "ExchangeRejected")


def test_delete_service_is_idempotent(client: ExchangeClient) -> None:
    client.ensure_service(SID, service_body())
    assert client.delete_service(SID) is True
    assert client.get_service(SID) is None
    assert client.delete_service(SID) is False


# --- keys, dockauths, service policy -------------------------------------------------------------------


def test_service_keys(harness: Harness, client: ExchangeClient) -> None:
    client.ensure_service(SID, service_body())
    assert client.get_service_keys(SID) == []
    assert client.ensure_service_key(SID, "k1.pem", "PEM-1\n") == "created"
    harness.adapter.calls.clear()
    assert client.ensure_service_key(SID, "k1.pem", "PEM-1\n") == "unchanged"
    assert harness.adapter.calls == [("GET", f"{SVC}/keys/k1.pem")]
    assert client.ensure_service_key(SID, "k1.pem", "PEM-2\n") == "updated"
    client.put_service_key(SID, "k2.pem", "PEM-3\n")
    assert client.get_service_keys(SID) == ["k1.pem", "k2.pem"]
    assert client.get_service_key(SID, "k1.pem") == "PEM-2\n"
    assert client.delete_service_key(SID, "k1.pem") is True
    assert client.delete_service_key(SID, "k1.pem") is False
    assert client.get_service_keys(SID) == ["k2.pem"]


def test_key_for_a_missing_service_is_not_found_without_retries(harness: Harness, client: ExchangeClient) -> None:
    with pytest.raises(ExchangeNotFound, match="parent resource does not exist"):
        client.put_service_key(SID, "k.pem", "PEM")
    assert harness.adapter.methods() == ["PUT"]


def test_dockauths_ids_duplicates_and_delete(harness: Harness, client: ExchangeClient) -> None:
    client.ensure_service(SID, service_body())
    other = "example.com-other_1.0.0_amd64"
    client.ensure_service(other, service_body(url="https://example.com/other"))
    harness.adapter.calls.clear()
    first = client.add_dockauth(SID, "reg.example:5000", "svc-user", TOKEN)
    # id 1 is announced as "dockauth resource updated": the client reads the list to learn it
    assert (first, harness.adapter.methods()) == (1, ["POST", "GET"])
    harness.adapter.calls.clear()
    second = client.add_dockauth(SID, "reg.example:5000", "svc-user", "tok-2")
    assert (second, harness.adapter.methods()) == (2, ["POST"])
    assert client.add_dockauth(SID, "reg.example:5000", "svc-user", TOKEN) == first  # server de-duplicates
    assert client.add_dockauth(other, "reg.example:5000", "", "tok-3") == 3  # one id serial for all services
    rows = client.list_dockauths(SID)
    assert [(r["dockAuthId"], r["registry"], r["username"], r["token"]) for r in rows] == [
        (1, "reg.example:5000", "svc-user", TOKEN),
        (2, "reg.example:5000", "svc-user", "tok-2"),
    ]
    assert client.delete_dockauth(SID, first) is True
    assert client.delete_dockauth(SID, first) is False
    assert [r["dockAuthId"] for r in client.list_dockauths(SID)] == [2]
    assert client.delete_dockauth(SID, 2) is True
    assert client.list_dockauths(SID) == []


def test_service_policy(harness: Harness, client: ExchangeClient) -> None:
    client.ensure_service(SID, service_body())
    policy = {"properties": [{"name": "openhorizon.service.url", "value": "https://example.com/gps"},
                             {"name": "prio", "type": "int", "value": 3}],
              "constraints": ["location == 'edge'"]}  # fmt: skip
    assert client.get_service_policy(SID) is None
    assert client.ensure_service_policy(SID, policy) == "created"
    harness.adapter.calls.clear()
    assert client.ensure_service_policy(SID, policy) == "unchanged"
    assert harness.adapter.calls == [("GET", f"{SVC}/policy")]
    assert client.ensure_service_policy(SID, {**policy, "constraints": []}) == "updated"
    stored = client.get_service_policy(SID)
    assert stored is not None
    assert stored["constraints"] == []
    with pytest.raises(ExchangeRejected, match=r"properties\.type value 'integer'"):
        client.put_service_policy(SID, {"properties": [{"name": "p", "type": "integer", "value": 1}]})
    assert client.delete_service_policy(SID) is True
    assert client.delete_service_policy(SID) is False


# --- patterns and deployment policies ------------------------------------------------------------------


def _pattern(version: str = "1.0.0") -> dict[str, Any]:
    return {"label": "gps pattern", "services": [{"serviceUrl": "https://example.com/gps", "serviceOrgid": ORG,
            "serviceArch": "amd64", "serviceVersions": [{"version": version}]}]}  # fmt: skip


def _deployment_policy(version: str = "1.0.0") -> dict[str, Any]:
    return {"label": "gps policy", "service": {"name": "https://example.com/gps", "org": ORG, "arch": "*",
            "serviceVersions": [{"version": version}]}, "properties": [{"name": "a", "value": "b"}],
            "constraints": ["purpose == gps"]}  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "make", "path"),
    [
        ("pattern", _pattern, f"/v1/orgs/{ORG}/patterns/p1"),
        ("business_policy", _deployment_policy, f"/v1/orgs/{ORG}/business/policies/p1"),
    ],
)
def test_pattern_and_deployment_policy(
    harness: Harness, client: ExchangeClient, kind: str, make: Any, path: str
) -> None:
    ensure, get, delete = (getattr(client, f"{verb}_{kind}") for verb in ("ensure", "get", "delete"))
    with pytest.raises(ExchangeRejected) as caught:
        ensure("p1", make())  # the service it references does not exist yet
    assert "the following referenced service does not exist in the exchange" in caught.value.message
    client.ensure_service(SID, service_body())
    client.ensure_service("example.com-gps_2.0.0_amd64", service_body(version="2.0.0"))
    harness.adapter.calls.clear()
    assert ensure("p1", make()) == "created"
    assert harness.adapter.calls == [("GET", path), ("POST", path)]
    harness.adapter.calls.clear()
    assert ensure("p1", make()) == "unchanged"
    assert harness.adapter.calls == [("GET", path)]
    harness.adapter.calls.clear()
    assert ensure("p1", make("2.0.0")) == "updated"
    assert harness.adapter.calls == [("GET", path), ("PUT", path)]
    assert get("p1")["label"] in ("gps pattern", "gps policy")
    assert delete("p1") is True
    assert get("p1") is None
    assert delete("p1") is False


def test_pattern_keys(client: ExchangeClient) -> None:
    client.ensure_service(SID, service_body())
    client.ensure_pattern("p1", _pattern())
    client.put_pattern_key("p1", "default.public.key", "PEM")
    assert client.get_pattern_keys("p1") == ["default.public.key"]
    assert client.delete_pattern_key("p1", "default.public.key") is True
    assert client.get_pattern_keys("p1") == []


# --- credentials and access ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", ALICE[1]), (f"{ORG}/alice", ALICE[1]), ("apikey", ALICE_API_KEY), ("iamapikey", ALICE_API_KEY)],
)
def test_accepted_credential_forms(exchange: Exchange, username: str, password: str) -> None:
    with ExchangeClient(ExchangeEndpoint(exchange.base, ORG, username, password)) as client:
        assert client.ensure_service(SID, service_body()) == "created"
        assert client.server_version() == "2.154.0"


def test_bad_credentials_are_unauthorized_and_never_echoed(
    exchange: Exchange, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "wrong-PASSWORD-9876"
    with (
        ExchangeClient(ExchangeEndpoint(exchange.base, ORG, "alice", password)) as client,
        pytest.raises(ExchangeUnauthorized) as caught,
    ):
        client.get_service(SID)
    assert (caught.value.status, caught.value.reason) == (401, "ExchangeUnauthorized")
    assert "myorg/alice" in caught.value.message
    assert password not in str(caught.value)
    assert password not in caplog.text
    assert base64.b64encode(f"{ORG}/alice:{password}".encode()).decode() not in caplog.text


def test_tokens_never_reach_logs_or_errors(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with harness.client(retries=0) as client:
        client.ensure_service(SID, service_body())
        client.add_dockauth(SID, "reg.example", "u", TOKEN)
        harness.adapter.faults.append(Fault("POST", "/dockauths", "status", status=400))
        with pytest.raises(ExchangeRejected) as caught:
            client.add_dockauth(SID, "reg.example", "u", "tok-OTHER-SECRET-77")
    assert TOKEN not in caplog.text
    assert "tok-OTHER-SECRET-77" not in caplog.text + str(caught.value)
    assert ALICE[1] not in caplog.text


@pytest.mark.parametrize(
    ("who", "action"),
    [
        (NODE, lambda c: c.ensure_service(SID, service_body(label="node's"))),  # nodes only read
        (BOB, lambda c: c.put_service_key(SID, "k.pem", "PEM")),  # not the owner
        (BOB, lambda c: c.add_dockauth(SID, "r", "u", TOKEN)),
        (BOB, lambda c: c.delete_service(SID)),
    ],
)
def test_access_denied_is_forbidden(harness: Harness, who: tuple[str, str], action: Any) -> None:
    harness.exchange.create_service()
    with harness.client(who) as client, pytest.raises(ExchangeForbidden) as caught:
        action(client)
    assert caught.value.status == 403
    assert "Access denied" in caught.value.message or "access denied" in caught.value.message


def test_a_private_service_of_another_user_is_a_conflict_with_an_explanation(harness: Harness) -> None:
    harness.exchange.create_service()  # alice's, invisible to bob (404)
    with harness.client(BOB) as client, pytest.raises(ExchangeConflict, match="cannot see it"):
        client.ensure_service(SID, service_body(label="bob's"))
    assert harness.adapter.methods() == ["GET", "POST", "GET"]


# --- retries and POSTs that must not be repeated blindly -------------------------------------------------


def test_get_retries_503_then_succeeds_with_exponential_backoff(harness: Harness) -> None:
    harness.exchange.create_service()
    harness.adapter.faults.append(Fault("GET", SID, "status", status=503, times=2))
    with harness.client(backoff=0.5) as client:
        assert client.get_service(SID) is not None
    assert harness.adapter.methods() == ["GET", "GET", "GET"]
    assert harness.sleeps == [0.5, 1.0]


@pytest.mark.parametrize(("retry_after", "slept"), [("7", 7.0), ("999", 30.0)])
def test_429_honours_retry_after_up_to_the_cap(harness: Harness, retry_after: str, slept: float) -> None:
    harness.adapter.faults.append(Fault("GET", SID, "status", status=429, headers={"Retry-After": retry_after}))
    with harness.client() as client:
        assert client.get_service(SID) is None
    assert harness.sleeps == pytest.approx([slept], abs=0.05)  # the gate counts from the answer


def test_persistent_5xx_gives_up_after_the_retries(harness: Harness) -> None:
    harness.adapter.faults.append(Fault("PUT", "/keys/k.pem", "status", status=502, times=99))
    with harness.client(retries=2) as client, pytest.raises(ExchangeServerError) as caught:
        client.put_service_key(SID, "k.pem", "PEM")
    assert (caught.value.status, harness.adapter.methods()) == (502, ["PUT", "PUT", "PUT"])


def test_connection_errors_are_retried_then_unreachable(harness: Harness) -> None:
    harness.adapter.faults.append(Fault("GET", SID, "connect", times=1))
    with harness.client() as client:
        assert client.get_service(SID) is None
        harness.adapter.faults.append(Fault("GET", SID, "connect", times=99))
        with pytest.raises(ExchangeUnreachable, match="connection failed"):
            client.get_service(SID)


def test_a_lost_post_response_is_not_posted_again(harness: Harness, client: ExchangeClient) -> None:
    harness.adapter.faults.append(Fault("POST", "/services", "lost"))
    assert client.ensure_service(SID, service_body()) == "created"
    assert harness.adapter.methods() == ["GET", "POST", "GET"]  # the re-read finds what the POST created


def test_a_post_that_failed_before_reaching_the_server_is_sent_again(harness: Harness, client: ExchangeClient) -> None:
    harness.adapter.faults.append(Fault("POST", "/services", "status", status=503))
    assert client.ensure_service(SID, service_body()) == "created"
    assert harness.adapter.methods() == ["GET", "POST", "GET", "POST"]
    assert client.get_service(SID) is not None


def test_a_lost_dockauth_post_is_found_in_the_list(harness: Harness, client: ExchangeClient) -> None:
    client.ensure_service(SID, service_body())
    client.add_dockauth(SID, "reg.example", "u", "tok-0")
    harness.adapter.calls.clear()
    harness.adapter.faults.append(Fault("POST", "/dockauths", "lost"))
    assert client.add_dockauth(SID, "reg.example", "u", TOKEN) == 2
    assert harness.adapter.methods() == ["POST", "GET"]
    assert len(client.list_dockauths(SID)) == 2


def test_a_post_racing_another_creator_falls_back_to_compare_and_put(harness: Harness, client: ExchangeClient) -> None:
    harness.adapter.faults.append(Fault("GET", SID, "status", status=404, times=1))  # looks absent once
    harness.exchange.create_service(service_body(label="someone else's"))
    assert client.ensure_service(SID, service_body()) == "updated"
    assert harness.adapter.methods() == ["GET", "POST", "GET", "PUT"]


# --- TLS -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(base URL, the right CA, another CA) for an emulator served over HTTPS with the sandbox PKI."""
    pki = ensure_pki(tmp_path_factory.mktemp("pki"))
    other = ensure_pki(tmp_path_factory.mktemp("other-pki"))
    app = create_exchange_app(seeded_store())
    with BackgroundServer(app, ssl_context=server_ssl_context(pki.router_cert, pki.router_key)) as server:
        yield f"{server.url}/v1", pki.ca_cert.read_text(), other.ca_cert.read_text()


def test_tls_with_the_right_ca(tls_exchange: tuple[str, str, str]) -> None:
    url, ca, _ = tls_exchange
    client = ExchangeClient(ExchangeEndpoint(url, ORG, "alice", ALICE[1], ca_pem=ca))
    assert client.get_service(SID) is None
    ca_file = Path(str(client._http._verify()))
    assert (ca_file.stat().st_mode & 0o777) == 0o600
    client.close()
    assert ca_file.exists()  # released, kept for the next client of the same CA (clients/ca_files.py)
    assert CA_FILES.holders(ca) == 0


@pytest.mark.parametrize("which", ["other CA", "system trust"])
def test_tls_with_a_wrong_ca_fails_without_retries(tls_exchange: tuple[str, str, str], which: str) -> None:
    url, _, other = tls_exchange
    sleeps: list[float] = []
    endpoint = ExchangeEndpoint(url, ORG, "alice", ALICE[1], ca_pem=other if which == "other CA" else None)
    with ExchangeClient(endpoint, sleep=sleeps.append) as client, pytest.raises(ExchangeTLSError) as caught:
        client.get_service(SID)
    assert "not trusted" in caught.value.message
    assert sleeps == []


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_verification_can_be_skipped(tls_exchange: tuple[str, str, str]) -> None:
    url, _, other = tls_exchange
    endpoint = ExchangeEndpoint(url, ORG, "alice", ALICE[1], ca_pem=other, insecure_skip_verify=True)
    with ExchangeClient(endpoint) as client:
        assert client.server_version() == "2.154.0"


def test_a_ca_that_is_not_pem_is_reported(exchange: Exchange) -> None:
    endpoint = ExchangeEndpoint(exchange.base.replace("http:", "https:"), ORG, "alice", "pw", ca_pem="junk")
    with ExchangeClient(endpoint) as client, pytest.raises(ExchangeTLSError, match="CA bundle"):
        client.get_service(SID)


# --- verify ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signer() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def stranger() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der.decode()


def _signed(deployment: str, key: rsa.RSAPrivateKey) -> str:
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    return base64.b64encode(key.sign(deployment.encode(), pss, hashes.SHA256())).decode()


DEPLOYMENT = json.dumps({"services": {"gps": {"image": "reg.example/gps@sha256:" + "1" * 64}}}, separators=(",", ":"))


def _publish(client: ExchangeClient, key: rsa.RSAPrivateKey, *, deployment: str = DEPLOYMENT) -> None:
    client.ensure_service(SID, service_body(deployment=deployment, deploymentSignature=_signed(deployment, key)))
    client.put_service_key(SID, "horizon-publisher-k1.pem", _public_pem(key))


def test_verify_accepts_a_good_signature(
    client: ExchangeClient, signer: rsa.RSAPrivateKey, stranger: rsa.RSAPrivateKey
) -> None:
    _publish(client, signer)
    client.put_service_key(SID, "a-unrelated.pem", _public_pem(stranger))
    report = verify_service(client, SID)
    assert report.ok, report.detail
    assert report.verified_by == {"deployment": "horizon-publisher-k1.pem"}  # any key may verify
    assert report.line().startswith(f"OK   {ORG}/{SID}: deployment signature verified by key")


def test_verify_checks_a_cluster_deployment_too(client: ExchangeClient, signer: rsa.RSAPrivateKey) -> None:
    cluster = json.dumps({"operatorYamlArchive": "H4sI", "metadata": {"namespace": ""}}, separators=(",", ":"))
    body = service_body(clusterDeployment=cluster, clusterDeploymentSignature=_signed(cluster, signer))
    client.ensure_service(SID, {**body, "deploymentSignature": _signed(body["deployment"], signer)})
    client.put_service_key(SID, "k.pem", _public_pem(signer))
    assert verify_service(client, SID).verified_by == {"deployment": "k.pem", "clusterDeployment": "k.pem"}
    client.ensure_service(SID, {**body, "deploymentSignature": _signed(body["deployment"], signer),
                                "clusterDeploymentSignature": _signed(cluster + " ", signer)})  # fmt: skip
    report = verify_service(client, SID)
    assert not report.ok
    assert report.detail.startswith("clusterDeploymentSignature does not verify")


def test_verify_rejects_a_tampered_deployment(client: ExchangeClient, signer: rsa.RSAPrivateKey) -> None:
    _publish(client, signer)
    stored = client.get_service(SID)
    assert stored is not None
    tampered = {**service_body(), "deployment": DEPLOYMENT.replace("1111", "2222"),
                "deploymentSignature": stored["deploymentSignature"]}  # fmt: skip
    client.ensure_service(SID, tampered)
    report = verify_service(client, SID)
    assert not report.ok
    assert "does not verify with any of the service's keys (horizon-publisher-k1.pem)" in report.detail


def test_verify_rejects_an_unknown_key(
    client: ExchangeClient, signer: rsa.RSAPrivateKey, stranger: rsa.RSAPrivateKey
) -> None:
    _publish(client, signer)
    client.put_service_key(SID, "horizon-publisher-k1.pem", _public_pem(stranger))
    assert not verify_service(client, SID).ok


@pytest.mark.parametrize(
    ("setup", "detail"),
    [
        ("nothing", "not found in the Exchange"),
        ("no keys", "no public keys are published"),
        ("bad key", "horizon-publisher-k1.pem: "),  # why the agent would refuse the key file
    ],
)
def test_verify_failures_say_why(client: ExchangeClient, signer: rsa.RSAPrivateKey, setup: str, detail: str) -> None:
    if setup != "nothing":
        _publish(client, signer)
    if setup == "no keys":
        client.delete_service_key(SID, "horizon-publisher-k1.pem")
    if setup == "bad key":
        client.put_service_key(
            SID, "horizon-publisher-k1.pem", "-----BEGIN RSA PUBLIC KEY-----\nAA==\n-----END RSA PUBLIC KEY-----\n"
        )
    report = verify_service(client, SID)
    assert not report.ok
    assert detail in report.detail


def test_verify_command(
    exchange: Exchange, client: ExchangeClient, signer: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _publish(client, signer)
    for name in ("HZN_EXCHANGE_URL", "HZN_ORG_ID", "HORIZON_PUBLISHER_EXCHANGE_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HZN_EXCHANGE_USER_AUTH", f"alice:{ALICE[1]}")
    argv = ["--exchange-url", exchange.base, "--org", ORG]
    assert verify_main([*argv, SID, f"{ORG}/{SID}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["OK", "OK"]
    assert verify_main([*argv, SID, "missing_1.0.0_amd64", f"other/{SID}"]) == 1
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == ["OK", "FAIL", "FAIL"]
    assert ALICE[1] not in out
    monkeypatch.setenv("HZN_EXCHANGE_USER_AUTH", "alice:wrong")
    assert verify_main([*argv, SID]) == 1
    assert "ExchangeUnauthorized" in capsys.readouterr().out
    monkeypatch.delenv("HZN_EXCHANGE_USER_AUTH")
    assert verify_main([*argv, SID]) == 2
    assert "HZN_EXCHANGE_USER_AUTH" in capsys.readouterr().err


def test_verify_command_reads_the_ca_file(
    tls_exchange: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url, ca, _ = tls_exchange
    (tmp_path / "ca.pem").write_text(ca)
    monkeypatch.setenv("HZN_EXCHANGE_USER_AUTH", f"alice:{ALICE[1]}")
    monkeypatch.setenv("HZN_EXCHANGE_URL", url)
    monkeypatch.setenv("HZN_ORG_ID", ORG)
    assert verify_main(["--ca-file", str(tmp_path / "ca.pem"), SID]) == 1  # reached over TLS: not found
    assert "not found in the Exchange" in capsys.readouterr().out
    assert verify_main(["--ca-file", str(tmp_path / "missing.pem"), SID]) == 2



def test_ensure_service_reuses_a_read_made_earlier_in_the_reconcile() -> None:
    """The reconcile reads each service once (to decide whether to re-sign) and hands that read on."""
    from horizon_publisher.clients import exchange as module

    calls: list[str] = []

    def get(sid: str) -> None:
        calls.append(sid)

    read = module._once({"label": "x"}, lambda: get("s"))
    assert read() == {"label": "x"}  # the earlier read, no request
    assert read() is None  # a second read (after a conflict) asks the Exchange
    assert calls == ["s"]
    assert module._once(module.NOT_READ, lambda: get("t"))() is None
    assert calls == ["s", "t"]
