"""A project our ProjectRequest made whose labelling failed (409 or 5xx on the namespace patch) is finished
on the next pass, and only then: never a namespace someone else made or labelled."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from horizon_publisher.clients.kube import NAMESPACES, PROJECT_REQUESTS, KubeError, Resource
from horizon_publisher.desired import kube_objects as desired
from horizon_publisher.reconcile import openshift_image as steps
from horizon_publisher.reconcile.steps import Progress

OWNER = desired.Owner("team", "hello", "uid-1")
OURS = desired.project_request("p1", OWNER)["description"]


class ProjectKube:
    """Namespaces by name; creating a ProjectRequest makes one with its description (as OpenShift does);
    the first ``failing_patches`` label patches answer 409."""

    def __init__(self, failing_patches: int = 0) -> None:
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.failing_patches = failing_patches

    def serves(self, resource: Resource) -> bool:
        return resource in (NAMESPACES, PROJECT_REQUESTS)

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.namespaces.get(name) if resource == NAMESPACES else None

    def create(self, resource: Resource, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        assert resource == PROJECT_REQUESTS
        annotations = {steps.PROJECT_DESCRIPTION: body["description"], "openshift.io/requester": "operator"}
        made = {"metadata": {"name": body["metadata"]["name"], "annotations": annotations, "labels": {}}}
        self.namespaces[body["metadata"]["name"]] = made
        return made

    def merge_patch(
        self, resource: Resource, namespace: str | None, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        if self.failing_patches:
            self.failing_patches -= 1
            raise KubeError(409, "Conflict", "the object has been modified")
        self.namespaces[name]["metadata"]["labels"].update(patch["metadata"]["labels"])
        return self.namespaces[name]


def run_pass(kube: ProjectKube, status: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """One pass of the step as run_steps runs it: an API error ends the step; the status it reached is kept."""
    spec = {"registry": {"openshift": {"project": "p1"}}, "image": {"name": "n", "tag": "1"}}
    ctx = steps.Context(kube, OWNER, spec, status, datetime(2026, 11, 27, tzinfo=UTC), Progress(("Ready",)))  # type: ignore[arg-type]
    steps.run_steps(ctx, [("ProjectReady", steps.project_step)])
    [result] = ctx.progress.results
    return result.condition.status, result.condition.reason, ctx.progress.status


@pytest.mark.parametrize("failures", [1, 2, 3])
def test_a_failed_label_patch_is_finished_on_a_later_pass(failures: int) -> None:
    kube = ProjectKube(failing_patches=failures)
    status: dict[str, Any] = {}
    for _ in range(failures):
        reached = run_pass(kube, status)
        assert reached[:2] == ("False", "KubernetesAPIError")
        status = reached[2]
        assert status["registry"] == {"namespace": "p1", "namespaceCreated": True}, "each pass records it"
    assert run_pass(kube, status)[:2] == ("True", "Created")
    assert OWNER.owns(kube.namespaces["p1"])
    assert desired.created_by_us(kube.namespaces["p1"])


@pytest.mark.parametrize(
    ("recorded", "description", "labels"),
    [
        ({"namespace": "p1", "namespaceCreated": True}, "someone else's project", {}),
        # the description of another resource (same names, another uid), or of the format without uid
        ({}, OURS.replace("uid-1", "uid-2"), {}),
        ({}, "Edge service images of team/hello (horizon-publisher)", {}),
        ({"namespace": "p1", "namespaceCreated": True}, OURS, {desired.MANAGED_BY: desired.OPERATOR}),
    ],
)
def test_anything_else_is_still_not_taken(recorded: dict[str, Any], description: str, labels: dict[str, str]) -> None:
    kube = ProjectKube()
    annotations = {steps.PROJECT_DESCRIPTION: description}
    kube.namespaces["p1"] = {"metadata": {"name": "p1", "annotations": annotations, "labels": dict(labels)}}
    status, reason, _ = run_pass(kube, {"registry": recorded})
    assert (status, reason) == ("False", "NamespaceNotOwned")
    assert kube.namespaces["p1"]["metadata"]["labels"] == labels


@pytest.mark.parametrize("recorded", [{}, {"namespace": "p1", "namespaceCreated": False}])
def test_a_crash_between_the_request_and_its_label_is_recovered_by_the_uid(recorded: dict[str, Any]) -> None:
    """No status survived the crash; the request's description names this resource's uid."""
    kube = ProjectKube()
    kube.namespaces["p1"] = {"metadata": {"name": "p1", "annotations": {steps.PROJECT_DESCRIPTION: OURS}, "labels": {}}}
    assert run_pass(kube, {"registry": recorded})[:2] == ("True", "Created")
    assert OWNER.owns(kube.namespaces["p1"])
