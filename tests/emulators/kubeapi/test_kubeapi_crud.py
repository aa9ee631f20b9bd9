"""Create, read, replace: metadata, names, namespaces, conflicts, Status bodies, dryRun, lists."""

from __future__ import annotations

import base64
import re

import pytest
from kubeapi_harness import CONFIGMAPS, NAMESPACES, SECRETS, WIDGETS, Client, status_of, widget

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def test_create_fills_system_metadata_and_namespace_from_the_url(http: Client) -> None:
    created = http.create(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"k": "v"}})
    meta = created["metadata"]
    assert (created["apiVersion"], created["kind"]) == ("v1", "ConfigMap")
    assert meta["namespace"] == "default"
    assert RFC3339_UTC.fullmatch(meta["creationTimestamp"])
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert "generation" not in meta
    second = http.create(CONFIGMAPS, {"metadata": {"name": "b"}})
    assert int(second["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert http.read(f"{CONFIGMAPS}/a") == created


def test_generate_name_appends_five_characters_of_the_real_alphabet(http: Client) -> None:
    names = {http.create(CONFIGMAPS, {"metadata": {"generateName": "ev-"}})["metadata"]["name"] for _ in range(20)}
    assert len(names) == 20
    assert all(re.fullmatch(r"ev-[bcdfghjklmnpqrstvwxz2456789]{5}", n) for n in names)


def test_duplicate_create_is_409_already_exists_with_details(http: Client) -> None:
    http.create(SECRETS, {"metadata": {"name": "s"}})
    response = http.post(SECRETS, {"metadata": {"name": "s"}})
    body = status_of(response)
    assert response.status_code == 409
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'secrets "s" already exists'
    assert body["details"] == {"name": "s", "group": "", "kind": "secrets"}


def test_get_missing_is_404_with_group_qualified_message(widgets: Client) -> None:
    body = status_of(widgets.get(f"{WIDGETS}/nope"))
    assert body["message"] == 'widgets.example.com "nope" not found'
    assert body["details"] == {"name": "nope", "group": "example.com", "kind": "widgets"}


def test_create_in_a_missing_namespace_is_404_namespace_not_found(http: Client) -> None:
    response = http.post("/api/v1/namespaces/ghost/configmaps", {"metadata": {"name": "a"}})
    assert response.status_code == 404
    assert status_of(response)["message"] == 'namespaces "ghost" not found'


def test_body_namespace_must_match_the_url(http: Client) -> None:
    response = http.post(CONFIGMAPS, {"metadata": {"name": "a", "namespace": "other"}})
    assert response.status_code == 400
    assert status_of(response)["reason"] == "BadRequest"


@pytest.mark.parametrize(
    ("path", "name", "field_message"),
    [
        (CONFIGMAPS, "Upper", "a lowercase RFC 1123 subdomain"),
        (CONFIGMAPS, "has_underscore", "a lowercase RFC 1123 subdomain"),
        (NAMESPACES, "dotted.name", "a lowercase RFC 1123 label"),
        (CONFIGMAPS, "", "Required value: name or generateName is required"),
    ],
)
def test_invalid_names_are_422_with_field_causes(http: Client, path: str, name: str, field_message: str) -> None:
    response = http.post(path, {"metadata": {"name": name}})
    body = status_of(response)
    assert response.status_code == 422
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert field_message in body["details"]["causes"][0]["message"]
    assert body["message"].startswith(f'{"Namespace" if path == NAMESPACES else "ConfigMap"} "{name}" is invalid:')


def test_rbac_names_may_contain_colons_and_capitals(http: Client) -> None:
    role = {"metadata": {"name": "system:Reader"}, "rules": []}
    http.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", role)


def test_secret_string_data_becomes_base64_data_and_type_defaults(http: Client) -> None:
    created = http.create(SECRETS, {"metadata": {"name": "s"}, "stringData": {"user": "me"}, "data": {"a": "Yg=="}})
    assert created["type"] == "Opaque"
    assert "stringData" not in created
    assert created["data"] == {"a": "Yg==", "user": base64.b64encode(b"me").decode()}


def test_secret_with_invalid_base64_is_400(http: Client) -> None:
    response = http.post(SECRETS, {"metadata": {"name": "s"}, "data": {"a": "not base64!"}})
    assert response.status_code == 400
    assert "illegal base64 data" in status_of(response)["message"]


def test_secret_type_is_immutable_and_typed_secrets_need_their_keys(http: Client) -> None:
    http.create(SECRETS, {"metadata": {"name": "s"}})
    response = http.patch(f"{SECRETS}/s", {"type": "kubernetes.io/tls"})
    assert response.status_code == 422
    causes = status_of(response)["details"]["causes"]
    assert {c["field"] for c in causes} >= {"type", "data[tls.crt]", "data[tls.key]"}
    assert http.get(f"{SECRETS}?fieldSelector=type=Opaque").json()["items"][0]["metadata"]["name"] == "s"


def test_put_replaces_and_rejects_a_stale_resource_version(http: Client) -> None:
    created = http.create(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"k": "1"}})
    replaced = http.ok(http.put(f"{CONFIGMAPS}/a", {**created, "data": {"k": "2"}}), 200)
    assert replaced["data"] == {"k": "2"}
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    stale = http.put(f"{CONFIGMAPS}/a", {**created, "data": {"k": "3"}})
    assert stale.status_code == 409
    assert status_of(stale)["reason"] == "Conflict"
    assert "the object has been modified" in stale.json()["message"]
    unconditional = {"metadata": {"name": "a"}, "data": {"k": "4"}}  # built-ins allow PUT without RV
    assert http.ok(http.put(f"{CONFIGMAPS}/a", unconditional), 200)["data"] == {"k": "4"}
    assert http.put(f"{CONFIGMAPS}/missing", {"metadata": {"name": "missing"}}).status_code == 404


