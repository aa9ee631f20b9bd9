"""Values of the registry client: endpoint, manifest, error, image references, and index parsing.

No I/O here, so all of it is unit-tested without a registry (:mod:`horizon_publisher.clients.registry`
holds the HTTP side and re-exports these names).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
# Registry 2.8 needs all four: without the OCI types it answers 404 for OCI content, and with only the
# Docker v2 type it silently resolves a manifest list to its linux/amd64 manifest.
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})

Reason = Literal[
    "ImageNotFound",
    "Unauthorized",
    "Forbidden",
    "RegistryUnreachable",
    "TLSError",
    "ArchMissing",
    "RegistryProtocolError",
    # copying an image (registry_copy)
    "SourceNotFound",
    "DigestMismatch",
    "PlatformMismatch",
    "CopyFailed",
]

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")  # distribution's reference grammar
TAG = re.compile(r"\w[\w.-]{0,127}", re.ASCII)
DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_SSL_CODE = re.compile(r"\[SSL: ([A-Z0-9_]+)\]")
HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?")


class RegistryError(Exception):
    """A registry request failed; ``reason`` is a condition reason, ``message`` names the image, no secret."""

    def __init__(self, reason: Reason, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"RegistryError({self.reason!r}, {self.message!r}, status={self.status!r})"


@dataclass(frozen=True)
class RegistryEndpoint:
    """Where a registry is and how to trust and authenticate to it."""

    host: str  # "host" or "host:port" as it appears in image references
    ca_pem: str | None = field(default=None, repr=False)  # trust exactly this bundle; None = system trust
    insecure_skip_verify: bool = False  # explicit per-endpoint opt-out only
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # a token or API key: never logged
    # Where to send requests when not https://{host} (e.g. https://127.0.0.1:PORT); ``host`` stays what
    # image references and messages show.
    url: str | None = None

    def __post_init__(self) -> None:
        if not HOST.fullmatch(self.host):
            raise ValueError(f"registry host {self.host!r} is not HOST or HOST:PORT (no scheme, no path)")
        if self.url is not None:
            check_base_url(self.url)

    @property
    def base_url(self) -> str:
        """``https://host[:port]`` requests go to (no trailing slash)."""
        return self.url.rstrip("/") if self.url is not None else f"https://{self.host}"

    @property
    def has_credentials(self) -> bool:
        return bool(self.password)


@dataclass(frozen=True)
class Manifest:
    """What a tag or digest resolves to; ``platforms`` maps "amd64" or "arm/v7" to a platform manifest
    digest for an index or manifest list, and is empty for a single manifest."""

    digest: str
    media_type: str
    platforms: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def digest_for_arch(self, arch: str, reference: str) -> str:
        """The digest to deploy on ``arch``: the manifest's own for a single manifest, else the platform's.

        "arm" also finds a lone "arm/vN" entry (Horizon's "arm" leaves the variant open, as GOARCH does).
        Raises ``RegistryError("ArchMissing")`` naming the architectures the index has.
        """
        if not self.is_index:
            return self.digest
        key = normalize_arch(arch)
        if key in self.platforms:
            return self.platforms[key]
        variants = [name for name in self.platforms if name.startswith(f"{key}/")]
        if "/" not in key and len(variants) == 1:
            return self.platforms[variants[0]]
        have = ", ".join(sorted(self.platforms)) or "none"
        raise RegistryError("ArchMissing", f"{reference} has no linux/{key} image (it has: {have})")


def check_base_url(url: str) -> None:
    """``ValueError`` unless ``url`` is ``https://HOST[:PORT]`` (no user info, path, query or fragment)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"registry URL {url!r} is not https://HOST[:PORT]") from None
    if (
        parts.scheme != "https"
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or not HOST.fullmatch(parts.netloc)
    ):
        raise ValueError(f"registry URL {url!r} is not https://HOST[:PORT] (https only, no path)")


@dataclass(frozen=True)
class ManifestBody:
    """A manifest's exact bytes as the registry serves them (what a copy PUTs unchanged)."""

    digest: str
    media_type: str
    body: bytes = field(repr=False)


def image_reference(host: str, repository: str, tag: str) -> str:
    """``HOST/REPO:TAG``."""
    return f"{host}/{repository}:{tag}"


def pinned_reference(host: str, repository: str, digest: str) -> str:
    """``HOST/REPO@DIGEST``."""
    if not DIGEST.fullmatch(digest):
        raise ValueError(f"{digest!r} is not a digest (algorithm:hex)")
    return f"{host}/{repository}@{digest}"


def reference_text(host: str, repository: str, reference: str) -> str:
    """The image reference for a tag or a digest, as shown in messages."""
    if DIGEST.fullmatch(reference):
        return pinned_reference(host, repository, reference)
    return image_reference(host, repository, reference)


def check_repository_and_reference(repository: str, reference: str) -> None:
    """``ValueError`` for names the registry would reject (and that must not reach a URL path)."""
    if len(repository) > 255 or not REPOSITORY.fullmatch(repository):
        raise ValueError(f"{repository!r} is not a valid repository name (lower-case path components)")
    if not (TAG.fullmatch(reference) or DIGEST.fullmatch(reference)):
        raise ValueError(f"{reference!r} is neither a tag nor a digest")


