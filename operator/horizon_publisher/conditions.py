"""Status conditions in the ``metav1.Condition`` shape, computed purely.

Conventions (see docs/architecture.md): the conditions list is a map keyed by ``type``;
``lastTransitionTime`` moves only when ``status`` flips; every condition carries the generation it was
computed from; ``Ready`` is the summary that ``kubectl wait``, kstatus and Argo CD read. Every
condition of a kind is written on first sight, as ``Unknown``, so nobody mistakes silence for success.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]

READY = "Ready"


@dataclass(frozen=True)
class Condition:
    type: str
    status: Status
    reason: str
    message: str = ""
    last_transition_time: str = ""
    observed_generation: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": self.last_transition_time,
            "observedGeneration": self.observed_generation,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Condition:
        status = raw.get("status", "Unknown")
        return cls(
            type=str(raw.get("type", "")),
            status=status if status in ("True", "False") else "Unknown",
            reason=str(raw.get("reason", "")),
            message=str(raw.get("message", "")),
            last_transition_time=str(raw.get("lastTransitionTime", "")),
            observed_generation=int(raw.get("observedGeneration", 0) or 0),
        )


def timestamp(now: datetime) -> str:
    """RFC 3339 in UTC with second precision, as the API server writes times."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_conditions(raw: object) -> list[Condition]:
    if not isinstance(raw, list):
        return []
    return [Condition.from_dict(item) for item in raw if isinstance(item, Mapping) and item.get("type")]


def merge(
    current: Sequence[Condition],
    updates: Iterable[Condition],
    *,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """Apply ``updates`` over ``current``, keeping the order of first appearance.

    A condition whose status is unchanged keeps its ``lastTransitionTime``; every condition written
    gets ``observedGeneration = generation``.
    """
    by_type = {condition.type: condition for condition in current}
    order = [condition.type for condition in current]
    for update in updates:
        previous = by_type.get(update.type)
        if previous is not None and previous.status == update.status and previous.last_transition_time:
            since = previous.last_transition_time
        else:
            since = timestamp(now)
        if update.type not in by_type:
            order.append(update.type)
        by_type[update.type] = replace(update, last_transition_time=since, observed_generation=generation)
    return [by_type[name] for name in order]


def unknown_for(types: Iterable[str], *, reason: str, message: str) -> list[Condition]:
    return [Condition(type=name, status="Unknown", reason=reason, message=message) for name in types]


def find(conditions: Sequence[Condition], condition_type: str) -> Condition | None:
    return next((condition for condition in conditions if condition.type == condition_type), None)


def transitions(before: Sequence[Condition], after: Sequence[Condition]) -> list[Condition]:
    """The conditions of ``after`` whose status or reason differ from ``before``: what deserves an Event."""
    old = {condition.type: (condition.status, condition.reason) for condition in before}
    return [c for c in after if old.get(c.type) != (c.status, c.reason)]


def same_content(before: Sequence[Condition], after: Sequence[Condition]) -> bool:
    """True when writing ``after`` would change nothing a reader cares about (no status churn)."""
    return [c.to_dict() for c in before] == [c.to_dict() for c in after]
