"""Copy an image between registries over the distribution API, with ``requests`` only.

What is copied: a single manifest with its config and layers, or an OCI index / Docker manifest list with
every child manifest (pushed by digest) and all their blobs, then the top manifest under the target tag.
Manifest bytes are PUT unchanged with their media type, so every digest equals the source's. With
``platform`` and an index source, only that platform's manifest is copied; a single-manifest source must
then have that architecture in its config (else ``PlatformMismatch``).

Blobs, one at a time: HEAD at the target (present -> skipped); on the same registry a cross-repository
mount; otherwise the source blob is streamed into a chunked upload: one ``chunk_size`` buffer is the only
copy held, hashed while it streams, and the upload is committed only when the digest matches (else it is
cancelled: ``DigestMismatch``). A source stream that breaks is resumed with ``Range: bytes=N-`` into the
same upload session, at most ``RESUMES`` times per blob. A target connection that breaks mid-PATCH
continues where the registry says it stopped or, when the registry cannot resume that session (registry
2.8 cannot), the blob starts over in a new session (``UPLOAD_RESTARTS``). A failed copy leaves only complete, verified
blobs at the target, which the next attempt skips (``blobs_present``); child manifests already at the
target are skipped with their blobs.

Not copied: foreign / non-distributable layers (the registry never serves them: their descriptors keep
their ``urls``), referrers (signatures, SBOMs attached by ``subject``), schema-1 manifests (refused).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import requests

from horizon_publisher.clients.registry import RegistryClient
from horizon_publisher.clients.registry_blobs import BlobUpload, UploadBroken, blob_exists, open_blob
from horizon_publisher.clients.registry_model import (
    INDEX_TYPES,
    Descriptor,
    ManifestBody,
    Reason,
    RegistryError,
    arch_matches,
    check_repository_and_reference,
    config_platform,
    index_children,
    index_platforms,
    manifest_blobs,
    normalize_arch,
    reference_text,
)

__all__ = ["CopyResult", "copy_image", "source_digest"]

log = logging.getLogger("horizon_publisher.clients.registry")

RESUMES = 3  # source reads resumed per blob before the copy gives up
UPLOAD_RESTARTS = 2  # uploads of one blob started again after the target's session broke
MAX_INDEX_DEPTH = 2  # an index may name indexes (OCI allows it); deeper nesting is refused
MAX_CONFIG_BYTES = 8 * 1024 * 1024
_PIECE = 256 * 1024  # the size of each read from the source stream
_HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
# A source stream that breaks mid-body: what requests raises while iterating the content.
_BROKEN_STREAM = (
    requests.ConnectionError,  # resets, read timeouts, TLS errors mid-body
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,  # urllib3's IncompleteRead: fewer bytes than Content-Length
    requests.exceptions.ContentDecodingError,
)


@dataclass(frozen=True)
class CopyResult:
    digest: str  # of the manifest or index now at the target tag (equal to the source's)
    media_type: str
    blobs_copied: int
    blobs_mounted: int  # cross-repository mounts
    blobs_present: int  # already at the target, skipped (what makes a retry resume)
    bytes_copied: int


class _SourceBroken(Exception):
    """The source stream ended early or failed; the copy may resume it."""


def source_digest(source: RegistryClient, repository: str, reference: str, *, platform: str | None = None) -> str:
    """The digest :func:`copy_image` would put at the target tag: the source's own, or with ``platform`` and an
    index source the platform manifest's. Raises like :func:`copy_image` (SourceNotFound, PlatformMismatch)."""
    check_repository_and_reference(repository, reference)
    ref = reference_text(source.endpoint.host, repository, reference)
    with _source_errors(ref):
        manifest = source.head_manifest(repository, reference)
    if platform is None:
        return manifest.digest
    if manifest.is_index:
        return _platform_child(manifest.platforms, platform, ref)
    reader = _Copier(source, repository, source, repository, 1)
    reader.check_platform(reader.source_manifest(manifest.digest), platform)
    return manifest.digest


