"""The operator SIGKILLed at each step of both reconciles and started again (issue 7): afterwards every
resource is Ready, nothing is duplicated (one project, service account, role binding, token, credentials
Secret, CA ConfigMap and signing key per resource), the Exchange holds exactly one service, our one key and
one dockauth with the current token (no orphan), and ``horizon-publisher verify`` passes.

How a step is caught: the sandbox API holds (``hold`` fault) the operator's first request of that step,
so the process dies with that request parked and never applied; all the held positions, one resource pair
each, die in one kill. The Exchange steps have no Kubernetes request between them: the kill follows the
operator's own debug line for the Exchange request (a few milliseconds late, so the position is "just
after"). The restart uses the same argv and environment. With HORIZON_PUBLISHER_WRITE_RELIABILITY=1 the
table goes to docs/reliability.md, section "Operator killed".
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.publication_support import LONG_LIVED, publication
from tests.e2e.service_image_support import service_image
from tests.reliability.kube_scenarios import (
    NAME,
    READY_BOUND,
    Env,
    Pair,
    both_ready,
    create_pair,
    invariants,
    new_pair,
    push_when_credentialed,
    sandbox_env,
    wait_both_ready,
)
from tests.reliability.kube_support import table, write_section

HOLD_BOUND = 30.0  # seconds for every held position to be reached
SETTLE_AFTER_READY = 4.0


@dataclass(frozen=True)
class Held:
    """Kill with this request of the pair parked (``rule`` without fault); ``image_first``: the pair's
    EdgeServiceImage is Ready before the publication is created (publication steps)."""

    rule: Callable[[Pair], dict[str, Any]]
    image_first: bool = False
    bound: float = READY_BOUND  # seconds to Ready after the restart


@dataclass(frozen=True)
class AfterLog:
    """Kill right after the operator logs this Exchange request of the pair (a publication step)."""

    request: Callable[[Pair], str]  # regex of "METHOD /path" as exchange_http logs it


def _hold(verb: str, resource: str, where: str = "namespace", **more: Any) -> Callable[[Pair], dict[str, Any]]:
    def rule(pair: Pair) -> dict[str, Any]:
        scope = {"namespace": pair.namespace if where == "namespace" else pair.project} if where else {}
        return {"verb": verb, "resource": resource, "fault": "hold", **scope, **more}

    return rule


def _project_rule(verb: str, resource: str) -> Callable[[Pair], dict[str, Any]]:
    return lambda p: {"verb": verb, "resource": resource, "name": p.project, "fault": "hold"}


HELD: dict[str, Held] = {
    "EdgeServiceImage: before kopf adds its finalizer": Held(_hold("patch", "edgeserviceimages")),
    "ProjectReady: before the ProjectRequest": Held(_project_rule("create", "projectrequests")),
    "ProjectReady: project made, before it is labelled ours": Held(_project_rule("patch", "namespaces"), bound=20),
    "ServiceAccountReady: before the ServiceAccount": Held(_hold("create", "serviceaccounts", "project")),
    "RoleBindingReady: before the RoleBinding": Held(_hold("create", "rolebindings", "project")),
    "TokenReady: before the token Secret": Held(_hold("create", "secrets", "project")),
    "CATrusted: before the CA ConfigMap": Held(_hold("create", "configmaps")),
    "CredentialsReady: before the credentials Secret": Held(_hold("create", "secrets")),
    "EdgeServiceImage: before its first status write": Held(_hold("patch", "edgeserviceimages/status")),
    "EdgePublication: before kopf adds its finalizer": Held(_hold("patch", "edgepublications"), image_first=True),
    "Signed: key generated, before its Secret": Held(_hold("create", "secrets"), image_first=True),
    "all published, before the status write": Held(_hold("patch", "edgepublications/status"), image_first=True),
}
AFTER_LOG: dict[str, AfterLog] = {
    "ServicePublished: just after the service PUT": AfterLog(lambda p: rf"(PUT|POST) \S*/services/{re.escape(p.sid)}"),
    "KeyPublished: just after the key PUT": AfterLog(lambda p: rf"PUT \S*/services/{re.escape(p.sid)}/keys/"),
    "CredentialsPublished: just after the dockauth POST": AfterLog(
        lambda p: rf"POST \S*/services/{re.escape(p.sid)}/dockauths"
    ),
}
# A crash between the ProjectRequest and the label patch is recovered through the request's description,
# which names the resource's uid (unit tested in tests/unit/test_project_label_recovery.py too).
KNOWN_GAPS: dict[str, str] = {}
POSITIONS = [
    pytest.param(label, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[label]))
    if label in KNOWN_GAPS
    else label
    for label in [*HELD, *AFTER_LOG]
]
EXCHANGE_WRITE = re.compile(rb"clients\.exchange\w*: (POST|PUT|PATCH|DELETE) \S+ -> HTTP 2\d\d")


@dataclass
class Outcome:
    pair: Pair
    killed_at: float = 0.0
    restarted_at: float = 0.0
    ready_after_restart: float | None = None
    exchange_writes: int | None = None  # Exchange writes logged between the publication's creation and the kill
    problems: list[str] = field(default_factory=list)

    @property
    def recovered(self) -> bool:
        return self.ready_after_restart is not None and not self.problems


def _image_ready(env: Env, pair: Pair) -> None:
    """The pair's EdgeServiceImage created, pushed and Ready; the publication not yet created."""
    env.cluster.apply(service_image(NAME, pair.namespace, pair.project, LONG_LIVED))
    push_when_credentialed(env, pair)
    env.cluster.wait_condition(pair.namespace, NAME, "Ready", "True", timeout=READY_BOUND)


