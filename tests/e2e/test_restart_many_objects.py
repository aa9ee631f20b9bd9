"""An operator restarted over publications that are all failing and backing off still handles a change at
once. Regressions it guards: kopf workers were once bounded (a worker sleeping out a retry delay keeps its
slot, so failing objects stalled the rest), and a kopf index once made every handler wait for the index,
which the bounded workers could not build."""

from __future__ import annotations

from pathlib import Path

from horizon_publisher.sandbox import manager, processes
from tests.e2e.conftest import start_sandbox, wait_for
from tests.e2e.publication_support import epub_path, publication
from tests.e2e.service_image_kube import Kube
from tests.e2e.service_image_support import start_operator

OBJECTS = 40


def _observed(kube: Kube, namespace: str, name: str) -> int | None:
    found = kube.get(epub_path(namespace, name)) or {}
    return (found.get("status") or {}).get("observedGeneration")


def test_a_restart_with_more_objects_than_workers_resumes_them_all(tmp_path: Path) -> None:
    sandbox = start_sandbox(tmp_path / "sandbox", flavor="kubernetes")
    kube = Kube(sandbox)
    try:
        namespace = "restart-many"
        sandbox.ensure_namespace(namespace)
        exchange = {"url": "https://127.0.0.1:9/v1", "org": "myorg"}  # never reached: the image is missing
        names = [f"pub{i}" for i in range(OBJECTS)]
        collection = f"/apis/edge.horizon.dev/v1alpha1/namespaces/{namespace}/edgepublications"
        for name in names:
            manifest = publication(name, namespace, exchange, url=f"com.example.{name}", image=f"missing-{name}")
            kube.create(collection, manifest)
        start_operator(sandbox)
        wait_for(lambda: all(_observed(kube, namespace, n) == 1 for n in names), timeout=60, what="first pass")
        processes.stop(sandbox.state_dir, "operator-under-test")
        start_operator(sandbox)
        # A change after the restart must be handled: nothing is, if the operator never got going.
        kube.merge_patch(epub_path(namespace, names[-1]), {"spec": {"service": {"label": "changed"}}})
        wait_for(lambda: _observed(kube, namespace, names[-1]) == 2, timeout=15, what="the change handled")
    finally:
        kube.close()
        processes.stop(sandbox.state_dir, "operator-under-test")
        manager.down(sandbox.state_dir, out=lambda _: None)