def copy_image(  # noqa: PLR0917 - the agreed call shape: source triple, target triple
    source: RegistryClient,
    source_repository: str,
    source_reference: str,
    target: RegistryClient,
    target_repository: str,
    target_tag: str,
    *,
    platform: str | None = None,
    chunk_size: int = 4 * 1024 * 1024,
) -> CopyResult:
    """Copy ``source_repository:source_reference`` (tag or digest) to ``target_repository:target_tag``.

    Raises ``ValueError`` for invalid names or ``chunk_size``, :class:`RegistryError` for everything else
    (SourceNotFound, PlatformMismatch, DigestMismatch, CopyFailed, RegistryUnreachable, Unauthorized, ...).
    """
    check_repository_and_reference(source_repository, source_reference)
    check_repository_and_reference(target_repository, target_tag)
    if target_tag.partition(":")[1]:
        raise ValueError(f"the target must be a tag, not {target_tag!r}")
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    copier = _Copier(source, source_repository, target, target_repository, chunk_size)
    top = copier.source_manifest(source_reference)
    if top.media_type in INDEX_TYPES and platform is not None:
        top = copier.source_manifest(copier.platform_child(top, platform))
        copier.copy_manifest(top, put_by_digest=False)
    elif top.media_type in INDEX_TYPES:
        copier.copy_children(top, depth=1)
    else:
        if platform is not None:
            copier.check_platform(top, platform)
        copier.copy_manifest(top, put_by_digest=False)
    digest = target.put_manifest(target_repository, target_tag, top.body, top.media_type)
    log.info(
        "copied %s to %s/%s:%s", copier.source_ref(top.digest), target.endpoint.host, target_repository, target_tag
    )
    return CopyResult(digest, top.media_type, copier.copied, copier.mounted, copier.present, copier.bytes_copied)


