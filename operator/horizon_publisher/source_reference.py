"""``spec.image.source.reference``: ``[HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST]``, with ``{arch}`` per architecture.

Normalised as Docker does: a first component without ``.`` or ``:`` (and not ``localhost``) is a path on
Docker Hub, whose one-component names live under ``library/``; Docker Hub's API host is
``registry-1.docker.io``. When a tag and a digest are both given the digest is what is copied (the tag only
documents it), as with ``docker pull NAME:TAG@DIGEST``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ARCH_PLACEHOLDER = "{arch}"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_CONFIG_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", DOCKER_HUB_API)

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?"
_REFERENCE = re.compile(
    rf"(?:(?P<host>{_HOST})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?",
    re.ASCII,
)


@dataclass(frozen=True)
class SourceReference:
    host: str  # as written (docker.io for Docker Hub): the key for credentials
    api_host: str  # where the distribution API answers
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        """What is fetched: the digest when given, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.host}/{self.repository}{tag}{digest}"


def parse_source_reference(text: str, arch: str | None = None) -> SourceReference:
    """Parse one reference, ``{arch}`` replaced by ``arch``; ``ValueError`` with a message for the user."""
    if ARCH_PLACEHOLDER in text:
        if arch is None:
            raise ValueError(f"{text!r} contains {ARCH_PLACEHOLDER}, which needs layout PerArchRepository")
        text = text.replace(ARCH_PLACEHOLDER, arch)
    match = _REFERENCE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an image reference [HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST]")
    host, path = match["host"], match["path"]
    if host is not None and "." not in host and ":" not in host and host != "localhost":
        host, path = None, f"{host}/{path}"  # "team/app" is a Docker Hub path, not a host
    if host is not None and not re.fullmatch(_COMPONENT + r"(?:/" + _COMPONENT + r")*", path):
        raise ValueError(f"{text!r} has an invalid repository path")
    if host is None or host in (DOCKER_HUB, "index.docker.io"):
        host = DOCKER_HUB
        path = path if "/" in path else f"library/{path}"
    port = host.rpartition(":")[2] if ":" in host else None
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} has an invalid port {port}")
    if match["tag"] is None and match["digest"] is None:
        raise ValueError(f"{text!r} names neither a tag nor a digest")
    return SourceReference(
        host=host,
        api_host=DOCKER_HUB_API if host == DOCKER_HUB else host,
        repository=path,
        tag=match["tag"],
        digest=match["digest"],
    )


def credential_keys(reference: SourceReference) -> tuple[str, ...]:
    """Keys a dockerconfigjson may file this registry's credentials under, most specific first."""
    return DOCKER_HUB_CONFIG_KEYS if reference.host == DOCKER_HUB else (reference.host, f"https://{reference.host}")
