"""The sandbox's Kubernetes API process: the emulator, OpenShift's behaviours, our CRDs, over HTTPS."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import yaml

from horizon_publisher.sandbox.kubeapi.cluster import InMemoryCluster
from horizon_publisher.sandbox.kubeapi.server import create_app
from horizon_publisher.sandbox.layout import SandboxSettings, StateDir
from horizon_publisher.sandbox.openshift import SandboxClusterConfig, install
from horizon_publisher.sandbox.serving import serve_until_signalled
from horizon_publisher.sandbox.tls_server import server_ssl_context, start_app

CRD_KEY = "apiextensions.k8s.io/v1/customresourcedefinitions"


def load_crds(directory: Path) -> list[dict[str, object]]:
    documents: list[dict[str, object]] = []
    for path in sorted(directory.glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return [d for d in documents if d.get("kind") == "CustomResourceDefinition"]


def cluster_config(state: StateDir, settings: SandboxSettings) -> SandboxClusterConfig:
    pki = state.pki(settings)
    ca = pki.ca_cert.read_text()
    return SandboxClusterConfig(
        flavor=settings.flavor,
        apps_domain=settings.apps_domain,
        route_delay_seconds=settings.route_delay_seconds,
        ingress_ca_pem=ca,
        api_server_ca_pem=ca,
        sa_signing_key_pem=pki.sa_signing_key.read_text(),
        max_token_expiration_seconds=settings.max_token_expiration_seconds,
    )


async def _serve(state: StateDir) -> None:
    settings = state.load_settings()
    pki = state.pki(settings)
    cluster = InMemoryCluster()
    install(cluster, cluster_config(state, settings))
    if settings.crds_dir:
        for crd in load_crds(Path(settings.crds_dir)):
            cluster.create(CRD_KEY, crd)
    app = create_app(cluster, admin_token=state.admin_token())
    runner, port = await start_app(app, ssl_context=server_ssl_context(pki.apiserver_cert, pki.apiserver_key))
    await serve_until_signalled(runner, port, state.ready_file("kube-apiserver"))


def main(state_dir: Path) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(StateDir(state_dir.resolve())))
    return 0
