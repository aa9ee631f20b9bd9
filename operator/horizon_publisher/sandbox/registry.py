"""Run a real registry (Debian's ``docker-registry``, distribution 2.8) as the sandbox's image registry.

Three flavours share one code path: ``auth="token"`` (OpenShift-like, behind the token server of
:mod:`horizon_publisher.sandbox.registry_auth`), ``auth="htpasswd"`` (bcrypt Basic auth, for the generic
registry provider) and ``auth="none"`` (anonymous). All serve TLS with the router certificate by default,
so clients trust the sandbox CA exactly as they trust an OpenShift ingress CA.

htpasswd needs bcrypt hashes: they are made with the ``bcrypt`` PyPI package (imported only for that
flavour), because apache2-utils' ``htpasswd`` is not installed everywhere.

Gaps:
- distribution 2.8, not OpenShift's distribution-3 fork: no ImageStreams, no pull-through, no quota, no
  image signatures, no ``/extensions/v2`` APIs, no metrics endpoint, no pruning; ``DELETE`` of manifests is
  enabled here (OpenShift prunes through the API instead).
- The token realm is ``https://127.0.0.1:<token port>/openshift/token``, not ``https://<route host>/openshift/
  token`` on the registry's own port (OpenShift serves both on one listener).
- Listens on 127.0.0.1 on an ephemeral port instead of the route's 443; clients map the route host to it
  with a connect-to entry (see :mod:`horizon_publisher.clients.connect_to`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import requests
import yaml

from horizon_publisher.sandbox.pki import SandboxPKI

AuthKind = Literal["token", "htpasswd", "none"]

REGISTRY_BINARY = "docker-registry"
DEFAULT_SERVICE = "openshift-image-registry"
DEFAULT_ISSUER = "horizon-sandbox-registry-token-issuer"
HTPASSWD_REALM = "horizon-sandbox-registry"
TOKEN_PATH = "/openshift/token"

# Popen objects of the registries this process started, so stop_process() can reap them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class RegistryStartError(RuntimeError):
    """The registry could not be started or never became ready."""


@dataclass(frozen=True)
class RegistryProcess:
    pid: int
    port: int
    url: str  # https://127.0.0.1:<port> (http:// when TLS is off)
    config_path: Path
    log_path: Path
    storage_dir: Path  # the filesystem driver's root directory
    auth: AuthKind
    service: str = DEFAULT_SERVICE
    issuer: str = DEFAULT_ISSUER


def token_realm_url(token_port: int, host: str = "127.0.0.1") -> str:
    """The realm a token-auth registry points clients at."""
    return f"https://{host}:{token_port}{TOKEN_PATH}"


def free_port() -> int:
    """An ephemeral port that was free a moment ago (the caller must cope with losing a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_htpasswd(path: Path, users: Mapping[str, str], *, rounds: int = 5) -> None:
    """Write an htpasswd file with bcrypt hashes (what docker-registry's htpasswd auth accepts)."""
    import bcrypt

    lines = []
    for user, password in users.items():
        if ":" in user or not user:
            raise ValueError("htpasswd user names must be non-empty and contain no ':'")
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds, prefix=b"2a")).decode()
        lines.append(f"{user}:{hashed}\n")
    path.write_text("".join(lines))
    path.chmod(0o600)


def registry_config(
    state_dir: Path,
    pki: SandboxPKI,
    *,
    port: int,
    auth: AuthKind,
    tls: bool = True,
    token_realm: str | None = None,
    service: str = DEFAULT_SERVICE,
    issuer: str = DEFAULT_ISSUER,
    htpasswd_path: Path | None = None,
) -> dict[str, Any]:
    """The docker-registry configuration as a dict (written as YAML by :func:`start_registry`)."""
    http: dict[str, Any] = {
        "addr": f"127.0.0.1:{port}",
        "secret": secrets.token_urlsafe(24),
        "headers": {"X-Content-Type-Options": ["nosniff"]},
    }
    if tls:
        http["tls"] = {
            "certificate": str(pki.router_cert),
            "key": str(pki.router_key),
            "minimumtls": "tls1.2",
        }
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": str(state_dir / "storage")},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    if auth == "token":
        if token_realm is None:
            raise ValueError("token auth needs token_realm (see token_realm_url())")
        config["auth"] = {
            "token": {
                "realm": token_realm,
                "service": service,
                "issuer": issuer,
                "rootcertbundle": str(state_dir / "token-rootcerts.pem"),
            }
        }
    elif auth == "htpasswd":
        if htpasswd_path is None:
            raise ValueError("htpasswd auth needs htpasswd_path")
        config["auth"] = {"htpasswd": {"realm": HTPASSWD_REALM, "path": str(htpasswd_path)}}
    return config


