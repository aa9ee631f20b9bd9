"""Run the whole bad-input corpus at once against one sandbox and operator, next to a canary that must stay
Ready; collect what each case ended with and what changed anywhere (tests/reliability/test_bad_input.py judges).

Order: canary image + publication Ready, the shared publication namespace with a Ready image, case
namespaces and inputs; then snapshots; then every case applied concurrently while the canary is watched and
its spec changed twice; then the wait for every case's expected condition and Event; then snapshots again.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import yaml

from horizon_publisher.sandbox import processes
from tests.e2e.publication_support import (
    EXCHANGE_SECRET,
    ImageWanted,
    Publisher,
    epub_path,
    publication,
    ready_images,
    service_url,
    without_nones,
)
from tests.e2e.service_image_kube import GROUP, VERSION, esi_path
from tests.e2e.service_image_support import RESYNC_SECONDS, Cluster, condition, describe_conditions, merged
from tests.reliability.bad_input_cases import CORPUS
from tests.reliability.bad_input_model import Case, Rejected, Settles, Where, epub_base, esi_base, url_of
from tests.reliability.bad_input_support import (
    Env,
    Materials,
    ObjectKey,
    ReadyWatch,
    changed,
    exchange_snapshot,
    kube_snapshot,
)

SETTLE_DEADLINE = 60.0  # seconds for every case to reach its condition after the last apply
KINDS = {"esi": ("EdgeServiceImage", "edgeserviceimages"), "epub": ("EdgePublication", "edgepublications")}
TIMESTAMPED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@dataclass
class CaseResult:
    case: Case
    where: Where
    applied_rc: int | None = None
    applied_error: str = ""
    input_rejected: str = ""  # the API server refused an input object (acceptable when the case says so)
    resource: dict[str, Any] | None = None  # as last read
    settled_after: float | None = None  # seconds from the apply to the expected condition
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return KINDS[self.case.kind][0]


@dataclass
class Run:
    env: Env
    results: dict[str, CaseResult]
    kube_changes: dict[ObjectKey, str]
    owners_after: dict[ObjectKey, tuple[str, str] | None]
    exchange_before: dict[str, Any]
    exchange_after: dict[str, Any]
    canary: ReadyWatch
    canary_followed: dict[str, str]  # what the canary did with each spec change ("" = followed)
    operator_log: str
    operator_alive: bool
    seconds: float


def manifest(case: Case, where: Where, *extra: Mapping[str, Any]) -> dict[str, Any]:
    kind, _ = KINDS[case.kind]
    base = esi_base(case, where) if case.kind == "esi" else epub_base(where)
    spec: dict[str, Any] = base
    for layer in extra:
        spec = merged(spec, layer)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": case.name, "namespace": where.namespace},
        "spec": without_nones(spec),
    }


def _path(result: CaseResult) -> str:
    _, plural = KINDS[result.case.kind]
    return f"/apis/{GROUP}/{VERSION}/namespaces/{result.where.namespace}/{plural}/{result.case.name}"


def _arrange(cluster: Cluster, result: CaseResult) -> None:
    for body in result.case.inputs(result.where):
        plural = "secrets" if body["kind"] == "Secret" else "configmaps"
        try:
            cluster.kube.create(f"/api/v1/namespaces/{result.where.namespace}/{plural}", body)
        except AssertionError as error:
            if not result.case.input_may_be_rejected:
                raise
            result.input_rejected = str(error)


def _apply(cluster: Cluster, result: CaseResult) -> None:
    case, where = result.case, result.where
    if result.input_rejected:
        return  # nothing to apply: the API server already refused the bad input itself
    layers: list[Mapping[str, Any]] = []
    if case.before is not None:
        before = case.before(where) if callable(case.before) else case.before
        layers.append(before)
        cluster.apply(manifest(case, where, before))
    layers.append(case.spec_for(where))
    text = yaml.safe_dump(manifest(case, where, *layers))
    done = cluster.sandbox.kubectl("apply", "--validate=strict", "-f", "-", input_text=text, check=False)
    result.applied_rc, result.applied_error = done.returncode, done.stderr


def _matches(expect: Settles, resource: Mapping[str, Any] | None) -> bool:
    found = condition(resource, expect.condition)
    return (found.get("status"), found.get("reason")) == (expect.status, expect.reason)


def _settle(cluster: Cluster, pending: list[CaseResult], started: float) -> None:
    """Poll both kinds cluster-wide until every non-gap case shows its expected condition."""
    deadline = time.monotonic() + SETTLE_DEADLINE
    while pending and time.monotonic() < deadline:
        seen: dict[tuple[str, str, str], dict[str, Any]] = {}
        for kind, plural in KINDS.values():
            for obj in cluster.kube.list(f"/apis/{GROUP}/{VERSION}/{plural}"):
                meta = obj["metadata"]
                seen[(kind, meta["namespace"], meta["name"])] = obj
        for result in list(pending):
            result.resource = seen.get((result.kind, result.where.namespace, result.case.name))
            assert isinstance(result.case.expect, Settles)
            if _matches(result.case.expect, result.resource):
                result.settled_after = time.monotonic() - started
                pending.remove(result)
        if all(r.case.gap for r in pending):
            return  # a gap case never settles as it should: do not wait the deadline out for it
        time.sleep(0.5)


def _collect_events(cluster: Cluster, results: list[CaseResult]) -> None:
    wanted = [r for r in results if isinstance(r.case.expect, Settles) and r.settled_after is not None]
    deadline = time.monotonic() + 10
    while True:
        events = cluster.kube.list("/api/v1/events")
        for result in wanted:
            result.events = [
                e
                for e in events
                if (e.get("involvedObject") or {}).get("name") == result.case.name
                and (e.get("involvedObject") or {}).get("namespace") == result.where.namespace
                and (e.get("involvedObject") or {}).get("kind") == result.kind
            ]
        missing = [r for r in wanted if expected_event(r.case.expect) not in {None, *_reasons(r)}]
        if not missing or time.monotonic() > deadline:
            return
        time.sleep(0.5)


def expected_event(expect: Rejected | Settles) -> str | None:
    if not isinstance(expect, Settles):
        return None
    if expect.event is not None:
        return expect.event
    return expect.reason if expect.status == "False" else None


def _reasons(result: CaseResult) -> set[str]:
    return {str(e.get("reason")) for e in result.events if e.get("type") == "Warning"}


def _canary(cluster: Cluster, publisher: Publisher) -> tuple[str, str, str]:
    """(namespace, project, shared namespace): the canary image and publication Ready, the shared image Ready."""
    images = ready_images(cluster, [ImageWanted("canary"), ImageWanted("cases")])
    canary, shared = images["canary"], images["cases"]
    for image in (canary, shared):
        publisher.prepare(image.namespace)
    cluster.apply(publication("canary", canary.namespace, publisher.endpoints, url=service_url("canary")))
    publisher.wait_ready(canary.namespace, "canary")
    credentials = cluster.kube.get(f"/api/v1/namespaces/{canary.namespace}/secrets/{EXCHANGE_SECRET}")
    assert credentials is not None
    body = {"metadata": {"name": "exchange-credentials-elsewhere"}, "type": "Opaque", "data": credentials["data"]}
    cluster.kube.create(f"/api/v1/namespaces/{canary.namespace}/secrets", body)
    return canary.namespace, canary.project, shared.namespace


def _change_canary(cluster: Cluster, publisher: Publisher, namespace: str) -> dict[str, str]:
    """Two spec changes that write nothing anywhere: both must be reconciled (observedGeneration, Ready)."""
    changes: dict[str, tuple[str, dict[str, Any]]] = {
        "image": (esi_path(namespace, "hello"), {"spec": {"image": {"pollIntervalSeconds": 299}}}),
        "publication": (epub_path(namespace, "canary"), {"spec": {"registryCredentials": {"verify": False}}}),
    }
    outcome = {}
    for label, (path, patch) in changes.items():
        generation = cluster.kube.merge_patch(path, patch)["metadata"]["generation"]
        deadline, last = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            last = cluster.kube.get(path)
            status = (last or {}).get("status") or {}
            if status.get("observedGeneration") == generation and condition(last, "Ready").get("status") == "True":
                break
            time.sleep(0.3)
        else:
            outcome[label] = f"not reconciled to generation {generation}: {describe_conditions(last)}"
            continue
        outcome[label] = ""
    return outcome


def _place(cluster: Cluster, env: Env) -> dict[str, CaseResult]:
    rejected_namespace = cluster.namespace("bi-rejected")
    results = {}
    for case in CORPUS:
        if isinstance(case.expect, Rejected):
            namespace = rejected_namespace if case.kind == "esi" else env.shared_namespace
        else:
            namespace = env.shared_namespace if case.kind == "epub" else cluster.namespace("bi-esi")
        results[case.id] = CaseResult(case, Where(env, namespace, case.name))
    return results


def execute(cluster: Cluster, publisher: Publisher) -> Run:
    canary_namespace, canary_project, shared = _canary(cluster, publisher)
    materials = Materials()
    for made in ("valid", "pkcs8", "encrypted", "ec_sec1", "ec_pkcs8", "small_rsa", "other_certificate",
                 "rsa_public_pkcs1", "expired_certificate", "ca_certificate"):  # fmt: skip
        getattr(materials, made)  # make them all now, not while cases are timed
    endpoints = cluster.sandbox.endpoints
    victim = cluster.namespace("bi-victim")
    cluster.kube.create(f"/api/v1/namespaces/{victim}/configmaps", {"metadata": {"name": "team-settings"}, "data": {}})
    env = Env(endpoints["exchange"], endpoints["ibmCloud"], shared, canary_namespace, canary_project, victim, materials)
    results = _place(cluster, env)
    for result in results.values():
        _arrange(cluster, result)
    time.sleep(0.5)
    kube_before, exchange_before = kube_snapshot(cluster.kube), exchange_snapshot(env.exchange)
    pid = cluster.operator.tracked.pid

    def read_canary() -> dict[str, Mapping[str, Any] | None]:
        return {
            "canary image": cluster.kube.get(esi_path(canary_namespace, "hello")),
            "canary publication": cluster.kube.get(epub_path(canary_namespace, "canary")),
        }

    watch = ReadyWatch(read_canary)
    watch.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda r: _apply(cluster, r), results.values()))
        followed = _change_canary(cluster, publisher, canary_namespace)
        pending = [r for r in results.values() if isinstance(r.case.expect, Settles) and not r.input_rejected]
        _settle(cluster, pending, started)
        _collect_events(cluster, list(results.values()))
        time.sleep(2 * RESYNC_SECONDS)  # a few more resyncs: a late write would show in the snapshots
    finally:
        watch.stop()
    kube_after = kube_snapshot(cluster.kube)
    for result in results.values():
        if isinstance(result.case.expect, Rejected):
            result.resource = cluster.kube.get(_path(result))
    return Run(
        env=env,
        results=results,
        kube_changes=changed(kube_before, kube_after),
        owners_after={key: seen.owner for key, seen in {**kube_before, **kube_after}.items()},
        exchange_before=exchange_before,
        exchange_after=exchange_snapshot(env.exchange),
        canary=watch,
        canary_followed=followed,
        operator_log=cluster.operator.log(),
        operator_alive=processes.is_running(cluster.operator.tracked) and cluster.operator.tracked.pid == pid,
        seconds=time.monotonic() - started,
    )


def crashes(log: str) -> list[str]:
    """Every handler failure or traceback in the operator log, as the block of lines it spans.

    Our log format does not name the object (kopf's prefix needs its own formatter), so a block is told apart
    by what it says (see ``Case.crash``)."""
    blocks: list[list[str]] = []
    for line in log.splitlines():
        if TIMESTAMPED.match(line) or not blocks:
            blocks.append([line])
        else:
            blocks[-1].append(line)
    texts = ["\n".join(block) for block in blocks]
    return [text for text in texts if "Traceback" in text or "failed with an exception" in text]


def publishes(run: Run) -> set[str]:
    """Exchange entries valid resources may create: their services (with keys, dockauths, policies)."""
    allowed = set()
    for result in run.results.values():
        expect = result.case.expect
        if isinstance(expect, Settles):
            for template in expect.publishes:
                allowed.add(f"service {run.env.org}/{template.format(url=url_of(result.where))}")
    return allowed


def describe(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)[:2000]
