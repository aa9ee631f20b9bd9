"""Build and push tiny images with ``requests`` only (no Docker, no skopeo): for tests and the demo.

Each image is one gzip'd tar layer holding a text file that names the repository, tag and platform, so
every (repository, tag, platform) gets its own digests, and the same inputs always give the same bytes.
Multi-arch: the platform manifests are pushed by digest, then the OCI index / Docker manifest list by tag.

Authentication follows the registry's challenge: ``Bearer`` (GET the realm with ``service`` and
``scope``, Basic credentials if given) or ``Basic`` (credentials sent directly).

Registry 2.8 quirks handled: blob uploads are POST then PUT (no single-POST upload); ``Accept`` always
lists all four manifest types when resolving a digest.

Big images: :func:`push_image_with_random_layer` adds an uncompressed tar layer of N pseudo-random
(incompressible) bytes, generated and uploaded chunk by chunk (POST, PATCHes, PUT), so N may exceed RAM.

Limits: small blobs go in one PUT; no cross-repository mount; tokens cached per scope for the client's
lifetime (a 401 fetches a new one).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import random
import re
import tarfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
TAR_LAYER = {"oci": "application/vnd.oci.image.layer.v1.tar", "docker": "application/vnd.docker.image.rootfs.diff.tar"}
MIB = 1024 * 1024
ALL_MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)

Media = Literal["oci", "docker"]
Credentials = tuple[str, str]
_TYPES = {
    "oci": (OCI_MANIFEST, OCI_INDEX, OCI_CONFIG, OCI_LAYER),
    "docker": (DOCKER_MANIFEST, DOCKER_LIST, DOCKER_CONFIG, DOCKER_LAYER),
}
_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


class RegistryError(RuntimeError):
    """A registry or token-endpoint request failed; ``code`` is the registry's error code if any."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code


def sha256_digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class Blob:
    data: bytes = field(repr=False)
    media_type: str

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True)
class BuiltImage:
    """A single-platform image ready to push."""

    manifest: bytes = field(repr=False)
    media_type: str
    blobs: tuple[Blob, ...]
    platform: dict[str, str]

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)


def split_platform(arch: str, os: str = "linux") -> dict[str, str]:
    """``"arm/v7"`` -> ``{"architecture": "arm", "os": "linux", "variant": "v7"}``."""
    architecture, _, variant = arch.partition("/")
    platform = {"architecture": architecture, "os": os}
    if variant:
        platform["variant"] = variant
    return platform


def _layer(text: str, name: str) -> tuple[bytes, bytes]:
    """(uncompressed tar, gzip'd tar) with one file; fixed metadata so equal input gives equal bytes."""
    content = text.encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(content), 0o644, 0
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, mtime=0)


@dataclass(frozen=True)
class LayerRef:
    """A layer already pushed (too big to hold): its descriptor and uncompressed digest."""

    descriptor: dict[str, Any]
    diff_id: str


def build_image(
    repository: str,
    tag: str,
    *,
    arch: str,
    os: str = "linux",
    media: Media = "oci",
    extra_layers: Sequence[LayerRef] = (),
) -> BuiltImage:
    """A one-layer image whose content is unique to (repository, tag, os, arch), plus ``extra_layers``
    (pushed separately) after it."""
    manifest_type, _, config_type, layer_type = _TYPES[media]
    platform = split_platform(arch, os)
    tar_bytes, gz_bytes = _layer(
        f"horizon-publisher sandbox image {repository}:{tag} {os}/{arch}\n",
        f"horizon-sandbox/{tag}-{os}-{arch.replace('/', '-')}.txt",
    )
    config = {
        **platform,
        "created": "1970-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/true"], "Labels": {"org.opencontainers.image.title": repository}},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar_bytes), *(x.diff_id for x in extra_layers)]},
    }
    config_blob = Blob(_json_bytes(config), config_type)
    layer_blob = Blob(gz_bytes, layer_type)
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": config_blob.descriptor(),
        "layers": [layer_blob.descriptor(), *(x.descriptor for x in extra_layers)],
    }
    return BuiltImage(_json_bytes(manifest), manifest_type, (config_blob, layer_blob), platform)


def build_index(images: Sequence[BuiltImage], *, media: Media = "oci") -> tuple[bytes, str]:
    """(body, media type) of an OCI index or Docker manifest list over ``images``."""
    _, index_type, _, _ = _TYPES[media]
    manifests = [
        {
            "mediaType": image.media_type,
            "digest": image.digest,
            "size": len(image.manifest),
            "platform": image.platform,
        }
        for image in images
    ]
    return _json_bytes({"schemaVersion": 2, "mediaType": index_type, "manifests": manifests}), index_type


