"""What every reconcile does first: write all conditions (Unknown on first sight) and judge the spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from horizon_publisher.conditions import READY, Condition, find, merge, parse_conditions, transitions
from horizon_publisher.reconcile.outcome import EventNote, Outcome
from horizon_publisher.validation import Problem

INVALID_SPEC = "InvalidSpec"
# A condition message may hold 32768 bytes; a spec with 128 bad container names makes far more problems.
MAX_PROBLEMS = 10
MAX_MESSAGE = 4096


def first_look(
    body: Mapping[str, Any],
    *,
    condition_types: Sequence[str],
    problems: Sequence[Problem],
    pending_message: str,
    now: datetime,
) -> Outcome:
    """Conditions for a spec that was just judged: Ready=False on bad input, else all Unknown.

    Conditions the kind no longer reports (another provider, a removed pattern) are dropped; the
    others keep their lastTransitionTime while their status holds.
    """
    generation = int(_obj(body.get("metadata")).get("generation") or 0)
    before = parse_conditions(_obj(body.get("status")).get("conditions"))
    kept = [c for c in before if c.type in condition_types]
    if problems:
        message = problems_message(problems)
        ready = Condition(READY, "False", INVALID_SPEC, message)
        rest = [
            Condition(t, "Unknown", INVALID_SPEC, "waiting for a valid spec") for t in condition_types if t != READY
        ]
    else:
        ready = Condition(READY, "Unknown", "Pending", pending_message)
        rest = [
            Condition(t, "Unknown", "Pending", "not evaluated yet")
            for t in condition_types
            if t != READY and find(kept, t) is None
        ]
    after = merge(kept, [ready, *rest], generation=generation, now=now)
    after.sort(key=lambda condition: condition_types.index(condition.type))
    return Outcome(conditions=after, events=_events(before, after))


def problems_message(problems: Sequence[Problem]) -> str:
    """The first problems, joined, within a size a status (and an Event) always takes."""
    shown = "; ".join(str(problem) for problem in problems[:MAX_PROBLEMS])
    if len(shown) > MAX_MESSAGE:
        shown = shown[: MAX_MESSAGE - 1] + "…"
    hidden = len(problems) - MAX_PROBLEMS
    return f"{shown}; and {hidden} more problem(s)" if hidden > 0 else shown


def suspended(body: Mapping[str, Any], *, condition_types: Sequence[str], now: datetime) -> Outcome:
    """spec.suspend: nothing is reconciled; Ready says so, the other conditions keep their last word."""
    generation = int(_obj(body.get("metadata")).get("generation") or 0)
    before = [c for c in parse_conditions(_obj(body.get("status")).get("conditions")) if c.type in condition_types]
    ready = Condition(READY, "Unknown", "Suspended", "spec.suspend is true: nothing is reconciled")
    after = merge(before, [ready], generation=generation, now=now)
    after.sort(key=lambda condition: condition_types.index(condition.type))
    return Outcome(conditions=after)


def _events(before: Sequence[Condition], after: Sequence[Condition]) -> list[EventNote]:
    ready_changes = [c for c in transitions(before, after) if c.type == READY]
    if not ready_changes:
        return []
    ready = ready_changes[0]
    if ready.reason == INVALID_SPEC:
        return [EventNote("Warning", INVALID_SPEC, ready.message)]
    previous = find(before, READY)
    if previous is not None and previous.reason == INVALID_SPEC:
        return [EventNote("Normal", "SpecAccepted", "the spec is valid again")]
    return []


def spec_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return _obj(body.get("spec"))


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
