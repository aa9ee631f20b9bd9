"""The sandbox's registry token endpoint process (OpenShift's /openshift/token, decided by the emulator)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from horizon_publisher.sandbox.layout import StateDir
from horizon_publisher.sandbox.registry import DEFAULT_ISSUER, DEFAULT_SERVICE
from horizon_publisher.sandbox.registry_auth import KubeReviewAuthorizer, TokenSigner, create_token_app
from horizon_publisher.sandbox.serving import serve_until_signalled
from horizon_publisher.sandbox.tls_server import server_ssl_context, start_app


async def _serve(state: StateDir) -> None:
    settings = state.load_settings()
    pki = state.pki(settings)
    kube_port = json.loads(state.ready_file("kube-apiserver").read_text())["port"]
    authorizer = KubeReviewAuthorizer(
        f"https://127.0.0.1:{kube_port}", pki.ca_cert, storage_root=state.registry_dir / "storage"
    )
    signer = TokenSigner.from_files(pki.token_signing_key, pki.token_signing_cert)
    app = create_token_app(authorizer, signer, DEFAULT_SERVICE, DEFAULT_ISSUER)
    runner, port = await start_app(app, ssl_context=server_ssl_context(pki.router_cert, pki.router_key))
    await serve_until_signalled(runner, port, state.ready_file("registry-auth"))


def main(state_dir: Path) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(StateDir(state_dir.resolve())))
    return 0
