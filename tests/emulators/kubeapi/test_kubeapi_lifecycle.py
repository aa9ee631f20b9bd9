"""Deletion: finalizers, propagation policies and garbage collection, namespaces and CRDs terminating."""

from __future__ import annotations

from typing import Any

import pytest
from kubeapi_harness import (
    CONFIGMAPS,
    CRDS,
    NAMESPACES,
    WIDGETS,
    Client,
    eventually,
    status_of,
    widget,
    widget_crd,
)

from horizon_publisher.sandbox.kubeapi.cluster import InMemoryCluster
from horizon_publisher.sandbox.kubeapi.patching import merge_patch


def owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"]}


def configmap(name: str, *owners: dict[str, Any], **meta: Any) -> dict[str, Any]:
    refs = {"ownerReferences": [owner_ref(o) for o in owners]} if owners else {}
    return {"metadata": {"name": name, **refs, **meta}}


def exists(http: Client, path: str) -> bool:
    return http.get(path).status_code == 200


def test_delete_with_finalizers_marks_the_object_until_the_last_one_goes(widgets: Client) -> None:
    widgets.create(WIDGETS, widget("w", finalizers=["a/one", "a/two"]))
    deleting = widgets.ok(widgets.delete(f"{WIDGETS}/w"), 200)
    assert deleting["metadata"]["deletionTimestamp"]
    assert deleting["metadata"]["generation"] == 2
    widgets.ok(widgets.patch(f"{WIDGETS}/w", {"metadata": {"finalizers": ["a/two"]}}), 200)
    assert exists(widgets, f"{WIDGETS}/w")
    widgets.ok(widgets.patch(f"{WIDGETS}/w", {"metadata": {"finalizers": []}}), 200)
    assert not exists(widgets, f"{WIDGETS}/w")


def test_no_new_finalizers_while_deleting(widgets: Client) -> None:
    widgets.create(WIDGETS, widget("w", finalizers=["a/one"]))
    widgets.delete(f"{WIDGETS}/w")
    response = widgets.patch(f"{WIDGETS}/w", {"metadata": {"finalizers": ["a/one", "b/new"]}})
    assert response.status_code == 422
    assert "no new finalizers can be added if the object is being deleted" in status_of(response)["message"]


def test_delete_preconditions_conflict(http: Client) -> None:
    http.create(CONFIGMAPS, configmap("a"))
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "not-the-uid"}}
    response = http.delete(f"{CONFIGMAPS}/a", body)
    assert response.status_code == 409
    assert "Precondition failed: UID in precondition" in response.text
    assert exists(http, f"{CONFIGMAPS}/a")


def test_background_deletion_collects_dependents_after_the_owner_is_gone(widgets: Client) -> None:
    owner = widgets.create(WIDGETS, widget("w", finalizers=["hold"]))
    widgets.create(CONFIGMAPS, configmap("child", owner))
    widgets.create(CONFIGMAPS, configmap("grandchild", widgets.read(f"{CONFIGMAPS}/child")))
    widgets.delete(f"{WIDGETS}/w")
    assert exists(widgets, f"{CONFIGMAPS}/child")  # the owner still exists (finalizer)
    widgets.patch(f"{WIDGETS}/w", {"metadata": {"finalizers": None}})
    assert not exists(widgets, f"{CONFIGMAPS}/child")
    assert not exists(widgets, f"{CONFIGMAPS}/grandchild")


def test_a_dependent_with_another_living_owner_only_loses_the_reference(http: Client) -> None:
    first, second = http.create(CONFIGMAPS, configmap("o1")), http.create(CONFIGMAPS, configmap("o2"))
    http.create(CONFIGMAPS, configmap("shared", first, second))
    http.delete(f"{CONFIGMAPS}/o1")
    refs = http.read(f"{CONFIGMAPS}/shared")["metadata"]["ownerReferences"]
    assert [r["name"] for r in refs] == ["o2"]


def test_foreground_deletion_waits_for_dependents(http: Client) -> None:
    owner = http.create(CONFIGMAPS, configmap("owner"))
    http.create(CONFIGMAPS, configmap("child", owner, finalizers=["hold"]))
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}
    deleting = http.ok(http.delete(f"{CONFIGMAPS}/owner", body), 200)
    assert "foregroundDeletion" in deleting["metadata"]["finalizers"]
    assert http.read(f"{CONFIGMAPS}/child")["metadata"]["deletionTimestamp"]
    assert exists(http, f"{CONFIGMAPS}/owner")
    http.patch(f"{CONFIGMAPS}/child", {"metadata": {"finalizers": None}})
    assert not exists(http, f"{CONFIGMAPS}/owner")