class _Copier:
    """One copy's state: the two ends and the counters of :class:`CopyResult`."""

    def __init__(
        self, source: RegistryClient, source_repo: str, target: RegistryClient, target_repo: str, chunk_size: int
    ) -> None:
        self.source, self.source_repo, self.target, self.target_repo = source, source_repo, target, target_repo
        self.chunk_size = chunk_size
        self.can_mount = source.same_registry(target) and source_repo != target_repo
        self.copied = self.mounted = self.present = self.bytes_copied = 0

    def source_ref(self, reference: str) -> str:
        return reference_text(self.source.endpoint.host, self.source_repo, reference)

    # --- manifests ---------------------------------------------------------------------------------------

    def source_manifest(self, reference: str) -> ManifestBody:
        ref = self.source_ref(reference)
        with _source_errors(ref):
            return self.source.get_manifest(self.source_repo, reference)

    def platform_child(self, index: ManifestBody, platform: str) -> str:
        try:
            _, platforms = index_platforms(index.body)
        except ValueError as error:
            raise RegistryError(
                "CopyFailed", f"the index {self.source_ref(index.digest)} is unusable: {error}"
            ) from None
        return _platform_child(platforms, platform, self.source_ref(index.digest))

    def check_platform(self, manifest: ManifestBody, platform: str) -> None:
        config = self._blobs_of(manifest)[0]
        if config.size > MAX_CONFIG_BYTES:
            raise RegistryError("CopyFailed", f"the config of {self.source_ref(manifest.digest)} is too large")
        hasher = _hasher(config, self.source_ref(manifest.digest))
        body = bytearray()
        try:
            for piece in self._source_pieces(config, 0):
                body += piece
        except _SourceBroken as broken:  # small: no resume, the caller's retry will do
            reason: Reason = "RegistryUnreachable" if isinstance(broken.__cause__, RegistryError) else "CopyFailed"
            raise RegistryError(
                reason, f"reading the config of {self.source_ref(manifest.digest)} failed: {broken}"
            ) from None
        hasher.update(body)
        if f"{hasher.name}:{hasher.hexdigest()}" != config.digest:
            raise RegistryError("DigestMismatch", f"the config of {self.source_ref(manifest.digest)} is corrupt")
        found = config_platform(bytes(body))
        if not arch_matches(platform, found):
            raise RegistryError(
                "PlatformMismatch",
                f"{self.source_ref(manifest.digest)} is not a linux/{platform} image (its config says "
                f"{found or 'another system'})",
            )

    def copy_children(self, index: ManifestBody, depth: int) -> None:
        try:
            children = index_children(index.body)
        except ValueError as error:
            raise RegistryError(
                "CopyFailed", f"the index {self.source_ref(index.digest)} is unusable: {error}"
            ) from None
        for child in children:
            if self._target_has_manifest(child.digest):
                continue  # a registry stores a manifest only once it has all its blobs
            manifest = self.source_manifest(child.digest)
            if manifest.media_type in INDEX_TYPES:
                if depth >= MAX_INDEX_DEPTH:
                    raise RegistryError("CopyFailed", f"{self.source_ref(index.digest)} nests indexes too deeply")
                self.copy_children(manifest, depth + 1)
                self.target.put_manifest(self.target_repo, manifest.digest, manifest.body, manifest.media_type)
            else:
                self.copy_manifest(manifest, put_by_digest=True)

    def copy_manifest(self, manifest: ManifestBody, *, put_by_digest: bool) -> None:
        for blob in self._blobs_of(manifest):
            self.copy_blob(blob)
        if put_by_digest:
            self.target.put_manifest(self.target_repo, manifest.digest, manifest.body, manifest.media_type)

    def _blobs_of(self, manifest: ManifestBody) -> list[Descriptor]:
        try:
            return manifest_blobs(manifest.body)
        except ValueError as error:
            raise RegistryError(
                "CopyFailed",
                f"{self.source_ref(manifest.digest)} ({manifest.media_type or 'no media type'}) "
                f"cannot be copied: {error}",
            ) from None

    def _target_has_manifest(self, digest: str) -> bool:
        ref = reference_text(self.target.endpoint.host, self.target_repo, digest)
        url = self.target.url(f"/v2/{self.target_repo}/manifests/{digest}")
        scope = f"repository:{self.target_repo}:pull,push"  # one token for the whole copy
        with self.target.request("HEAD", url, scope=scope, ref=ref, action="push") as response:
            return response.status_code == 200

    # --- blobs -------------------------------------------------------------------------------------------

    def copy_blob(self, blob: Descriptor) -> None:
        if blob_exists(self.target, self.target_repo, blob.digest, push=True):
            self.present += 1
            return
        mount_from = self.source_repo if self.can_mount else None
        for attempt in range(UPLOAD_RESTARTS + 1):
            upload = BlobUpload.start(self.target, self.target_repo, blob.digest, mount_from=mount_from)
            if upload is None:
                self.mounted += 1
                return
            if upload.mount_refused:  # the next blobs would be refused too
                self.can_mount, mount_from = False, None
            try:
                self._stream(blob, upload)
            except UploadBroken as broken:
                upload.cancel()
                if attempt == UPLOAD_RESTARTS:
                    raise RegistryError(
                        broken.cause.reason, f"uploading {self.source_ref(blob.digest)} failed: {broken.cause.message}"
                    ) from None
                log.info("the upload of %s broke (%s); starting it again", blob.short, broken.cause.reason)
                continue
            except BaseException:
                upload.cancel()
                raise
            self.copied += 1
            self.bytes_copied += blob.size
            return

    def _stream(self, blob: Descriptor, upload: BlobUpload) -> None:
        """Source -> one chunk buffer -> PATCH, hashing on the way; PUT only a verified digest."""
        ref = self.source_ref(blob.digest)
        hasher = _hasher(blob, ref)
        buffer = memoryview(bytearray(min(self.chunk_size, max(blob.size, 1))))
        filled = received = 0
        resumes = 0
        while received < blob.size:
            try:
                for piece in self._source_pieces(blob, received):
                    hasher.update(piece)
                    received += len(piece)
                    view, used = memoryview(piece), 0
                    while used < len(view):
                        count = min(len(view) - used, len(buffer) - filled)
                        buffer[filled : filled + count] = view[used : used + count]
                        filled, used = filled + count, used + count
                        if filled == len(buffer):
                            upload.append(buffer)
                            filled = 0
            except _SourceBroken as broken:
                resumes += 1
                if resumes > RESUMES:
                    reason: Reason = (
                        "RegistryUnreachable" if isinstance(broken.__cause__, RegistryError) else "CopyFailed"
                    )
                    raise RegistryError(
                        reason,
                        f"reading {ref} failed {resumes} times (last at byte {received} of {blob.size}): {broken}",
                    ) from None
                log.info(
                    "the source stream of %s broke at byte %d of %d (%s); resuming", ref, received, blob.size, broken
                )
        if filled:
            upload.append(buffer[:filled])
        computed = f"{hasher.name}:{hasher.hexdigest()}"
        if computed != blob.digest:
            raise RegistryError(
                "DigestMismatch", f"the bytes of {ref} do not match its digest (they hash to {computed})"
            )
        upload.finish(blob.digest)

    def _source_pieces(self, blob: Descriptor, offset: int) -> Iterator[bytes]:
        """The blob's bytes from ``offset`` to its declared size; :class:`_SourceBroken` when they stop early."""
        ref = self.source_ref(blob.digest)
        try:
            response = open_blob(self.source, self.source_repo, blob, offset)
        except RegistryError as error:
            if error.reason != "RegistryUnreachable":
                raise
            raise _SourceBroken(error.message) from error
        with response:
            skip = offset if response.status_code == 200 else 0  # Range ignored: drop what we have
            position = offset - skip
            try:
                for chunk in response.iter_content(_PIECE):
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk, skip = chunk[dropped:], skip - dropped  # noqa: PLW2901
                    if position + len(chunk) > blob.size:
                        raise RegistryError(
                            "DigestMismatch", f"the source sent more than the {blob.size} bytes of {ref}"
                        )
                    position += len(chunk)
                    if chunk:
                        yield chunk
            except _BROKEN_STREAM as error:
                raise _SourceBroken(error.__class__.__name__) from None
        if position < blob.size:
            raise _SourceBroken(f"the stream ended at byte {position}")