class RegistryClient:
    """A minimal distribution-API client that answers auth challenges and caches tokens per scope."""

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | None = None,
        verify: bool | str = True,
        session: requests.Session | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._verify = verify
        self._own_session = session is None
        self._session = session or requests.Session()
        self._timeout = timeout
        self._tokens: dict[str, str] = {}
        self._use_basic = False

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session:
            self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        scope: str,
        headers: Mapping[str, str] | None = None,
        data: bytes = b"",
    ) -> requests.Response:
        """Send with the best known credentials; on a 401 challenge, authenticate once and retry."""
        url = urljoin(self.base_url + "/", url)
        response = self._send(method, url, scope, headers, data)
        if response.status_code != 401:
            return response
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "bearer" and "realm" in params:
            self._tokens[scope] = self._fetch_token(params, scope)
        elif scheme == "basic" and self._credentials is not None:
            self._use_basic = True
        else:
            return response
        return self._send(method, url, scope, headers, data)

    def _send(
        self, method: str, url: str, scope: str, headers: Mapping[str, str] | None, data: bytes
    ) -> requests.Response:
        all_headers = dict(headers or {})
        auth: Credentials | None = None
        if scope in self._tokens:
            all_headers["Authorization"] = f"Bearer {self._tokens[scope]}"
        elif self._use_basic:
            auth = self._credentials
        return self._session.request(
            method,
            url,
            headers=all_headers,
            data=data or None,
            auth=auth,
            verify=self._verify,  # per request: REQUESTS_CA_BUNDLE would override Session.verify
            timeout=self._timeout,
            allow_redirects=method in ("GET", "HEAD"),
        )

    def _fetch_token(self, challenge: Mapping[str, str], scope: str) -> str:
        query: dict[str, str | list[str]] = {"scope": sorted({scope, challenge.get("scope", scope)})}
        if "service" in challenge:
            query["service"] = challenge["service"]
        response = self._session.get(
            challenge["realm"],
            params=query,
            auth=self._credentials,
            verify=self._verify,
            timeout=self._timeout,
        )
        if response.status_code != 200:
            raise _error(response, "token request refused")
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(response.status_code, "TOKEN_MISSING", "the token endpoint returned no token")
        return token

    def push_blob(self, repository: str, blob: Blob) -> None:
        scope = f"repository:{repository}:pull,push"
        head = self.request("HEAD", f"/v2/{repository}/blobs/{blob.digest}", scope=scope)
        if head.status_code == 200:
            return
        start = self.request("POST", f"/v2/{repository}/blobs/uploads/", scope=scope)
        if start.status_code != 202 or "Location" not in start.headers:
            raise _error(start, f"starting the upload of {blob.digest} failed")
        location = urljoin(start.url, start.headers["Location"])
        separator = "&" if "?" in location else "?"
        finish = self.request(
            "PUT",
            f"{location}{separator}digest={blob.digest}",
            scope=scope,
            headers={"Content-Type": "application/octet-stream"},
            data=blob.data,
        )
        if finish.status_code != 201:
            raise _error(finish, f"finishing the upload of {blob.digest} failed")

    def push_blob_chunks(
        self, repository: str, chunks: Iterable[bytes], *, chunk_size: int = 4 * MIB
    ) -> tuple[str, int]:
        """Upload a blob too big to hold: PATCH ``chunk_size`` pieces, hashing as they go; (digest, size)."""
        scope = f"repository:{repository}:pull,push"
        start = self.request("POST", f"/v2/{repository}/blobs/uploads/", scope=scope)
        if start.status_code != 202 or "Location" not in start.headers:
            raise _error(start, "starting a chunked upload failed")
        location = urljoin(start.url, start.headers["Location"])
        hasher, size, buffer = hashlib.sha256(), 0, bytearray()
        for chunk in itertools.chain(chunks, [None]):
            if chunk is not None:
                hasher.update(chunk)
                buffer += chunk
            if buffer and (chunk is None or len(buffer) >= chunk_size):
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{size}-{size + len(buffer) - 1}",
                }
                patch = self.request("PATCH", location, scope=scope, headers=headers, data=bytes(buffer))
                if patch.status_code != 202:
                    raise _error(patch, f"uploading bytes {size}- failed")
                location, size = urljoin(patch.url, patch.headers["Location"]), size + len(buffer)
                buffer.clear()
        digest = f"sha256:{hasher.hexdigest()}"
        separator = "&" if "?" in location else "?"
        finish = self.request("PUT", f"{location}{separator}digest={digest}", scope=scope)
        if finish.status_code != 201:
            raise _error(finish, f"finishing the chunked upload of {digest} failed")
        return digest, size

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        """PUT a manifest; returns its digest (checked against the registry's answer)."""
        response = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            scope=f"repository:{repository}:pull,push",
            headers={"Content-Type": media_type},
            data=body,
        )
        if response.status_code != 201:
            raise _error(response, f"pushing manifest {repository}:{reference} failed")
        digest = sha256_digest(body)
        reported = response.headers.get("Docker-Content-Digest")
        if reported not in (None, digest):
            raise RegistryError(201, "DIGEST_MISMATCH", f"registry reported {reported}, expected {digest}")
        return digest

    def push(self, repository: str, reference: str, image: BuiltImage) -> str:
        for blob in image.blobs:
            self.push_blob(repository, blob)
        return self.put_manifest(repository, reference, image.manifest, image.media_type)

    def resolve_digest(self, repository: str, reference: str) -> str:
        """HEAD the manifest with all four manifest types in Accept; the digest a user would pin."""
        response = self.request(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            scope=f"repository:{repository}:pull",
            headers={"Accept": ", ".join(ALL_MANIFEST_TYPES)},
        )
        digest = response.headers.get("Docker-Content-Digest")
        if response.status_code != 200 or not digest:
            raise _error(response, f"resolving {repository}:{reference} failed")
        return digest


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="r",service="s"`` -> ``("bearer", {"realm": "r", "service": "s"})``."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2).replace('\\"', '"') if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