def test_put_of_a_custom_resource_requires_a_resource_version(widgets: Client) -> None:
    widgets.create(WIDGETS, widget("w"))
    response = widgets.put(f"{WIDGETS}/w", widget("w", 2))
    assert response.status_code == 422
    assert "must be specified for an update" in response.text


def test_no_op_update_keeps_the_resource_version(http: Client) -> None:
    created = http.create(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"k": "v"}})
    again = http.ok(http.patch(f"{CONFIGMAPS}/a", {"data": {"k": "v"}}), 200)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_generation_starts_at_1_and_bumps_only_on_spec_changes(widgets: Client) -> None:
    created = widgets.create(WIDGETS, widget("w"))
    assert created["metadata"]["generation"] == 1
    labelled = widgets.ok(widgets.patch(f"{WIDGETS}/w", {"metadata": {"labels": {"a": "b"}}}), 200)
    assert labelled["metadata"]["generation"] == 1
    status = widgets.ok(widgets.patch(f"{WIDGETS}/w/status", {"status": {"phase": "x"}}), 200)
    assert status["metadata"]["generation"] == 1
    resized = widgets.ok(widgets.patch(f"{WIDGETS}/w", {"spec": {"size": 2}}), 200)
    assert resized["metadata"]["generation"] == 2


def test_status_subresource_separates_status_from_the_rest(widgets: Client) -> None:
    created = widgets.create(WIDGETS, {**widget("w"), "status": {"phase": "ignored on create"}})
    assert "status" not in created
    main = widgets.ok(widgets.patch(f"{WIDGETS}/w", {"spec": {"size": 5}, "status": {"phase": "nope"}}), 200)
    assert main["spec"]["size"] == 5
    assert "status" not in main
    status = widgets.ok(widgets.patch(f"{WIDGETS}/w/status", {"spec": {"size": 9}, "status": {"phase": "Ok"}}), 200)
    assert status["spec"]["size"] == 5
    assert status["status"] == {"phase": "Ok"}
    assert widgets.read(f"{WIDGETS}/w/status")["status"] == {"phase": "Ok"}
    replaced = widgets.ok(widgets.put(f"{WIDGETS}/w", {**status, "status": {"phase": "lost"}}), 200)
    assert replaced["status"] == {"phase": "Ok"}


