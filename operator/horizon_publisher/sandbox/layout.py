"""Where everything lives in a sandbox state directory, and the settings its processes share."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from horizon_publisher.sandbox.pki import DEFAULT_APPS_DOMAIN, SandboxPKI

Flavor = Literal["openshift", "kubernetes"]


@dataclass(frozen=True)
class SandboxSettings:
    flavor: Flavor = "openshift"
    apps_domain: str = DEFAULT_APPS_DOMAIN
    crds_dir: str = ""
    route_delay_seconds: float = 1.0
    # --service-account-max-token-expiration: the API server shortens TokenRequests to this (tests of
    # token rotation use a few seconds; None = as requested)
    max_token_expiration_seconds: int | None = None


@dataclass(frozen=True)
class StateDir:
    root: Path

    @property
    def settings_file(self) -> Path:
        return self.root / "sandbox.json"

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def admin_token_file(self) -> Path:
        return self.root / "admin-token"

    @property
    def registry_dir(self) -> Path:
        return self.root / "registry"

    @property
    def ibmcloud_dir(self) -> Path:
        """The IBM Cloud emulator's seed, IAM signing key and namespace table."""
        return self.root / "ibmcloud"

    @property
    def icr_registry_dir(self) -> Path:
        """The second docker-registry, playing IBM Cloud Container Registry (``us.icr.io``)."""
        return self.root / "icr-registry"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def endpoints(self) -> Path:
        return self.root / "endpoints.json"

    def ready_file(self, service: str) -> Path:
        """A process writes ``{"port": N}`` here once it listens (it picks an ephemeral port itself)."""
        return self.root / f"{service}.ready.json"

    def pki(self, settings: SandboxSettings) -> SandboxPKI:
        return SandboxPKI.at(self.pki_dir, settings.apps_domain)

    def save_settings(self, settings: SandboxSettings) -> None:
        write_json(self.settings_file, asdict(settings))

    def load_settings(self) -> SandboxSettings:
        return SandboxSettings(**json.loads(self.settings_file.read_text()))

    def admin_token(self) -> str:
        return self.admin_token_file.read_text().strip()


def write_json(path: Path, content: Any, *, mode: int = 0o644) -> None:
    """Atomically, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        json.dump(content, handle, indent=2)
        handle.write("\n")
    temporary.replace(path)


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only, from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
