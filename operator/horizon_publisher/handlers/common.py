"""Map a reconcile :class:`Outcome` onto kopf: one status patch, the Events, the retry."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import kopf

from horizon_publisher import metrics
from horizon_publisher.reconcile.outcome import EventNote, Outcome


def desired_status(outcome: Outcome, generation: int) -> dict[str, Any]:
    return {
        **outcome.status_fields,
        "observedGeneration": generation,
        "conditions": [condition.to_dict() for condition in outcome.conditions],
    }


def changed_fields(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """Only what differs: an unchanged status is never rewritten (no churn for Argo CD or watchers)."""
    return {key: value for key, value in desired.items() if current.get(key) != value}


def apply_outcome(outcome: Outcome, body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo | None = None) -> None:
    generation = int(body.metadata.get("generation") or 0)
    current = dict(body.get("status") or {})
    desired = desired_status(outcome, generation)
    for key, value in changed_fields(current, desired).items():
        patch.status[key] = value
    if memo is not None:
        memo["context"].last_status[str(body.metadata.get("uid"))] = desired
    metrics.record_outcome(outcome, {**current, **desired})
    post_events(body, outcome.events)
    if outcome.retry_after is not None:
        raise kopf.TemporaryError(outcome.retry_reason or "waiting", delay=outcome.retry_after)


def post_events(body: kopf.Body, notes: Iterable[EventNote]) -> None:
    for note in notes:
        kopf.event(body, type=note.type, reason=note.reason, message=note.message)


@contextmanager
def object_lock(memo: kopf.Memo, body: kopf.Body) -> Iterator[None]:
    """One reconcile per object at a time: a change handler and the resync timer may fire together."""
    context = memo["context"]
    uid = str(body.metadata.get("uid"))
    with context.locks_guard:
        lock = context.locks.setdefault(uid, threading.Lock())
    with lock:
        yield


@contextmanager
def reconciling(memo: kopf.Memo, body: kopf.Body, kind: str) -> Iterator[None]:
    """One reconcile of the object at a time (:func:`object_lock`), timed and counted in the metrics."""
    meta = body.metadata
    with object_lock(memo, body), metrics.reconciling(kind, str(meta.namespace), str(meta.name), str(meta.uid)):
        yield


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
