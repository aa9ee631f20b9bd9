"""Shared helpers for the EdgeServiceImage end-to-end tests (OpenShift registry path).

- :func:`cluster_with_operator`: a private sandbox plus ``horizon-publisher run`` (all namespaces, resync
  every :data:`RESYNC_SECONDS`), both stopped by PID afterwards.
- :class:`Cluster`: that sandbox seen by a test: API (``service_image_kube.Kube``), EdgeServiceImage waits
  that report the conditions they last saw, and pushes through the route host with the operator's own
  credentials and CA, as a pipeline would.
- :func:`service_image`: an EdgeServiceImage manifest with overrides merged in.
"""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from horizon_publisher.clients.connect_to import parse_connect_to_list, session_with_connect_to
from horizon_publisher.sandbox import manager, processes
from horizon_publisher.sandbox.demo import operator_connect_to
from horizon_publisher.sandbox.images import IndexDigests, Media, push_image, push_index, resolve_digest
from horizon_publisher.sandbox.registry import free_port
from tests.e2e.conftest import RunningOperator, Sandbox, start_sandbox, wait_for
from tests.e2e.service_image_kube import (
    GROUP,
    VERSION,
    DockerAuth,
    Kube,
    configmap_path,
    docker_auths,
    esi_path,
    secret_path,
)

FINALIZER = "edge.horizon.dev/finalizer"
RESYNC_SECONDS = 2
SETTLE = 40.0  # seconds: bound for a whole reconcile chain (route delay, project, token, credentials)
HEAL = 20.0  # seconds: bound for undoing drift (contract: ~10 s with a 2 s resync)
OPENSHIFT_CONDITIONS = (
    "Ready",
    "RegistryRouteReady",
    "ProjectReady",
    "ServiceAccountReady",
    "RoleBindingReady",
    "TokenReady",
    "CATrusted",
    "CredentialsReady",
    "ImageResolved",
)
SETUP_CONDITIONS = OPENSHIFT_CONDITIONS[1:-1]  # everything before the image itself
DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
INGRESS_CA = "/api/v1/namespaces/openshift-config-managed/configmaps/default-ingress-cert"
REGISTRY_CONFIG = "/apis/imageregistry.operator.openshift.io/v1/configs/cluster"
DEFAULT_ROUTE = "/apis/route.openshift.io/v1/namespaces/openshift-image-registry/routes/default-route"

T = TypeVar("T")


def unique(prefix: str) -> str:
    """A fresh DNS label, so every test has namespaces and projects of its own."""
    return f"{prefix}-{secrets.token_hex(3)}"


def owned_labels(namespace: str, name: str) -> dict[str, str]:
    """The labels the operator puts on everything it creates for EdgeServiceImage NAMESPACE/NAME."""
    return {
        "app.kubernetes.io/managed-by": "horizon-publisher",
        "edge.horizon.dev/owner-namespace": namespace,
        "edge.horizon.dev/owner-name": name,
    }


# --- manifests --------------------------------------------------------------------------------------


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else replaces."""
    result = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def service_image(name: str, namespace: str, project: str, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An OpenShift EdgeServiceImage for image ``hello:1.0.0`` on amd64, with ``spec`` merged in."""
    base = {
        "registry": {"openshift": {"project": project}},
        "image": {"name": "hello", "tag": "1.0.0", "arches": ["amd64"]},
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EdgeServiceImage",
        "metadata": {"name": name, "namespace": namespace},
        "spec": merged(base, spec or {}),
    }