def test_schema_defaults_and_validation_apply_to_custom_resources(widgets: Client) -> None:
    created = widgets.create(WIDGETS, {**widget("w"), "spec": {"size": 1, "unknown": True}})
    assert created["spec"] == {"size": 1, "color": "blue"}  # pruned and defaulted
    response = widgets.post(WIDGETS, widget("bad", size=0))
    body = status_of(response)
    assert response.status_code == 422
    assert body["details"]["causes"][0]["field"] == "spec.size"
    assert body["message"].startswith('Widget.example.com "bad" is invalid: spec.size')


def test_strict_field_validation_rejects_unknown_fields(widgets: Client) -> None:
    response = widgets.post(f"{WIDGETS}?fieldValidation=Strict", {**widget("w"), "spec": {"size": 1, "extra": 1}})
    assert response.status_code == 400
    assert 'unknown field "spec.extra"' in status_of(response)["message"]


def test_dry_run_validates_but_stores_nothing(http: Client, widgets: Client) -> None:
    before = http.read(CONFIGMAPS)["metadata"]["resourceVersion"]
    created = http.ok(http.post(f"{CONFIGMAPS}?dryRun=All", {"metadata": {"name": "a"}}), 201)
    assert created["metadata"]["name"] == "a"
    assert "resourceVersion" not in created["metadata"]
    assert http.get(f"{CONFIGMAPS}/a").status_code == 404
    assert widgets.post(f"{WIDGETS}?dryRun=All", widget("bad", size=0)).status_code == 422
    http.create(CONFIGMAPS, {"metadata": {"name": "b"}, "data": {"k": "1"}})
    rv = http.read(f"{CONFIGMAPS}/b")["metadata"]["resourceVersion"]
    patched = http.ok(http.patch(f"{CONFIGMAPS}/b?dryRun=All", {"data": {"k": "2"}}), 200)
    assert patched["data"] == {"k": "2"}
    assert http.read(f"{CONFIGMAPS}/b")["data"] == {"k": "1"}
    http.ok(http.delete(f"{CONFIGMAPS}/b?dryRun=All"), 200)
    assert http.read(f"{CONFIGMAPS}/b")["metadata"]["resourceVersion"] == rv
    assert int(http.read(CONFIGMAPS)["metadata"]["resourceVersion"]) == int(before) + 1  # only "b"
    assert http.post(f"{CONFIGMAPS}?dryRun=Some", {"metadata": {"name": "c"}}).status_code == 400


def test_lists_carry_kind_resource_version_and_typed_items(http: Client) -> None:
    for name in ("a", "b"):
        http.create(CONFIGMAPS, {"metadata": {"name": name}})
    body = http.read(CONFIGMAPS)
    assert (body["kind"], body["apiVersion"]) == ("ConfigMapList", "v1")
    assert body["metadata"]["resourceVersion"] == body["items"][-1]["metadata"]["resourceVersion"]
    assert [(i["kind"], i["metadata"]["name"]) for i in body["items"]] == [("ConfigMap", "a"), ("ConfigMap", "b")]


def test_cluster_wide_list_of_a_namespaced_kind(http: Client) -> None:
    http.create(NAMESPACES, {"metadata": {"name": "other"}})
    http.create(CONFIGMAPS, {"metadata": {"name": "a"}})
    http.create("/api/v1/namespaces/other/configmaps", {"metadata": {"name": "a"}})
    items = http.read("/api/v1/configmaps")["items"]
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items] == [("default", "a"), ("other", "a")]


