"""Fixtures: the API emulator on 127.0.0.1 in a background thread (plain HTTP, or HTTPS for kubectl)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubeapi_harness import CRDS, Client, widget_crd

from horizon_publisher.sandbox.kubeapi.certs import ServerCertificate, write_server_certificate
from horizon_publisher.sandbox.kubeapi.runner import EmulatorThread


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> ServerCertificate:
    return write_server_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def api() -> Iterator[EmulatorThread]:
    with EmulatorThread(bookmark_interval=0.5) as emulator:
        yield emulator


@pytest.fixture
def http(api: EmulatorThread) -> Client:
    return Client(api.url, api.admin_token)


@pytest.fixture
def widgets(http: Client) -> Client:
    """``http`` with the Widget CRD installed."""
    http.create(CRDS, widget_crd())
    return http


@pytest.fixture
def tls_api(certificate: ServerCertificate) -> Iterator[EmulatorThread]:
    tls = (certificate.cert_file, certificate.key_file)
    with EmulatorThread(tls=tls, ca_file=certificate.ca_file, bookmark_interval=0.5) as emulator:
        yield emulator


KubectlResult = subprocess.CompletedProcess[str]


@pytest.fixture
def kubectl(tls_api: EmulatorThread, tmp_path: Path) -> Callable[..., KubectlResult]:
    """Run kubectl 1.32 against ``tls_api`` (client-go sends tokens over TLS only)."""
    config = tls_api.write_kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path)}

    def run(*args: str, check: bool = True, stdin: str | None = None, timeout: float = 30) -> KubectlResult:
        result = subprocess.run(
            ["kubectl", *args], capture_output=True, text=True, env=env, input=stdin, timeout=timeout, check=False
        )
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result

    return run
