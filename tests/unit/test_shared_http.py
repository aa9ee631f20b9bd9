"""Shared connection pools: which sessions get the shared adapter, that closing a session leaves the pools
alone, that pools never mix trust settings, one adapter per HORIZON_PUBLISHER_CONNECT_TO value, and the
Kubernetes client's pool size.

A local aiohttp TLS server answers each request with the client's TCP port: the same port means the same
pooled connection (no new handshake), another port a new connection.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3
import yaml
from aiohttp import web

from horizon_publisher.clients import shared_http
from horizon_publisher.clients.ca_files import RequestsVerify
from horizon_publisher.clients.connect_to import ENV_VAR
from horizon_publisher.clients.exchange import ExchangeClient
from horizon_publisher.clients.exchange_model import ExchangeEndpoint
from horizon_publisher.clients.ibmcloud import IbmCloud
from horizon_publisher.clients.kube import POOL_MAXSIZE, api_client_from_environment
from horizon_publisher.clients.registry import RegistryClient, RegistryEndpoint
from horizon_publisher.clients.shared_http import (
    MAX_ADAPTERS,
    SharedConnectToAdapter,
    close_shared_adapters,
    shared_adapter,
    shared_session,
)
from horizon_publisher.sandbox.pki import SandboxPKI, ensure_pki
from horizon_publisher.sandbox.tls_server import BackgroundServer, server_ssl_context


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> tuple[SandboxPKI, SandboxPKI]:
    return ensure_pki(tmp_path_factory.mktemp("pki")), ensure_pki(tmp_path_factory.mktemp("other-pki"))


@pytest.fixture(scope="module")
def server(pkis: tuple[SandboxPKI, SandboxPKI]) -> Iterator[str]:
    async def port(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        return web.Response(text=str(peer[1] if peer else 0))

    app = web.Application()
    app.router.add_get("/port", port)
    pki = pkis[0]
    with BackgroundServer(app, ssl_context=server_ssl_context(pki.router_cert, pki.router_key)) as running:
        yield f"{running.url}/port"


@pytest.fixture(autouse=True)
def cold_pools() -> Iterator[None]:
    close_shared_adapters()
    yield
    close_shared_adapters()


def client_port(session: requests.Session, url: str, verify: bool | str) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        response = session.get(url, verify=verify, timeout=5)
    response.raise_for_status()
    return int(response.text)


@pytest.mark.parametrize("first", ["verify=False", "verify=CA"])
def test_verifying_and_unverified_requests_never_share_a_connection(
    server: str, pkis: tuple[SandboxPKI, SandboxPKI], first: str
) -> None:
    ca = RequestsVerify(pkis[0].ca_cert.read_text(), False)
    modes: dict[str, bool | str] = {"verify=False": False, "verify=CA": str(ca.value())}
    order = [first, *(m for m in modes if m != first)]
    with shared_session() as one, shared_session() as two:
        ports = {
            mode: client_port(session, server, modes[mode]) for mode, session in zip(order, (one, two), strict=True)
        }
        assert ports[order[0]] != ports[order[1]]  # the second mode made its own connection
        for mode in order:  # and each mode keeps reusing its own, from either session
            assert client_port(one, server, modes[mode]) == ports[mode]
            assert client_port(two, server, modes[mode]) == ports[mode]
    ca.close()


def test_a_pooled_connection_verified_with_one_ca_does_not_serve_another_ca(
    server: str, pkis: tuple[SandboxPKI, SandboxPKI]
) -> None:
    right, wrong = (
        RequestsVerify(pkis[0].ca_cert.read_text(), False),
        RequestsVerify(pkis[1].ca_cert.read_text(), False),
    )
    with shared_session() as session:
        client_port(session, server, str(right.value()))
        with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
            client_port(session, server, str(wrong.value()))
        with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
            client_port(session, server, True)  # the system trust (REQUESTS_CA_BUNDLE) neither
    right.close()
    wrong.close()


def test_closing_one_session_keeps_the_pooled_connection_for_the_others(
    server: str, pkis: tuple[SandboxPKI, SandboxPKI]
) -> None:
    ca = RequestsVerify(pkis[0].ca_cert.read_text(), False)
    verify = str(ca.value())
    first = shared_session()
    port = client_port(first, server, verify)
    first.close()  # closes its adapters: the shared one ignores it
    with shared_session() as second:
        assert client_port(second, server, verify) == port
    shared_adapter().close_pools()  # what really closes connections
    with shared_session() as third:
        assert client_port(third, server, verify) != port
    ca.close()


def test_one_adapter_per_connect_to_value_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    unmapped = shared_adapter()
    assert shared_adapter() is unmapped
    assert isinstance(unmapped, SharedConnectToAdapter)
    monkeypatch.setenv(ENV_VAR, "r.apps.test:443:127.0.0.1:5000")
    mapped = shared_adapter()
    assert mapped is not unmapped
    assert mapped.target_for("https://r.apps.test/v2/") == ("127.0.0.1", 5000)
    assert unmapped.target_for("https://r.apps.test/v2/") is None
    mapped.poolmanager.connection_from_url("https://r.apps.test:443/")  # a pool to be closed on eviction
    for port in range(5001, 5001 + MAX_ADAPTERS):
        shared_adapter({ENV_VAR: f"r.apps.test:443:127.0.0.1:{port}"})
    assert len(mapped.poolmanager.pools) == 0  # evicted: its pools closed
    assert shared_adapter() is not mapped
    monkeypatch.setenv(ENV_VAR, "nonsense")
    with pytest.raises(ValueError, match="connect-to entry"):
        shared_adapter()


def test_clients_mount_the_shared_adapter_only_on_sessions_they_make(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    shared = shared_adapter()
    mine = requests.Session()
    cases = [
        (RegistryClient(RegistryEndpoint("r.test")), True),
        (RegistryClient(RegistryEndpoint("r.test"), session=mine), False),
        (ExchangeClient(ExchangeEndpoint("https://x.test/v1", "org", "u", "p")), True),
        (ExchangeClient(ExchangeEndpoint("https://x.test/v1", "org", "u", "p"), session=mine), False),
    ]
    for client, uses_shared in cases:
        session = client._session if isinstance(client, RegistryClient) else client._http._session
        assert (session.get_adapter("https://anywhere.test/") is shared) is uses_shared
        assert (session is mine) is not uses_shared
        client.close()
    assert shared.poolmanager is not None
    assert IbmCloud()._session_factory().get_adapter("https://iam.test/") is shared
    params = shared.poolmanager.connection_pool_kw
    assert (shared._pool_connections, params["maxsize"], params["block"]) == (64, 32, False)


def test_kubernetes_api_client_keeps_enough_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside a pod: the kubeconfig context."""
    from kubernetes.config import kube_config

    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    (tmp_path / "config").write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "config"))  # read at import
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    api = api_client_from_environment()
    assert api.configuration.host == "https://127.0.0.1:6443"
    assert api.rest_client.pool_manager.connection_pool_kw["maxsize"] == POOL_MAXSIZE == 32
    api.close()


def test_kubernetes_api_client_in_a_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a pod: the service account token and CA (the token is read again when it ages)."""
    from kubernetes.config import incluster_config

    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    api = api_client_from_environment()
    assert api.configuration.host == "https://10.0.0.1:443"
    assert api.configuration.api_key["BearerToken"] == "bearer sa-token"
    assert api.configuration.refresh_api_key_hook is not None
    assert api.rest_client.pool_manager.connection_pool_kw["maxsize"] == 32
    api.close()


def test_module_constants_match_the_brief() -> None:
    assert (shared_http.POOL_HOSTS, shared_http.POOL_PER_HOST) == (64, 32)
