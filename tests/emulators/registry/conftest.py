"""Fixtures: a real docker-registry behind the OpenShift-like token endpoint, and a fake review API."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_harness import APPS_DOMAIN, ISSUER, SERVICE, STATIC_ROBOT, FakeReviewApi, SandboxRegistry

from horizon_publisher.sandbox.pki import SandboxPKI, ensure_pki
from horizon_publisher.sandbox.registry import RegistryProcess, start_registry, stop_process, token_realm_url
from horizon_publisher.sandbox.registry_auth import (
    BackgroundServer,
    KubeReviewAuthorizer,
    TokenSigner,
    create_token_app,
    server_ssl_context,
)
from horizon_publisher.sandbox.registry_static_auth import StaticCredentialAuthorizer


@pytest.fixture(scope="session")
def registry_binary() -> str:
    path = shutil.which("docker-registry")
    if path is None:
        pytest.fail("docker-registry is not installed: apt-get install docker-registry (Debian, distribution 2.8)")
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPKI:
    return ensure_pki(tmp_path_factory.mktemp("pki"), apps_domain=APPS_DOMAIN)


@pytest.fixture(scope="session")
def fake_kube(pki: SandboxPKI) -> Iterator[tuple[FakeReviewApi, str]]:
    api = FakeReviewApi()
    server = BackgroundServer(api.app(), ssl_context=server_ssl_context(pki.apiserver_cert, pki.apiserver_key))
    with server:
        yield api, server.url


def _start_token_registry(
    state_dir: Path, pki: SandboxPKI, kube_url: str, signer: TokenSigner
) -> tuple[BackgroundServer, RegistryProcess]:
    storage = state_dir / "storage"
    kube_authorizer = KubeReviewAuthorizer(kube_url, pki.ca_cert, storage_root=storage, cache_seconds=5.0)
    authorizer = StaticCredentialAuthorizer([STATIC_ROBOT], fallback=kube_authorizer)
    app = create_token_app(authorizer, signer, SERVICE, ISSUER)
    token_server = BackgroundServer(app, ssl_context=server_ssl_context(pki.router_cert, pki.router_key)).start()
    try:
        process = start_registry(
            state_dir,
            pki,
            auth="token",
            token_realm=token_realm_url(token_server.port),
            service=SERVICE,
            issuer=ISSUER,
        )
    except BaseException:
        token_server.stop()
        raise
    return token_server, process


@pytest.fixture(scope="session")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory,
    registry_binary: str,
    pki: SandboxPKI,
    fake_kube: tuple[FakeReviewApi, str],
) -> Iterator[SandboxRegistry]:
    """docker-registry with ``auth: token`` whose realm is the OpenShift-like endpoint (kid-signed JWTs)."""
    del registry_binary
    kube, kube_url = fake_kube
    signer = TokenSigner.from_files(pki.token_signing_key, pki.token_signing_cert, mode="kid")
    token_server, process = _start_token_registry(tmp_path_factory.mktemp("registry"), pki, kube_url, signer)
    try:
        yield SandboxRegistry(pki, process, token_server.url + "/openshift/token", kube, signer)
    finally:
        stop_process(process.pid)
        token_server.stop()
