"""A rotation request (edge.horizon.dev/rotate-credentials-requested-at): when it counts as answered, what the
providers without operator-made credentials say, and the trigger that starts it at once."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

import kopf
import pytest

from horizon_publisher.conditions import Condition
from horizon_publisher.desired import kube_objects as desired
from horizon_publisher.handlers import service_image as handlers
from horizon_publisher.handlers.context import OperatorContext
from horizon_publisher.kinds import Kind
from horizon_publisher.reconcile import service_image
from horizon_publisher.reconcile.openshift_image import Context
from horizon_publisher.reconcile.outcome import Outcome
from horizon_publisher.reconcile.steps import Progress, StepResult, ok, waiting

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OWNER = desired.Owner("team", "hello", "uid-1")
SPECS = {
    "openshift": {"openshift": {"project": "p1"}},
    "generic": {"generic": {"host": "r.example", "credentialsSecretRef": {"name": "push-creds"}}},
    "ibmCloud": {"ibmCloud": {"host": "us.icr.io", "namespace": "ns1", "apiKeySecretRef": {"name": "ibm-key"}}},
}


def context(provider: str, request: str, handled: str, results: list[StepResult], rotated_for: str = "") -> Context:
    status = {"credentials": {"lastHandledRotationRequest": handled}} if handled else {}
    spec = {"registry": SPECS[provider], "image": {"name": "n", "tag": "1"}}
    ctx = Context(None, OWNER, spec, status, NOW, Progress(("Ready",)))  # type: ignore[arg-type]
    ctx.rotation_request, ctx.rotated_for = request, rotated_for
    ctx.progress.results.extend(results)
    return ctx


WRITTEN = [ok("CredentialsReady", "SecretWritten")]
STOPPED = [waiting("TokenReady", "WaitingForTokenController", "", 1.0)]


class Case(NamedTuple):
    provider: str
    request: str
    handled: str
    results: list[StepResult]
    rotated_for: str
    recorded: str | None
    reasons: list[str]


@pytest.mark.parametrize(
    "case",
    [
        Case("generic", "t1", "", WRITTEN, "", "t1", ["RotationNotApplicable"]),
        Case("ibmCloud", "t1", "t0", WRITTEN, "", "t1", ["RotationNotApplicable"]),
        Case("generic", "t1", "t1", WRITTEN, "", None, []),  # the same value again: nothing
        Case("generic", "", "", WRITTEN, "", None, []),
        Case("openshift", "t1", "", WRITTEN, "t1", "t1", []),  # the new token is in the output Secret
        Case("openshift", "t1", "t0", STOPPED, "t1", None, []),  # not yet: still pending for the next pass
        Case("openshift", "t1", "", STOPPED, "", None, []),
    ],
)
def test_when_a_request_counts_as_answered(case: Case) -> None:
    ctx = context(case.provider, case.request, case.handled, case.results, case.rotated_for)
    notes = service_image.settle_rotation_request(ctx, case.provider)
    assert [n.reason for n in notes] == case.reasons
    assert ctx.progress.status.get("credentials", {}).get("lastHandledRotationRequest") == case.recorded


def test_the_record_is_carried_in_every_later_credentials_section() -> None:
    ctx = context("generic", "t1", "t1", WRITTEN)
    ctx.progress.status["credentials"] = {"secretName": "hello-registry"}
    assert service_image.settle_rotation_request(ctx, "generic") == []
    assert ctx.progress.status["credentials"] == {"secretName": "hello-registry", "lastHandledRotationRequest": "t1"}


@pytest.mark.parametrize(
    ("provider", "words"),
    [("generic", "secret push-creds"), ("ibmCloud", "secret ibm-key")],
)
def test_not_applicable_says_where_to_rotate(provider: str, words: str) -> None:
    [note] = service_image.settle_rotation_request(context(provider, "t1", "", WRITTEN), provider)
    assert (note.type, words in note.message) == ("Normal", True)


# --- the trigger ------------------------------------------------------------------------------------


class RecordingWriter:
    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    def write(self, kind: Kind, namespace: str, name: str, status: Mapping[str, Any]) -> bool:
        self.writes.append(dict(status))
        return True


def body(annotation: str | None, status: dict[str, Any] | None) -> kopf.Body:
    annotations = {desired.ROTATION_REQUEST_ANNOTATION: annotation} if annotation is not None else {}
    metadata = {"uid": "u1", "generation": 1, "namespace": "team", "name": "hello", "annotations": annotations}
    return kopf.Body(cast(kopf.RawBody, {"metadata": metadata, "status": status or {}}))


SEEN = {"conditions": [{"type": "Ready", "status": "True"}]}


class NoKube:
    """The handlers hand each reconcile a one-pass face of the Kube client; the stubbed reconcile needs none."""

    def for_one_pass(self) -> None:
        return None


def memo(writer: RecordingWriter | None = None) -> kopf.Memo:
    return kopf.Memo(context=OperatorContext(kube=NoKube(), status_writer=writer))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("annotation", "status", "fires"),
    [
        (None, SEEN, False),
        ("", SEEN, False),
        ("t1", {**SEEN, "credentials": {"lastHandledRotationRequest": "t1"}}, False),
        ("t1", None, False),  # not reconciled yet: its first reconcile answers the request
        ("t1", SEEN, True),
        ("t2", {**SEEN, "credentials": {"lastHandledRotationRequest": "t1"}}, True),
    ],
)
def test_the_trigger_fires_on_an_unanswered_request(annotation: str | None, status: Any, fires: bool) -> None:
    assert handlers._new_rotation_request(body(annotation, status), memo()) is fires


def test_the_trigger_fires_once_per_value_then_the_resync_timer_takes_over(monkeypatch: pytest.MonkeyPatch) -> None:
    passes: list[str] = []

    def reconcile(resource: Mapping[str, Any], **_: Any) -> Outcome:
        passes.append(desired.rotation_request(resource))
        return Outcome(conditions=[Condition("Ready", "False", "CopyFailed")], retry_after=30.0)

    monkeypatch.setattr(service_image, "reconcile", reconcile)
    shared = memo(RecordingWriter())
    for value in ("t1", "t1", "t2"):
        resource = body(value, SEEN)
        if handlers._new_rotation_request(resource, shared):
            handlers.rotate_credentials_on_request(resource, kopf.Patch(), shared, {"type": "MODIFIED"})
    assert passes == ["t1", "t2"]  # a failing pass is not repeated at every watch event


def test_the_trigger_reconciles_under_the_object_lock_until_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wait for the token controller (a short retry), then the pass that answers; each status written."""
    writer = RecordingWriter()
    shared = memo(writer)
    locked: list[bool] = []

    def reconcile(resource: Mapping[str, Any], **_: Any) -> Outcome:
        lock = shared["context"].locks["u1"]
        other = threading.Thread(target=lambda: locked.append(not lock.acquire(blocking=False)))
        other.start()
        other.join()
        if len(locked) == 1:
            token = Condition("TokenReady", "Unknown", "WaitingForTokenController")
            return Outcome(conditions=[token], retry_after=0.01)
        done = {"credentials": {"lastHandledRotationRequest": "t1"}}
        return Outcome(conditions=[Condition("Ready", "True", "Reconciled")], status_fields=done)

    monkeypatch.setattr(service_image, "reconcile", reconcile)
    resource = body("t1", SEEN)
    kopf_patch = kopf.Patch()
    handlers.rotate_credentials_on_request(resource, kopf_patch, shared, {"type": "MODIFIED"})
    assert locked == [True, True]
    assert [w["conditions"][0]["reason"] for w in writer.writes] == ["WaitingForTokenController", "Reconciled"]
    assert writer.writes[-1]["credentials"] == {"lastHandledRotationRequest": "t1"}
    assert not kopf_patch  # the writer wrote it: kopf has nothing to apply
    assert not handlers._new_rotation_request(resource, shared)


def test_the_trigger_gives_up_waiting_after_its_follow_up_window(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def reconcile(resource: Mapping[str, Any], **_: Any) -> Outcome:
        calls.append(1)
        return Outcome(conditions=[Condition("TokenReady", "Unknown", "WaitingForTokenController")], retry_after=0.05)

    monkeypatch.setattr(service_image, "reconcile", reconcile)
    monkeypatch.setattr(handlers, "ROTATION_FOLLOW_UP_SECONDS", 0.12)
    handlers.rotate_credentials_on_request(body("t1", SEEN), kopf.Patch(), memo(RecordingWriter()), {"type": "ADDED"})
    assert 2 <= len(calls) <= 3


def test_a_deleted_resource_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_image, "reconcile", lambda *_, **__: pytest.fail("no reconcile of a deleted object"))
    handlers.rotate_credentials_on_request(body("t1", SEEN), kopf.Patch(), memo(), {"type": "DELETED"})
