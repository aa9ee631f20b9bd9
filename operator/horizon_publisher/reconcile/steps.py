"""The vocabulary of a multi-step reconcile: each step ends in one condition and says whether to go on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from horizon_publisher.conditions import READY, Condition, merge, parse_conditions, transitions
from horizon_publisher.reconcile.outcome import EventNote, Outcome


@dataclass(frozen=True)
class StepResult:
    condition: Condition
    proceed: bool = True  # False: later steps cannot run yet (waiting or failed)
    retry_after: float | None = None  # look again this soon (waiting on someone else)
    events: tuple[EventNote, ...] = ()


def ok(condition_type: str, reason: str, message: str = "", *events: EventNote) -> StepResult:
    return StepResult(Condition(condition_type, "True", reason, message), events=events)


def waiting(condition_type: str, reason: str, message: str, retry_after: float) -> StepResult:
    return StepResult(Condition(condition_type, "Unknown", reason, message), proceed=False, retry_after=retry_after)


def failed(condition_type: str, reason: str, message: str, retry_after: float | None = None) -> StepResult:
    return StepResult(Condition(condition_type, "False", reason, message), proceed=False, retry_after=retry_after)


@dataclass
class Progress:
    """What the steps of one reconcile found, in order, plus the status fields they filled."""

    condition_types: Sequence[str]
    results: list[StepResult] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)

    def add(self, result: StepResult) -> bool:
        self.results.append(result)
        return result.proceed

    def outcome(self, body: Mapping[str, Any], *, now: datetime) -> Outcome:
        generation = int((body.get("metadata") or {}).get("generation") or 0)
        before = parse_conditions((body.get("status") or {}).get("conditions"))
        reached = {r.condition.type: r.condition for r in self.results}
        blocker = next((r.condition for r in self.results if r.condition.status != "True"), None)
        rest = [
            Condition(t, "Unknown", "Waiting", f"waiting for {blocker.type}" if blocker else "")
            for t in self.condition_types
            if t != READY and t not in reached
        ]
        if blocker is None:
            ready = Condition(READY, "True", "Reconciled", "")
        else:  # an in-flight step (waiting on someone) leaves Ready Unknown, a failed one makes it False
            in_flight = blocker.status == "Unknown"
            message = f"{blocker.type}: {blocker.message}"
            ready = Condition(READY, "Unknown" if in_flight else "False", blocker.reason, message)
        updates = [ready, *reached.values(), *rest]
        kept = [c for c in before if c.type in self.condition_types]
        after = merge(kept, updates, generation=generation, now=now)
        after.sort(key=lambda c: list(self.condition_types).index(c.type))
        retries = [r.retry_after for r in self.results if r.retry_after is not None]
        events = [*insecure_tls_events(body), *(e for r in self.results for e in r.events)]
        events += _failure_events(before, after)
        return Outcome(
            conditions=after,
            status_fields=self.status,
            events=events,
            retry_after=min(retries) if retries else None,
            retry_reason=f"{blocker.type}: {blocker.reason}" if blocker else "",
        )


def _failure_events(before: Sequence[Condition], after: Sequence[Condition]) -> list[EventNote]:
    """One Warning per condition that turned False, one Normal when Ready turns True: not per retry."""
    notes = [
        EventNote("Warning", c.reason, f"{c.type}: {c.message}")
        for c in transitions(before, after)
        if c.status == "False" and c.type != READY
    ]
    ready = next((c for c in transitions(before, after) if c.type == READY and c.status == "True"), None)
    if ready is not None:
        notes.append(EventNote("Normal", "Ready", "every step succeeded"))
    was = next((c for c in before if c.type == READY), None)
    if was is not None and was.reason == "InvalidSpec":
        notes.insert(0, EventNote("Normal", "SpecAccepted", "the spec is valid again"))
    return notes


def insecure_tls_paths(value: Any, path: str = "spec") -> list[str]:
    """Every ``...tls`` of the spec whose ``insecureSkipTLSVerify`` is true, as a field path."""
    if not isinstance(value, Mapping):
        return []
    found = (
        [f"{path}.tls"] if isinstance(value.get("tls"), Mapping) and value["tls"].get("insecureSkipTLSVerify") else []
    )
    return found + [
        p for key, child in value.items() if key != "tls" for p in insecure_tls_paths(child, f"{path}.{key}")
    ]


def insecure_tls_events(body: Mapping[str, Any]) -> list[EventNote]:
    """A Warning once per spec generation that turns TLS verification off somewhere (never silently)."""
    paths = insecure_tls_paths(body.get("spec"))
    metadata, status = body.get("metadata") or {}, body.get("status") or {}
    if not paths or status.get("observedGeneration") == metadata.get("generation"):
        return []
    where = ", ".join(paths)
    return [
        EventNote(
            "Warning",
            "InsecureTLS",
            f"TLS certificate verification is off for {where}: anyone on the path can impersonate that endpoint",
        )
    ]