def _create_publication(env: Env, pair: Pair) -> None:
    env.cluster.apply(publication(NAME, pair.namespace, env.publisher.endpoints, url=pair.url))


def _kill_and_restart(env: Env, outcomes: list[Outcome]) -> None:
    env.operator.kill()
    killed = time.time()
    time.sleep(0.6)  # the emulator notices the dead client's held requests before they are released
    env.faults.clear_all()
    env.operator.start()
    for outcome in outcomes:
        outcome.killed_at, outcome.restarted_at = killed, time.time()


def _recover(env: Env, outcome: Outcome, push: bool, bound: float = READY_BOUND) -> None:
    try:
        if push:
            push_when_credentialed(env, outcome.pair, timeout=bound)
        ready = wait_both_ready(env, outcome.pair, timeout=bound)
        outcome.ready_after_restart = ready - outcome.restarted_at
    except AssertionError as error:
        outcome.problems.append(str(error))


def kill_while_held(env: Env) -> dict[str, Outcome]:
    """Every held position in one round: arm, create, wait until each request is parked, kill, restart."""
    outcomes = {label: Outcome(new_pair(env, "ok")) for label in HELD}
    with ThreadPoolExecutor(max_workers=len(HELD)) as pool:
        firsts = [o.pair for label, o in outcomes.items() if HELD[label].image_first]
        list(pool.map(lambda pair: _image_ready(env, pair), firsts))
        ids = {label: env.faults.arm(HELD[label].rule(o.pair))[0] for label, o in outcomes.items()}
        for label, outcome in outcomes.items():
            if HELD[label].image_first:
                _create_publication(env, outcome.pair)
            else:
                create_pair(env, outcome.pair)
        deadline = time.monotonic() + HOLD_BOUND
        while time.monotonic() < deadline and env.faults.hits(*ids.values()) < len(ids):
            time.sleep(0.05)
        hit = {rule["id"] for rule in env.faults.report()["rules"] if rule["hits"]}
        for label, rule_id in ids.items():
            if rule_id not in hit:
                outcomes[label].problems.append(f"the position was never reached within {HOLD_BOUND} s")
        _kill_and_restart(env, list(outcomes.values()))
        jobs = [
            pool.submit(_recover, env, outcome, not HELD[label].image_first, HELD[label].bound)
            for label, outcome in outcomes.items()
        ]
        for job in jobs:
            job.result()
    return outcomes


