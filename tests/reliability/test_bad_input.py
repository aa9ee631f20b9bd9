"""The bad-input corpus (tests/reliability/bad_input_cases.py) against one sandbox and operator at once.

Every case is either refused by the API server (``kubectl apply``, strict field validation) or ends with the
condition it names, a message saying why and a Warning Event; meanwhile a canary image and publication stay
Ready and keep following their spec, nothing is written anywhere a resource may not touch (Kubernetes objects
and the Exchange org, diffed before and after), and the operator neither restarts nor logs a traceback.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

import pytest

from tests.e2e.publication_support import Publisher
from tests.e2e.service_image_support import cluster_with_operator, condition, describe_conditions
from tests.reliability.bad_input_cases import CORPUS
from tests.reliability.bad_input_model import Case, Rejected, Settles
from tests.reliability.bad_input_run import Run, crashes, describe, execute, expected_event, publishes

# Values planted in the corpus's inputs: no condition or Event may repeat them.
PLANTED = ("hunter2", "pass\u0000word", "X-Injected", "BEGIN RSA PRIVATE KEY", "not-a-valid-key-0123456789")
MAX_MESSAGE = 32768  # status.conditions[].message maxLength in both CRDs


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    with cluster_with_operator(tmp_path_factory.mktemp("bad-input")) as cluster:
        publisher = Publisher(cluster)
        try:
            yield execute(cluster, publisher)
        finally:
            publisher.close()


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case.gap)] if case.gap else []
    return pytest.param(case, id=case.id, marks=marks)


def test_the_corpus_is_big_enough_and_every_kind_of_expectation_is_there() -> None:
    kinds = collections.Counter((type(c.expect).__name__, c.kind) for c in CORPUS)
    assert len(CORPUS) >= 60, kinds
    assert all(kinds[(expect, kind)] >= 10 for expect in ("Rejected", "Settles") for kind in ("esi", "epub")), kinds


@pytest.mark.parametrize("case", [_param(c) for c in CORPUS if isinstance(c.expect, Rejected)])
def test_rejected_by_the_api_server(run: Run, case: Case) -> None:
    result = run.results[case.id]
    assert isinstance(case.expect, Rejected)
    assert result.applied_rc not in (None, 0), f"accepted: {describe(result.resource)}"
    assert case.expect.fragment in result.applied_error, result.applied_error
    if case.before is None:
        assert result.resource is None, "the object exists anyway"
    else:  # the first version stays as it was
        assert result.resource is not None
        assert result.resource["metadata"]["generation"] == 1, describe(result.resource["spec"])


@pytest.mark.parametrize("case", [_param(c) for c in CORPUS if isinstance(c.expect, Settles)])
def test_settles_on_a_precise_condition_with_an_event(run: Run, case: Case) -> None:
    result = run.results[case.id]
    expect = case.expect
    assert isinstance(expect, Settles)
    if result.input_rejected:  # a real API server refuses such a Secret: the best outcome there is
        return
    found = condition(result.resource, expect.condition)
    assert result.settled_after is not None, (
        f"never reached {expect.condition}={expect.status}/{expect.reason}; {describe_conditions(result.resource)}"
    )
    assert expect.fragment in found.get("message", ""), describe_conditions(result.resource)
    if expect.status == "False":
        assert found.get("message"), "the condition does not say why"
    event = expected_event(expect)
    if event is not None:
        warnings = {str(e.get("reason")): str(e.get("message")) for e in result.events if e.get("type") == "Warning"}
        assert event in warnings, f"no Warning Event {event}; saw {sorted(warnings)}"
    texts = [str(c.get("message")) for c in (result.resource or {}).get("status", {}).get("conditions") or []]
    texts += [str(e.get("message")) for e in result.events]
    assert all(len(text) <= MAX_MESSAGE for text in texts)
    assert not [p for p in PLANTED if any(p in text for text in texts)], "a planted value is quoted back"


def test_canary_stayed_ready_and_followed_its_spec(run: Run) -> None:
    assert run.canary.samples >= 10, f"the canary was read only {run.canary.samples} times"
    assert run.canary.lapses == [], run.canary.lapses[:10]
    assert run.canary_followed == {"image": "", "publication": ""}, run.canary_followed


def _gap_owners(run: Run) -> set[tuple[str, str]]:
    return {(r.where.namespace, r.case.name) for r in run.results.values() if r.case.gap}


def _allowed(run: Run) -> dict[tuple[str, str, str], tuple[str, str]]:
    """Objects a valid resource may write next to itself -> that resource (namespace, name)."""
    allowed = {}
    for result in run.results.values():
        expect = result.case.expect
        if isinstance(expect, Settles) and not result.case.gap:
            for write in expect.writes:
                plural, name = write.format(name=result.case.name).split("/", 1)
                allowed[(result.where.namespace, plural, name)] = (result.where.namespace, result.case.name)
    return allowed


def test_nothing_written_outside_what_each_resource_may_touch(run: Run) -> None:
    allowed, gaps = _allowed(run), _gap_owners(run)
    unexpected = {
        key: what
        for key, what in run.kube_changes.items()
        if key not in allowed and run.owners_after.get(key) not in gaps
    }
    assert unexpected == {}, "written although no resource may write it"
    wrong_owner = {key: run.owners_after.get(key) for key in run.kube_changes if key in allowed}
    assert {k: v for k, v in wrong_owner.items() if v != allowed[k]} == {}, "not labelled as its resource's"


def test_gap_cases_wrote_nothing_either(run: Run) -> None:
    gaps = _gap_owners(run)
    assert [key for key in run.kube_changes if run.owners_after.get(key) in gaps] == []


def test_exchange_holds_only_what_valid_resources_publish(run: Run) -> None:
    allowed = publishes(run)
    before, after = run.exchange_before, run.exchange_after
    differences = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert [k for k in differences if k not in allowed] == []
    assert sorted(k for k in allowed if k not in after) == [], "a valid resource did not publish"


def test_operator_kept_running_without_a_traceback(run: Run) -> None:
    assert run.operator_alive, "the operator process restarted or died"
    tolerated = [r.case.crash for r in run.results.values() if r.case.crash]
    found = [block for block in crashes(run.operator_log) if not any(crash in block for crash in tolerated)]
    assert found == [], "\n\n".join(found[:3])
    assert run.seconds < 150, f"the corpus took {run.seconds:.0f} s"


KOPF_LOG = """2026-11-28 01:39:11,876 DEBUG   kopf.objects: Merge-patching the resource with: {}
2026-11-28 01:39:11,986 ERROR   kopf.objects: Throttling for 1 seconds due to an unexpected error: APIError('x')
Traceback (most recent call last):
  File "kopf/_cogs/clients/errors.py", line 196, in check_response
kopf._cogs.clients.errors.APIUnprocessableEntityError: ('too long',)
2026-11-28 01:39:11,988 ERROR   kopf.objects: Handler 'reconcile_publication' failed temporarily: ServicePublished
2026-11-28 01:39:12,000 ERROR   kopf.objects: Handler 'reconcile_publication' failed with an exception. Will retry.
Traceback (most recent call last):
UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte
2026-11-28 01:39:12,100 INFO    kopf.objects: Timer 'resync_publication' succeeded.
"""


def test_the_crash_detector_finds_every_traceback_and_handler_failure() -> None:
    found = crashes(KOPF_LOG)
    assert len(found) == 2
    assert "Throttling" in found[0]
    assert "APIUnprocessableEntityError" in found[0]
    assert found[1].splitlines()[-1].startswith("UnicodeDecodeError")
    assert crashes(KOPF_LOG.replace("Traceback", "Trace").replace("with an exception", "")) == []
