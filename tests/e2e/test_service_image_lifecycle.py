"""EdgeServiceImage over its life: drift healed, deletion by policy, bad input, token rotation, plain Kubernetes.

Every scenario has namespaces and projects of its own in a private sandbox with its own operator (kopf,
all namespaces, 2 s resync). Rotation runs in a sandbox whose API server grants 8 s tokens, the plain
Kubernetes case in one without the OpenShift APIs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.service_image_kube import (
    Token,
    configmap_path,
    docker_auths,
    namespace_path,
    parse_time,
    role_binding_path,
    secret_path,
    secret_value,
    service_account_path,
)
from tests.e2e.service_image_support import (
    FINALIZER,
    HEAL,
    INGRESS_CA,
    OPENSHIFT_CONDITIONS,
    SETTLE,
    SETUP_CONDITIONS,
    Cluster,
    cluster_with_operator,
    condition,
    describe_conditions,
    owned_labels,
    service_image,
    unique,
)

ACCOUNT = "edge-publisher"
LONG_LIVED = {"registry": {"openshift": {"token": {"mode": "LongLived"}}}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_with_operator(tmp_path_factory.mktemp("esi-lifecycle")) as running:
        yield running


@dataclass(frozen=True)
class Target:
    """One EdgeServiceImage and the paths of everything the operator makes for it."""

    namespace: str
    name: str
    project: str

    @property
    def account(self) -> str:
        return service_account_path(self.project, ACCOUNT)

    @property
    def binding(self) -> str:
        return role_binding_path(self.project, f"horizon-publisher-{ACCOUNT}")

    @property
    def token_secret(self) -> str:
        return secret_path(self.project, f"{ACCOUNT}-horizon-token")

    @property
    def credentials(self) -> str:
        return secret_path(self.namespace, f"{self.name}-registry")

    @property
    def ca(self) -> str:
        return configmap_path(self.namespace, f"{self.name}-registry-ca")

    @property
    def made(self) -> dict[str, str]:
        return {
            "ServiceAccount": self.account,
            "RoleBinding": self.binding,
            "token Secret": self.token_secret,
            "credentials Secret": self.credentials,
            "CA ConfigMap": self.ca,
        }


def _create_long_lived(cluster: Cluster, prefix: str, spec: dict[str, Any] | None = None) -> Target:
    target = Target(cluster.namespace(prefix), prefix, unique(f"{prefix}-images"))
    manifest = service_image(target.name, target.namespace, target.project, LONG_LIVED)
    manifest["spec"].update(spec or {})
    cluster.apply(manifest)
    return target


# --- drift ------------------------------------------------------------------------------------------


def _credentials_work(cluster: Cluster, target: Target) -> bool:
    """The credentials Secret names the registry host and a token the API server takes as the SA."""
    secret = cluster.kube.get(target.credentials)
    auth = docker_auths(secret).get(cluster.host) if secret else None
    if auth is None or auth.username != ACCOUNT or not auth.auth_matches:
        return False
    return cluster.kube.review(auth.token) == (True, f"system:serviceaccount:{target.project}:{ACCOUNT}")


def _binding_is_right(cluster: Cluster, target: Target) -> bool:
    binding = cluster.kube.get(target.binding)
    return binding is not None and binding.get("subjects") == [
        {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": target.project}
    ]


def _recreated(cluster: Cluster, path: str, before: dict[str, Any]) -> dict[str, Any] | None:
    again = cluster.kube.get(path)
    return again if again is not None and again["metadata"]["uid"] != before["metadata"]["uid"] else None


def _labelled(obj: dict[str, Any] | None, target: Target) -> bool:
    labels = (obj or {}).get("metadata", {}).get("labels") or {}
    return owned_labels(target.namespace, target.name).items() <= labels.items()


def _heal_account(cluster: Cluster, target: Target, before: dict[str, Any]) -> bool:
    # A recreated account has a new uid: the old token is dead, so the credentials must have moved on.
    again = _recreated(cluster, target.account, before)
    return _labelled(again, target) and _credentials_work(cluster, target)


def _heal_token_secret(cluster: Cluster, target: Target, before: dict[str, Any]) -> bool:
    again = _recreated(cluster, target.token_secret, before)
    if again is None or not (again.get("data") or {}).get("token"):
        return False
    carried = docker_auths(cluster.kube.get(target.credentials) or {}).get(cluster.host)
    return carried is not None and carried.token == secret_value(again, "token") and _credentials_work(cluster, target)


def _heal_ca(cluster: Cluster, target: Target, before: dict[str, Any]) -> bool:
    again, ingress = _recreated(cluster, target.ca, before), cluster.kube.get(INGRESS_CA) or {}
    return again is not None and again["data"].get("ca.crt") == ingress["data"]["ca-bundle.crt"]


def _heal_binding(cluster: Cluster, target: Target, before: dict[str, Any]) -> bool:
    return _recreated(cluster, target.binding, before) is not None and _binding_is_right(cluster, target)


def _heal_credentials(cluster: Cluster, target: Target, before: dict[str, Any]) -> bool:
    return _recreated(cluster, target.credentials, before) is not None and _credentials_work(cluster, target)


@dataclass(frozen=True)
class DriftCase:
    """Break one object the operator made: delete it (``patch`` None) or merge-patch it; then wait for ``healed``."""

    path_of: Callable[[Target], str]
    patch: dict[str, Any] | None
    healed: Callable[[Cluster, Target, dict[str, Any]], bool]


MALLORY = {"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}
DRIFT = {
    "service account deleted": DriftCase(lambda t: t.account, None, _heal_account),
    "role binding deleted": DriftCase(lambda t: t.binding, None, _heal_binding),
    "token secret deleted": DriftCase(lambda t: t.token_secret, None, _heal_token_secret),
    "credentials secret deleted": DriftCase(lambda t: t.credentials, None, _heal_credentials),
    "CA config map deleted": DriftCase(lambda t: t.ca, None, _heal_ca),
    "role binding subjects edited": DriftCase(
        lambda t: t.binding, {"subjects": [MALLORY]}, lambda c, t, _: _binding_is_right(c, t)
    ),
    "credentials secret data edited": DriftCase(
        lambda t: t.credentials,
        {"stringData": {".dockerconfigjson": json.dumps({"auths": {}})}},
        lambda c, t, _: _credentials_work(c, t),
    ),
}


@pytest.fixture(scope="module")
def drift_targets(cluster: Cluster) -> dict[str, Target]:
    """One LongLived EdgeServiceImage per drift case, created together so they settle in parallel."""
    targets = {case: _create_long_lived(cluster, f"drift{index}") for index, case in enumerate(DRIFT)}
    for target in targets.values():
        cluster.wait_condition(target.namespace, target.name, "CredentialsReady", "True")
    return targets


@pytest.mark.parametrize("case", list(DRIFT))
def test_drift_is_undone(cluster: Cluster, drift_targets: dict[str, Target], case: str) -> None:
    target, drift = drift_targets[case], DRIFT[case]
    path = drift.path_of(target)
    before = cluster.kube.get(path)
    assert before is not None, f"{path} missing before the drift"
    if drift.patch is None:
        cluster.kube.delete(path)
    else:
        cluster.kube.merge_patch(path, drift.patch)
    wait_for(lambda: drift.healed(cluster, target, before), timeout=HEAL, what=f"{case}: healed")
    settled = cluster.wait_condition(target.namespace, target.name, "Ready", "False", "ImageNotFound", timeout=HEAL)
    assert all(condition(settled, kind)["status"] == "True" for kind in SETUP_CONDITIONS), describe_conditions(settled)


# --- deletion ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["Delete", "Orphan"])
def test_deletion_follows_the_policy(cluster: Cluster, policy: str) -> None:
    target = _create_long_lived(cluster, f"gone-{policy.lower()}", {"deletionPolicy": policy})
    ready = cluster.wait_condition(target.namespace, target.name, "CredentialsReady", "True")
    assert FINALIZER in (ready["metadata"].get("finalizers") or [])
    for what, path in target.made.items():
        assert cluster.kube.exists(path), f"{what} {path} missing before the deletion"

    cluster.sandbox.kubectl("delete", "esi", target.name, "-n", target.namespace, "--wait=false")
    wait_for(lambda: cluster.esi(target.namespace, target.name) is None, timeout=SETTLE, what="the finalizer")

    if policy == "Delete":
        wait_for(lambda: not any(cluster.kube.exists(p) for p in target.made.values()), timeout=HEAL, what="clean-up")
    else:
        left = {what: cluster.kube.exists(path) for what, path in target.made.items()}
        assert left == dict.fromkeys(target.made, True)
    project = cluster.kube.get(namespace_path(target.project))
    assert project is not None, "the project (and its images) must always stay"
    assert "deletionTimestamp" not in project["metadata"]


# --- bad input --------------------------------------------------------------------------------------

SCHEMA_CASES: dict[str, tuple[dict[str, Any] | None, str]] = {
    "unknown arch": ({"image": {"arches": ["amd64", "mips"]}}, 'spec.image.arches[1]: Unsupported value: "mips"'),
    "uppercase image name": ({"image": {"name": "Hello"}}, 'spec.image.name: Invalid value: "Hello"'),
    "project not a DNS label": (
        {"registry": {"openshift": {"project": "edge_images"}}},
        'spec.registry.openshift.project: Invalid value: "edge_images"',
    ),
    "tag with a digest": (
        {"image": {"tag": "1.0@sha256:" + "0" * 64}},
        "spec.image.tag: Invalid value: ",
    ),
    "two providers": (
        {"registry": {"generic": {"host": "registry.example.com"}}},
        "exactly one registry provider must be set",
    ),
    "no provider": (None, "exactly one registry provider must be set"),
}


@pytest.mark.parametrize("case", list(SCHEMA_CASES))
def test_schema_rejects_bad_input(cluster: Cluster, case: str) -> None:
    overrides, message = SCHEMA_CASES[case]
    namespace = cluster.namespace("schema")
    manifest = service_image("bad", namespace, unique("bad-images"), overrides)
    if overrides is None:
        manifest["spec"]["registry"] = {}
    applied = cluster.apply(manifest, check=False)
    assert applied.returncode != 0
    assert message in applied.stderr
    assert cluster.esi(namespace, "bad") is None


INPUT_CLASH: dict[str, dict[str, Any]] = {
    # output name -> the input the spec reads under that name (image.source's Secret or CA ConfigMap)
    "credentialsSecretName": {"credentialsSecretRef": {"name": "source-pull"}},
    "caConfigMapName": {"tls": {"caRef": {"name": "source-pull"}}},
}


@pytest.mark.parametrize("output", list(INPUT_CLASH))
def test_output_that_would_overwrite_an_input_is_refused(cluster: Cluster, output: str) -> None:
    namespace, project = cluster.namespace("clash"), unique("clash-images")
    cluster.kube.create(
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "metadata": {"name": "source-pull"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": '{"auths": {"quay.io": {"auth": "dTpw"}}}'},
        },
    )
    cluster.kube.create(
        f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "source-pull"}, "data": {"ca.crt": "x"}}
    )
    inputs = {
        "secret": cluster.kube.get(secret_path(namespace, "source-pull")),
        "configmap": cluster.kube.get(configmap_path(namespace, "source-pull")),
    }
    source = {"reference": "quay.io/team/hello_{arch}:1.0.0", **INPUT_CLASH[output]}
    spec = {"image": {"source": source}, "output": {output: "source-pull"}}
    cluster.apply(service_image("clash", namespace, project, spec))

    refused = cluster.wait_condition(namespace, "clash", "Ready", "False", "InvalidSpec")
    assert f"spec.output.{output}" in condition(refused, "Ready")["message"]
    warnings = wait_for(
        lambda: [e for e in cluster.events(namespace, "clash") if e.get("reason") == "InvalidSpec"],
        what="the InvalidSpec Event",
    )
    assert warnings[0]["type"] == "Warning"
    # Nothing half-made, and the inputs untouched.
    assert not cluster.kube.exists(namespace_path(project))
    assert not cluster.kube.exists(secret_path(namespace, "clash-registry"))
    assert not cluster.kube.exists(configmap_path(namespace, "clash-registry-ca"))
    versions = {
        "secret": (cluster.kube.get(secret_path(namespace, "source-pull")) or {}).get("metadata", {}),
        "configmap": (cluster.kube.get(configmap_path(namespace, "source-pull")) or {}).get("metadata", {}),
    }
    for kind, before in inputs.items():
        assert before is not None
        assert versions[kind].get("resourceVersion") == before["metadata"]["resourceVersion"], (
            f"the input {kind} changed"
        )


# --- rotation (8 s tokens) --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_with_operator(tmp_path_factory.mktemp("esi-rotation"), max_token_seconds=8) as running:
        yield running


def test_rotating_token_is_replaced_before_it_expires(short_tokens: Cluster) -> None:
    cluster = short_tokens
    namespace, project = cluster.namespace("rotate"), unique("rotate-images")
    spec = {"registry": {"openshift": {"token": {"mode": "Rotating", "expirationSeconds": 600}}}}
    cluster.apply(service_image("rotate", namespace, project, spec))
    cluster.wait_condition(namespace, "rotate", "CredentialsReady", "True")

    def consistent() -> tuple[Token, dict[str, Any]] | None:
        """The Secret's token and the status describing it (tokens turn over every few seconds here)."""
        token = cluster.credentials(namespace, "rotate-registry").token
        status = ((cluster.esi(namespace, "rotate") or {}).get("status") or {}).get("credentials") or {}
        granted = status.get("tokenExpirationTime")
        return (token, status) if granted and parse_time(granted).timestamp() == token.claims().get("exp") else None

    first, first_status = wait_for(consistent, timeout=HEAL, what="status matching the Secret's token")
    issued, expires = first.claims()["iat"], first.claims()["exp"]
    assert expires - issued == 8, "status shows what the API server granted: 8 s, not the 600 s requested"

    def rotated() -> Token | None:
        token = cluster.credentials(namespace, "rotate-registry").token
        return token if token != first else None

    second = wait_for(rotated, timeout=HEAL, what="a new token in the credentials Secret")
    seen_at = time.time()
    assert seen_at < expires, f"the new token arrived {seen_at - expires:.1f} s after the old one expired"
    assert cluster.kube.review(second) == (True, f"system:serviceaccount:{project}:{ACCOUNT}")
    later = cluster.wait_until(
        namespace,
        "rotate",
        lambda r: parse_time(r["status"]["credentials"]["tokenExpirationTime"]).timestamp() > expires,
        "status to describe the new token",
        timeout=HEAL,
    )["status"]["credentials"]
    assert later.get("lastRotationTime"), "no lastRotationTime after a rotation"
    if first_status.get("lastRotationTime"):
        assert parse_time(later["lastRotationTime"]) > parse_time(first_status["lastRotationTime"])