def condition(resource: Mapping[str, Any] | None, kind: str) -> dict[str, Any]:
    for entry in ((resource or {}).get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            found: dict[str, Any] = entry
            return found
    return {}


def owned_by(child: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    """``child`` has an ownerReference to ``owner`` (same uid), so deleting the owner collects it."""
    uid = owner["metadata"]["uid"]
    refs = child["metadata"].get("ownerReferences") or []
    return any(
        (r.get("uid"), r.get("kind"), r.get("name"), r.get("apiVersion"))
        == (uid, owner["kind"], owner["metadata"]["name"], owner["apiVersion"])
        for r in refs
    )


def describe_conditions(resource: Mapping[str, Any] | None) -> str:
    rows = ((resource or {}).get("status") or {}).get("conditions") or []
    return "; ".join(f"{c.get('type')}={c.get('status')}/{c.get('reason')}: {c.get('message')}" for c in rows)


# --- a sandbox with its own operator ----------------------------------------------------------------


@dataclass
class Cluster:
    sandbox: Sandbox
    operator: RunningOperator
    kube: Kube
    scratch: Path

    @property
    def host(self) -> str:
        host: str = self.sandbox.endpoints["registry"]["host"]
        return host

    def namespace(self, prefix: str) -> str:
        name = unique(prefix)
        self.sandbox.ensure_namespace(name)
        return name

    def apply(self, manifest: Mapping[str, Any], *, check: bool = True) -> Any:
        return self.sandbox.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(dict(manifest)), check=check)

    def esi(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get(esi_path(namespace, name))

    def wait_until(
        self, namespace: str, name: str, accept: Callable[[dict[str, Any]], bool], what: str, timeout: float = SETTLE
    ) -> dict[str, Any]:
        """Poll the EdgeServiceImage until ``accept``; on timeout say what its conditions were."""
        last: list[dict[str, Any] | None] = [None]

        def probe() -> dict[str, Any] | None:
            last[0] = self.esi(namespace, name)
            return last[0] if last[0] is not None and accept(last[0]) else None

        try:
            found: dict[str, Any] = wait_for(probe, timeout=timeout, what=f"{namespace}/{name}: {what}")
        except AssertionError as error:
            raise AssertionError(f"{error}; conditions: {describe_conditions(last[0])}") from None
        return found

    def wait_condition(
        self, namespace: str, name: str, kind: str, status: str, reason: str | None = None, *, timeout: float = SETTLE
    ) -> dict[str, Any]:
        def accept(resource: dict[str, Any]) -> bool:
            found = condition(resource, kind)
            return found.get("status") == status and reason in (None, found.get("reason"))

        return self.wait_until(namespace, name, accept, f"{kind}={status}/{reason or '*'}", timeout)

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        events = self.kube.list(f"/api/v1/namespaces/{namespace}/events")
        return [e for e in events if (e.get("involvedObject") or {}).get("name") == name]

    def credentials(self, namespace: str, secret_name: str) -> DockerAuth:
        """The auths entry for the registry host in the operator's credentials Secret."""
        secret = self.kube.get(secret_path(namespace, secret_name))
        assert secret is not None, f"no Secret {namespace}/{secret_name}"
        entries = docker_auths(secret)
        assert list(entries) == [self.host], f"auths hosts {sorted(entries)}, expected [{self.host}]"
        return entries[self.host]

    def ca_file(self, namespace: str, configmap_name: str) -> str:
        """The operator's CA ConfigMap as a file, to verify the registry with exactly what it publishes."""
        configmap = self.kube.get(configmap_path(namespace, configmap_name))
        assert configmap is not None, f"no ConfigMap {namespace}/{configmap_name}"
        path = self.scratch / f"{namespace}-{configmap_name}.crt"
        path.write_text(configmap["data"]["ca.crt"])
        return str(path)

    def _registry_call(self, call: Callable[..., T], auth: DockerAuth, ca: str, *args: Any, **kwargs: Any) -> T:
        """``call`` (sandbox.images) on the route host through the connect-to mapping, as a pipeline would:
        the operator's credentials, and its CA bundle (``ca``) as the only trust."""
        connect_to = parse_connect_to_list(self.sandbox.endpoints["registry"]["connectTo"])
        with session_with_connect_to(connect_to) as session:
            try:
                return call(
                    f"https://{self.host}", *args, credentials=auth.pair(), verify=ca, session=session, **kwargs
                )
            except Exception as error:  # the library frames' arguments hold the token: report without them
                raise AssertionError(f"{call.__name__}{args}: {type(error).__name__}: {error}") from None

    def push(
        self, auth: DockerAuth, repository: str, tag: str, *, ca: str, arch: str = "amd64", media: Media = "oci"
    ) -> str:
        """Push a one-layer image; the digest. ``media="docker"``: same content, another manifest and digest."""
        digest: str = self._registry_call(push_image, auth, ca, repository, tag, arch=arch, media=media)
        return digest

    def push_index(
        self, auth: DockerAuth, repository: str, tag: str, arches: tuple[str, ...], *, ca: str
    ) -> IndexDigests:
        pushed: IndexDigests = self._registry_call(push_index, auth, ca, repository, tag, arches=arches)
        return pushed

    def resolve(self, auth: DockerAuth, repository: str, reference: str, *, ca: str) -> str:
        digest: str = self._registry_call(resolve_digest, auth, ca, repository, reference)
        return digest


def start_operator(
    sandbox: Sandbox,
    *,
    namespaces: tuple[str, ...] = (),
    extra_args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
) -> RunningOperator:
    """``horizon-publisher run`` as conftest's ``operator`` fixture starts it, with a short resync.

    ``extra_args``: more ``run`` options; without ``--metrics-address`` among them, metrics are off (the
    default address is 0.0.0.0:9090, neither loopback nor free). ``env``: variables laid over the
    operator's environment (e.g. a ``HORIZON_PUBLISHER_CONNECT_TO`` that goes through a fault proxy)."""
    environment = {
        **os.environ,
        "KUBECONFIG": str(sandbox.kubeconfig),
        "HORIZON_PUBLISHER_CONNECT_TO": operator_connect_to(sandbox.endpoints),
        "HORIZON_PUBLISHER_RESYNC_SECONDS": str(RESYNC_SECONDS),
        **(env or {}),
    }
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    scope = [arg for namespace in namespaces for arg in ("-n", namespace)]
    options = (*scope, *(() if "--metrics-address" in extra_args else ("--metrics-address", "")), *extra_args)
    argv = [sys.executable, "-m", "horizon_publisher", "run", "--liveness", liveness, *options, "-v"]
    tracked = processes.start(sandbox.state_dir, "operator-under-test", argv, env=environment)
    running = RunningOperator(tracked, sandbox.state_dir)
    deadline = time.monotonic() + 30
    while "Initial authentication has finished" not in running.log():
        if not processes.is_running(tracked) or time.monotonic() > deadline:
            processes.stop(sandbox.state_dir, "operator-under-test")
            raise AssertionError(f"the operator did not start:\n{processes.log_tail(tracked)}")
        time.sleep(0.1)
    return running


@contextlib.contextmanager
def cluster_with_operator(
    state_dir: Path,
    *,
    flavor: str = "openshift",
    max_token_seconds: int | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[Cluster]:
    """A private sandbox (nothing else touches its route or projects) and an operator watching it all."""
    try:
        sandbox = start_sandbox(state_dir, flavor=flavor, max_token_seconds=max_token_seconds)
        operator = start_operator(sandbox, extra_args=extra_args)
        kube = Kube(sandbox)
        scratch = state_dir / "scratch"
        scratch.mkdir()
        try:
            yield Cluster(sandbox, operator, kube, scratch)
        finally:
            kube.close()
            processes.stop(state_dir, "operator-under-test")
    finally:
        manager.down(state_dir, out=lambda _: None)
