"""What registry clients share across the process (a new client per reconcile): tokens, challenges, TLS
connections, against a real docker-registry with token auth (conftest.py) and one with htpasswd.

Each test reaches the registry through its own counting TCP relay (a new base URL, so nothing cached by
another test applies): ``relay.connections`` is the number of TCP connections, i.e. TLS handshakes, to
the registry. Connections to the token endpoint are counted in the client (urllib3 connects), token
requests by the token endpoint itself (``/_sandbox/requests``), and what went over the wire (status,
``Authorization``) by wrapping the shared adapter's ``send``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import urllib3
from registry_harness import STATIC_ROBOT, SandboxRegistry

from horizon_publisher.clients.registry import RegistryClient, RegistryEndpoint, RegistryError
from horizon_publisher.clients.registry_auth_client import TokenAnswer
from horizon_publisher.clients.registry_tokens import SHARED_TOKENS, TokenKey, credential_fingerprint
from horizon_publisher.clients.shared_http import SharedConnectToAdapter, close_shared_adapters
from horizon_publisher.sandbox.fault_proxy import FaultProxy
from horizon_publisher.sandbox.images import push_image
from horizon_publisher.sandbox.pki import SandboxPKI
from horizon_publisher.sandbox.registry import start_registry, stop_process

PUSHER = ("ignored-user", "pusher-token")
PULLER = ("someone", "puller-token")
ROBOT = (STATIC_ROBOT.username, STATIC_ROBOT.password)


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    authorization: str
    status: int


@dataclass
class Wire:
    sent: list[Sent]
    connects: Counter[int]  # TCP connections made by urllib3, by port

    def take(self) -> list[Sent]:
        taken, self.sent[:] = list(self.sent), []
        return taken


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    close_shared_adapters()  # cold pools: every connection of the test is counted
    recorded = Wire([], Counter())
    send = SharedConnectToAdapter.send
    connect = urllib3.connection.HTTPSConnection.connect

    def recording_send(self: SharedConnectToAdapter, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        response = send(self, request, **kwargs)
        path = urlsplit(request.url or "").path
        auth = str(request.headers.get("Authorization", ""))
        recorded.sent.append(Sent(request.method or "", path, auth, response.status_code))
        return response

    def counting_connect(self: urllib3.connection.HTTPSConnection) -> None:
        recorded.connects[self.port or 0] += 1
        connect(self)

    monkeypatch.setattr(SharedConnectToAdapter, "send", recording_send)
    monkeypatch.setattr(urllib3.connection.HTTPSConnection, "connect", counting_connect)
    yield recorded
    close_shared_adapters()


@pytest.fixture
def relay(token_registry: SandboxRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(("127.0.0.1", token_registry.process.port)) as proxy:
        yield proxy


def endpoint(
    port: int, pki: SandboxPKI, credentials: tuple[str, str] | None, *, insecure: bool = False
) -> RegistryEndpoint:
    user, password = credentials or (None, None)
    ca = None if insecure else pki.ca_cert.read_text()
    return RegistryEndpoint(
        f"127.0.0.1:{port}", ca_pem=ca, username=user, password=password, insecure_skip_verify=insecure
    )


def token_requests(reg: SandboxRegistry, user: str) -> int:
    base = reg.token_url.removesuffix("/openshift/token")
    rows = requests.get(f"{base}/_sandbox/requests", verify=reg.ca, timeout=5).json()["requests"]
    return sum(row["count"] for row in rows if row["user"] == user and row["target"] == "token")


def statuses(sent: list[Sent]) -> list[tuple[str, int]]:
    return [(s.method, s.status) for s in sent]


def test_successive_clients_share_one_token_and_one_connection(
    token_registry: SandboxRegistry, relay: FaultProxy, wire: Wire
) -> None:
    reg = token_registry
    pushed = push_image(reg.url, "demo/shared-one", "1", credentials=PUSHER, verify=reg.ca)
    before = token_requests(reg, PULLER[0])
    wire.connects.clear()
    with RegistryClient(endpoint(relay.port, reg.pki, PULLER)) as client:
        assert client.head_manifest("demo/shared-one", "1").digest == pushed
    first = wire.take()
    assert statuses(first) == [("HEAD", 401), ("GET", 200), ("HEAD", 200)]
    token = first[2].authorization
    assert token.startswith("Bearer ")
    with RegistryClient(endpoint(relay.port, reg.pki, PULLER)) as client:
        assert client.head_manifest("demo/shared-one", "1").digest == pushed
    # The new client sends the cached token on its first request: no 401, no token request.
    assert wire.take() == [Sent("HEAD", "/v2/demo/shared-one/manifests/1", token, 200)]
    assert relay.connections == 1  # one TCP connection, one TLS handshake, to the registry
    token_port = urlsplit(reg.token_url).port or 0
    assert wire.connects == Counter({relay.port: 1, token_port: 1})  # and one to the token endpoint
    assert token_requests(reg, PULLER[0]) - before == 1


def test_different_credentials_never_share_a_token(
    token_registry: SandboxRegistry, relay: FaultProxy, wire: Wire
) -> None:
    reg = token_registry
    push_image(reg.url, "generic/shared-creds", "1", credentials=ROBOT, verify=reg.ca)
    with RegistryClient(endpoint(relay.port, reg.pki, ROBOT)) as client:
        client.head_manifest("generic/shared-creds", "1")
    robot_token = wire.take()[-1].authorization
    assert robot_token.startswith("Bearer ")
    others: list[tuple[tuple[str, str] | None, str]] = [
        ((ROBOT[0], ROBOT[1] + "-wrong"), "Unauthorized"),  # same user name, another password
        (None, "Unauthorized"),  # anonymous
        (PULLER, "Forbidden"),  # another identity without access to generic/*
    ]
    for credentials, reason in others:
        with RegistryClient(endpoint(relay.port, reg.pki, credentials)) as client, pytest.raises(RegistryError) as e:
            client.head_manifest("generic/shared-creds", "1")
        assert e.value.reason == reason
        sent = wire.take()
        assert robot_token not in {s.authorization for s in sent}
        assert sent[0].authorization == ""  # nothing up front: this identity has no token yet
        assert ("GET", "/openshift/token") in {(s.method, s.path) for s in sent}  # asked for its own


def test_a_refused_cached_token_is_fetched_again_once(
    token_registry: SandboxRegistry, relay: FaultProxy, wire: Wire
) -> None:
    reg = token_registry
    pushed = push_image(reg.url, "demo/shared-refused", "1", credentials=PUSHER, verify=reg.ca)
    with RegistryClient(endpoint(relay.port, reg.pki, PULLER)) as client:
        client.head_manifest("demo/shared-refused", "1")
    wire.take()
    # The registry stops accepting the cached token (revoked, signing key rotated...): simulate with junk.
    known = SHARED_TOKENS.known_auth(f"https://127.0.0.1:{relay.port}", credential_fingerprint(*PULLER))
    assert known is not None
    key = TokenKey(
        f"https://127.0.0.1:{relay.port}",
        known.realm,
        known.service,
        "repository:demo/shared-refused:pull",
        credential_fingerprint(*PULLER),
    )
    SHARED_TOKENS.put(key, TokenAnswer("junk.junk.junk", 300.0), SHARED_TOKENS.now())
    before = token_requests(reg, PULLER[0])
    with RegistryClient(endpoint(relay.port, reg.pki, PULLER)) as client:
        assert client.head_manifest("demo/shared-refused", "1").digest == pushed
    sent = wire.take()
    assert statuses(sent) == [("HEAD", 401), ("GET", 200), ("HEAD", 200)]
    assert sent[0].authorization == "Bearer junk.junk.junk"
    assert token_requests(reg, PULLER[0]) - before == 1
    fresh = SHARED_TOKENS.get(key)
    assert fresh is not None
    assert sent[2].authorization == f"Bearer {fresh}"
    with RegistryClient(endpoint(relay.port, reg.pki, PULLER)) as client:  # the new one is reused
        client.head_manifest("demo/shared-refused", "1")
    assert statuses(wire.take()) == [("HEAD", 200)]


def test_closing_a_client_leaves_the_others_connection_working(
    token_registry: SandboxRegistry, relay: FaultProxy, wire: Wire
) -> None:
    reg = token_registry
    pushed = push_image(reg.url, "demo/shared-close", "1", credentials=PUSHER, verify=reg.ca)
    one = RegistryClient(endpoint(relay.port, reg.pki, PULLER))
    two = RegistryClient(endpoint(relay.port, reg.pki, PULLER))
    assert one.head_manifest("demo/shared-close", "1").digest == pushed
    assert two.head_manifest("demo/shared-close", "1").digest == pushed
    one.close()
    assert two.head_manifest("demo/shared-close", "1").digest == pushed
    assert relay.connections == 1
    two.close()
    assert len(wire.sent) == 5  # 401, token, 200, then two up-front 200s


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verified_and_unverified_clients_use_separate_connections(
    token_registry: SandboxRegistry, relay: FaultProxy, wire: Wire
) -> None:
    reg = token_registry
    push_image(reg.url, "demo/shared-trust", "1", credentials=PUSHER, verify=reg.ca)
    for insecure in (True, False, True, False):
        with RegistryClient(endpoint(relay.port, reg.pki, PULLER, insecure=insecure)) as client:
            client.head_manifest("demo/shared-trust", "1")
    assert relay.connections == 2  # one per trust setting, each reused once
    assert len(wire.sent) == 6


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory, pki: SandboxPKI) -> Iterator[int]:
    process = start_registry(
        tmp_path_factory.mktemp("shared-basic"), pki, auth="htpasswd", htpasswd_users={"basic": "basic-password"}
    )
    try:
        yield process.port
    finally:
        stop_process(process.pid)


def test_basic_credentials_go_up_front_once_the_registry_asked_for_them(
    basic_registry: int, pki: SandboxPKI, wire: Wire
) -> None:
    pushed = push_image(
        f"https://127.0.0.1:{basic_registry}",
        "lib/basic",
        "1",
        credentials=("basic", "basic-password"),
        verify=str(pki.ca_cert),
    )
    right = endpoint(basic_registry, pki, ("basic", "basic-password"))
    for _ in range(2):
        with RegistryClient(right) as client:
            assert client.head_manifest("lib/basic", "1").digest == pushed
    sent = wire.take()
    assert statuses(sent) == [("HEAD", 401), ("HEAD", 200), ("HEAD", 200)]
    assert sent[0].authorization == ""
    assert sent[2].authorization.startswith("Basic ")  # the second client's first request
    wrong = endpoint(basic_registry, pki, ("basic", "another-password"))
    with RegistryClient(wrong) as client, pytest.raises(RegistryError, match="refused the configured credentials"):
        client.head_manifest("lib/basic", "1")
    assert wire.take()[0].authorization == ""  # another identity learns on its own


def test_the_ca_file_is_shared_and_stable_across_clients(token_registry: SandboxRegistry, relay: FaultProxy) -> None:
    reg = token_registry
    paths = []
    for _ in range(3):
        with RegistryClient(endpoint(relay.port, reg.pki, PULLER)) as client:
            paths.append(Path(str(client._verify())))
    assert len(set(paths)) == 1
    assert paths[0].read_text() == reg.pki.ca_cert.read_text()
