"""Discovery, version, health and OpenAPI documents, as clients read them."""

from __future__ import annotations

import pytest
from kubeapi_harness import CRDS, Client, eventually, status_of, widget_crd


def resources_of(http: Client, path: str) -> dict[str, dict]:
    body = http.read(path)
    assert body["kind"] == "APIResourceList"
    return {r["name"]: r for r in body["resources"]}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/livez"])
def test_health_endpoints_answer_ok_without_credentials(http: Client, path: str) -> None:
    anonymous = Client(http.base, None)
    response = anonymous.get(path)
    assert (response.status_code, response.text) == (200, "ok")


def test_version_reports_kubernetes_1_32(http: Client) -> None:
    body = Client(http.base, None).read("/version")
    assert body["gitVersion"].startswith("v1.32.")
    assert (body["major"], body["minor"]) == ("1", "32")


def test_core_group_lists_builtins_with_verbs_short_names_and_subresources(http: Client) -> None:
    assert http.read("/api")["versions"] == ["v1"]
    core = resources_of(http, "/api/v1")
    assert core["namespaces"]["namespaced"] is False
    assert core["namespaces"]["shortNames"] == ["ns"]
    assert core["namespaces/status"]["verbs"] == ["get", "patch", "update"]
    assert core["secrets"]["kind"] == "Secret"
    assert core["secrets"]["singularName"] == "secret"
    assert set(core["secrets"]["verbs"]) >= {"create", "delete", "deletecollection", "get", "list", "patch", "watch"}
    assert core["configmaps"]["shortNames"] == ["cm"]


def test_groups_list_builtin_groups_with_preferred_versions(http: Client) -> None:
    groups = {g["name"]: g for g in http.read("/apis")["groups"]}
    assert {"rbac.authorization.k8s.io", "apiextensions.k8s.io", "coordination.k8s.io", "events.k8s.io"} <= set(groups)
    rbac = http.read("/apis/rbac.authorization.k8s.io")
    assert rbac["kind"] == "APIGroup"
    assert rbac["preferredVersion"]["groupVersion"] == "rbac.authorization.k8s.io/v1"
    assert set(resources_of(http, "/apis/rbac.authorization.k8s.io/v1")) == {
        "roles", "rolebindings", "clusterroles", "clusterrolebindings",
    }  # fmt: skip


def test_creating_a_crd_registers_its_kind_and_deleting_it_unregisters(http: Client) -> None:
    assert http.get("/apis/example.com/v1").status_code == 404
    http.create(CRDS, widget_crd())
    widgets = resources_of(http, "/apis/example.com/v1")
    assert widgets["widgets"]["kind"] == "Widget"
    assert widgets["widgets"]["namespaced"] is True
    assert widgets["widgets"]["shortNames"] == ["wd"]
    assert widgets["widgets"]["categories"] == ["toys"]
    assert widgets["widgets/status"]["verbs"] == ["get", "patch", "update"]
    assert http.read("/apis/example.com")["preferredVersion"]["version"] == "v1"
    http.ok(http.delete(f"{CRDS}/widgets.example.com"))
    eventually(lambda: http.get("/apis/example.com/v1").status_code == 404)  # the CRD finalizer is async
    assert "example.com" not in {g["name"] for g in http.read("/apis")["groups"]}


def test_preferred_version_follows_kubernetes_version_priority(http: Client) -> None:
    crd = widget_crd()
    v1 = crd["spec"]["versions"][0]
    crd["spec"]["versions"] = [
        {**v1, "name": "v1alpha1", "storage": False},
        {**v1, "name": "v1beta2", "storage": False},
        {**v1, "name": "v1", "storage": True},
    ]
    http.create(CRDS, crd)
    group = http.read("/apis/example.com")
    assert group["preferredVersion"]["version"] == "v1"
    assert next(v["version"] for v in group["versions"]) == "v1"


def test_openapi_v3_index_points_at_per_group_documents_with_field_validation(http: Client) -> None:
    http.create(CRDS, widget_crd())
    index = http.read("/openapi/v3")["paths"]
    url = index["apis/example.com/v1"]["serverRelativeURL"]
    document = http.read(url)
    patch = document["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "example.com", "version": "v1", "kind": "Widget"}
    assert {"name": "fieldValidation", "in": "query"}.items() <= patch["parameters"][0].items()
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]


def test_openapi_v2_and_unknown_paths_are_clean_404_statuses(http: Client) -> None:
    for path in ("/openapi/v2", "/apis/nope.example.com/v1", "/api/v2", "/api/v1/nothings"):
        response = http.get(path)
        assert response.status_code == 404
        assert status_of(response)["reason"] == "NotFound"