def _error(response: requests.Response, what: str) -> RegistryError:
    code, message = "UNKNOWN", response.reason or ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = str(errors[0].get("code", code))
            message = str(errors[0].get("message", message))
        elif "details" in body:
            message = str(body["details"])
    return RegistryError(response.status_code, code, f"{what}: {message}")


@dataclass(frozen=True)
class IndexDigests:
    index: str
    per_arch: dict[str, str]


def push_image(
    base_url: str,
    repository: str,
    tag: str,
    *,
    arch: str = "amd64",
    os: str = "linux",
    credentials: Credentials | None = None,
    verify: bool | str = True,
    media: Media = "oci",
    session: requests.Session | None = None,
) -> str:
    """Push a one-layer image for one platform under ``tag``; returns the manifest digest."""
    with RegistryClient(base_url, credentials=credentials, verify=verify, session=session) as client:
        return client.push(repository, tag, build_image(repository, tag, arch=arch, os=os, media=media))


def push_index(
    base_url: str,
    repository: str,
    tag: str,
    *,
    arches: Sequence[str] = ("amd64", "arm64"),
    os: str = "linux",
    credentials: Credentials | None = None,
    verify: bool | str = True,
    media: Media = "oci",
    session: requests.Session | None = None,
) -> IndexDigests:
    """Push one image per arch (by digest), then the index / manifest list under ``tag``."""
    images = [build_image(repository, tag, arch=arch, os=os, media=media) for arch in arches]
    with RegistryClient(base_url, credentials=credentials, verify=verify, session=session) as client:
        per_arch = {
            arch: client.push(repository, image.digest, image) for arch, image in zip(arches, images, strict=True)
        }
        body, media_type = build_index(images, media=media)
        return IndexDigests(client.put_manifest(repository, tag, body, media_type), per_arch)


def resolve_digest(
    base_url: str,
    repository: str,
    reference: str,
    *,
    credentials: Credentials | None = None,
    verify: bool | str = True,
    session: requests.Session | None = None,
) -> str:
    """The digest ``repository:reference`` resolves to (index digest for multi-arch tags)."""
    with RegistryClient(base_url, credentials=credentials, verify=verify, session=session) as client:
        return client.resolve_digest(repository, reference)


def random_tar(size: int, *, seed: int = 0, piece: int = MIB) -> Iterator[bytes]:
    """An uncompressed tar holding one file of ``size`` pseudo-random bytes, produced piece by piece."""
    info = tarfile.TarInfo("horizon-sandbox/random.bin")
    info.size, info.mode, info.mtime = size, 0o644, 0
    yield info.tobuf(format=tarfile.PAX_FORMAT)
    generator = random.Random(seed)  # noqa: S311 - test data, not a secret: the same seed gives the same layer
    for offset in range(0, size, piece):
        yield generator.randbytes(min(piece, size - offset))
    yield bytes(-size % tarfile.BLOCKSIZE) + bytes(2 * tarfile.BLOCKSIZE)  # padding, end-of-archive blocks


def push_image_with_random_layer(
    base_url: str,
    repository: str,
    tag: str,
    *,
    layer_size: int,
    seed: int = 0,
    arch: str = "amd64",
    media: Media = "oci",
    credentials: Credentials | None = None,
    verify: bool | str = True,
    session: requests.Session | None = None,
) -> str:
    """Push the image of :func:`push_image` plus a last layer of ``layer_size`` random bytes (streamed, held
    one piece at a time); returns the manifest digest."""
    with RegistryClient(base_url, credentials=credentials, verify=verify, session=session) as client:
        digest, size = client.push_blob_chunks(repository, random_tar(layer_size, seed=seed))
        layer = LayerRef({"mediaType": TAR_LAYER[media], "digest": digest, "size": size}, digest)
        return client.push(repository, tag, build_image(repository, tag, arch=arch, media=media, extra_layers=[layer]))
