"""The Exchange client over the process's shared connection pools and CA files, against the emulator (TLS).

A counting TCP relay in front of the emulator tells how many connections (TLS handshakes) the clients made.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from exchange_harness import ALICE, BOB, ORG, seeded_store

from horizon_publisher.clients.exchange import ExchangeClient
from horizon_publisher.clients.exchange_model import ExchangeEndpoint, ExchangeUnauthorized
from horizon_publisher.clients.shared_http import close_shared_adapters
from horizon_publisher.sandbox.exchange import create_exchange_app
from horizon_publisher.sandbox.fault_proxy import FaultProxy
from horizon_publisher.sandbox.pki import SandboxPKI, ensure_pki
from horizon_publisher.sandbox.tls_server import BackgroundServer, server_ssl_context

SID = "example.com-gps_1.0.0_amd64"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPKI:
    return ensure_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_exchange(pki: SandboxPKI) -> Iterator[int]:
    app = create_exchange_app(seeded_store())
    with BackgroundServer(app, ssl_context=server_ssl_context(pki.router_cert, pki.router_key)) as server:
        yield server.port


@pytest.fixture
def relay(tls_exchange: int) -> Iterator[FaultProxy]:
    close_shared_adapters()
    with FaultProxy(("127.0.0.1", tls_exchange)) as proxy:
        yield proxy
    close_shared_adapters()


def endpoint(relay: FaultProxy, pki: SandboxPKI, user: tuple[str, str] = ALICE, **extra: bool) -> ExchangeEndpoint:
    name = user[0].partition("/")[2]
    return ExchangeEndpoint(f"{relay.url}/v1", ORG, name, user[1], ca_pem=pki.ca_cert.read_text(), **extra)


def test_successive_clients_reuse_one_tls_connection(relay: FaultProxy, pki: SandboxPKI) -> None:
    paths = set()
    for _ in range(3):
        with ExchangeClient(endpoint(relay, pki)) as client:
            assert client.server_version() == "2.154.0"
            assert client.get_service(SID) is None
            paths.add(Path(str(client._http._verify())))
    assert relay.connections == 1
    assert len(paths) == 1  # one stable CA file: the pool key stays the same


def test_each_client_still_sends_its_own_credentials(relay: FaultProxy, pki: SandboxPKI) -> None:
    with ExchangeClient(endpoint(relay, pki)) as alice:
        assert alice.get_service(SID) is None
    wrong = (ALICE[0], "not-alices-password")
    with ExchangeClient(endpoint(relay, pki, wrong)) as impostor, pytest.raises(ExchangeUnauthorized):
        impostor.get_service(SID)  # the pooled connection carries no identity
    with ExchangeClient(endpoint(relay, pki, BOB)) as bob:
        assert bob.get_service(SID) is None
    assert relay.connections == 1


def test_closing_one_client_keeps_the_others_connection(relay: FaultProxy, pki: SandboxPKI) -> None:
    one, two = ExchangeClient(endpoint(relay, pki)), ExchangeClient(endpoint(relay, pki))
    assert one.server_version() == two.server_version()
    one.close()
    assert two.get_service(SID) is None
    two.close()
    assert relay.connections == 1


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_unverified_clients_get_their_own_connection(relay: FaultProxy, pki: SandboxPKI) -> None:
    for insecure in (False, True, False, True):
        with ExchangeClient(endpoint(relay, pki, insecure_skip_verify=insecure)) as client:
            client.server_version()
    assert relay.connections == 2
