"""Starting and stopping docker-registry in its three flavours."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from horizon_publisher.sandbox.images import RegistryError, push_image, resolve_digest
from horizon_publisher.sandbox.pki import SandboxPKI
from horizon_publisher.sandbox.registry import (
    RegistryStartError,
    free_port,
    start_registry,
    stop_process,
)


def test_htpasswd_flavour_takes_bcrypt_basic_auth(registry_binary: str, pki: SandboxPKI, tmp_path: Path) -> None:
    del registry_binary
    registry = start_registry(tmp_path, pki, auth="htpasswd", htpasswd_users={"alice": "wonderland"})
    try:
        assert (tmp_path / "htpasswd").read_text().startswith("alice:$2")
        assert (tmp_path / "htpasswd").stat().st_mode & 0o077 == 0
        challenge = requests.get(f"{registry.url}/v2/", verify=str(pki.ca_cert), timeout=5)
        assert challenge.status_code == 401
        assert challenge.headers["WWW-Authenticate"].startswith("Basic ")
        digest = push_image(
            registry.url, "any/deep/path", "v1", credentials=("alice", "wonderland"), verify=str(pki.ca_cert)
        )
        assert resolve_digest(
            registry.url, "any/deep/path", "v1", credentials=("alice", "wonderland"), verify=str(pki.ca_cert)
        ) == digest  # fmt: skip
        with pytest.raises(RegistryError) as caught:
            resolve_digest(registry.url, "any/deep/path", "v1", credentials=("alice", "nope"), verify=str(pki.ca_cert))
        assert caught.value.status == 401
    finally:
        stop_process(registry.pid)


def test_anonymous_flavour(registry_binary: str, pki: SandboxPKI, tmp_path: Path) -> None:
    del registry_binary
    registry = start_registry(tmp_path, pki, auth="none")
    try:
        digest = push_image(registry.url, "library/tool", "v1", arch="arm64", media="docker", verify=str(pki.ca_cert))
        assert resolve_digest(registry.url, "library/tool", "v1", verify=str(pki.ca_cert)) == digest
        # TLS: a client that does not trust the sandbox CA is refused.
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{registry.url}/v2/", verify=True, timeout=5)
    finally:
        stop_process(registry.pid)


def test_stop_process_terminates_the_registry(registry_binary: str, pki: SandboxPKI, tmp_path: Path) -> None:
    del registry_binary
    registry = start_registry(tmp_path, pki, auth="none")
    stop_process(registry.pid)
    with pytest.raises(ProcessLookupError):
        os.kill(registry.pid, 0)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{registry.url}/v2/", verify=str(pki.ca_cert), timeout=2)
    stop_process(registry.pid)  # stopping twice is harmless


def test_start_failure_reports_the_log(registry_binary: str, pki: SandboxPKI, tmp_path: Path) -> None:
    del registry_binary
    first = start_registry(tmp_path / "first", pki, auth="none")
    try:
        with pytest.raises(RegistryStartError, match="address already in use"):
            start_registry(tmp_path / "second", pki, auth="none", port=first.port, timeout=5)
    finally:
        stop_process(first.pid)


def test_missing_binary_is_a_clear_error(pki: SandboxPKI, tmp_path: Path) -> None:
    with pytest.raises(RegistryStartError, match="install the Debian package 'docker-registry'"):
        start_registry(tmp_path, pki, auth="none", binary="no-such-docker-registry")


def test_token_flavour_requires_a_realm(registry_binary: str, pki: SandboxPKI, tmp_path: Path) -> None:
    del registry_binary
    with pytest.raises(ValueError, match="token_realm"):
        start_registry(tmp_path, pki, auth="token", port=free_port())


def test_stop_process_ends_the_registry_by_pid(registry_binary: str, pki: SandboxPKI, tmp_path: Path) -> None:
    del registry_binary
    registry = start_registry(tmp_path, pki, auth="none")
    assert Path(f"/proc/{registry.pid}").exists()
    stop_process(registry.pid)
    assert not Path(f"/proc/{registry.pid}").exists()
