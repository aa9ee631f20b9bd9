"""Status bookkeeping between handler runs: only changed fields are written; the last write wins reads."""

from __future__ import annotations

import kopf

from horizon_publisher.conditions import Condition
from horizon_publisher.handlers.common import apply_outcome, changed_fields, forget, fresh
from horizon_publisher.handlers.context import OperatorContext
from horizon_publisher.reconcile.outcome import Outcome


def test_changed_fields_only() -> None:
    assert changed_fields({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {"b": 3, "c": 4}


def test_a_stale_snapshot_reads_the_status_written_last() -> None:
    memo = kopf.Memo(context=OperatorContext(kube=None))  # type: ignore[arg-type]
    stale = kopf.Body({"metadata": {"uid": "u1", "generation": 1}, "status": {"pattern": {"id": "o/p"}}})
    patch = kopf.Patch()
    outcome = Outcome(conditions=[Condition("Ready", "True", "Reconciled")], status_fields={"pattern": {"id": "o/q"}})
    apply_outcome(outcome, stale, patch, memo)
    assert patch["status"]["pattern"] == {"id": "o/q"}
    assert fresh(memo, stale)["status"]["pattern"] == {"id": "o/q"}
    forget(memo, stale)
    assert fresh(memo, stale)["status"]["pattern"] == {"id": "o/p"}
