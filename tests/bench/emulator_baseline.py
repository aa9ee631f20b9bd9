"""Is the Kubernetes emulator fast enough to measure operators on? (not a pass/fail test)

Starts a sandbox, then for each N: a trivial kopf operator (one on.create handler that patches status)
and our operator (horizon-publisher run) each handle N fresh objects created 16 at a time. Reports
wall time from the first POST to "all handled", operator and emulator CPU seconds, and operator
peak RSS, and writes them to docs/benchmarks.md (section "Emulator baseline").

    .venv/bin/python tests/bench/emulator_baseline.py [N ...]     (default: 100 1000)
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from horizon_publisher.sandbox import manager, processes

ROOT = Path(__file__).resolve().parents[2]
TRIVIAL_OPERATOR = '''
import kopf
@kopf.on.startup()
def configure(settings, **_):
    settings.scanning.disabled = True
    settings.posting.enabled = False
@kopf.on.create("bench.horizon.dev", "v1", "widgets")
def handled(patch, **_):
    patch.status["phase"] = "Handled"
'''
WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.bench.horizon.dev"},
    "spec": {
        "group": "bench.horizon.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_one(state: Path, kind: str, n: int) -> dict[str, Any]:
    api = config.new_client_from_config(str(state / "kubeconfig"))
    custom = client.CustomObjectsApi(api)
    namespace = f"bench-{kind}-{n}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    env = {**os.environ, "KUBECONFIG": str(state / "kubeconfig")}
    if kind == "trivial":
        script = state / "trivial_operator.py"
        script.write_text(TRIVIAL_OPERATOR)
        argv = [sys.executable, "-m", "kopf", "run", "--standalone", "-n", namespace, str(script)]
        group, version, plural = "bench.horizon.dev", "v1", "widgets"
        body = lambda i: {"apiVersion": "bench.horizon.dev/v1", "kind": "Widget", "metadata": {"name": f"w{i}"}}  # noqa: E731
        done = lambda o: (o.get("status") or {}).get("phase") == "Handled"  # noqa: E731
    else:
        quiet = ["--liveness", "", "--metrics-address", ""]  # no listeners: only the reconcile is measured
        argv = [sys.executable, "-m", "horizon_publisher", "run", "-n", namespace, *quiet]
        group, version, plural = "edge.horizon.dev", "v1alpha1", "edgeserviceimages"
        body = lambda i: {  # noqa: E731
            "apiVersion": "edge.horizon.dev/v1alpha1",
            "kind": "EdgeServiceImage",
            "metadata": {"name": f"img{i}"},
            "spec": {
                "registry": {"openshift": {"project": f"bench-images-{i}"}},
                "image": {"name": f"img{i}", "tag": "1.0", "arches": ["amd64", "arm64"]},
            },
        }
        done = lambda o: bool((o.get("status") or {}).get("conditions"))  # noqa: E731
    tracked = processes.start(state, f"bench-{kind}", argv, env=env)
    kube = processes.load(state)[manager.KUBE]
    time.sleep(3.0)  # operator start-up, not measured
    cpu0, kube_cpu0 = cpu_seconds(tracked.pid), cpu_seconds(kube.pid)
    handled: set[str] = set()
    all_done = threading.Event()

    def follow() -> None:
        stream = watch.Watch().stream(custom.list_namespaced_custom_object, group, version, namespace, plural,
                                      timeout_seconds=600)
        for event in stream:
            obj = event["object"]
            if done(obj):
                handled.add(obj["metadata"]["name"])
                if len(handled) >= n:
                    all_done.set()
                    return

    watcher = threading.Thread(target=follow, daemon=True)
    watcher.start()
    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: custom.create_namespaced_custom_object(group, version, namespace, plural, body(i)),
                      range(n)))
    posted = time.monotonic() - start
    all_done.wait(600)
    wall = time.monotonic() - start
    time.sleep(3.0)  # settle: include the tail of the operator's work
    result = {
        "kind": kind,
        "n": n,
        "posts_s": round(posted, 2),
        "all_handled_s": round(wall, 2),
        "operator_cpu_s": round(cpu_seconds(tracked.pid) - cpu0, 2),
        "operator_cpu_ms_per_object": round((cpu_seconds(tracked.pid) - cpu0) * 1000 / n, 2),
        "operator_peak_rss_mib": round(peak_rss_mib(tracked.pid), 1),
        "emulator_cpu_s": round(cpu_seconds(kube.pid) - kube_cpu0, 2),
        "complete": all_done.is_set(),
    }
    processes.stop(state, f"bench-{kind}")
    return result


def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        state = Path(directory)
        manager.up(state, flavor="kubernetes", out=lambda _: None)
        try:
            api = config.new_client_from_config(str(state / "kubeconfig"))
            client.ApiextensionsV1Api(api).create_custom_resource_definition(WIDGET_CRD)
            time.sleep(0.5)
            results = [run_one(state, kind, n) for n in sizes for kind in ("trivial", "horizon-publisher")]
        finally:
            manager.down(state, out=lambda _: None)
    for row in results:
        print(json.dumps(row))
    write_report(results)


def write_report(results: list[dict[str, Any]]) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        "## Emulator baseline",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {machine} with `tests/bench/emulator_baseline.py`: N objects",
        "created 16 at a time; wall time from the first POST until every object is handled (trivial kopf",
        "operator: status patched; horizon-publisher: conditions written). CPU from /proc over that window + 3 s.",
        "",
        "| operator | N | POSTs done (s) | all handled (s) | operator CPU (s) | CPU/object (ms) "
        "| operator peak RSS (MiB) | emulator CPU (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        handled = f"{r['all_handled_s']}{'' if r['complete'] else ' (incomplete)'}"
        lines.append(
            f"| {r['kind']} | {r['n']} | {r['posts_s']} | {handled} | {r['operator_cpu_s']} "
            f"| {r['operator_cpu_ms_per_object']} | {r['operator_peak_rss_mib']} | {r['emulator_cpu_s']} |"
        )
    section = "\n".join(lines) + "\n"
    report = ROOT / "docs" / "benchmarks.md"
    text = report.read_text() if report.exists() else "# Benchmarks\n\n"
    start = text.find("## Emulator baseline")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    report.write_text(text)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000])