def test_limit_and_continue_page_through_everything_once(http: Client) -> None:
    for index in range(7):
        http.create(CONFIGMAPS, {"metadata": {"name": f"cm-{index}"}})
    seen, token, pages = [], "", 0
    while True:
        page = http.read(f"{CONFIGMAPS}?limit=3" + (f"&continue={token}" if token else ""))
        seen += [i["metadata"]["name"] for i in page["items"]]
        pages += 1
        token = page["metadata"].get("continue", "")
        if not token:
            break
        assert page["metadata"]["remainingItemCount"] == 7 - len(seen)
    assert (seen, pages) == ([f"cm-{i}" for i in range(7)], 3)
    assert http.get(f"{CONFIGMAPS}?limit=3&continue=garbage").status_code == 400


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["a", "b"]),
        ("app==web,tier=front", ["a"]),
        ("app!=web", ["c", "d"]),
        ("tier in (front,back)", ["a", "b"]),
        ("tier notin (front)", ["b", "c", "d"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c", "d"]),
        ("app=web,!tier", []),
    ],
)
def test_label_selectors_filter_lists(http: Client, selector: str, expected: list[str]) -> None:
    labels = {"a": {"app": "web", "tier": "front"}, "b": {"app": "web", "tier": "back"}, "c": {"app": "db"}, "d": {}}
    for name, values in labels.items():
        http.create(CONFIGMAPS, {"metadata": {"name": name, "labels": values}})
    items = http.get(CONFIGMAPS, params={"labelSelector": selector}).json()["items"]
    assert [i["metadata"]["name"] for i in items] == expected


def test_field_selectors_filter_and_unknown_fields_are_400(http: Client) -> None:
    http.create(CONFIGMAPS, {"metadata": {"name": "a"}})
    http.create(CONFIGMAPS, {"metadata": {"name": "b"}})
    items = http.get(CONFIGMAPS, params={"fieldSelector": "metadata.name!=a"}).json()["items"]
    assert [i["metadata"]["name"] for i in items] == ["b"]
    items = http.get("/api/v1/configmaps", params={"fieldSelector": "metadata.namespace=default,metadata.name=a"})
    assert [i["metadata"]["name"] for i in items.json()["items"]] == ["a"]
    response = http.get(CONFIGMAPS, params={"fieldSelector": "spec.foo=bar"})
    assert response.status_code == 400
    assert status_of(response)["message"] == "field label not supported: spec.foo"


def test_bad_label_selector_is_400(http: Client) -> None:
    response = http.get(CONFIGMAPS, params={"labelSelector": "a in b"})
    assert response.status_code == 400
    assert status_of(response)["reason"] == "BadRequest"


def test_partial_object_metadata_and_yaml_are_negotiated_and_protobuf_is_406(http: Client) -> None:
    http.create(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"secret": "x"}})
    meta = http.read(CONFIGMAPS, headers={"Accept": "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"})
    assert meta["kind"] == "PartialObjectMetadataList"
    assert "data" not in meta["items"][0]
    assert http.get(f"{CONFIGMAPS}/a", headers={"Accept": "application/yaml"}).text.startswith("apiVersion: v1")
    response = http.get(CONFIGMAPS, headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert response.status_code == 406
    assert status_of(response)["reason"] == "NotAcceptable"


def test_methods_without_a_verb_are_405(http: Client) -> None:
    response = http.put(CONFIGMAPS, {"metadata": {"name": "a"}})
    assert response.status_code == 405
    assert status_of(response)["reason"] == "MethodNotAllowed"
    http.create(CONFIGMAPS, {"metadata": {"name": "a"}})
    assert http.post(f"{CONFIGMAPS}/a", {"metadata": {"name": "a"}}).status_code == 405
    assert http.post(f"{NAMESPACES}/default/status", {"metadata": {"name": "default"}}).status_code == 405
    assert http.delete(f"{NAMESPACES}/default/status").status_code == 405


def test_role_binding_role_ref_is_immutable(http: Client) -> None:
    path = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings"
    binding = {
        "metadata": {"name": "rb"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "a"},
        "subjects": [{"kind": "User", "name": "u"}],
    }
    http.create(path, binding)
    response = http.patch(f"{path}/rb", {"roleRef": {"name": "b"}})
    assert response.status_code == 422
    assert "cannot change roleRef" in status_of(response)["message"]
