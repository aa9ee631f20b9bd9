"""One fault scenario end to end: arm the fault, apply a publication, let the fault fire and clear, measure the
time until Ready, then check what the Exchange holds and delete the publication.

Timeline (``time.monotonic`` in this process, as the proxy records it): the fault ends when the last
faulted request ended (answered, reset, or given up by the client); recovery is the start of the streak
of Ready=True polls that follows it and lasts to the end of a stability window (two resyncs), so a Ready
read just before the operator noticed the fault does not count. A fault that retries inside one call
hid is recovered in 0 s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from horizon_publisher.sandbox.fault_http import FaultHTTPProxy, Rule
from tests.e2e.publication_support import ReadyImage, epub_path, publication, service_url, sid_of
from tests.e2e.service_image_kube import GROUP, VERSION
from tests.e2e.service_image_support import RESYNC_SECONDS, condition
from tests.reliability.fault_cluster import FaultyCluster
from tests.reliability.fault_invariants import exchange_problems, removal_problems
from tests.reliability.fault_matrix import UPDATED, Names, Scenario, rule_for

RECOVERY_BOUND = 90.0  # seconds from the fault clearing to Ready: beyond it the scenario fails
FIRE_BOUND = 60.0  # seconds from apply for the first fault to fire
FAULT_WINDOW = 20.0  # a fault lasts until its requests are used up or this long after it first fired
STABLE = 2 * RESYNC_SECONDS + 1.0  # Ready must hold this long (two resyncs) to count
POLL = 0.5
PEAK_PER_SECOND = 8  # more matching requests than this within one second is a retry storm


@dataclass
class Outcome:
    scenario: Scenario
    recovered: bool = False
    seconds_to_recover: float | None = None  # fault cleared -> Ready
    seconds_total: float | None = None  # publication applied -> Ready
    seconds_to_first_status: float | None = None  # publication applied -> its first status (the watch's delay)
    seconds_to_delete: float | None = None  # delete -> gone (finalizer done)
    faults_fired: int = 0
    requests_at_position: int = 0
    reasons_seen: list[str] = field(default_factory=list)  # Ready reasons while not Ready
    problems: list[str] = field(default_factory=list)


def names_for(fc: FaultyCluster, index: int, image: ReadyImage) -> Names:
    url = service_url(f"f{index}")
    suffix = url.rsplit(".", 1)[1]
    return Names(
        org=fc.publisher.org,
        url=url,
        sid=sid_of(url, "amd64"),
        pattern=f"pattern-{suffix}",
        policy=f"policy-{suffix}",
        repository=image.repository("amd64"),
    )


def manifest_for(fc: FaultyCluster, name: str, names: Names, image: ReadyImage) -> dict[str, Any]:
    exchange = {"url": fc.exchange_url, "org": names.org}
    spec = {
        "pattern": {"name": names.pattern},
        "deploymentPolicy": {"name": names.policy, "constraints": ['purpose == "reliability"']},
    }
    return publication(name, image.namespace, exchange, url=names.url, image=image.name, spec=spec)


class _Watch:
    """Polls one publication; remembers (time, Ready?) and the reasons it showed while not Ready."""

    def __init__(self, fc: FaultyCluster, namespace: str, name: str, outcome: Outcome) -> None:
        self._fc, self._path, self._outcome = fc, epub_path(namespace, name), outcome
        self.history: list[tuple[float, bool]] = []
        self.last: dict[str, Any] | None = None
        self.first_status: float | None = None

    def poll(self) -> bool:
        self.last = self._fc.cluster.kube.get(self._path)
        if self.first_status is None and (self.last or {}).get("status"):
            self.first_status = time.monotonic()
        resource = self.last or {}
        ready = condition(resource, "Ready")
        current = resource.get("metadata", {}).get("generation") == (resource.get("status") or {}).get(
            "observedGeneration"
        )  # a Ready from before the last spec change does not count
        is_ready = current and ready.get("status") == "True" and ready.get("reason") == "Reconciled"
        self.history.append((time.monotonic(), is_ready))
        reason = str(ready.get("reason") or "")
        if current and not is_ready and reason and reason not in self._outcome.reasons_seen:
            self._outcome.reasons_seen.append(reason)
        return is_ready

    def ready_since(self, after: float) -> float | None:
        """Start of the Ready streak that runs to the last poll, not earlier than ``after``."""
        start = None
        for when, ready in self.history:
            if not ready:
                start = None
            elif start is None:
                start = when
        return None if start is None else max(start, after)


def _wait_fault_cleared(proxy: FaultHTTPProxy, rule: Rule, watch: _Watch, applied: float, outcome: Outcome) -> bool:
    """Poll until the fault fired and is used up (or its window passed: then disarm it); False if it never fired."""
    while True:
        watch.poll()
        now = time.monotonic()
        if rule.fired == 0 and now - applied > FIRE_BOUND:
            outcome.problems.append(f"the fault never fired within {FIRE_BOUND:.0f} s ({rule.matched} matching)")
            return False
        if rule.fired and (rule.exhausted or now - rule.starts[0][0] > FAULT_WINDOW):
            proxy.disarm(rule)
            if rule.in_flight() == 0:
                return True
        time.sleep(POLL)


def _wait_recovered(watch: _Watch, cleared: float, outcome: Outcome) -> float | None:
    """The moment Ready started holding after ``cleared``; None if not within the bound."""
    stable_since: float | None = None
    while time.monotonic() - cleared < RECOVERY_BOUND + STABLE:
        if watch.poll():
            stable_since = watch.ready_since(cleared)
            if stable_since is not None and time.monotonic() - stable_since >= STABLE:
                return stable_since
        time.sleep(POLL)
    if stable_since is None:
        outcome.problems.append(f"not Ready {RECOVERY_BOUND:.0f} s after the fault cleared")
    return None


def retry_problems(rule: Rule) -> list[str]:
    """A client's retry sooner than the Retry-After it was told, or a burst of requests at the position.

    A retry is the next request at the position, on any connection: connections are pooled across the
    operator's clients, and the position belongs to one publication, whose other reconciles (resync tick,
    image change) skip it while the one that was told to wait holds its lock."""
    problems = []
    wait = float(rule.fault.retry_after) if rule.fault.retry_after else None
    if wait is not None:
        for ended, _port in rule.fault_ends:
            following = [when for when, _ in rule.starts if when > ended]
            if following and min(following) - ended < wait - 0.25:
                gap = min(following) - ended
                problems.append(f"retried {gap:.2f} s after an answer saying Retry-After {wait:.0f}")
                break
    starts = sorted(when for when, _ in rule.starts)
    peak = max((sum(1 for s in starts if t <= s < t + 1.0) for t in starts), default=0)
    if peak > PEAK_PER_SECOND:
        problems.append(f"retry storm: {peak} requests at the position within one second")
    return problems


def _ready_before_update(watch: _Watch, outcome: Outcome) -> bool:
    deadline = time.monotonic() + RECOVERY_BOUND
    while not watch.poll():
        if time.monotonic() > deadline:
            outcome.problems.append(f"not Ready within {RECOVERY_BOUND:.0f} s before the update (no fault yet)")
            return False
        time.sleep(POLL)
    watch.history.clear()
    return True


def run_scenario(fc: FaultyCluster, scenario: Scenario, index: int, image: ReadyImage) -> Outcome:
    outcome = Outcome(scenario)
    names = names_for(fc, index, image)
    name, namespace = f"fault-{index}", image.namespace
    collection = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/edgepublications"
    proxy = fc.proxies[scenario.backend]
    rule: Rule | None = None
    watch = _Watch(fc, namespace, name, outcome)
    try:
        if scenario.update is not None:  # Ready first; the fault is for the update only
            fc.cluster.kube.create(collection, manifest_for(fc, name, names, image))
            if not _ready_before_update(watch, outcome):
                return outcome
        rule = proxy.add(rule_for(scenario, names))
        applied = time.monotonic()
        if scenario.update is None:
            fc.cluster.kube.create(collection, manifest_for(fc, name, names, image))
        else:
            section, key = scenario.update
            fc.cluster.kube.merge_patch(epub_path(namespace, name), {"spec": {section: {key: UPDATED}}})
        fired = _wait_fault_cleared(proxy, rule, watch, applied, outcome)
        outcome.faults_fired = rule.fired
        if watch.first_status is not None and scenario.update is None:
            outcome.seconds_to_first_status = round(watch.first_status - applied, 1)
        if fired:
            cleared = rule.last_end or time.monotonic()
            ready_at = _wait_recovered(watch, cleared, outcome)
            if ready_at is not None:
                outcome.recovered = True
                outcome.seconds_to_recover = round(ready_at - cleared, 1)
                outcome.seconds_total = round(ready_at - applied, 1)
        outcome.requests_at_position = rule.matched
        outcome.problems += retry_problems(rule)
        if outcome.recovered and watch.last is not None:
            outcome.problems += exchange_problems(fc, scenario, names, image, watch.last)
    finally:
        if rule is not None:
            proxy.remove(rule)
        deleting = time.monotonic()
        outcome.problems += removal_problems(fc, namespace, name, names)
        outcome.seconds_to_delete = round(time.monotonic() - deleting, 1)
    return outcome