def test_orphan_deletion_strips_owner_references(http: Client) -> None:
    owner = http.create(CONFIGMAPS, configmap("owner"))
    http.create(CONFIGMAPS, configmap("child", owner))
    http.ok(http.delete(f"{CONFIGMAPS}/owner?propagationPolicy=Orphan"), 200)
    assert "ownerReferences" not in http.read(f"{CONFIGMAPS}/child")["metadata"]


def test_deletecollection_honours_the_label_selector(http: Client) -> None:
    for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
        http.create(CONFIGMAPS, configmap(name, labels={"team": team}))
    deleted = http.ok(http.delete(f"{CONFIGMAPS}?labelSelector=team%3Dx"), 200)
    assert [i["metadata"]["name"] for i in deleted["items"]] == ["a", "b"]
    assert [i["metadata"]["name"] for i in http.read(CONFIGMAPS)["items"]] == ["c"]


def test_namespace_termination_refuses_creates_deletes_contents_later_then_goes(widgets: Client) -> None:
    widgets.create(NAMESPACES, {"metadata": {"name": "doomed"}})
    ns_widgets = "/apis/example.com/v1/namespaces/doomed/widgets"
    widgets.create(ns_widgets, widget("held", finalizers=["hold"]))
    widgets.create("/api/v1/namespaces/doomed/configmaps", configmap("plain"))
    terminating = widgets.ok(widgets.delete(f"{NAMESPACES}/doomed"), 200)
    assert terminating["status"]["phase"] == "Terminating"
    assert terminating["metadata"]["deletionTimestamp"]
    assert terminating["spec"]["finalizers"] == ["kubernetes"]
    assert exists(widgets, "/api/v1/namespaces/doomed/configmaps/plain")  # the namespace controller is async
    response = widgets.post("/api/v1/namespaces/doomed/configmaps", configmap("late"))
    body = status_of(response)
    assert response.status_code == 403
    assert body["reason"] == "Forbidden"
    assert "unable to create new content in namespace doomed because it is being terminated" in body["message"]
    assert body["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    eventually(lambda: not exists(widgets, "/api/v1/namespaces/doomed/configmaps/plain"))
    assert widgets.read(f"{ns_widgets}/held")["metadata"]["deletionTimestamp"]
    assert exists(widgets, f"{NAMESPACES}/doomed")
    widgets.patch(f"{ns_widgets}/held", {"metadata": {"finalizers": None}})
    assert not exists(widgets, f"{NAMESPACES}/doomed")


def test_deleting_a_crd_deletes_its_objects_later_and_unregisters_it(widgets: Client) -> None:
    widgets.create(WIDGETS, widget("held", finalizers=["hold"]))
    widgets.create(WIDGETS, widget("plain"))
    crd = widgets.ok(widgets.delete(f"{CRDS}/widgets.example.com"), 200)
    assert crd["metadata"]["finalizers"] == ["customresourcecleanup.apiextensions.k8s.io"]
    assert exists(widgets, f"{WIDGETS}/plain")
    eventually(lambda: [i["metadata"]["name"] for i in widgets.read(WIDGETS)["items"]] == ["held"])
    widgets.patch(f"{WIDGETS}/held", {"metadata": {"finalizers": None}})
    assert not exists(widgets, f"{CRDS}/widgets.example.com")
    assert widgets.get(WIDGETS).status_code == 404


def test_without_an_event_loop_termination_is_immediate() -> None:
    cluster = InMemoryCluster()
    cluster.ensure_namespace("gone")
    cluster.create("v1/configmaps", {"metadata": {"name": "a"}}, namespace="gone")
    cluster.delete("v1/namespaces", None, "gone")
    assert cluster.get("v1/namespaces", None, "gone") is None
    assert cluster.list("v1/configmaps") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metadata": {"name": "wrong.example.com"}}, 'must be spec.names.plural+"."+spec.group'),
        ({"spec": {"scope": "Galactic"}}, "spec.scope"),
    ],
)
def test_invalid_crds_are_422(http: Client, change: dict[str, Any], message: str) -> None:
    response = http.post(CRDS, merge_patch(widget_crd(), change))
    assert response.status_code == 422
    assert message in status_of(response)["message"]


def test_crd_with_a_non_structural_schema_is_422(http: Client) -> None:
    crd = widget_crd()
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"] = {"properties": {"a": {}}}
    response = http.post(CRDS, crd)
    assert response.status_code == 422
    assert status_of(response)["reason"] == "Invalid"


def test_crd_status_reports_established_and_accepted_names(widgets: Client) -> None:
    crd = widgets.read(f"{CRDS}/widgets.example.com")
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["listKind"] == "WidgetList"
    assert crd["status"]["storedVersions"] == ["v1"]
