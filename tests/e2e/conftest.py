"""A real sandbox (emulator, token endpoint, docker-registry processes) shared by the e2e tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from horizon_publisher.sandbox import manager, processes
from horizon_publisher.sandbox.demo import operator_connect_to
from horizon_publisher.sandbox.registry import free_port

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "deploy" / "samples"


@dataclass
class Sandbox:
    state_dir: Path
    endpoints: dict[str, Any]

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 60, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        kubectl = shutil.which("kubectl")
        assert kubectl, "kubectl is required (scripts/setup.sh installs it)"
        result = subprocess.run(
            [kubectl, "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            input=input_text,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def custom_objects(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client())

    def ensure_namespace(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.core().create_namespace({"metadata": {"name": name}})
        except ApiException as error:
            if error.status != 409:
                raise

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client())


def start_sandbox(state_dir: Path, flavor: str = "openshift", max_token_seconds: int | None = None) -> Sandbox:
    manager.up(state_dir, flavor=flavor, max_token_seconds=max_token_seconds, out=lambda _: None)  # type: ignore[arg-type]
    return Sandbox(state_dir, json.loads((state_dir / "endpoints.json").read_text()))


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state_dir = tmp_path_factory.mktemp("sandbox")
    try:
        yield start_sandbox(state_dir)
    finally:
        manager.down(state_dir, out=lambda _: None)


@dataclass
class RunningOperator:
    tracked: processes.Tracked
    state_dir: Path

    def log(self) -> str:
        return Path(self.tracked.log).read_text(errors="replace")


@pytest.fixture(scope="session")
def operator(sandbox: Sandbox) -> Iterator[RunningOperator]:
    """``horizon-publisher run`` as a real process against the sandbox, stopped by PID afterwards."""
    env = {
        **os.environ,
        "KUBECONFIG": str(sandbox.kubeconfig),
        # Every host the sandbox fronts (the OpenShift registry route, us.icr.io) maps to its 127.0.0.1 port.
        "HORIZON_PUBLISHER_CONNECT_TO": operator_connect_to(sandbox.endpoints),
    }
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    # Watching one namespace keeps the operator off the objects other e2e tests drive by hand.
    argv = [sys.executable, "-m", "horizon_publisher", "run", "--liveness", liveness, "--metrics-address", "",
            "-n", "operator-e2e", "-v"]  # fmt: skip
    tracked = processes.start(sandbox.state_dir, "operator-under-test", argv, env=env)
    running = RunningOperator(tracked, sandbox.state_dir)
    try:
        deadline = time.monotonic() + 30
        while "Initial authentication has finished" not in running.log() and time.monotonic() < deadline:
            assert processes.is_running(tracked), running.log()
            time.sleep(0.1)
        yield running
    finally:
        processes.stop(sandbox.state_dir, "operator-under-test")


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
