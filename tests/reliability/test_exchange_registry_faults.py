"""Exchange and registry faults at every position of the publish sequence: the operator recovers, within a
bound, to exactly the desired state in the Exchange (see ``fault_matrix.py`` for the matrix,
``fault_run.py`` for a scenario's timeline and ``fault_invariants.py`` for what must hold).

Every scenario runs at the same time as the others against one operator, each with its own publication
(and, for registry faults, its own image repository); the module fixture runs them all, then each test
reports one scenario. ``HORIZON_PUBLISHER_WRITE_RELIABILITY=1`` writes the table to
``docs/reliability.md`` (section "Exchange and registry faults") and ``docs/reliability-faults.json``.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from horizon_publisher.sandbox import processes
from tests.e2e.publication_cases import unrelated_service
from tests.e2e.publication_support import LONG_LIVED, ImageWanted, ReadyImage, exchange_snapshot, ready_images
from tests.e2e.service_image_kube import Token
from tests.e2e.service_image_support import merged
from tests.reliability import fault_report
from tests.reliability.fault_cluster import FaultyCluster
from tests.reliability.fault_invariants import secrets_in
from tests.reliability.fault_matrix import Scenario, scenarios
from tests.reliability.fault_run import Outcome, run_scenario
from tests.reliability.fault_starvation import HUNG, fresh_publication_delay

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

CONCURRENCY = 20  # scenarios at a time
HUNG_AT_ONCE = 4  # of which timeouts (see the fixture)
STARVATION_BOUND = 20.0  # seconds to Ready for a healthy publication while others hang (under 1 s when idle)
MATRIX_BOUND = 300.0  # seconds for the whole matrix (images included) on 2 cores
PINNED = merged(LONG_LIVED, {"image": {"followTag": False}})  # resolved once: the registry sees only the check
SCENARIOS = scenarios()


@dataclass
class Matrix:
    outcomes: dict[str, Outcome]
    wall_seconds: float
    images: dict[str, ReadyImage]
    unrelated: tuple[str, dict[str, Any]]
    starved: tuple[int, float | None] | None = None  # (hung, a healthy publication's seconds to Ready)


def _image_key(index: int, scenario: Scenario) -> str:
    return f"r{index}" if scenario.needs_own_image else "exchange"


def _run(faulty: FaultyCluster, scenario: Scenario, index: int, image: ReadyImage) -> Outcome:
    try:
        return run_scenario(faulty, scenario, index, image)
    except Exception as error:  # one broken scenario must not hide the others' results
        return Outcome(scenario, problems=[f"scenario crashed: {type(error).__name__}: {str(error)[:300]}"])


@pytest.fixture(scope="module")
def matrix(faulty_sandbox: FaultyCluster) -> Matrix:
    started = time.monotonic()
    publisher = faulty_sandbox.publisher
    unrelated = unrelated_service(publisher)
    indexed = list(enumerate(SCENARIOS))
    wanted = [ImageWanted("exchange", spec=PINNED)]
    wanted += [ImageWanted(_image_key(i, s), spec=PINNED) for i, s in indexed if s.needs_own_image]
    images = ready_images(faulty_sandbox.cluster, wanted)
    for image in images.values():
        publisher.prepare(image.namespace)
    # A timeout holds an operator worker for the client's 30 s (and the object's resync timer a second one,
    # waiting for the object's lock): only a few at a time, in a pool of their own started first, so that
    # they do not starve the operator's 16 workers and every row measures its own fault.
    with (
        ThreadPoolExecutor(HUNG_AT_ONCE, thread_name_prefix="fault-hung") as hung,
        ThreadPoolExecutor(CONCURRENCY - HUNG_AT_ONCE, thread_name_prefix="fault-scenario") as pool,
    ):
        futures = {
            scenario.key: (hung if scenario.fault.kind == "timeout" else pool).submit(
                _run, faulty_sandbox, scenario, index, images[_image_key(index, scenario)]
            )
            for index, scenario in sorted(indexed, key=lambda pair: pair[1].fault.kind != "timeout")
        }
        outcomes = {key: future.result() for key, future in futures.items()}
    wall = time.monotonic() - started
    ordered = {s.key: outcomes[s.key] for s in SCENARIOS}
    return Matrix(ordered, wall, images, unrelated)


@pytest.mark.parametrize("key", [s.key for s in SCENARIOS])
def test_recovers_to_exactly_the_desired_state(matrix: Matrix, key: str) -> None:
    outcome = matrix.outcomes[key]
    assert outcome.recovered, f"{key}: not recovered; Ready reasons seen {outcome.reasons_seen}; {outcome.problems}"
    assert not outcome.problems, f"{key}: {outcome.problems}"


def test_nothing_the_operator_did_not_create_was_touched(matrix: Matrix, faulty_sandbox: FaultyCluster) -> None:
    sid, before = matrix.unrelated
    assert exchange_snapshot(faulty_sandbox.publisher, sid) == before


def test_no_secret_in_the_operator_log(matrix: Matrix, faulty_sandbox: FaultyCluster) -> None:
    planted = [faulty_sandbox.publisher.password, *(image.auth.token for image in matrix.images.values())]
    assert planted, "nothing to look for"
    assert all(isinstance(secret, Token) for secret in planted)
    assert not secrets_in(faulty_sandbox.cluster.operator.log(), planted)


def test_the_operator_kept_running(matrix: Matrix, faulty_sandbox: FaultyCluster) -> None:
    assert processes.is_running(faulty_sandbox.cluster.operator.tracked), "the operator process died"
    assert matrix.wall_seconds < MATRIX_BOUND, f"the matrix took {matrix.wall_seconds:.0f} s"


def test_hung_exchange_calls_do_not_starve_other_publications(matrix: Matrix, faulty_sandbox: FaultyCluster) -> None:
    seconds = fresh_publication_delay(faulty_sandbox, matrix.images["exchange"])
    matrix.starved = (HUNG, seconds)
    assert seconds is not None, f"not Ready within a minute while {HUNG} others hung"
    assert seconds < STARVATION_BOUND, f"Ready after {seconds:.1f} s"


def test_recovery_table(matrix: Matrix) -> None:
    outcomes = list(matrix.outcomes.values())
    section = fault_report.render_section(
        outcomes, wall_seconds=matrix.wall_seconds, concurrency=CONCURRENCY, starved=matrix.starved
    )
    for position in fault_report.POSITIONS:
        assert f"| {position} |" in section
    assert section.count("\n| ") >= len(fault_report.POSITIONS) + len(outcomes)
    if os.environ.get("HORIZON_PUBLISHER_WRITE_RELIABILITY") == "1":
        fault_report.write(outcomes, wall_seconds=matrix.wall_seconds, concurrency=CONCURRENCY, starved=matrix.starved)
