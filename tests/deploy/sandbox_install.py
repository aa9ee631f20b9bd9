"""Install rendered manifests into a sandbox and run the operator as the installed ServiceAccount.

Running ``horizon-publisher run`` with a token of ``horizon-publisher-system/horizon-publisher`` (not
the sandbox admin) makes the sandbox's RBAC authorizer judge every call against the rendered rules.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from horizon_publisher.sandbox import processes
from horizon_publisher.sandbox.demo import operator_connect_to
from horizon_publisher.sandbox.registry import free_port
from tests.deploy.manifests import OPERATOR_NAME, OPERATOR_NAMESPACE
from tests.e2e.conftest import Sandbox

JSON = dict[str, Any]


def served_kinds(sandbox: Sandbox) -> set[tuple[str, str]]:
    """(apiVersion, kind) of everything the sandbox serves, from discovery."""
    out = sandbox.kubectl("api-resources", "--no-headers", "-o", "wide").stdout
    kinds = set()
    for line in out.splitlines():
        fields = line.split()
        # NAME [SHORTNAMES] APIVERSION NAMESPACED KIND VERBS...: the API version is the field before true/false.
        at = next(i for i, f in enumerate(fields) if f in ("true", "false"))
        kinds.add((fields[at - 1], fields[at + 1]))
    return kinds


def apply(sandbox: Sandbox, objects: list[JSON]) -> list[JSON]:
    """``kubectl apply`` of the objects the sandbox serves; returns the ones it skipped."""
    served = served_kinds(sandbox)
    wanted = [o for o in objects if (o["apiVersion"], o["kind"]) in served]
    sandbox.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(wanted))
    return [o for o in objects if (o["apiVersion"], o["kind"]) not in served]


def service_account_kubeconfig(sandbox: Sandbox, path: Path, seconds: int = 3600) -> Path:
    """A kubeconfig that authenticates as the operator's ServiceAccount (TokenRequest, like a pod's token)."""
    token = sandbox.kubectl(
        "create", "token", OPERATOR_NAME, "-n", OPERATOR_NAMESPACE, f"--duration={seconds}s"
    ).stdout.strip()
    kube = sandbox.endpoints["kubernetes"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": kube["url"], "certificate-authority": kube["caFile"]}}],
        "users": [{"name": OPERATOR_NAME, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "sandbox", "user": OPERATOR_NAME}}],
        "current-context": "operator",
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def start_operator_as_service_account(
    sandbox: Sandbox, kubeconfig: Path, name: str, namespaces: list[str], resync_seconds: int = 60
) -> processes.Tracked:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "HORIZON_PUBLISHER_CONNECT_TO": operator_connect_to(sandbox.endpoints),
        "HORIZON_PUBLISHER_RESYNC_SECONDS": str(resync_seconds),
    }
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    argv = [sys.executable, "-m", "horizon_publisher", "run", "--liveness", liveness]
    for namespace in namespaces:
        argv += ["-n", namespace]
    tracked = processes.start(sandbox.state_dir, name, argv, env=env)
    deadline = time.monotonic() + 30
    while "Initial authentication has finished" not in Path(tracked.log).read_text(errors="replace"):
        assert processes.is_running(tracked), Path(tracked.log).read_text(errors="replace")
        assert time.monotonic() < deadline, "the operator did not start"
        time.sleep(0.1)
    return tracked
