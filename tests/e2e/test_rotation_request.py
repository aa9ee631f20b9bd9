"""Credentials rotated on request (``edge.horizon.dev/rotate-credentials-requested-at``), end to end.

Phase 1 runs the operator with a resync of 10 minutes, so nothing but the annotation's trigger can
rotate anything within the test (images are Ready first: no handler retry is pending either). Phase 2
restarts it with the usual 2 s resync to show that several resyncs, a restart, re-applying the same
value and removing the annotation rotate nothing again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from horizon_publisher.sandbox import processes
from tests.e2e.conftest import wait_for
from tests.e2e.service_image_kube import Token, secret_path, service_account_path
from tests.e2e.service_image_support import (
    DOCKER_CONFIG_JSON,
    Cluster,
    cluster_with_operator,
    service_image,
    start_operator,
    unique,
)

ANNOTATION = "edge.horizon.dev/rotate-credentials-requested-at"
QUIET_RESYNC = "600"
PROMPT = 8.0  # seconds from the annotation to the recorded answer (the trigger, no resync involved)


def _restart_operator(cluster: Cluster, resync_seconds: str) -> None:
    """Stop the operator by PID, set its log aside (start_operator waits for a line in a fresh log), start it."""
    processes.stop(cluster.sandbox.state_dir, "operator-under-test")
    log = Path(cluster.operator.tracked.log)
    log.rename(log.with_name(f"{log.stem}-{time.monotonic_ns()}.log"))
    cluster.operator = start_operator(cluster.sandbox, env={"HORIZON_PUBLISHER_RESYNC_SECONDS": resync_seconds})


@dataclass(frozen=True)
class Images:
    namespace: str
    rotating: str = "rotating"
    long_lived: str = "longlived"
    generic: str = "generic"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_with_operator(tmp_path_factory.mktemp("rotation")) as running:
        _restart_operator(running, QUIET_RESYNC)
        yield running


@pytest.fixture(scope="module")
def images(cluster: Cluster) -> Images:
    """A Rotating and a LongLived OpenShift image, both Ready (nothing pending), and a generic one."""
    target = Images(cluster.namespace("rotate"))
    modes = {target.rotating: "Rotating", target.long_lived: "LongLived"}
    for name, mode in modes.items():
        spec = {"registry": {"openshift": {"token": {"mode": mode}}}, "image": {"name": name}}
        cluster.apply(service_image(name, target.namespace, unique(name), spec))
    config = json.dumps({"auths": {"127.0.0.1:9": {"username": "u", "password": "user-owned-password"}}})
    cluster.kube.create(
        f"/api/v1/namespaces/{target.namespace}/secrets",
        {"metadata": {"name": "push"}, "type": DOCKER_CONFIG_JSON, "stringData": {".dockerconfigjson": config}},
    )
    generic = service_image(target.generic, target.namespace, "unused")
    generic["spec"]["registry"] = {"generic": {"host": "127.0.0.1:9", "credentialsSecretRef": {"name": "push"}}}
    cluster.apply(generic)
    for name in modes:
        cluster.wait_condition(target.namespace, name, "CredentialsReady", "True")
        auth = cluster.credentials(target.namespace, f"{name}-registry")
        ca = cluster.ca_file(target.namespace, f"{name}-registry-ca")
        project = cluster.esi(target.namespace, name)["status"]["registry"]["namespace"]  # type: ignore[index]
        cluster.push(auth, f"{project}/{name}_amd64", "1.0.0", ca=ca)
    for name in modes:
        cluster.wait_condition(target.namespace, name, "Ready", "True", "Reconciled")
    cluster.wait_condition(target.namespace, target.generic, "CredentialsReady", "True")
    return target


def _annotate(cluster: Cluster, namespace: str, name: str, value: str | None) -> None:
    change = f"{ANNOTATION}-" if value is None else f"{ANNOTATION}={value}"
    cluster.sandbox.kubectl("annotate", "--overwrite", "esi", name, "-n", namespace, change)


def _handled(cluster: Cluster, namespace: str, name: str) -> str | None:
    resource = cluster.esi(namespace, name) or {}
    handled: str | None = ((resource.get("status") or {}).get("credentials") or {}).get("lastHandledRotationRequest")
    return handled


def _token(cluster: Cluster, namespace: str, name: str) -> Token:
    return cluster.credentials(namespace, f"{name}-registry").token


def _reasons(cluster: Cluster, namespace: str, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in cluster.events(namespace, name) if e.get("reason") == reason]


def test_the_annotation_rotates_at_once_without_a_resync(cluster: Cluster, images: Images) -> None:
    namespace = images.namespace
    before = {name: _token(cluster, namespace, name) for name in (images.rotating, images.long_lived)}
    project = cluster.esi(namespace, images.long_lived)["status"]["registry"]["namespace"]  # type: ignore[index]
    account = cluster.kube.get(service_account_path(project, "edge-publisher"))
    assert account is not None
    value = "2026-11-27T12:00:00Z"
    started = time.monotonic()
    for name in (images.rotating, images.long_lived, images.generic):
        _annotate(cluster, namespace, name, value)
    waited = cluster.sandbox.kubectl(  # as docs/operations.md says to wait
        "wait", f"esi/{images.long_lived}", "-n", namespace, f"--timeout={PROMPT:.0f}s",
        f"--for=jsonpath={{.status.credentials.lastHandledRotationRequest}}={value}", check=False,
    )  # fmt: skip
    assert waited.returncode == 0, waited.stderr
    for name in (images.rotating, images.generic):
        wait_for(lambda n=name: _handled(cluster, namespace, n) == value, timeout=PROMPT, what=f"{name} answered")
    elapsed = time.monotonic() - started
    assert elapsed < PROMPT, f"answered after {elapsed:.1f} s"
    assert "credentials rotation requested, reconciling now" in cluster.operator.log()

    after = {name: _token(cluster, namespace, name) for name in before}
    for name, old in before.items():
        assert after[name] != old, f"{name}: the output Secret still holds the old token"
        assert len(_reasons(cluster, namespace, name, "TokenRotated")) == 1, name
    # LongLived: the account was made anew, so the old token is dead and the new one works.
    renewed = cluster.kube.get(service_account_path(project, "edge-publisher"))
    assert renewed is not None
    assert renewed["metadata"]["uid"] != account["metadata"]["uid"]
    assert cluster.kube.review(before[images.long_lived]) == (False, "")
    assert cluster.kube.review(after[images.long_lived]) == (True, f"system:serviceaccount:{project}:edge-publisher")
    token_secret = cluster.kube.get(secret_path(project, "edge-publisher-horizon-token"))
    assert token_secret is not None
    [not_applicable] = _reasons(cluster, namespace, images.generic, "RotationNotApplicable")
    assert "secret push" in not_applicable["message"]
    for name in before:
        resource = cluster.esi(namespace, name)
        assert resource is not None
        assert resource["status"]["credentials"]["lastRotationTime"]
        secrets_seen = json.dumps(resource) + json.dumps(cluster.events(namespace, name)) + cluster.operator.log()
        assert after[name].reveal() not in secrets_seen, f"{name}: the new token leaked"


def test_the_same_value_restarts_and_resyncs_rotate_nothing_again(cluster: Cluster, images: Images) -> None:
    namespace = images.namespace
    value = _handled(cluster, namespace, images.rotating)
    assert value, "runs after the rotation test"
    tokens = {name: _token(cluster, namespace, name) for name in (images.rotating, images.long_lived)}
    _restart_operator(cluster, "2")  # a new process: nothing remembered but the status
    for name in (images.rotating, images.long_lived, images.generic):
        _annotate(cluster, namespace, name, value)  # GitOps applying the same manifest again
    _annotate(cluster, namespace, images.generic, None)  # removed: nothing to do either
    time.sleep(5)  # two resyncs and more
    for name, token in tokens.items():
        assert _token(cluster, namespace, name) == token, f"{name} was rotated again"
        assert len(_reasons(cluster, namespace, name, "TokenRotated")) == 1, name
        assert _handled(cluster, namespace, name) == value
    assert len(_reasons(cluster, namespace, images.generic, "RotationNotApplicable")) == 1
    assert "credentials rotation requested" not in cluster.operator.log()
