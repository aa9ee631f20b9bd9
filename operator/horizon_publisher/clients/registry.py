"""Read (and, for copies, write) image manifests in a container registry (distribution API v2) with ``requests``.

Authentication, TLS trust and error mapping live in :mod:`horizon_publisher.clients.registry_transport`
(Basic or Bearer challenges, a process-wide token cache per registry, scope and credentials, the CA passed
per request, connection pools shared by the process, the connect-to mapping of
``HORIZON_PUBLISHER_CONNECT_TO``); blob transfers in :mod:`horizon_publisher.clients.registry_blobs`.

``head_manifest`` sends HEAD with the four manifest types in ``Accept`` (registry 2.8 needs all four) and
reads ``Docker-Content-Digest``; for an OCI index or Docker manifest list it also GETs the body (checked
against the digest) to map each linux platform to its manifest digest. ``get_manifest`` returns the exact
bytes (checked against their digest) and ``put_manifest`` stores them unchanged (push scope).

Errors are :class:`RegistryError` with a condition ``reason``; messages name the image reference and
never a credential, token or ``Authorization`` header.

Limits: no tag listing; https only (no plain-HTTP registries); credentials are not sent to a plain-HTTP
token realm; manifests over 4 MiB are refused; only linux entries of an index are mapped.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import requests

from horizon_publisher.clients.registry_auth_client import Challenge, parse_challenge
from horizon_publisher.clients.registry_model import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    SHA256_DIGEST,
    Manifest,
    ManifestBody,
    RegistryEndpoint,
    RegistryError,
    check_repository_and_reference,
    image_reference,
    index_platforms,
    media_type_of,
    media_type_of_body,
    pinned_reference,
    reference_text,
)
from horizon_publisher.clients.registry_transport import RegistryTransport, error_code

__all__ = [
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Challenge",
    "Manifest",
    "ManifestBody",
    "RegistryClient",
    "RegistryEndpoint",
    "RegistryError",
    "image_reference",
    "parse_challenge",
    "pinned_reference",
]

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # distribution's own limit for manifest uploads
KNOWN_TYPES = frozenset({OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST})
_HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


class RegistryClient(RegistryTransport):
    """A client for one registry endpoint (see :class:`RegistryTransport` for auth, TLS and lifecycle).

    Reads need only pull; :meth:`put_manifest` and the blob uploads of
    :mod:`horizon_publisher.clients.registry_blobs` ask for push.
    """

    # --- public ----------------------------------------------------------------------------------------

    def head_manifest(self, repository: str, reference: str) -> Manifest:
        """Resolve a tag or digest: the digest a user would pin, its media type, and per-arch digests for an
        index. Raises ``ValueError`` for an invalid name, :class:`RegistryError` for everything else."""
        check_repository_and_reference(repository, reference)
        ref = reference_text(self.endpoint.host, repository, reference)
        with self._manifest_request("HEAD", repository, reference, ref) as response:
            if response.status_code != 405:  # some registries allow only GET
                self._raise_for_status(response, ref)
                digest = response.headers.get("Docker-Content-Digest", "").strip()
                media_type = media_type_of(response.headers.get("Content-Type"))
                if digest and media_type in KNOWN_TYPES - INDEX_TYPES:
                    self._check_digest_format(digest, ref)
                    return Manifest(digest, media_type)
        return self._get_manifest(repository, reference, ref)

    def get_manifest(self, repository: str, reference: str) -> ManifestBody:
        """The manifest's exact bytes (checked against its digest) and media type, e.g. to copy it."""
        check_repository_and_reference(repository, reference)
        ref = reference_text(self.endpoint.host, repository, reference)
        with self._manifest_request("GET", repository, reference, ref) as response:
            self._raise_for_status(response, ref)
            body = self._read_body(response, ref)
            header_digest = response.headers.get("Docker-Content-Digest", "").strip()
            media_type = media_type_of(response.headers.get("Content-Type"))
        if media_type not in KNOWN_TYPES:
            media_type = media_type_of(media_type_of_body(body)) or media_type
        if media_type not in KNOWN_TYPES and b'"manifests"' in body:
            media_type = OCI_INDEX  # OCI makes mediaType optional; an index is what has "manifests"
        return ManifestBody(self._body_digest(body, header_digest, reference, ref), media_type, body)

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        """PUT ``body`` unchanged under a tag or its digest (needs push); returns its digest.

        The blobs it names must already be in ``repository``. A rejection by the registry is
        ``RegistryError("CopyFailed")`` naming the registry's error code.
        """
        check_repository_and_reference(repository, reference)
        ref = reference_text(self.endpoint.host, repository, reference)
        digest = f"sha256:{hashlib.sha256(body).hexdigest()}"
        url = self.url(f"/v2/{repository}/manifests/{reference}")
        scope = f"repository:{repository}:pull,push"
        headers = {"Content-Type": media_type}
        with self.request("PUT", url, scope=scope, ref=ref, action="push", headers=headers, data=body) as response:
            status = response.status_code
            if status == 403:
                raise RegistryError("Forbidden", f"{self._who()} may not push {ref} (HTTP 403)", status)
            if status != 201:
                detail = f" ({code})" if (code := error_code(response)) else ""
                raise RegistryError(
                    "CopyFailed", f"registry {self.endpoint.host} refused the manifest for {ref}: HTTP {status}{detail}"
                )
            reported = response.headers.get("Docker-Content-Digest", "").strip()
        if reported and reported != digest:
            raise RegistryError(
                "DigestMismatch", f"registry {self.endpoint.host} stored {ref} as {reported}, not {digest}"
            )
        return digest

    # --- manifests -------------------------------------------------------------------------------------

    def _get_manifest(self, repository: str, reference: str, ref: str) -> Manifest:
        del ref
        manifest = self.get_manifest(repository, reference)
        if manifest.media_type not in INDEX_TYPES:
            return Manifest(manifest.digest, manifest.media_type)
        try:
            _, platforms = index_platforms(manifest.body)
        except ValueError as error:
            raise RegistryError(
                "RegistryProtocolError",
                f"the index of {reference_text(self.endpoint.host, repository, reference)} is unusable: {error}",
            ) from None
        return Manifest(manifest.digest, manifest.media_type, platforms)

    def _body_digest(self, body: bytes, header_digest: str, reference: str, ref: str) -> str:
        """The digest of the exact bytes; a registry header that disagrees means corruption or a bug."""
        claimed = header_digest or (reference if ":" in reference else "")
        algorithm = claimed.partition(":")[0] if claimed else "sha256"
        hasher = _HASHES.get(algorithm)
        if hasher is None:
            raise RegistryError("RegistryProtocolError", f"{ref}: unsupported digest algorithm {algorithm!r}")
        computed = f"{algorithm}:{hasher(body).hexdigest()}"
        if claimed and claimed != computed:
            raise RegistryError(
                "RegistryProtocolError", f"{ref}: the manifest's bytes do not match its digest {claimed}"
            )
        return computed

    def _read_body(self, response: requests.Response, ref: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        with self.mapped_errors(f"registry {self.endpoint.host}"):
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > MAX_MANIFEST_BYTES:
                    raise RegistryError("RegistryProtocolError", f"the manifest of {ref} is larger than 4 MiB")
                chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _check_digest_format(digest: str, ref: str) -> None:
        if digest.startswith("sha256:") and not SHA256_DIGEST.fullmatch(digest):
            raise RegistryError("RegistryProtocolError", f"{ref}: the registry sent a malformed digest")

    def _raise_for_status(self, response: requests.Response, ref: str) -> None:
        status = response.status_code
        if status == 200:
            return
        if status == 404:
            raise RegistryError("ImageNotFound", f"{ref} not found in the registry (not pushed yet?)", status)
        if status == 401:
            raise self._refused(response, ref)
        if status == 403:
            raise RegistryError("Forbidden", f"{self._who()} may not pull {ref} (HTTP 403)", status)
        detail = f" ({code})" if (code := error_code(response)) else ""
        raise RegistryError(
            "RegistryProtocolError", f"registry {self.endpoint.host} answered HTTP {status}{detail} for {ref}", status
        )

    def _who(self) -> str:
        return "the configured credentials" if self.endpoint.has_credentials else "anonymous access"

    @contextlib.contextmanager
    def _manifest_request(self, method: str, repository: str, reference: str, ref: str) -> Iterator[requests.Response]:
        url = self.url(f"/v2/{repository}/manifests/{reference}")
        response = self.request(method, url, scope=f"repository:{repository}:pull", ref=ref, stream=method == "GET")
        try:
            yield response
        finally:
            response.close()