def media_type_of(content_type: str | None) -> str:
    """``application/x; charset=utf-8`` -> ``application/x``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def normalize_arch(arch: str) -> str:
    """ "arm64/v8" is plain arm64 (as containerd normalizes it); other names stay as given, lower-cased."""
    key = arch.strip().lower()
    return "arm64" if key == "arm64/v8" else key


def platform_key(platform: Mapping[str, Any]) -> str | None:
    """ "amd64", "arm/v7", ... for a linux platform; None for other systems and attestation entries."""
    architecture, os_name = platform.get("architecture"), platform.get("os")
    if os_name != "linux" or not isinstance(architecture, str) or not architecture:
        return None
    variant = platform.get("variant")
    key = f"{architecture}/{variant}" if isinstance(variant, str) and variant else architecture
    return normalize_arch(key)


def index_platforms(body: bytes) -> tuple[str | None, dict[str, str]]:
    """(``mediaType`` field or None, platform -> digest) of an OCI index or Docker manifest list body.

    The first entry wins when two name the same platform. ``ValueError`` when the body is not an index.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"the index is not JSON ({error.__class__.__name__})") from None
    if not isinstance(document, dict) or not isinstance(document.get("manifests"), list):
        raise ValueError("the index has no 'manifests' list")
    platforms: dict[str, str] = {}
    for entry in document["manifests"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("platform"), dict):
            continue
        digest = entry.get("digest")
        key = platform_key(entry["platform"])
        if key is not None and isinstance(digest, str) and DIGEST.fullmatch(digest):
            platforms.setdefault(key, digest)
    media_type = document.get("mediaType")
    return (media_type if isinstance(media_type, str) else None), platforms


def media_type_of_body(body: bytes) -> str | None:
    """The ``mediaType`` a manifest body declares (OCI makes it optional), or None."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    value = document.get("mediaType") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def tls_error(text: str, peer: str, *, configured_ca: bool) -> RegistryError:
    """A TLSError whose message says what failed and which trust anchors were used (from the SSL error text)."""
    trust = "the CA bundle configured for this registry" if configured_ca else "the system trust store"
    failed = f"TLS verification of the {peer} failed"
    if "Hostname mismatch" in text or "doesn't match" in text:
        return RegistryError("TLSError", f"{failed}: certificate not valid for that host name")
    if "certificate has expired" in text:
        return RegistryError("TLSError", f"{failed}: certificate expired")
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return RegistryError("TLSError", f"{failed}: certificate not trusted by the configured CA ({trust})")
    code = match.group(1) if (match := _SSL_CODE.search(text)) else "unknown TLS error"
    return RegistryError("TLSError", f"TLS handshake with the {peer} failed ({code})")


# --- what a copy walks: the blobs of a manifest, the children of an index --------------------------------

# Layers a registry does not serve (Windows base layers): their bytes live at the descriptor's urls.
FOREIGN_LAYER_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what to fetch (``digest``), how big it must be, and its declared type."""

    digest: str
    size: int
    media_type: str = ""
    platform: str | None = None  # "amd64", "arm/v7" for a linux index entry, else None

    @property
    def short(self) -> str:
        return self.digest[:19]  # "sha256:" + 12 hex, as docker shows


def _descriptor(entry: Any, where: str) -> Descriptor:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} is not an object")
    digest, size, media_type = entry.get("digest"), entry.get("size"), entry.get("mediaType", "")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise ValueError(f"{where} has no valid digest")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"{where} has no valid size")
    platform = platform_key(entry["platform"]) if isinstance(entry.get("platform"), dict) else None
    return Descriptor(digest, size, media_type if isinstance(media_type, str) else "", platform)


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"not JSON ({error.__class__.__name__})") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document


def manifest_blobs(body: bytes) -> list[Descriptor]:
    """The config and layers of an image manifest, in order, without foreign layers. ``ValueError`` if the
    body is not a schema-2 / OCI image manifest."""
    document = _document(body)
    if document.get("schemaVersion") != 2 or not isinstance(document.get("layers", []), list):
        raise ValueError("not a schema 2 image manifest")
    blobs = [_descriptor(document.get("config"), "the config descriptor")]
    for number, entry in enumerate(document.get("layers", [])):
        layer = _descriptor(entry, f"layer {number}")
        if layer.media_type not in FOREIGN_LAYER_TYPES and not entry.get("urls"):
            blobs.append(layer)
    return blobs


def index_children(body: bytes) -> list[Descriptor]:
    """Every manifest an OCI index or Docker manifest list names (all platforms, attestations too)."""
    document = _document(body)
    manifests = document.get("manifests")
    if not isinstance(manifests, list):
        raise ValueError("the index has no 'manifests' list")
    return [_descriptor(entry, f"index entry {number}") for number, entry in enumerate(manifests)]


def arch_matches(wanted: str, key: str | None) -> bool:
    """Whether a platform key ("arm/v7") is what a Horizon arch ("arm") asks for (variant left open)."""
    if key is None:
        return False
    want = normalize_arch(wanted)
    return key == want or ("/" not in want and key.startswith(f"{want}/"))


def config_platform(body: bytes) -> str | None:
    """The platform key of an image config blob (``architecture``/``os``/``variant``), or None."""
    try:
        return platform_key(_document(body))
    except ValueError:
        return None
