"""The OpenShift steps' branches, against an in-memory stand-in for the Kube face (no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from horizon_publisher.clients.kube import NAMESPACES, REGISTRY_CONFIGS, ROUTES, Resource
from horizon_publisher.desired.kube_objects import Owner
from horizon_publisher.reconcile import openshift_image as steps
from horizon_publisher.reconcile.steps import Progress

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OWNER = Owner("team", "hello", "uid-1")
ADMITTED = {"ingress": [{"conditions": [{"type": "Admitted", "status": "True"}]}]}


class FakeKube:
    """Objects by (resource, namespace, name); ``served`` lists the resources discovery reports."""

    def __init__(self, served: set[Resource], objects: dict[tuple[str, str | None, str], dict[str, Any]]) -> None:
        self.served = served
        self.objects = objects
        self.patches: list[tuple[str, str, dict[str, Any]]] = []
        self.deleted: list[tuple[str, str | None, str]] = []

    def serves(self, resource: Resource) -> bool:
        return resource in self.served

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.objects.get((resource.plural, namespace, name))

    def delete(self, resource: Resource, namespace: str | None, name: str) -> bool:
        self.deleted.append((resource.plural, namespace, name))
        return self.objects.pop((resource.plural, namespace, name), None) is not None

    def merge_patch(
        self, resource: Resource, namespace: str | None, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        self.patches.append((resource.plural, name, patch))
        return {}


def context(kube: FakeKube, **openshift: Any) -> steps.Context:
    spec = {"registry": {"openshift": {"project": "p1", **openshift}}, "image": {"name": "n", "tag": "1"}}
    return steps.Context(kube, OWNER, spec, {}, NOW, Progress(("Ready",)))  # type: ignore[arg-type]


def config(state: str = "Managed", default_route: bool = False) -> dict[str, Any]:
    return {"spec": {"managementState": state, "defaultRoute": default_route}}


@pytest.mark.parametrize(
    ("served", "objects", "options", "expected"),
    [
        (set(), {}, {}, ("False", "OpenShiftAPIMissing")),
        ({ROUTES}, {}, {}, ("False", "OpenShiftAPIMissing")),
        (
            {ROUTES, REGISTRY_CONFIGS},
            {("configs", None, "cluster"): config("Removed")},
            {},
            ("False", "RegistryNotManaged"),
        ),
        (
            {ROUTES, REGISTRY_CONFIGS},
            {("configs", None, "cluster"): config()},
            {"ensureDefaultRoute": False},
            ("False", "RouteMissing"),
        ),
        ({ROUTES, REGISTRY_CONFIGS}, {("configs", None, "cluster"): config()}, {}, ("Unknown", "WaitingForRoute")),
        (
            {ROUTES, REGISTRY_CONFIGS},
            {("routes", "openshift-image-registry", "default-route"): {"spec": {"host": "r.example"}}},
            {},
            ("Unknown", "WaitingForRoute"),
        ),
        (
            {ROUTES, REGISTRY_CONFIGS},
            {
                ("routes", "openshift-image-registry", "default-route"): {
                    "spec": {"host": "r.example"},
                    "status": ADMITTED,
                }
            },
            {},
            ("True", "RouteAdmitted"),
        ),
    ],
)
def test_route_step(
    served: set[Resource], objects: dict[Any, Any], options: dict[str, Any], expected: tuple[str, str]
) -> None:
    kube = FakeKube(served, objects)
    ctx = context(kube, **options)
    result = steps.route_step(ctx)
    assert (result.condition.status, result.condition.reason) == expected
    if expected[0] == "True":
        assert ctx.host == "r.example"
        assert ctx.progress.status["registry"]["host"] == "r.example"


@pytest.mark.parametrize(
    ("default_route", "patches"), [(False, [("configs", "cluster", {"spec": {"defaultRoute": True}})]), (True, [])]
)
def test_asks_the_registry_operator_for_its_route_once(default_route: bool, patches: list[Any]) -> None:
    kube = FakeKube({ROUTES, REGISTRY_CONFIGS}, {("configs", None, "cluster"): config(default_route=default_route)})
    result = steps.route_step(context(kube))
    assert (result.condition.reason, result.retry_after) == ("WaitingForRoute", steps.ROUTE_POLL)
    assert kube.patches == patches


def test_missing_openshift_api_names_it() -> None:
    result = steps.route_step(context(FakeKube({REGISTRY_CONFIGS}, {})))
    assert "route.openshift.io" in result.condition.message
    assert not result.proceed


@pytest.mark.parametrize(
    ("labels", "adopt", "expected", "created"),
    [
        (
            {
                "edge.horizon.dev/owner-namespace": "team",
                "edge.horizon.dev/owner-name": "hello",
                "edge.horizon.dev/created": "true",
            },
            False,
            ("True", "Created"),  # the same reason as the pass that created it: no status write after the first
            True,
        ),
        (
            {"edge.horizon.dev/owner-namespace": "team", "edge.horizon.dev/owner-name": "hello"},
            False,
            ("True", "Exists"),
            False,
        ),
        ({}, False, ("False", "NamespaceNotOwned"), False),
        ({"edge.horizon.dev/owner-name": "other"}, True, ("False", "NamespaceNotOwned"), False),  # no consent
        ({"edge.horizon.dev/adoptable-by": "elsewhere"}, True, ("False", "NamespaceNotOwned"), False),
        ({"edge.horizon.dev/adoptable-by": "team"}, True, ("True", "Adopted"), False),
        ({"edge.horizon.dev/adoptable-by": "team"}, False, ("False", "NamespaceNotOwned"), False),
    ],
)
def test_project_step_never_takes_over_without_the_flag(
    labels: dict[str, str], adopt: bool, expected: tuple[str, str], created: bool
) -> None:
    kube = FakeKube({NAMESPACES}, {("namespaces", None, "p1"): {"metadata": {"name": "p1", "labels": labels}}})
    ctx = context(kube, adoptExistingNamespace=adopt)
    result = steps.project_step(ctx)
    assert (result.condition.status, result.condition.reason) == expected
    assert ctx.progress.status["registry"]["namespaceCreated"] is created
    relabelled = [p for p in kube.patches if p[0] == "namespaces"]
    assert bool(relabelled) is (expected[1] == "Adopted")


def _no_registry(_: Any) -> Any:
    raise AssertionError("the registry must not be asked")


def test_follow_tag_off_keeps_the_digests_resolved_for_this_tag() -> None:
    ctx = context(FakeKube(set(), {}))
    ctx.spec = {**ctx.spec, "image": {"name": "n", "tag": "1", "arches": ["amd64"], "followTag": False}}
    ctx.host = "r.example"
    image = {"arch": "amd64", "reference": "r.example/p1/n_amd64:1", "digest": "sha256:" + "a" * 64}
    ctx.status = {"images": [image], "resolvedCount": 1}
    result = steps.image_step(ctx, _no_registry)
    assert (result.condition.status, result.condition.reason) == ("True", "Resolved")
    assert ctx.progress.status["images"] == [image]
    # A new tag is a new question for the registry.
    ctx.spec = {**ctx.spec, "image": {**ctx.spec["image"], "tag": "2"}}
    with pytest.raises(AssertionError, match="must not be asked"):
        steps.image_step(ctx, _no_registry)


OURS = {"metadata": {"labels": {"edge.horizon.dev/owner-namespace": "team", "edge.horizon.dev/owner-name": "hello"}}}


@pytest.mark.parametrize(
    ("old_object", "deleted"), [(OURS, True), ({"metadata": {"labels": {}}}, False), (None, False)]
)
def test_a_renamed_output_retires_the_old_object_only_if_ours(old_object: dict[str, Any] | None, deleted: bool) -> None:
    objects = {} if old_object is None else {("secrets", "team", "old-name"): old_object}
    kube = FakeKube(set(), objects)
    ctx = context(kube)
    ctx.status = {"credentials": {"secretName": "old-name"}}
    steps.retire(ctx, steps.SECRETS, "team", ("credentials", "secretName"), "new-name")
    assert (("secrets", "team", "old-name") in kube.deleted) is deleted
    steps.retire(ctx, steps.SECRETS, "team", ("credentials", "secretName"), "old-name")  # unchanged: nothing to do
    assert len(kube.deleted) == int(deleted)


class ExplodingKube(FakeKube):
    """Answers every write with an API error that quotes the request, as some validation errors do."""

    def __init__(self, token: str) -> None:
        super().__init__({steps.ROUTES, steps.REGISTRY_CONFIGS}, {})
        self.token = token

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        raise steps.KubeError(422, "Invalid", f'secret is invalid: data: Invalid value: "{self.token}"')


def test_api_errors_never_carry_the_token_into_conditions() -> None:
    ctx = context(ExplodingKube("s3cr3t-token-value"))
    ctx.token = "s3cr3t-token-value"
    steps.run_openshift(ctx, _no_registry, lambda _: pytest.fail('no copy step without spec.image.source'))
    message = ctx.progress.results[-1].condition.message
    assert "s3cr3t-token-value" not in message
    assert ctx.progress.results[-1].condition.reason == "KubernetesAPIError"


OTHERS = {
    "metadata": {
        "labels": {
            "edge.horizon.dev/adoptable-by": "team",  # consent alone never frees a live image's project
            "app.kubernetes.io/managed-by": "horizon-publisher",
            "edge.horizon.dev/owner-namespace": "team-b",
            "edge.horizon.dev/owner-name": "theirs",
        }
    }
}


@pytest.mark.parametrize(
    ("other_image_exists", "expected"),
    [(True, ("False", "NamespaceNotOwned")), (False, ("True", "Adopted"))],
)
def test_adoption_never_takes_a_project_another_live_image_holds(
    other_image_exists: bool, expected: tuple[str, str]
) -> None:
    objects: dict[tuple[str, str | None, str], dict[str, Any]] = {("namespaces", None, "p1"): OTHERS}
    if other_image_exists:
        objects[("edgeserviceimages", "team-b", "theirs")] = {"metadata": {"name": "theirs"}}
    kube = FakeKube({ROUTES, REGISTRY_CONFIGS}, objects)
    result = steps.project_step(context(kube, adoptExistingNamespace=True))
    assert (result.condition.status, result.condition.reason) == expected
    if other_image_exists:
        assert "team-b/theirs" in result.condition.message
        assert kube.patches == []  # its labels are left alone
