"""Folding step results into conditions: Ready, the blocker's reason, waits, Events once."""

from __future__ import annotations

from datetime import UTC, datetime

from horizon_publisher.reconcile.steps import Progress, failed, ok, waiting

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TYPES = ("Ready", "A", "B", "C")
BODY = {"metadata": {"generation": 3}, "status": {}}


def test_all_true_is_ready_reconciled() -> None:
    progress = Progress(TYPES)
    for name in ("A", "B", "C"):
        progress.add(ok(name, "Fine"))
    outcome = progress.outcome(BODY, now=NOW)
    assert next((c.type, c.status, c.reason) for c in outcome.conditions) == ("Ready", "True", "Reconciled")
    assert outcome.retry_after is None
    assert [(e.type, e.reason) for e in outcome.events] == [("Normal", "Ready")]


def test_a_wait_stops_later_steps_and_asks_for_a_retry() -> None:
    progress = Progress(TYPES)
    assert progress.add(ok("A", "Fine"))
    assert not progress.add(waiting("B", "WaitingForX", "x is coming", 2.0))
    outcome = progress.outcome(BODY, now=NOW)
    by_type = {c.type: c for c in outcome.conditions}
    assert (by_type["Ready"].status, by_type["Ready"].reason) == ("Unknown", "WaitingForX")  # in flight, not failed
    assert (by_type["C"].status, by_type["C"].message) == ("Unknown", "waiting for B")
    assert outcome.retry_after == 2.0
    assert outcome.events == []  # waiting is not news


def test_a_failure_posts_one_warning_then_stays_quiet() -> None:
    progress = Progress(TYPES)
    progress.add(failed("A", "Broken", "it broke"))
    first = progress.outcome(BODY, now=NOW)
    assert [(e.type, e.reason) for e in first.events] == [("Warning", "Broken")]
    again = Progress(TYPES)
    again.add(failed("A", "Broken", "it broke"))
    body = {**BODY, "status": {"conditions": [c.to_dict() for c in first.conditions]}}
    assert again.outcome(body, now=NOW).events == []


def test_leaving_an_invalid_spec_is_announced_once() -> None:
    invalid = {"type": "Ready", "status": "False", "reason": "InvalidSpec", "message": "m", "lastTransitionTime": "t"}
    progress = Progress(TYPES)
    progress.add(failed("A", "Broken", "it broke"))
    events = progress.outcome({**BODY, "status": {"conditions": [invalid]}}, now=NOW).events
    assert [(e.type, e.reason) for e in events] == [("Normal", "SpecAccepted"), ("Warning", "Broken")]


def test_turning_tls_verification_off_warns_once_per_generation() -> None:
    spec = {
        "registry": {"generic": {"host": "r.example", "tls": {"insecureSkipTLSVerify": True}}},
        "image": {"source": {"reference": "q.example/x:1", "tls": {"insecureSkipTLSVerify": False}}},
    }
    body = {"metadata": {"generation": 3}, "spec": spec, "status": {"observedGeneration": 2}}
    progress = Progress(TYPES)
    progress.add(ok("A", "Fine"))
    warned = [e for e in progress.outcome(body, now=NOW).events if e.reason == "InsecureTLS"]
    assert [(e.type, e.message.split(":")[0]) for e in warned] == [
        ("Warning", "TLS certificate verification is off for spec.registry.generic.tls")
    ]
    seen = {**body, "status": {"observedGeneration": 3}}
    assert not [e for e in Progress(TYPES).outcome(seen, now=NOW).events if e.reason == "InsecureTLS"]