def _platform_child(platforms: dict[str, str], platform: str, ref: str) -> str:
    """Like :meth:`Manifest.digest_for_arch`: the exact platform, else a lone variant of it ("arm" -> "arm/v7")."""
    if normalize_arch(platform) in platforms:
        return platforms[normalize_arch(platform)]
    matches = [digest for key, digest in platforms.items() if arch_matches(platform, key)]
    if len(matches) == 1:
        return matches[0]
    have = ", ".join(sorted(platforms)) or "none"
    raise RegistryError("PlatformMismatch", f"{ref} has no single linux/{platform} image (it has: {have})")


def _hasher(blob: Descriptor, ref: str) -> hashlib._Hash:
    algorithm = blob.digest.partition(":")[0]
    factory = _HASHES.get(algorithm)
    if factory is None:
        raise RegistryError("CopyFailed", f"{ref}: unsupported digest algorithm {algorithm!r}")
    return factory()


@contextlib.contextmanager
def _source_errors(ref: str) -> Iterator[None]:
    """Inside: a source manifest that is not there becomes ``SourceNotFound`` naming the source."""
    try:
        yield
    except RegistryError as error:
        if error.reason != "ImageNotFound":
            raise
        raise RegistryError("SourceNotFound", f"the source image {ref} does not exist", error.status) from None
