"""Map a reconcile :class:`Outcome` onto kopf: one status patch, the Events, the retry."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import kopf

from horizon_publisher import metrics
from horizon_publisher.clients.kube import KubeError
from horizon_publisher.kinds import Kind
from horizon_publisher.reconcile.outcome import EventNote, Outcome

# An API error outside the steps (reading a referenced Secret before the first step) is retried this soon,
# as the steps retry theirs, not after kopf's default backoff for an arbitrary exception (60 s).
API_ERROR_RETRY = 10.0


def desired_status(outcome: Outcome, generation: int) -> dict[str, Any]:
    return {
        **outcome.status_fields,
        "observedGeneration": generation,
        "conditions": [condition.to_dict() for condition in outcome.conditions],
    }


def changed_fields(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """Only what differs: an unchanged status is never rewritten (no churn for Argo CD or watchers)."""
    return {key: value for key, value in desired.items() if current.get(key) != value}


def apply_outcome(
    outcome: Outcome, body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo | None = None, *, retry: bool = True
) -> None:
    """Status into ``patch``, Events posted, and (``retry``) kopf told when to come back."""
    generation = int(body.metadata.get("generation") or 0)
    current = dict(body.get("status") or {})
    desired = desired_status(outcome, generation)
    for key, value in changed_fields(current, desired).items():
        patch.status[key] = value
    if memo is not None:
        memo["context"].last_status[str(body.metadata.get("uid"))] = desired
    metrics.record_outcome(outcome, {**current, **desired})
    post_events(body, outcome.events)
    if retry and outcome.retry_after is not None:
        raise kopf.TemporaryError(outcome.retry_reason or "waiting", delay=outcome.retry_after)


def resync(kind: Kind, body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, reconcile: Callable[..., None]) -> bool:
    """A resync timer's pass: ``reconcile(body, patch, memo)``, the status written by our own writer.

    kopf stops a timer for good when the patch it applies after the handler fails (409, a 5xx storm), so
    the level-triggered safety net would be gone for that object; our write may fail, the next tick
    writes again. Without a writer (unit tests) the status goes through kopf's ``patch`` as before.
    False when a reconcile of the object was already running (nothing done).
    """
    lock = _lock_for(memo, body)
    if not lock.acquire(blocking=False):
        # A reconcile of this object is running (perhaps hung on a backend until its timeout): waiting
        # here would only tie up a worker thread that other objects need. The next tick looks again.
        return False
    try:
        writer = memo["context"].status_writer
        own = kopf.Patch() if writer is not None else patch
        with suppress(kopf.TemporaryError):  # the status says what we wait for; the next tick looks again
            reconcile(body, own, memo)
        status = own.get("status") if writer is not None else None
        if writer is not None and status:
            writer.write(kind, str(body.metadata.namespace), str(body.metadata.name), dict(status))
    finally:
        lock.release()
    return True


def post_events(body: kopf.Body, notes: Iterable[EventNote]) -> None:
    for note in notes:
        kopf.event(body, type=note.type, reason=note.reason, message=note.message)


@contextmanager
def object_lock(memo: kopf.Memo, body: kopf.Body) -> Iterator[None]:
    """One reconcile per object at a time: a change handler and the resync timer may fire together."""
    with _lock_for(memo, body):
        yield


def _lock_for(memo: kopf.Memo, body: kopf.Body) -> threading.RLock:
    """The object's lock; re-entrant, because a resync tick holds it around the reconcile it runs."""
    context = memo["context"]
    uid = str(body.metadata.get("uid"))
    with context.locks_guard:
        lock: threading.RLock = context.locks.setdefault(uid, threading.RLock())
    return lock


@contextmanager
def reconciling(memo: kopf.Memo, body: kopf.Body, kind: str) -> Iterator[None]:
    """One reconcile of the object at a time (:func:`object_lock`), timed and counted in the metrics; an
    API error that escapes the steps is retried after :data:`API_ERROR_RETRY` seconds."""
    meta = body.metadata
    try:
        with object_lock(memo, body), metrics.reconciling(kind, str(meta.namespace), str(meta.name), str(meta.uid)):
            yield
    except KubeError as error:  # the message may quote what was sent: the reason is enough here
        raise kopf.TemporaryError(
            f"Kubernetes API: HTTP {error.status} {error.reason}", delay=API_ERROR_RETRY
        ) from error


def fresh(memo: kopf.Memo, body: kopf.Body) -> Mapping[str, Any]:
    """The body with the status we wrote last laid over its own.

    A timer tick and a change handler may each hold a snapshot taken before the other's status patch
    landed; the status this process wrote last is never older than either, so publishedTime and the
    like do not flip back and forth.
    """
    written = memo["context"].last_status.get(str(body.metadata.get("uid")))
    if not written:
        return body
    return {**body, "status": {**dict(body.get("status") or {}), **written}}


def forget(memo: kopf.Memo, body: kopf.Body) -> None:
    uid = str(body.metadata.get("uid"))
    memo["context"].last_status.pop(uid, None)
    metrics.forget_resource(uid)
