"""Map a reconcile :class:`Outcome` onto kopf: one status patch, the Events, the retry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from horizon_publisher.reconcile.outcome import Outcome


def desired_status(outcome: Outcome, generation: int) -> dict[str, Any]:
    return {
        **outcome.status_fields,
        "observedGeneration": generation,
        "conditions": [condition.to_dict() for condition in outcome.conditions],
    }


def changed_fields(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """Only what differs: an unchanged status is never rewritten (no churn for Argo CD or watchers)."""
    return {key: value for key, value in desired.items() if current.get(key) != value}


def apply_outcome(outcome: Outcome, body: kopf.Body, patch: kopf.Patch) -> None:
    generation = int(body.metadata.get("generation") or 0)
    current = dict(body.get("status") or {})
    for key, value in changed_fields(current, desired_status(outcome, generation)).items():
        patch.status[key] = value
    for note in outcome.events:
        kopf.event(body, type=note.type, reason=note.reason, message=note.message)
    if outcome.retry_after is not None:
        raise kopf.TemporaryError(outcome.retry_reason or "waiting", delay=outcome.retry_after)
