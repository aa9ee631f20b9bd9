"""CPU time of the operator's registry digest resolution, a new client per call (as every reconcile does).

Starts a real docker-registry (TLS, token auth; another process) and its token endpoint (a thread of this
process), pushes one image, then runs ``RegistryClient(endpoint).head_manifest(...)`` N times with a fresh
client each time, in the main thread. Prints the client's CPU time (``time.thread_time`` of the main thread:
requests runs in the calling thread), this process's CPU (``time.process_time``: client + token server +
relay threads), wall time, token requests (the token endpoint's ``/_sandbox/requests``) and TCP
connections to the registry (through a counting TCP relay: one TLS handshake each).

    .venv/bin/python tests/bench/registry_client_cpu.py [N] [--private-tokens]     (default: 200)

``--private-tokens`` gives each client a token cache of its own (a custom clock does that), to show what
the shared pools and CA files save without the shared token cache.
"""

from __future__ import annotations

import functools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from horizon_publisher.clients.registry import RegistryClient, RegistryEndpoint
from horizon_publisher.sandbox.fault_proxy import FaultProxy
from horizon_publisher.sandbox.images import push_image
from horizon_publisher.sandbox.pki import ensure_pki
from horizon_publisher.sandbox.registry import start_registry, stop_process, token_realm_url
from horizon_publisher.sandbox.registry_auth import BackgroundServer, TokenSigner, create_token_app, server_ssl_context
from horizon_publisher.sandbox.registry_static_auth import StaticCredential, StaticCredentialAuthorizer

USER, PASSWORD = "bench", "bench-password"
SERVICE, ISSUER = "bench-registry", "bench-issuer"


def token_requests(token_url: str, ca: str) -> int:
    answer = requests.get(f"{token_url}/_sandbox/requests", verify=ca, timeout=5).json()
    return sum(row["count"] for row in answer["requests"])


def main(rounds: int, private_tokens: bool) -> None:
    private_clock: Callable[[], float] = functools.partial(time.monotonic)  # not time.monotonic itself
    own_clock: dict[str, Any] = {"clock": private_clock} if private_tokens else {}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        pki = ensure_pki(state / "pki")
        signer = TokenSigner.from_files(pki.token_signing_key, pki.token_signing_cert, mode="kid")
        app = create_token_app(StaticCredentialAuthorizer([StaticCredential(USER, PASSWORD)]), signer, SERVICE, ISSUER)
        with BackgroundServer(app, ssl_context=server_ssl_context(pki.router_cert, pki.router_key)) as tokens:
            process = start_registry(
                state / "registry",
                pki,
                auth="token",
                token_realm=token_realm_url(tokens.port),
                service=SERVICE,
                issuer=ISSUER,
            )
            try:
                ca = str(pki.ca_cert)
                push_image(process.url, "bench/app", "1", credentials=(USER, PASSWORD), verify=ca)
                with FaultProxy(("127.0.0.1", process.port)) as relay:
                    endpoint = RegistryEndpoint(
                        "registry.bench:443",
                        ca_pem=pki.ca_cert.read_text(),
                        username=USER,
                        password=PASSWORD,
                        url=relay.url.replace("http://", "https://"),
                    )
                    before_tokens = token_requests(tokens.url, ca)
                    client_cpu, cpu, wall = time.thread_time(), time.process_time(), time.perf_counter()
                    for _ in range(rounds):
                        with RegistryClient(endpoint, **own_clock) as client:
                            client.head_manifest("bench/app", "1")
                    client_cpu = time.thread_time() - client_cpu
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    print(
                        f"{rounds} head_manifest, new client each: client CPU {client_cpu:.3f} s, process CPU"
                        f" {cpu:.3f} s, wall {wall:.3f} s, token requests"
                        f" {token_requests(tokens.url, ca) - before_tokens}, registry TCP connections"
                        f" {relay.connections}"
                    )
            finally:
                stop_process(process.pid)


if __name__ == "__main__":
    numbers = [arg for arg in sys.argv[1:] if arg.isdigit()]
    main(int(numbers[0]) if numbers else 200, "--private-tokens" in sys.argv)
