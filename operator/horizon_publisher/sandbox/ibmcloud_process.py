"""The sandbox's IBM Cloud process: IAM + ICR management API emulator and the ICR registry's token endpoint.

One TLS listener (router certificate, which also names ``iam.cloud.ibm.com`` and ``us.icr.io``) serves
``POST /identity/token``, ``/api/v1/...`` and ``GET /oauth/token``. The image listing reads the sandbox
ICR registry's storage directory (see :mod:`horizon_publisher.sandbox.ibmcloud_storage`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

from horizon_publisher.sandbox.ibmcloud import IAM_TOKENS, REGISTRY_API, IbmCloudConfig, create_ibmcloud_app
from horizon_publisher.sandbox.ibmcloud_registry_auth import IcrApiKeyAuthorizer, add_icr_token_endpoint
from horizon_publisher.sandbox.ibmcloud_state import (
    NAMESPACES_FILE,
    SIGNING_KEY_FILE,
    NamespaceStore,
    ensure_signing_key,
    load_seed,
)
from horizon_publisher.sandbox.ibmcloud_storage import storage_images
from horizon_publisher.sandbox.layout import StateDir
from horizon_publisher.sandbox.registry_auth import TokenSigner
from horizon_publisher.sandbox.serving import serve_until_signalled
from horizon_publisher.sandbox.tls_server import server_ssl_context, start_app

SERVICE_NAME = "ibmcloud"


async def _serve(state: StateDir) -> None:
    settings = state.load_settings()
    pki = state.pki(settings)
    directory = state.ibmcloud_dir
    seed = load_seed(directory)  # written by ``sandbox up`` before it starts us
    store = NamespaceStore(directory / NAMESPACES_FILE)
    config = IbmCloudConfig(
        api_keys=seed.api_keys(),
        signing_key=ensure_signing_key(directory / SIGNING_KEY_FILE),
        images=functools.partial(storage_images, state.icr_registry_dir / "storage"),
        registry_host=seed.registry_host,
        namespaces={**store.load(), seed.other_account_namespace: seed.other_account_id},
        on_namespace_created=store.record,
    )
    app = create_ibmcloud_app(config)
    authorizer = IcrApiKeyAuthorizer(app[IAM_TOKENS].identity_for_api_key, app[REGISTRY_API].namespace_owner)
    add_icr_token_endpoint(app, authorizer, TokenSigner.from_files(pki.token_signing_key, pki.token_signing_cert))
    runner, port = await start_app(app, ssl_context=server_ssl_context(pki.router_cert, pki.router_key))
    await serve_until_signalled(runner, port, state.ready_file(SERVICE_NAME))


def main(state_dir: Path) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(StateDir(state_dir.resolve())))
    return 0
