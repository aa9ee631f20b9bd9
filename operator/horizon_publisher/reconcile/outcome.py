"""What one reconcile decided: the status to write, the Events to post, when to look again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from horizon_publisher.conditions import Condition


@dataclass(frozen=True)
class EventNote:
    """A Kubernetes Event to post. Messages are built from our own words, never from secret values."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Outcome:
    conditions: list[Condition]
    status_fields: dict[str, Any] = field(default_factory=dict)
    events: list[EventNote] = field(default_factory=list)
    # Seconds until the next reconcile should run (a wait on something outside our control); None: no retry.
    retry_after: float | None = None
    retry_reason: str = ""
