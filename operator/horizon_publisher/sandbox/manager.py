"""``horizon-publisher sandbox up|down|status``.

``up`` starts, each as its own process tracked by PID: the Kubernetes API emulator (HTTPS, OpenShift
behaviours, our CRDs), the registry token endpoint (which asks the emulator who a caller is and what it
may do), Debian's docker-registry (TLS, token auth), the IBM Cloud emulator (IAM, ICR management API and
the ICR token endpoint ``/oauth/token``), a second docker-registry playing ``us.icr.io`` (token auth
against the IBM Cloud emulator) and the Horizon Exchange emulator (HTTPS, seeded with one org and user).
Python services that need nothing from each other start in parallel. It writes ``kubeconfig`` and
``endpoints.json`` (both 0600: they hold credentials) and returns once every service answers.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from horizon_publisher.sandbox import processes
from horizon_publisher.sandbox.ibmcloud_registry_auth import ICR_ISSUER, ICR_SERVICE, icr_token_realm
from horizon_publisher.sandbox.ibmcloud_state import IbmCloudSeed, ensure_seed
from horizon_publisher.sandbox.layout import Flavor, SandboxSettings, StateDir, write_json, write_secret
from horizon_publisher.sandbox.pki import ensure_pki
from horizon_publisher.sandbox.registry import RegistryStartError, start_registry, token_realm_url

KUBE = "kube-apiserver"
AUTH = "registry-auth"
REGISTRY = "registry"
IBMCLOUD = "ibmcloud"
ICR_REGISTRY = "icr-registry"
EXCHANGE = "exchange"
SERVICES = (KUBE, AUTH, REGISTRY, IBMCLOUD, ICR_REGISTRY, EXCHANGE)
IAM_HOST = "iam.cloud.ibm.com"
EXCHANGE_ORG = "myorg"  # the samples' org
EXCHANGE_USER = "publisher"
DEFAULT_CRDS = Path(__file__).resolve().parents[3] / "crds"


class SandboxError(RuntimeError):
    pass


def up(
    state_dir: Path,
    *,
    flavor: Flavor = "openshift",
    crds: Path | None = None,
    max_token_seconds: int | None = None,
    timeout: float = 30.0,
    out: Callable[[str], None] = print,
) -> int:
    state = StateDir(state_dir.resolve())
    state.root.mkdir(parents=True, exist_ok=True)
    running = _running(state)
    if running:
        if set(running) == set(SERVICES):
            out(f"sandbox already up in {state.root}")
            return 0
        out(f"a partial sandbox runs in {state.root} ({', '.join(running)}); restarting it")
        down(state.root, out=lambda _: None)
    crds_dir = (crds or DEFAULT_CRDS).resolve()
    if not crds_dir.is_dir():
        raise SandboxError(f"no CRD directory at {crds_dir}; pass --crds")
    settings = SandboxSettings(flavor=flavor, crds_dir=str(crds_dir), max_token_expiration_seconds=max_token_seconds)
    state.save_settings(settings)
    pki = ensure_pki(state.pki_dir, apps_domain=settings.apps_domain)
    if not state.admin_token_file.exists():
        write_secret(state.admin_token_file, secrets.token_urlsafe(32) + "\n")
    seed = _exchange_seed(state, settings)
    ibm_seed = ensure_seed(state.ibmcloud_dir)
    try:
        # The IBM Cloud emulator and the Exchange depend on nothing else: their interpreters start (and
        # import) while the Kubernetes emulator does.
        kube = _launch_python_service(state, KUBE, "serve-kube")
        ibmcloud = _launch_python_service(state, IBMCLOUD, "serve-ibmcloud")
        exchange = _launch_python_service(state, EXCHANGE, "serve-exchange")
        kube_port = _await_port(state, kube, timeout)
        api_url = f"https://127.0.0.1:{kube_port}"
        _wait_http(f"{api_url}/readyz", pki.ca_cert, timeout, headers=_admin(state))
        auth_port = _start_python_service(state, AUTH, "serve-registry-auth", timeout)
        registry = start_registry(
            state.registry_dir, pki, auth="token", token_realm=token_realm_url(auth_port), timeout=timeout
        )
        processes.adopt(state.root, REGISTRY, registry.pid, log=str(registry.log_path))
        ibmcloud_port = _await_port(state, ibmcloud, timeout)
        icr_registry = start_registry(
            state.icr_registry_dir,
            pki,
            auth="token",
            token_realm=icr_token_realm(ibmcloud_port),
            service=ICR_SERVICE,
            issuer=ICR_ISSUER,
            timeout=timeout,
        )
        processes.adopt(state.root, ICR_REGISTRY, icr_registry.pid, log=str(icr_registry.log_path))
        exchange_url = f"https://127.0.0.1:{_await_port(state, exchange, timeout)}/v1"
        _wait_http(f"{exchange_url}/admin/version", pki.ca_cert, timeout)
    except (SandboxError, RegistryStartError) as error:
        down(state.root, out=lambda _: None)
        raise SandboxError(str(error)) from error
    endpoints = _endpoints(state, settings, api_url, auth_port, registry.port)
    endpoints["ibmCloud"] = _ibm_cloud_endpoints(ibm_seed, ibmcloud_port, icr_registry.port, pki.ca_cert)
    endpoints["connectTo"] = ",".join(
        [
            endpoints["registry"]["connectTo"],
            endpoints["ibmCloud"]["connectTo"],
            f"{IAM_HOST}:443:127.0.0.1:{ibmcloud_port}",  # for clients that keep IAM's default URL
        ]
    )
    endpoints["exchange"] = {
        "url": exchange_url,
        "org": seed["org"],
        "user": seed["user"],
        "password": seed["password"],
        "caFile": str(pki.ca_cert),
    }
    write_json(state.endpoints, endpoints, mode=0o600)
    _write_kubeconfig(state, api_url, pki.ca_cert)
    out(f"sandbox up ({flavor}) in {state.root}")
    out(f"  export KUBECONFIG={state.kubeconfig}")
    out(f"  Kubernetes API  {api_url}")
    out(f"  registry        {endpoints['registry']['host']} -> 127.0.0.1:{registry.port}")
    out(f"  IBM Cloud       IAM + registry API https://127.0.0.1:{ibmcloud_port}")
    out(f"  ICR registry    {ibm_seed.registry_host} -> 127.0.0.1:{icr_registry.port}")
    out(f"  Exchange        {exchange_url} (org {seed['org']}, user {seed['user']})")
    return 0


def _exchange_seed(state: StateDir, settings: SandboxSettings) -> dict[str, str]:
    """The Exchange's first org and user; kept across restarts so the persisted state still matches."""
    directory = state.root / "exchange"
    directory.mkdir(exist_ok=True)
    path = directory / "seed.json"
    if path.exists():
        seed: dict[str, str] = json.loads(path.read_text())
        return seed
    pki = state.pki(settings)
    seed = {
        "org": EXCHANGE_ORG,
        "user": EXCHANGE_USER,
        "password": secrets.token_urlsafe(18),
        "rootPassword": secrets.token_urlsafe(18),
        "certFile": str(pki.router_cert),
        "keyFile": str(pki.router_key),
    }
    write_json(path, seed, mode=0o600)
    return seed


