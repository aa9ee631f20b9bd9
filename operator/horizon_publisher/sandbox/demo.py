"""``horizon-publisher sandbox demo``: sandbox up, the operator running in it, the samples applied.

It leaves everything running (``sandbox down`` stops it, the operator included) and ends by showing
what a user sees: ``kubectl get`` of both kinds and every condition of every sample.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from horizon_publisher.sandbox import manager, processes
from horizon_publisher.sandbox.layout import Flavor, StateDir
from horizon_publisher.sandbox.registry import free_port

DEFAULT_SAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "samples"
OPERATOR = "operator"
KINDS = "edgeserviceimages,edgepublications"


def _kubectl(state: StateDir, *args: str) -> subprocess.CompletedProcess[str]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise manager.SandboxError("kubectl is not installed (scripts/setup.sh installs it)")
    return subprocess.run(
        [kubectl, "--kubeconfig", str(state.kubeconfig), *args], capture_output=True, text=True, check=False
    )


def start_operator(state: StateDir) -> processes.Tracked:
    endpoints = json.loads(state.endpoints.read_text())
    env = {
        **os.environ,
        "KUBECONFIG": str(state.kubeconfig),
        "HORIZON_PUBLISHER_CONNECT_TO": endpoints["registry"]["connectTo"],
    }
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    argv = [sys.executable, "-m", "horizon_publisher", "run", "--liveness", liveness]
    return processes.start(state.root, OPERATOR, argv, env=env)


def wait_until_observed(state: StateDir, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Until the operator has written status for the current generation of every object."""
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        listing = _kubectl(state, "get", KINDS, "-A", "-o", "json")
        if listing.returncode == 0:
            items = json.loads(listing.stdout).get("items", [])
            if items and all(_observed(item) for item in items):
                return items
        time.sleep(0.3)
    raise manager.SandboxError(f"the operator did not report on every sample within {timeout:.0f} s")


def _observed(item: dict[str, Any]) -> bool:
    status = item.get("status") or {}
    return bool(status.get("conditions")) and status.get("observedGeneration") == item["metadata"].get("generation")


def demo(state_dir: Path, *, flavor: Flavor = "openshift", samples: Path | None = None) -> int:
    state = StateDir(state_dir.resolve())
    manager.up(state.root, flavor=flavor)
    if not any(processes.is_running(t) for n, t in processes.load(state.root).items() if n == OPERATOR):
        start_operator(state)
    applied = _kubectl(state, "apply", "-f", str(samples or DEFAULT_SAMPLES))
    print(applied.stdout + applied.stderr, end="")
    if applied.returncode != 0:
        return applied.returncode
    items = wait_until_observed(state)
    print(_kubectl(state, "get", KINDS, "-A").stdout)
    for item in items:
        meta = item["metadata"]
        print(f"{item['kind']} {meta['namespace']}/{meta['name']} (generation {meta.get('generation')}):")
        for condition in item["status"]["conditions"]:
            print(f"  {condition['type']:30} {condition['status']:8} {condition['reason']:14} {condition['message']}")
    print(f"\nexport KUBECONFIG={state.kubeconfig}   # then: kubectl get {KINDS} -A")
    print(f"stop everything: {Path(sys.argv[0]).name} sandbox down --state-dir {state_dir}")
    return 0
