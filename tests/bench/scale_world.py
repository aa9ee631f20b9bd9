"""The world the scale benchmark runs in: a sandbox with the operator installed as in production, team
namespaces ready for publications, images pushed beforehand, and the manifests of N pairs.

- One OpenShift-flavoured sandbox per run (Kubernetes emulator, real docker-registry behind the route host and
  token auth, Exchange emulator); the openshift overlay's CRDs, namespace, ServiceAccount and RBAC applied.
- Pairs spread over :data:`TEAMS` namespaces. Each team has the Exchange credentials Secret, the Exchange CA
  ConfigMap and one signing key Secret (a developer's key, as ``hzn key create`` makes it, shared by the
  team's services: the realistic case, and key generation is not what we measure).
- Pair ``i``: EdgeServiceImage ``svc-i`` (openshift provider, project ``bench-p-i``, Rotating token) and
  EdgePublication ``svc-i`` (service ``com.example.bench.svc-i``, both arches, inline deployment).
- Images ``bench-p-i/svc-i_<arch>:<tag>`` pushed as the sandbox admin before the operator starts.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from tests.deploy.manifests import OVERLAYS, render
from tests.deploy.sandbox_install import apply, service_account_kubeconfig
from tests.e2e.conftest import Sandbox

from horizon_publisher.sandbox import images, processes
from horizon_publisher.sandbox.registry import free_port
from horizon_publisher.signing import generate_signing_key

GROUP, VERSION = "edge.horizon.dev", "v1alpha1"
ESI, EPUB = "edgeserviceimages", "edgepublications"
ARCHES = ("amd64", "arm64")
TAG, NEXT_TAG = "1.0.0", "1.1.0"
TEAMS = 10
EXCHANGE_SECRET, EXCHANGE_CA, SIGNING_KEY = "exchange-credentials", "exchange-ca", "team-signing-key"
OPERATOR = "bench-operator"
BASELINE = "bench-baseline"
ROTATE_ANNOTATION = "edge.horizon.dev/rotate-credentials-requested-at"

TRIVIAL_OPERATOR = '''
"""The baseline: one kopf handler per kind that only patches status (a Ready condition)."""
import datetime
import kopf

@kopf.on.startup()
def configure(settings, **_):
    settings.posting.enabled = False

@kopf.on.create("edge.horizon.dev", "v1alpha1", "edgeserviceimages")
@kopf.on.create("edge.horizon.dev", "v1alpha1", "edgepublications")
def handled(patch, meta, **_):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch.status["observedGeneration"] = meta.get("generation")
    patch.status["conditions"] = [{"type": "Ready", "status": "True", "reason": "Reconciled",
                                   "message": "trivial", "lastTransitionTime": now,
                                   "observedGeneration": meta.get("generation")}]
'''


def team(i: int, prefix: str) -> str:
    return f"{prefix}-team-{i % TEAMS}"


def project(i: int) -> str:
    return f"bench-p-{i}"


def name(i: int) -> str:
    return f"svc-{i}"


def service_image(i: int, prefix: str, tag: str = TAG) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EdgeServiceImage",
        "metadata": {"name": name(i), "namespace": team(i, prefix)},
        "spec": {
            "registry": {"openshift": {"project": project(i)}},  # default token mode: Rotating (TokenRequest)
            "image": {"name": name(i), "tag": tag, "arches": list(ARCHES)},
        },
    }


def publication(i: int, prefix: str, exchange: dict[str, Any], version: str = TAG) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EdgePublication",
        "metadata": {"name": name(i), "namespace": team(i, prefix)},
        "spec": {
            "exchange": {
                "url": exchange["url"],
                "org": exchange["org"],
                "credentialsSecretRef": {"name": EXCHANGE_SECRET},
                "tls": {"caRef": {"kind": "ConfigMap", "name": EXCHANGE_CA, "key": "ca.crt"}},
            },
            "imageRefs": [{"name": name(i), "containers": ["app"]}],
            "service": {
                "url": f"com.example.bench.{name(i)}",
                "version": version,
                "label": f"bench service {i}",
                "arches": list(ARCHES),
                "deployment": {"services": {"app": {"privileged": False, "network": ""}}},
            },
            "signing": {"keySecretRef": {"name": SIGNING_KEY}},
            "deletionPolicy": "Delete",
        },
    }


@dataclass
class World:
    sandbox: Sandbox
    operator_kubeconfig: Path
    key_bits: int
    metrics_url: str = ""

    @property
    def exchange(self) -> dict[str, Any]:
        return dict(self.sandbox.endpoints["exchange"])

    @property
    def operator_user(self) -> str:
        return "system:serviceaccount:horizon-publisher-system:horizon-publisher"

    def install(self) -> None:
        apply(self.sandbox, render(OVERLAYS["openshift"]))
        service_account_kubeconfig(self.sandbox, self.operator_kubeconfig, seconds=6 * 3600)
        self._expose_registry()

    def _expose_registry(self) -> None:
        """The registry's default route, as a cluster admin sets it once per cluster (step 1 of the manual
        procedure): the first EdgeServiceImage would otherwise wait for it, once, and that is not what scales."""
        import time

        self.sandbox.kubectl("patch", "configs.imageregistry.operator.openshift.io", "cluster", "--type=merge",
                             "-p", '{"spec":{"defaultRoute":true}}')  # fmt: skip
        deadline = time.monotonic() + 30
        while self.sandbox.kubectl("get", "route", "default-route", "-n", "openshift-image-registry",
                                   check=False).returncode != 0:  # fmt: skip
            if time.monotonic() > deadline:
                raise RuntimeError("the registry's default route did not appear")
            time.sleep(0.2)

    def prepare_teams(self, prefix: str) -> None:
        """Namespaces with what publications refer to; the signing key is made once per run."""
        private_pem, certificate_pem = self._team_key()
        core = self.sandbox.core()
        exchange = self.exchange
        for t in range(TEAMS):
            namespace = f"{prefix}-team-{t}"
            self.sandbox.ensure_namespace(namespace)
            credentials = {"username": exchange["user"], "password": exchange["password"]}
            core.create_namespaced_secret(namespace, {"metadata": {"name": EXCHANGE_SECRET}, "stringData": credentials})
            ca = {"ca.crt": Path(exchange["caFile"]).read_text()}
            core.create_namespaced_config_map(namespace, {"metadata": {"name": EXCHANGE_CA}, "data": ca})
            key = {"service.private.key": private_pem, "service.public.pem": certificate_pem}
            core.create_namespaced_secret(namespace, {"metadata": {"name": SIGNING_KEY}, "stringData": key})

    def _team_key(self) -> tuple[str, str]:
        cached = self.sandbox.state_dir / f"team-key-{self.key_bits}.json"
        if cached.exists():
            pair = json.loads(cached.read_text())
            return str(pair[0]), str(pair[1])
        private_pem, certificate_pem = generate_signing_key(
            bits=self.key_bits, organization="myorg", common_name="bench", validity_days=30
        )
        cached.write_text(json.dumps([private_pem, certificate_pem]))
        cached.chmod(0o600)
        return private_pem, certificate_pem

    def push_images(self, indexes: Iterable[int], tag: str, progress: Any = None) -> None:
        """``bench-p-i/svc-i_<arch>:tag`` for every index and arch, as the sandbox admin, 8 at a time."""
        registry = self.sandbox.endpoints["registry"]
        admin_token = Path(self.sandbox.endpoints["kubernetes"]["adminTokenFile"]).read_text().strip()
        jobs = [(i, arch) for i in indexes for arch in ARCHES]

        def push(job: tuple[int, str]) -> None:
            i, arch = job
            with requests.Session() as session:
                images.push_image(
                    registry["url"],
                    f"{project(i)}/{name(i)}_{arch}",
                    tag,
                    arch=arch,
                    credentials=("admin", admin_token),
                    verify=registry["caFile"],
                    session=session,
                )
            if progress is not None:
                progress()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(push, jobs))

    def start_operator(
        self, resync_seconds: int, *, verbose: bool = False, env: dict[str, str] | None = None
    ) -> processes.Tracked:
        from horizon_publisher.sandbox.demo import operator_connect_to

        env = {
            **os.environ,
            "KUBECONFIG": str(self.operator_kubeconfig),
            "HORIZON_PUBLISHER_CONNECT_TO": operator_connect_to(self.sandbox.endpoints),
            "HORIZON_PUBLISHER_RESYNC_SECONDS": str(resync_seconds),
            **(env or {}),
        }
        metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        liveness = f"http://127.0.0.1:{free_port()}/healthz"
        argv = [sys.executable, "-m", "horizon_publisher", "run", "--liveness", liveness,
                "--metrics-address", f"127.0.0.1:{metrics_port}", *(["-v"] if verbose else [])]  # fmt: skip
        return self._start(OPERATOR, argv, env)

    def reconciles(self) -> int:
        """Reconciles the running operator finished (its own metric), to tell when a pass is over."""
        text = requests.get(self.metrics_url, timeout=10).text
        return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("horizon_publisher_reconcile_total{")))  # fmt: skip

    def start_baseline(self) -> processes.Tracked:
        script = self.sandbox.state_dir / "trivial_operator.py"
        script.write_text(TRIVIAL_OPERATOR)
        env = {**os.environ, "KUBECONFIG": str(self.operator_kubeconfig)}  # same identity as the operator
        argv = [sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces", str(script)]
        return self._start(BASELINE, argv, env)

    def _start(self, label: str, argv: list[str], env: dict[str, str]) -> processes.Tracked:
        import time

        tracked = processes.start(self.sandbox.state_dir, label, argv, env=env)
        deadline = time.monotonic() + 60
        while "Initial authentication has finished" not in Path(tracked.log).read_text(errors="replace"):
            if not processes.is_running(tracked) or time.monotonic() > deadline:
                raise RuntimeError(f"{label} did not start:\n" + Path(tracked.log).read_text(errors="replace")[-3000:])
            time.sleep(0.1)
        time.sleep(1.0)  # kopf's watchers start after authentication
        return tracked

    def process(self) -> processes.Tracked:
        return processes.load(self.sandbox.state_dir)[OPERATOR]

    def stop_operator(self) -> None:
        processes.stop(self.sandbox.state_dir, OPERATOR)

    def stop_baseline(self) -> None:
        processes.stop(self.sandbox.state_dir, BASELINE)

    def stop_all(self) -> None:
        self.stop_baseline()
        self.stop_operator()

    def delete_teams(self, prefix: str) -> None:
        """The baseline's namespaces (and every object in them) go before the operator starts."""
        import time

        core = self.sandbox.core()
        for t in range(TEAMS):
            core.delete_namespace(f"{prefix}-team-{t}")
        deadline = time.monotonic() + 120
        while any(n.metadata.name.startswith(f"{prefix}-") for n in core.list_namespace().items):
            if time.monotonic() > deadline:
                raise RuntimeError(f"namespaces {prefix}-* were not deleted")
            time.sleep(0.5)