def _admin(state: StateDir) -> dict[str, str]:
    return {"Authorization": f"Bearer {state.admin_token()}"}


def _start_python_service(state: StateDir, name: str, command: str, timeout: float) -> int:
    return _await_port(state, _launch_python_service(state, name, command), timeout)


def _launch_python_service(state: StateDir, name: str, command: str) -> processes.Tracked:
    state.ready_file(name).unlink(missing_ok=True)
    argv = [sys.executable, "-m", "horizon_publisher", "sandbox", command, "--state-dir", str(state.root)]
    return processes.start(state.root, name, argv)


def _await_port(state: StateDir, tracked: processes.Tracked, timeout: float) -> int:
    """The port a launched service announces in its ready file; it listens from then on."""
    name = tracked.name
    ready = state.ready_file(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists():
            port: int = json.loads(ready.read_text())["port"]
            return port
        if not processes.is_running(tracked):
            raise SandboxError(f"{name} exited during start-up:\n{processes.log_tail(tracked)}")
        time.sleep(0.05)
    raise SandboxError(f"{name} did not start within {timeout:.0f} s:\n{processes.log_tail(tracked)}")


def _wait_http(url: str, ca: Path, timeout: float, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            if requests.get(url, verify=str(ca), timeout=2, headers=headers).ok:
                return
        except requests.RequestException as error:
            last = type(error).__name__
        time.sleep(0.1)
    raise SandboxError(f"{url} did not answer within {timeout:.0f} s ({last})")


def _endpoints(
    state: StateDir, settings: SandboxSettings, api_url: str, auth_port: int, registry_port: int
) -> dict[str, Any]:
    pki = state.pki(settings)
    host = pki.registry_host
    return {
        "flavor": settings.flavor,
        "appsDomain": settings.apps_domain,
        "kubernetes": {
            "url": api_url,
            "caFile": str(pki.ca_cert),
            "kubeconfig": str(state.kubeconfig),
            "adminTokenFile": str(state.admin_token_file),
        },
        "registry": {
            "host": host,
            "address": f"127.0.0.1:{registry_port}",
            "url": f"https://127.0.0.1:{registry_port}",
            # curl --connect-to syntax; the operator reads it from HORIZON_PUBLISHER_CONNECT_TO.
            "connectTo": f"{host}:443:127.0.0.1:{registry_port}",
            "caFile": str(pki.ca_cert),
            "tokenRealm": token_realm_url(auth_port),
        },
    }


def _ibm_cloud_endpoints(seed: IbmCloudSeed, ibmcloud_port: int, registry_port: int, ca: Path) -> dict[str, str]:
    # One emulator serves IAM, the registry API and the token realm; the registry itself is elsewhere.
    emulator = f"https://127.0.0.1:{ibmcloud_port}"
    return {
        "host": seed.registry_host,
        "iamURL": emulator,
        "registryAPIURL": emulator,
        "registryURL": f"https://127.0.0.1:{registry_port}",
        "registryAddress": f"127.0.0.1:{registry_port}",
        "connectTo": f"{seed.registry_host}:443:127.0.0.1:{registry_port}",
        "caFile": str(ca),
        "apiKey": seed.api_key,
        "secondApiKey": seed.second_api_key,
        "accountId": seed.account_id,
        "otherAccountNamespace": seed.other_account_namespace,
        "tokenRealm": icr_token_realm(ibmcloud_port),
    }


def _write_kubeconfig(state: StateDir, api_url: str, ca: Path) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": api_url, "certificate-authority": str(ca)}}],
        "users": [{"name": "sandbox-admin", "user": {"token": state.admin_token()}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox-admin"}}],
        "current-context": "sandbox",
    }
    write_json(state.kubeconfig, config, mode=0o600)  # JSON is valid YAML; kubectl reads it


def _running(state: StateDir) -> list[str]:
    return [name for name, tracked in processes.load(state.root).items() if processes.is_running(tracked)]


def down(state_dir: Path, *, out: Callable[[str], None] = print) -> int:
    state = StateDir(state_dir.resolve())
    # Reverse start order: nothing is left talking to a service that is already gone.
    names = [*reversed(SERVICES)] + [name for name in processes.load(state.root) if name not in SERVICES]
    stopped = [name for name in names if processes.stop(state.root, name)]
    for name in SERVICES:
        state.ready_file(name).unlink(missing_ok=True)
    out(f"stopped: {', '.join(stopped)}" if stopped else f"nothing was running in {state.root}")
    return 0


def status(state_dir: Path, *, out: Callable[[str], None] = print) -> int:
    """Exit 0 when every sandbox service runs, 1 otherwise."""
    state = StateDir(state_dir.resolve())
    tracked = processes.load(state.root)
    all_up = True
    for name in [*SERVICES, *(n for n in tracked if n not in SERVICES)]:
        entry = tracked.get(name)
        alive = entry is not None and processes.is_running(entry)
        all_up &= alive or name not in SERVICES
        out(f"{name:16} {'running, pid ' + str(entry.pid) if alive and entry else 'stopped'}")
    return 0 if all_up else 1
