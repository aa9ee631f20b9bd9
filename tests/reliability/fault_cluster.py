"""A private sandbox whose Exchange, registry and registry token endpoint the operator reaches only through
fault-injecting HTTPS proxies (``sandbox/fault_http.py``), for the Exchange and registry fault matrix.

- Exchange: publications' ``spec.exchange.url`` is the proxy's URL plus ``/v1``.
- Registry: the operator's connect-to entry for the route host (``HOST:443``) points at the registry proxy,
  which forwards to the real registry (its certificate names 127.0.0.1 too).
- Token endpoint: the registry's realm is ``https://127.0.0.1:<authport>/openshift/token``; a connect-to
  entry ``127.0.0.1:<authport>:127.0.0.1:<proxyport>`` sends the operator to the token proxy instead.

The tests themselves (pushes, reads of the Exchange, ``verify``) go to the real services directly, so
what they observe is never faulted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from horizon_publisher.clients.connect_to import ConnectTo, parse_connect_to_list
from horizon_publisher.sandbox import manager, processes
from horizon_publisher.sandbox.demo import operator_connect_to
from horizon_publisher.sandbox.fault_http import FaultHTTPProxy
from horizon_publisher.sandbox.pki import ensure_pki
from horizon_publisher.sandbox.registry_auth import TokenSigner
from tests.e2e.conftest import Sandbox, start_sandbox
from tests.e2e.publication_support import Publisher
from tests.e2e.service_image_kube import Kube
from tests.e2e.service_image_support import Cluster, start_operator


@dataclass
class FaultyCluster:
    cluster: Cluster
    publisher: Publisher
    exchange: FaultHTTPProxy
    registry: FaultHTTPProxy
    token: FaultHTTPProxy

    @property
    def exchange_url(self) -> str:
        """What publications name as their Exchange: the proxy, keeping the ``/v1`` path."""
        return self.exchange.url + urlsplit(str(self.publisher.endpoints["url"])).path

    @property
    def proxies(self) -> dict[str, FaultHTTPProxy]:
        return {"exchange": self.exchange, "registry": self.registry, "token": self.token}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def operator_connect_to_via(sandbox: Sandbox, registry_port: int, token_port: int) -> str:
    """The operator's connect-to list with the route host sent to ``registry_port`` and the token realm's
    ``127.0.0.1:<authport>`` sent to ``token_port`` (both on 127.0.0.1)."""
    registry = sandbox.endpoints["registry"]
    route_host = str(registry["host"])
    realm = urlsplit(str(registry["tokenRealm"]))
    assert realm.hostname, registry["tokenRealm"]
    assert realm.port, registry["tokenRealm"]
    entries = [e for e in parse_connect_to_list(operator_connect_to(sandbox.endpoints)) if e.host != route_host]
    entries.append(ConnectTo(route_host, 443, "127.0.0.1", registry_port))
    entries.append(ConnectTo(realm.hostname, realm.port, "127.0.0.1", token_port))
    return ",".join(str(e) for e in entries)


@contextlib.contextmanager
def faulty_cluster(state_dir: Path) -> Iterator[FaultyCluster]:
    """Sandbox, three proxies, the operator (all namespaces, 2 s resync) behind them; all stopped after."""
    with contextlib.ExitStack() as stack:
        stack.callback(manager.down, state_dir, out=lambda _: None)
        sandbox = start_sandbox(state_dir)
        pki = ensure_pki(state_dir / "pki")  # the sandbox's own: reused, not regenerated
        signer = TokenSigner.from_files(pki.token_signing_key, pki.token_signing_cert)
        proxies = []
        for upstream in (
            sandbox.endpoints["exchange"]["url"],
            sandbox.endpoints["registry"]["url"],
            sandbox.endpoints["registry"]["tokenRealm"],
        ):
            proxy = FaultHTTPProxy(
                _origin(upstream),
                cert_file=pki.router_cert,
                key_file=pki.router_key,
                ca_file=pki.ca_cert,
                token_signer=signer.sign,
            )
            stack.enter_context(proxy)
            proxies.append(proxy)
        exchange, registry, token = proxies
        connect_to = operator_connect_to_via(sandbox, registry.port, token.port)
        # Registry tokens are reused across reconciles for minutes; a 1 s cap makes every check fetch one, so
        # the token endpoint's faults are met (what a registry issuing short-lived tokens does anyway).
        env = {"HORIZON_PUBLISHER_CONNECT_TO": connect_to, "HORIZON_PUBLISHER_REGISTRY_TOKEN_MAX_REUSE_SECONDS": "1"}
        operator = start_operator(sandbox, env=env)
        stack.callback(processes.stop, state_dir, "operator-under-test")
        kube = Kube(sandbox)
        stack.callback(kube.close)
        scratch = state_dir / "scratch"
        scratch.mkdir()
        cluster = Cluster(sandbox, operator, kube, scratch)
        publisher = Publisher(cluster)
        stack.callback(publisher.close)
        yield FaultyCluster(cluster, publisher, exchange, registry, token)
