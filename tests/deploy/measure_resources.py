"""What the operator pod needs: peak memory and CPU of ``horizon-publisher run`` under load (not a test).

An OpenShift-flavoured sandbox gets the rendered openshift overlay (CRDs, namespace, ServiceAccount,
RBAC); the operator runs as that ServiceAccount, watching every namespace, with a short resync. Then N
EdgeServiceImages (openshift provider, one project each) are created 16 at a time: each gets its project,
service account, role binding, token, CA ConfigMap and credentials Secret, and waits in ImageResolved
(nothing is pushed), so the resync keeps re-reading the registry. /proc is sampled every 0.25 s.

    .venv/bin/python -m tests.deploy.measure_resources [N] [RESYNC_SECONDS] [OBSERVE_SECONDS]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client

from horizon_publisher.sandbox import manager, processes
from tests.deploy.manifests import OVERLAYS, render
from tests.deploy.sandbox_install import apply, service_account_kubeconfig, start_operator_as_service_account
from tests.e2e.conftest import start_sandbox

GROUP, VERSION, PLURAL = "edge.horizon.dev", "v1alpha1", "edgeserviceimages"
NAMESPACE = "bench-deploy"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, field: str = "VmRSS:") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def image(i: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EdgeServiceImage",
        "metadata": {"name": f"img{i}"},
        "spec": {
            "registry": {"openshift": {"project": f"bench-deploy-images-{i}"}},
            "image": {"name": f"img{i}", "tag": "1.0", "arches": ["amd64", "arm64"]},
        },
    }


def listed(custom: Any) -> list[dict[str, Any]]:
    answer: dict[str, Any] = custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
    return list(answer["items"])


def credentials_ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == "CredentialsReady" and c["status"] == "True" for c in conditions)


def measure(n: int, resync: int, observe: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        sandbox = start_sandbox(Path(directory) / "sandbox")
        try:
            skipped = apply(sandbox, render(OVERLAYS["openshift"]))
            kubeconfig = service_account_kubeconfig(sandbox, Path(directory) / "operator.kubeconfig")
            tracked = start_operator_as_service_account(sandbox, kubeconfig, "bench-operator", [], resync)
            custom = client.CustomObjectsApi(sandbox.api_client())
            sandbox.ensure_namespace(NAMESPACE)
            samples: list[tuple[float, float, float]] = []  # (time, cpu seconds, rss MiB)
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    samples.append((time.monotonic(), cpu_seconds(tracked.pid), rss_mib(tracked.pid)))
                    time.sleep(0.25)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            time.sleep(2.0)
            start = time.monotonic()
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda i: custom.create_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, PLURAL, image(i)), range(n)))  # fmt: skip
            ready_at = None
            while time.monotonic() - start < observe:
                if ready_at is None:
                    items = listed(custom)
                    if sum(credentials_ready(o) for o in items) == n:
                        ready_at = time.monotonic() - start
                time.sleep(1.0)
            stop.set()
            sampler.join()
            items = listed(custom)
            forbidden = Path(tracked.log).read_text(errors="replace").count("Forbidden")
            processes.stop(sandbox.state_dir, "bench-operator")
        finally:
            manager.down(sandbox.state_dir, out=lambda _: None)
    rates = [
        (b[1] - a[1]) / (b[0] - a[0])
        for a, b in zip(samples, samples[4:], strict=False)  # 1 s windows
    ]
    steady = [s for s in samples if s[0] >= start + (ready_at or observe) + resync]
    steady_rate = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0]) if len(steady) > 1 else None
    return {
        "n": n,
        "resync_s": resync,
        "credentials_ready": sum(credentials_ready(o) for o in items),
        "all_credentials_ready_after_s": round(ready_at, 1) if ready_at is not None else None,
        "rss_start_mib": round(samples[0][2], 1),
        "rss_peak_mib": round(max(s[2] for s in samples), 1),
        "rss_end_mib": round(samples[-1][2], 1),
        "cpu_peak_cores_1s": round(max(rates), 2),
        "cpu_total_s": round(samples[-1][1] - samples[0][1], 1),
        "cpu_steady_cores": round(steady_rate, 3) if steady_rate is not None else None,
        "forbidden_in_log": forbidden,
        "skipped_kinds": sorted({o["kind"] for o in skipped}),
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    count, resync_seconds, observe_seconds = (args + [200, 20, 90][len(args) :])[:3]
    print(json.dumps(measure(count, resync_seconds, observe_seconds), indent=2))
