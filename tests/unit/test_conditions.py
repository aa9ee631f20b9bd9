"""Conditions: lastTransitionTime moves only on a status flip; generation is stamped; order is stable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from horizon_publisher.conditions import (
    Condition,
    merge,
    parse_conditions,
    same_content,
    timestamp,
    transitions,
    unknown_for,
)

T0 = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_timestamp_is_rfc3339_utc_seconds() -> None:
    local = datetime(2026, 11, 27, 13, 0, 0, 999, tzinfo=UTC).astimezone(timezone(timedelta(hours=1)))
    assert timestamp(local) == "2026-11-27T13:00:00Z"


@pytest.mark.parametrize(
    ("before", "after", "moves"),
    [
        ("Unknown", "Unknown", False),
        ("Unknown", "True", True),
        ("True", "True", False),
        ("True", "False", True),
        ("False", "Unknown", True),
    ],
)
def test_last_transition_time_moves_only_on_status_flip(before: str, after: str, moves: bool) -> None:
    first = merge([], [Condition("Ready", before, "A")], generation=1, now=T0)  # type: ignore[arg-type]
    second = merge(first, [Condition("Ready", after, "B", "m")], generation=2, now=T1)  # type: ignore[arg-type]
    assert second[0].last_transition_time == (timestamp(T1) if moves else timestamp(T0))
    assert second[0].observed_generation == 2
    assert (second[0].reason, second[0].message) == ("B", "m")


def test_merge_keeps_order_and_appends_new_types() -> None:
    current = merge([], unknown_for(["Ready", "A"], reason="R", message=""), generation=1, now=T0)
    merged = merge(current, [Condition("B", "True", "Ok"), Condition("Ready", "True", "Ok")], generation=1, now=T1)
    assert [c.type for c in merged] == ["Ready", "A", "B"]


def test_round_trip_through_dicts_and_garbage_tolerance() -> None:
    conditions = merge([], [Condition("Ready", "False", "Bad", "why")], generation=3, now=T0)
    raw = [c.to_dict() for c in conditions] + [{"status": "True"}, "junk", {"type": "X", "status": "maybe"}]
    parsed = parse_conditions(raw)
    assert parsed[0] == conditions[0]
    assert parsed[1] == Condition("X", "Unknown", "", "", "", 0)
    assert parse_conditions(None) == []


def test_transitions_report_status_or_reason_changes_only() -> None:
    before = merge([], [Condition("Ready", "False", "Bad", "one")], generation=1, now=T0)
    same_reason = merge(before, [Condition("Ready", "False", "Bad", "two")], generation=1, now=T1)
    new_reason = merge(before, [Condition("Ready", "False", "Worse")], generation=1, now=T1)
    assert transitions(before, same_reason) == []
    assert [c.reason for c in transitions(before, new_reason)] == ["Worse"]
    assert not same_content(before, same_reason)
    assert same_content(before, list(before))
