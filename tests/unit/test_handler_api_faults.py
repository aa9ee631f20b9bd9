"""The resync timers write their status themselves: a failed write (409, 5xx) is logged and retried by the
next tick, never raised into kopf, which would stop the timer for that object for good."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import kopf
import pytest
import requests
from kubernetes import config

from horizon_publisher.clients.kube import KubeError
from horizon_publisher.conditions import Condition
from horizon_publisher.handlers.common import API_ERROR_RETRY, apply_outcome, reconciling, resync
from horizon_publisher.handlers.context import OperatorContext
from horizon_publisher.handlers.status_writer import ApiStatusWriter
from horizon_publisher.kinds import SERVICE_IMAGE, Kind
from horizon_publisher.reconcile.outcome import Outcome
from horizon_publisher.sandbox.kube_process import CRD_KEY, load_crds
from horizon_publisher.sandbox.kubeapi.runner import EmulatorThread

ROOT = Path(__file__).resolve().parents[2]


def body() -> kopf.Body:
    raw = {"metadata": {"uid": "u1", "generation": 1, "namespace": "team", "name": "hello"}, "status": {}}
    return kopf.Body(cast(kopf.RawBody, raw))


class RecordingWriter:
    def __init__(self, succeeds: bool = True) -> None:
        self.writes: list[tuple[str, str, str, dict[str, Any]]] = []
        self.succeeds = succeeds

    def write(self, kind: Kind, namespace: str, name: str, status: Mapping[str, Any]) -> bool:
        self.writes.append((kind.plural, namespace, name, dict(status)))
        return self.succeeds


def _reconcile(retry_after: float | None) -> Any:
    def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo) -> None:
        ready = Condition("Ready", "Unknown" if retry_after else "True", "Waiting" if retry_after else "Reconciled")
        apply_outcome(Outcome(conditions=[ready], status_fields={}, retry_after=retry_after), body, patch, memo)

    return reconcile


@pytest.mark.parametrize(("retry_after", "succeeds"), [(None, True), (10.0, True), (None, False), (10.0, False)])
def test_the_timer_writes_its_status_itself_and_never_raises(retry_after: float | None, succeeds: bool) -> None:
    writer = RecordingWriter(succeeds)
    memo = kopf.Memo(context=OperatorContext(kube=None, status_writer=writer))  # type: ignore[arg-type]
    kopf_patch = kopf.Patch()
    resync(SERVICE_IMAGE, body(), kopf_patch, memo, _reconcile(retry_after))
    assert not kopf_patch, "nothing is left for kopf to patch (its failure would stop the timer)"
    [(plural, namespace, name, status)] = writer.writes
    assert (plural, namespace, name) == ("edgeserviceimages", "team", "hello")
    assert status["conditions"][0]["type"] == "Ready"
    assert status["observedGeneration"] == 1


def test_without_a_writer_the_status_goes_through_kopf() -> None:
    memo = kopf.Memo(context=OperatorContext(kube=None))  # type: ignore[arg-type]
    kopf_patch = kopf.Patch()
    resync(SERVICE_IMAGE, body(), kopf_patch, memo, _reconcile(None))
    assert kopf_patch["status"]["conditions"][0]["status"] == "True"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[EmulatorThread, ApiStatusWriter]]:
    with EmulatorThread() as running:
        for crd in load_crds(ROOT / "crds"):
            running.call(running.cluster.create, CRD_KEY, crd)
        running.call(running.cluster.ensure_namespace, "team")
        image = {
            "apiVersion": "edge.horizon.dev/v1alpha1",
            "kind": "EdgeServiceImage",
            "metadata": {"name": "hello", "namespace": "team"},
            "spec": {"registry": {"openshift": {"project": "p1"}}, "image": {"name": "hello", "tag": "1.0.0"}},
        }
        running.call(running.cluster.create, f"{SERVICE_IMAGE.group}/{SERVICE_IMAGE.version}/edgeserviceimages", image)
        kubeconfig = running.write_kubeconfig(tmp_path / "kubeconfig")
        yield running, ApiStatusWriter(config.new_client_from_config(config_file=str(kubeconfig)))  # type: ignore[no-untyped-call]


def test_a_conflict_is_logged_and_the_next_write_lands(
    emulator: tuple[EmulatorThread, ApiStatusWriter], caplog: pytest.LogCaptureFixture
) -> None:
    running, writer = emulator
    rule = {"verb": "patch", "resource": "edgeserviceimages/status", "fault": "conflict"}
    headers = {"Authorization": f"Bearer {running.admin_token}"}
    armed = requests.post(f"{running.url}/_sandbox/faults", json=rule, headers=headers, timeout=10)
    assert armed.status_code == 200, armed.text
    status = {"observedGeneration": 1, "resolvedCount": 0}
    with caplog.at_level(logging.WARNING, logger="horizon_publisher.handlers.status_writer"):
        assert writer.write(SERVICE_IMAGE, "team", "hello", status) is False
    assert "HTTP 409 Conflict" in caplog.text
    assert writer.write(SERVICE_IMAGE, "team", "hello", status) is True
    stored = running.call(running.cluster.get, "edge.horizon.dev/v1alpha1/edgeserviceimages", "team", "hello")
    assert stored is not None
    assert stored["status"] == status
    assert writer.write(SERVICE_IMAGE, "team", "gone", status) is False  # deleted meanwhile: no noise


def test_an_api_error_outside_the_steps_is_retried_soon_not_after_kopfs_default_backoff() -> None:
    """Reading the Exchange credentials Secret before the first step may meet a 500: kopf would wait 60 s."""

    def failing(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo) -> None:
        with reconciling(memo, body, "EdgePublication"):
            raise KubeError(500, "InternalError", "etcdserver: request timed out")

    writer = RecordingWriter()
    memo = kopf.Memo(context=OperatorContext(kube=None, status_writer=writer))  # type: ignore[arg-type]
    with pytest.raises(kopf.TemporaryError) as raised:
        failing(body(), kopf.Patch(), memo)
    assert raised.value.delay == API_ERROR_RETRY < 60
    assert "HTTP 500 InternalError" in str(raised.value)
    resync(SERVICE_IMAGE, body(), kopf.Patch(), memo, failing)  # the timer goes on: the next tick retries
    assert writer.writes == []
