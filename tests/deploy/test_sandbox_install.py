"""Each overlay installed into a sandbox of its flavour, and the operator run with the installed
ServiceAccount's token: the sandbox's RBAC authorizer (and its escalation check on RoleBindings) judges
every call, so a missing rule shows up as a Forbidden condition, a failed handler or a stuck finalizer."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from horizon_publisher.sandbox.demo import push_sample_images
from horizon_publisher.sandbox.layout import StateDir
from tests.deploy.conftest import Installed
from tests.e2e.conftest import wait_for

# Kinds the sandbox may not serve: it has no Deployment or Service storage yet, and no Prometheus Operator.
UNSERVED_OK = {"ServiceMonitor"}  # a Prometheus Operator CRD the sandbox does not install
KINDS = "edgeserviceimages,edgepublications"


def contains(got: Any, want: Any) -> bool:
    """``want`` is in ``got``: every key it sets has that value, lists item by item."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and contains(got[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(contains, got, want))
    return bool(got == want)


def condition(obj: dict[str, Any], condition_type: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == condition_type), None)


def is_true(obj: dict[str, Any], condition_type: str) -> bool:
    found = condition(obj, condition_type)
    return found is not None and found["status"] == "True"


def test_rendered_objects_are_in_the_cluster_as_rendered(installed: Installed) -> None:
    assert {o["kind"] for o in installed.skipped} <= UNSERVED_OK
    assert any(o["kind"] == "Deployment" for o in installed.rendered if o not in installed.skipped)
    applied = [o for o in installed.rendered if o not in installed.skipped]
    live = installed.sandbox.kubectl("get", "-f", "-", "-o", "json", input_text=yaml.safe_dump_all(applied)).stdout
    items = json.loads(live).get("items") or [json.loads(live)]
    assert [(i["kind"], i["metadata"]["name"]) for i in items] == [(o["kind"], o["metadata"]["name"]) for o in applied]
    for want, got in zip(applied, items, strict=True):
        where = f"{want['kind']}/{want['metadata']['name']}"
        assert got["metadata"].get("labels", {}).items() >= want["metadata"].get("labels", {}).items(), where
        for field in ("rules", "roleRef", "subjects"):
            assert got.get(field) == want.get(field), f"{where}.{field}"
        if "spec" in want:  # CRDs; the Deployment once the sandbox serves apps/v1 (the server may add defaults)
            assert contains(got["spec"], want["spec"]), where


def test_operator_reconciles_the_samples_without_a_forbidden_call(installed: Installed) -> None:
    def observed() -> list[dict[str, Any]] | None:
        items = installed.get(KINDS, "-A")["items"]
        return items if items and all(condition(i, "Ready") is not None for i in items) else None

    items = wait_for(observed, timeout=30, what="conditions on every sample")
    reasons = {c["reason"] for i in items for c in i["status"]["conditions"]}
    assert "Forbidden" not in reasons
    # Every provider that works on this flavour wrote its credentials Secret (create/get/patch allowed).
    expected = {"weather"} | ({"hello"} if installed.flavor == "openshift" else set())
    wait_for(
        lambda: (
            expected
            <= {i["metadata"]["name"] for i in installed.get("esi", "-A")["items"] if is_true(i, "CredentialsReady")}
        ),
        timeout=30,
        what=f"CredentialsReady {expected}",
    )
    if installed.flavor == "kubernetes":
        assert "Forbidden" not in installed.operator_log()


@pytest.mark.parametrize("installed", ["openshift"], indirect=True)
def test_openshift_sample_publishes_and_deletes_as_the_service_account(installed: Installed) -> None:
    """The whole demo as the ServiceAccount: push with the operator's credentials, the publication signs
    (a generated key Secret) and publishes; then every finalizer completes."""
    state = StateDir(installed.sandbox.state_dir.resolve())
    push_sample_images(state)  # waits for EdgeServiceImage hello Ready
    wait_for(lambda: is_true(installed.get("epub", "hello", "-n", "horizon-demo"), "Ready"), timeout=45,
             interval=0.5, what="EdgePublication hello Ready")  # fmt: skip
    installed.sandbox.kubectl("delete", KINDS, "--all", "-A", "--wait=false")
    wait_for(lambda: not installed.get(KINDS, "-A")["items"], timeout=30, what="every finalizer done")
    assert "Forbidden" not in installed.operator_log()


@pytest.mark.parametrize("installed", ["kubernetes"], indirect=True)
def test_openshift_provider_image_on_kubernetes_can_be_deleted(installed: Installed) -> None:
    namespace = "deploy-openshift-on-kubernetes"
    installed.sandbox.ensure_namespace(namespace)
    image = {
        "apiVersion": "edge.horizon.dev/v1alpha1", "kind": "EdgeServiceImage",
        "metadata": {"name": "stuck", "namespace": namespace},
        "spec": {"registry": {"openshift": {"project": "deploy-stuck-images"}}, "image": {"name": "x", "tag": "1"}},
    }  # fmt: skip
    installed.sandbox.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(image))
    wait_for(lambda: (c := condition(installed.get("esi", "stuck", "-n", namespace), "RegistryRouteReady"))
             and c["reason"] == "OpenShiftAPIMissing", timeout=20, what="OpenShiftAPIMissing")  # fmt: skip
    installed.sandbox.kubectl("delete", "esi", "stuck", "-n", namespace, "--wait=false")
    wait_for(lambda: not installed.get("esi", "-n", namespace)["items"], timeout=5, what="the finalizer done")


@pytest.mark.parametrize("installed", ["openshift"], indirect=True)
def test_role_binding_in_an_adopted_namespace_needs_only_the_bind_rule(installed: Installed) -> None:
    """In a namespace it did not request, the operator is not admin: only `bind` on edit lets it bind edit."""
    namespace, project = "deploy-adopter", "deploy-adopted-images"
    installed.sandbox.ensure_namespace(namespace)
    installed.sandbox.ensure_namespace(project)
    installed.sandbox.kubectl("label", "namespace", project, f"edge.horizon.dev/adoptable-by={namespace}")
    image = {
        "apiVersion": "edge.horizon.dev/v1alpha1", "kind": "EdgeServiceImage",
        "metadata": {"name": "adopted", "namespace": namespace},
        "spec": {"registry": {"openshift": {"project": project, "adoptExistingNamespace": True, "role": "edit"}},
                 "image": {"name": "x", "tag": "1"}},
    }  # fmt: skip
    installed.sandbox.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(image))
    found = wait_for(lambda: (c := condition(installed.get("esi", "adopted", "-n", namespace), "RoleBindingReady"))
                     and c["status"] != "Unknown" and c, timeout=20, what="RoleBindingReady")  # fmt: skip
    assert (found["status"], found["reason"]) == ("True", "Bound"), found["message"]