def _wait_log(env: Env, pattern: str, offset: int, timeout: float = READY_BOUND) -> bool:
    """Tail the operator's log from ``offset`` until ``pattern`` (an Exchange request line) shows up."""
    line = re.compile(rf"clients\.exchange\w*: {pattern}\S* -> HTTP 2\d\d".encode())
    with Path(_log_path(env)).open("rb") as log:
        log.seek(offset)
        seen, deadline = b"", time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = log.read()
            if chunk:
                seen += chunk
                if line.search(seen):
                    return True
            else:
                time.sleep(0.002)
    return False


def _log_path(env: Env) -> str:
    assert env.operator.tracked is not None
    return env.operator.tracked.log


def kill_after_log(env: Env, label: str) -> Outcome:
    outcome = Outcome(new_pair(env, "ok"))
    _image_ready(env, outcome.pair)
    offset = Path(_log_path(env)).stat().st_size
    _create_publication(env, outcome.pair)
    if not _wait_log(env, AFTER_LOG[label].request(outcome.pair), offset):
        outcome.problems.append("the Exchange request was never logged")
    elif both_ready(env, outcome.pair):
        outcome.problems.append("already Ready when killed: the position was missed")
    _kill_and_restart(env, [outcome])
    with Path(_log_path(env)).open("rb") as log:
        log.seek(offset)
        before_restart = log.read().split(b"Initial authentication has finished")[0]
    outcome.exchange_writes = len(EXCHANGE_WRITE.findall(before_restart))
    _recover(env, outcome, push=False)
    return outcome


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    with sandbox_env(tmp_path_factory.mktemp("operator-killed")) as env:
        results = kill_while_held(env)
        for label in AFTER_LOG:
            results[label] = kill_after_log(env, label)
        time.sleep(SETTLE_AFTER_READY)
        alive = env.operator.alive()
        with ThreadPoolExecutor(max_workers=4) as pool:
            checked = [o for o in results.values() if o.ready_after_restart is not None]
            for outcome, problems in zip(checked, pool.map(lambda o: invariants(env, o.pair), checked), strict=True):
                outcome.problems += problems
        for outcome in results.values():
            if not alive:
                outcome.problems.append("the restarted operator died")
        yield results
        _record(results)


def _record(results: dict[str, Outcome]) -> None:
    rows = [
        (
            label,
            "yes" if o.recovered else f"NO: {KNOWN_GAPS.get(label, 'see the test output')}",
            "-" if o.ready_after_restart is None else f"{o.ready_after_restart:.1f}",
            "-" if o.exchange_writes is None else o.exchange_writes,
        )
        for label, o in results.items()
    ]
    header = ("killed (SIGKILL) at", "recovered", "Ready after restart (s)", "Exchange writes done at the kill")
    print("\n" + table(header, rows))
    write_section(
        "Operator killed",
        "Measured by `tests/reliability/test_operator_killed.py` (2 s resync, 2 cores). The operator is "
        "SIGKILLed with the request that starts a step held by the sandbox API (never applied), or just after "
        "its debug line for an Exchange request, then started again with the same arguments. Recovered = both "
        "resources Ready, one project, service account, role binding, token Secret, credentials Secret, CA "
        "ConfigMap and signing key, exactly one service, key and dockauth (the current token) in the Exchange, "
        "`horizon-publisher verify` passes. Held positions die in one kill, side by side. *Exchange writes done at "
        "the kill*: the log-triggered kills land a few milliseconds late (2 after the service PUT: the key PUT "
        "had landed too).\n\n" + table(header, rows),
    )


@pytest.mark.parametrize("label", POSITIONS)
def test_recovers_after_sigkill(outcomes: dict[str, Outcome], label: str) -> None:
    outcome = outcomes[label]
    assert outcome.recovered, f"{label}: " + "; ".join(outcome.problems)