def start_registry(
    state_dir: Path,
    pki: SandboxPKI,
    *,
    auth: AuthKind = "token",
    port: int = 0,
    token_realm: str | None = None,
    service: str = DEFAULT_SERVICE,
    issuer: str = DEFAULT_ISSUER,
    htpasswd_users: Mapping[str, str] | None = None,
    tls: bool = True,
    binary: str = REGISTRY_BINARY,
    timeout: float = 20.0,
) -> RegistryProcess:
    """Start docker-registry in its own session and wait until ``GET /v2/`` answers.

    ``port=0`` picks an ephemeral port (retried if another process grabs it first). Raises
    :class:`RegistryStartError` with the tail of the registry's log when it exits or never gets ready.
    """
    executable = shutil.which(binary)
    if executable is None:
        raise RegistryStartError(
            f"{binary!r} not found on PATH: install the Debian package 'docker-registry' (distribution 2.8)"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "storage").mkdir(exist_ok=True)
    htpasswd_path: Path | None = None
    if auth == "token":
        bundle = pki.token_signing_cert.read_bytes() + pki.ca_cert.read_bytes()
        # kid-signed tokens need the signing cert itself in the bundle; x5c chains need the CA.
        (state_dir / "token-rootcerts.pem").write_bytes(bundle)
    elif auth == "htpasswd":
        htpasswd_path = state_dir / "htpasswd"
        write_htpasswd(htpasswd_path, htpasswd_users or {})

    attempts = 3 if port == 0 else 1
    for attempt in range(attempts):
        chosen = port or free_port()
        config = registry_config(
            state_dir,
            pki,
            port=chosen,
            auth=auth,
            tls=tls,
            token_realm=token_realm,
            service=service,
            issuer=issuer,
            htpasswd_path=htpasswd_path,
        )
        config_path = state_dir / "config.yml"
        _write_private_yaml(config_path, config)
        log_path = state_dir / "registry.log"
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        process = _spawn(executable, config_path, log_path, state_dir)
        scheme = "https" if tls else "http"
        registry = RegistryProcess(
            pid=process.pid,
            port=chosen,
            url=f"{scheme}://127.0.0.1:{chosen}",
            config_path=config_path,
            log_path=log_path,
            storage_dir=state_dir / "storage",
            auth=auth,
            service=service,
            issuer=issuer,
        )
        expected = 200 if auth == "none" else 401
        try:
            _wait_ready(
                process,
                registry,
                expected_status=expected,
                ca_file=str(pki.ca_cert),
                timeout=timeout,
                log_offset=log_offset,
            )
        except RegistryStartError:
            stop_process(process.pid)
            if attempt + 1 < attempts and "address already in use" in _log_tail(log_path):
                continue
            raise
        return registry
    raise AssertionError("unreachable")  # pragma: no cover


def _write_private_yaml(path: Path, config: Mapping[str, Any]) -> None:
    # The config holds http.secret: keep it private to the owner.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(dict(config), handle, sort_keys=False)


def _spawn(executable: str, config_path: Path, log_path: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [executable, "serve", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,  # a Ctrl-C in the caller's terminal must not hit it first
        )
    _CHILDREN[process.pid] = process
    return process


def _wait_ready(
    process: subprocess.Popen[bytes],
    registry: RegistryProcess,
    *,
    expected_status: int,
    ca_file: str,
    timeout: float,
    log_offset: int,
) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RegistryStartError(
                f"docker-registry exited with code {process.returncode}; log tail:\n" + _log_tail(registry.log_path)
            )
        # Only our own process's "listening on" line proves that the answer below comes from it and
        # not from another server that already holds the port.
        if not _logged_since(registry.log_path, log_offset, f"listening on 127.0.0.1:{registry.port}"):
            last_error = "not listening yet"
            time.sleep(0.05)
            continue
        try:
            response = requests.get(f"{registry.url}/v2/", verify=ca_file, timeout=1.0)
        except requests.RequestException as error:
            last_error = type(error).__name__
        else:
            if response.status_code == expected_status:
                return
            last_error = f"HTTP {response.status_code}"
        time.sleep(0.05)
    raise RegistryStartError(
        f"docker-registry on port {registry.port} not ready after {timeout:.0f} s ({last_error}); "
        "log tail:\n" + _log_tail(registry.log_path)
    )


def _logged_since(path: Path, offset: int, text: str) -> bool:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return text.encode() in log.read()
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(pid: int, *, timeout: float = 10.0) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` seconds, then SIGKILL. Missing processes are fine."""
    child = _CHILDREN.pop(pid, None)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        if child is not None:
            child.wait()
        return
    if child is not None:
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our (zombie) child; a zombie still answers signal 0.
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
