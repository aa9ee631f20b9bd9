"""Helpers of the image copy tests (no tests here): registries, clients, skopeo, a fake source registry.

The fake source (:class:`FakeSource`) is an aiohttp app over TLS that serves fixed manifests and blobs,
so a test can make it lie: a blob whose bytes do not match its digest, a stream that stops early, a
server that ignores ``Range``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from horizon_publisher.clients.registry import RegistryClient, RegistryEndpoint, RegistryError
from horizon_publisher.sandbox.pki import SandboxPKI
from horizon_publisher.sandbox.registry import AuthKind, RegistryProcess, start_registry, stop_process
from horizon_publisher.sandbox.tls_server import BackgroundServer, server_ssl_context

TARGET_USER, TARGET_PASSWORD = "copier", "target-password-5e1d"
MIB = 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@contextlib.contextmanager
def running_registry(
    directory: Path, pki: SandboxPKI, auth: AuthKind, users: dict[str, str] | None = None
) -> Iterator[RegistryProcess]:
    process = start_registry(directory, pki, auth=auth, htpasswd_users=users)
    try:
        yield process
    finally:
        stop_process(process.pid)


def registry_client(
    port: int,
    pki: SandboxPKI,
    credentials: tuple[str, str] | None = None,
    *,
    url: str | None = None,
    host: str | None = None,
    timeout: tuple[float, float] = (2.0, 10.0),
) -> RegistryClient:
    """A client for ``127.0.0.1:port`` (or ``host`` shown in messages, requests going to ``url``)."""
    user, password = credentials or (None, None)
    endpoint = RegistryEndpoint(
        host or f"127.0.0.1:{port}", ca_pem=pki.ca_cert.read_text(), username=user, password=password, url=url
    )
    return RegistryClient(endpoint, timeout=timeout)


def skopeo_inspect(
    reference: str, pki: SandboxPKI, home: Path, *, raw: bool = False, arch: str | None = None,
    creds: tuple[str, str] | None = None,
) -> str:  # fmt: skip
    """``skopeo inspect [--raw] docker://reference``; ``arch`` ("arm/v7") picks from an index."""
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is not installed: apt-get install skopeo")
    certs = home / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    shutil.copy(pki.ca_cert, certs / "ca.crt")
    command = ["skopeo"]
    if arch is not None:
        architecture, _, variant = arch.partition("/")
        command += ["--override-arch", architecture, *(["--override-variant", variant] if variant else [])]
    command += ["inspect", *(["--raw"] if raw else []), "--cert-dir", str(certs)]
    if creds is not None:
        command += ["--creds", f"{creds[0]}:{creds[1]}"]
    env = {**os.environ, "HOME": str(home), "REGISTRY_AUTH_FILE": str(home / "auth.json")}
    done = subprocess.run(
        [*command, f"docker://{reference}"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def failure(call: Callable[[], object]) -> RegistryError:
    """The RegistryError ``call`` raises."""
    with pytest.raises(RegistryError) as caught:
        call()
    return caught.value


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class FakeSource:
    """A registry that serves ``manifests`` (reference -> (media type, bytes)) and ``blobs`` (digest ->
    bytes as served, which may not hash to the digest). ``truncate_first`` cuts the first GET of each blob
    after that many bytes; ``honour_range=False`` answers every ranged GET with the whole blob."""

    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    truncate_first: int | None = None
    honour_range: bool = True
    blob_gets: Counter[str] = field(default_factory=Counter)

    def add_image(self, reference: str, layers: list[bytes], *, corrupt: int | None = None) -> str:
        """An OCI image; ``corrupt``: serve that layer with one byte flipped. Returns the manifest digest."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
        descriptors = []
        for number, data in enumerate([config, *layers]):
            digest = sha256(data)
            served = bytes([data[0] ^ 0xFF]) + data[1:] if number - 1 == corrupt else data
            self.blobs[digest] = served
            kind = (
                "application/vnd.oci.image.config.v1+json" if number == 0 else "application/vnd.oci.image.layer.v1.tar"
            )
            descriptors.append({"mediaType": kind, "digest": digest, "size": len(data)})
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptors[0], "layers": descriptors[1:]}
        body = json.dumps(manifest).encode()
        self.manifests[reference] = self.manifests[sha256(body)] = (OCI_MANIFEST, body)
        return sha256(body)

    async def _base(self, _: web.Request) -> web.Response:
        return web.json_response({})

    async def _manifest(self, request: web.Request) -> web.Response:
        found = self.manifests.get(request.match_info["reference"])
        if found is None:
            return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN"}]}, status=404)
        media_type, body = found
        headers = {"Docker-Content-Digest": sha256(body), "Content-Type": media_type}
        return web.Response(body=b"" if request.method == "HEAD" else body, headers=headers)

    async def _blob(self, request: web.Request) -> web.StreamResponse:
        digest = request.match_info["digest"]
        data = self.blobs.get(digest)
        if data is None:
            return web.json_response({"errors": [{"code": "BLOB_UNKNOWN"}]}, status=404)
        self.blob_gets[digest] += 1
        start = 0
        ranged = request.headers.get("Range", "")
        if ranged.startswith("bytes=") and self.honour_range:
            start = int(ranged.removeprefix("bytes=").partition("-")[0])
        response = web.StreamResponse(status=206 if start else 200)
        response.content_length = len(data) - start
        if start:
            response.headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        await response.prepare(request)
        if self.truncate_first is not None and self.blob_gets[digest] == 1:
            await response.write(data[start : start + self.truncate_first])
            assert request.transport is not None
            request.transport.close()  # the client sees fewer bytes than Content-Length
            return response
        await response.write(data[start:])
        await response.write_eof()
        return response

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/", self._base)
        app.router.add_route("*", "/v2/{name:.+}/manifests/{reference}", self._manifest)
        app.router.add_get("/v2/{name:.+}/blobs/{digest}", self._blob)
        return app


@contextlib.contextmanager
def serving(fake: FakeSource, pki: SandboxPKI) -> Iterator[BackgroundServer]:
    with BackgroundServer(fake.app(), ssl_context=server_ssl_context(pki.router_cert, pki.router_key)) as server:
        yield server
