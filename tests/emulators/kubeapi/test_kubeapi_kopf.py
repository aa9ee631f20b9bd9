"""kopf 1.45, unmodified, runs an operator against the emulator: finalizer, status, events, update, delete."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubeapi_harness import WIDGETS, Client, widget

from horizon_publisher.sandbox.kubeapi.runner import EmulatorThread

OPERATOR = """
import logging
import kopf

@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.persistence.finalizer = "example.com/kopf-finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="example.com")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="example.com")
    settings.watching.server_timeout = 5          # the emulator closes watches; kopf reconnects with an RV
    settings.networking.error_backoffs = [0.1]

@kopf.on.create("example.com", "v1", "widgets")
def created(body, spec, patch, **_):
    kopf.info(body, reason="Created", message=f"size {spec['size']}")
    patch.status["phase"] = "Created"
    patch.status["observedSize"] = spec["size"]

@kopf.on.update("example.com", "v1", "widgets", field="spec.size")
def resized(new, patch, **_):
    patch.status["observedSize"] = new

@kopf.on.delete("example.com", "v1", "widgets")
def deleted(body, **_):
    kopf.info(body, reason="Deleted", message="bye")
"""


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def operator(api: EmulatorThread, widgets: Client, tmp_path: Path) -> Iterator[Path]:
    """kopf in a subprocess with a kubeconfig for the emulator; yields its log file."""
    script = tmp_path / "operator.py"
    script.write_text(OPERATOR)
    config = api.write_kubeconfig(tmp_path / "kubeconfig")
    log = tmp_path / "kopf.log"
    env = {**os.environ, "KUBECONFIG": str(config)}
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace=default", "--verbose", str(script)],
            stdout=output, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        yield log
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def events_for(http: Client, name: str) -> list[str]:
    items = http.read("/api/v1/namespaces/default/events")["items"]
    return [e["reason"] for e in items if e["involvedObject"]["name"] == name]


def test_kopf_operator_full_lifecycle(widgets: Client, operator: Path) -> None:
    widgets.create(WIDGETS, widget("w1", size=2))

    def handled() -> dict[str, Any] | None:
        obj = widgets.read(f"{WIDGETS}/w1")
        return obj if obj.get("status", {}).get("observedSize") == 2 else None

    obj = eventually(handled)
    assert obj["status"]["phase"] == "Created"
    assert "example.com/kopf-finalizer" in obj["metadata"]["finalizers"]
    assert any(key.startswith("example.com/") for key in obj["metadata"]["annotations"])
    assert eventually(lambda: "Created" in events_for(widgets, "w1"))

    widgets.ok(widgets.patch(f"{WIDGETS}/w1", {"spec": {"size": 5}}), 200)
    eventually(lambda: widgets.read(f"{WIDGETS}/w1")["status"].get("observedSize") == 5)

    widgets.ok(widgets.delete(f"{WIDGETS}/w1"), 200)
    eventually(lambda: widgets.get(f"{WIDGETS}/w1").status_code == 404)
    assert eventually(lambda: "Deleted" in events_for(widgets, "w1"))
    log = operator.read_text()
    # e.g. "Patching failed with inconsistencies" or retried API errors would show up here
    assert "[WARNING" not in log, log
    assert "[ERROR" not in log, log


def test_kopf_handles_objects_created_before_it_started(api: EmulatorThread, widgets: Client, tmp_path: Path) -> None:
    widgets.create(WIDGETS, widget("early", size=3))
    script = tmp_path / "operator.py"
    script.write_text(OPERATOR)
    env = {**os.environ, "KUBECONFIG": str(api.write_kubeconfig(tmp_path / "kubeconfig"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "kopf", "run", "--standalone", "-A", str(script)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        eventually(lambda: widgets.read(f"{WIDGETS}/early").get("status", {}).get("observedSize") == 3)
    finally:
        process.terminate()
        process.wait(timeout=10)
