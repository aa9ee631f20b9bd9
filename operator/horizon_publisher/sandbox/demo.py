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

from horizon_publisher.clients.connect_to import parse_connect_to_list, session_with_connect_to
from horizon_publisher.desired.kube_objects import read_docker_config
from horizon_publisher.sandbox import manager, processes
from horizon_publisher.sandbox.images import push_image
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
        "HORIZON_PUBLISHER_RESYNC_SECONDS": "5",
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


def push_sample_images(state: StateDir, namespace: str = "horizon-demo", name: str = "hello") -> None:
    """What a pipeline would do: push with the credentials the operator wrote, then see it Ready."""
    image = _wait_json(state, ["get", "esi", name, "-n", namespace], lambda o: _condition(o, "CredentialsReady"))
    host = image["status"]["registry"]["host"]
    secret = json.loads(
        _kubectl(
            state, "get", "secret", image["status"]["credentials"]["secretName"], "-n", namespace, "-o", "json"
        ).stdout
    )
    credentials = read_docker_config(secret, host)
    assert credentials is not None
    endpoints = json.loads(state.endpoints.read_text())
    session = session_with_connect_to(parse_connect_to_list(endpoints["registry"]["connectTo"]))
    project, spec = image["status"]["registry"]["namespace"], image["spec"]["image"]
    for arch in spec["arches"]:
        repository = f"{project}/{spec['name']}_{arch}"
        digest = push_image(
            f"https://{host}",
            repository,
            spec["tag"],
            arch=arch,
            credentials=credentials,
            verify=endpoints["registry"]["caFile"],
            session=session,
        )
        print(f"pushed {host}/{repository}:{spec['tag']} -> {digest} (with the operator's credentials)")
    _wait_json(state, ["get", "esi", name, "-n", namespace], lambda o: _condition(o, "Ready"), timeout=60)


def _condition(obj: dict[str, Any], condition_type: str) -> bool:
    return any(
        c.get("type") == condition_type and c.get("status") == "True"
        for c in (obj.get("status") or {}).get("conditions") or []
    )


def _wait_json(state: StateDir, args: list[str], predicate: Any, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = _kubectl(state, *args, "-o", "json")
        if result.returncode == 0 and predicate(obj := json.loads(result.stdout)):
            return obj  # type: ignore[no-any-return]
        time.sleep(0.5)
    raise manager.SandboxError(f"timed out waiting for kubectl {' '.join(args)}")


def demo(state_dir: Path, *, flavor: Flavor = "openshift", samples: Path | None = None) -> int:
    state = StateDir(state_dir.resolve())
    manager.up(state.root, flavor=flavor)
    if not any(processes.is_running(t) for n, t in processes.load(state.root).items() if n == OPERATOR):
        start_operator(state)
    applied = _kubectl(state, "apply", "-f", str(samples or DEFAULT_SAMPLES))
    print(applied.stdout + applied.stderr, end="")
    if applied.returncode != 0:
        return applied.returncode
    wait_until_observed(state)
    if flavor == "openshift":
        push_sample_images(state)
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