# --- plain Kubernetes -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kubernetes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_with_operator(tmp_path_factory.mktemp("esi-kubernetes"), flavor="kubernetes") as running:
        yield running


def test_plain_kubernetes_stops_at_the_missing_route_api_having_made_nothing(kubernetes: Cluster) -> None:
    cluster = kubernetes
    namespace, project = cluster.namespace("plain"), unique("plain-images")
    cluster.apply(service_image("plain", namespace, project))
    stopped = cluster.wait_condition(namespace, "plain", "RegistryRouteReady", "False", "OpenShiftAPIMissing")
    assert "route.openshift.io" in condition(stopped, "RegistryRouteReady")["message"]
    assert (condition(stopped, "Ready")["status"], condition(stopped, "Ready")["reason"]) == (
        "False",
        "OpenShiftAPIMissing",
    )
    assert [c["type"] for c in stopped["status"]["conditions"]] == list(OPENSHIFT_CONDITIONS)
    assert stopped["status"]["observedGeneration"] == stopped["metadata"]["generation"]
    assert not cluster.kube.exists(namespace_path(project))
    selector = "?labelSelector=app.kubernetes.io/managed-by%3Dhorizon-publisher"
    for collection in ("namespaces", "serviceaccounts", "secrets", "configmaps"):
        made = cluster.kube.list(f"/api/v1/{collection}{selector}")
        assert [m["metadata"]["name"] for m in made] == [], f"{collection} were made half-way"
    assert cluster.kube.list(f"/apis/rbac.authorization.k8s.io/v1/rolebindings{selector}") == []
    assert not cluster.kube.exists(secret_path(namespace, "plain-registry"))
    assert not cluster.kube.exists(configmap_path(namespace, "plain-registry-ca"))
