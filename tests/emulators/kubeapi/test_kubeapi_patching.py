"""PATCH semantics: RFC 7386, RFC 6902 (``test`` -> 422), strategic merge with directives, 409/415."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubeapi_harness import CONFIGMAPS, WIDGETS, Client, status_of, widget

from horizon_publisher.sandbox.kubeapi.api import ApiError
from horizon_publisher.sandbox.kubeapi.patching import (
    JsonPatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=10,
)


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # the examples of RFC 7386 appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7386_examples(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


@given(st.dictionaries(st.text(max_size=3), json_values, max_size=4))
def test_merge_patch_of_an_object_with_itself_minus_nulls_is_idempotent(document: dict[str, Any]) -> None:
    once = merge_patch({}, document)
    assert merge_patch(once, document) == once


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        ([{"op": "add", "path": "/b", "value": 2}], {"a": [1, 2], "b": 2}),
        ([{"op": "add", "path": "/a/-", "value": 3}], {"a": [1, 2, 3]}),
        ([{"op": "add", "path": "/a/0", "value": 0}], {"a": [0, 1, 2]}),
        ([{"op": "remove", "path": "/a/1"}], {"a": [1]}),
        ([{"op": "replace", "path": "/a", "value": "x"}], {"a": "x"}),
        ([{"op": "move", "from": "/a", "path": "/b"}], {"b": [1, 2]}),
        ([{"op": "copy", "from": "/a/0", "path": "/c~1d"}], {"a": [1, 2], "c/d": 1}),
        ([{"op": "test", "path": "/a", "value": [1, 2]}, {"op": "remove", "path": "/a"}], {}),
    ],
)
def test_json_patch_operations(operations: list[Any], expected: Any) -> None:
    assert json_patch({"a": [1, 2]}, operations) == expected


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "test", "path": "/a", "value": 1}],
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "add", "path": "/x/y", "value": 1}],
        [{"op": "remove", "path": "/a/5"}],
    ],
)
def test_json_patch_failures_raise_without_changing_the_input(operations: list[Any]) -> None:
    document = {"a": [1, 2]}
    with pytest.raises(JsonPatchError):
        json_patch(document, operations)
    assert document == {"a": [1, 2]}


@pytest.mark.parametrize(
    "operations", [{"op": "add"}, [{"op": "frobnicate", "path": "/a"}], [{"op": "add", "path": "/a"}]]
)
def test_malformed_json_patches_are_400(operations: Any) -> None:
    with pytest.raises(ApiError) as error:
        json_patch({}, operations)
    assert error.value.code == 400


SA_KEYS = {"secrets": "name", "imagePullSecrets": "name"}


@pytest.mark.parametrize(
    ("original", "patch", "expected"),
    [
        pytest.param(
            {"secrets": [{"name": "a"}, {"name": "b"}]},
            {"secrets": [{"name": "c"}]},
            {"secrets": [{"name": "a"}, {"name": "b"}, {"name": "c"}]},
            id="merge-by-key-appends",
        ),
        pytest.param(
            {"secrets": [{"name": "a", "x": 1}]},
            {"secrets": [{"name": "a", "y": 2}]},
            {"secrets": [{"name": "a", "x": 1, "y": 2}]},
            id="merge-by-key-merges",
        ),
        pytest.param(
            {"secrets": [{"name": "a"}, {"name": "b"}]},
            {"secrets": [{"name": "a", "$patch": "delete"}]},
            {"secrets": [{"name": "b"}]},
            id="delete-directive",
        ),
        pytest.param(
            {"secrets": [{"name": "a"}, {"name": "b"}]},
            {"secrets": [{"name": "z"}, {"$patch": "replace"}]},
            {"secrets": [{"name": "z"}]},
            id="replace-list-directive",
        ),
        pytest.param(
            {"secrets": [{"name": "a"}, {"name": "b"}]},
            {"$setElementOrder/secrets": [{"name": "b"}, {"name": "a"}]},
            {"secrets": [{"name": "b"}, {"name": "a"}]},
            id="set-element-order",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a", "b"]}},
            {"metadata": {"finalizers": ["c"]}},
            {"metadata": {"finalizers": ["a", "b", "c"]}},
            id="primitive-merge-list",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a", "b"]}},
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
            {"metadata": {"finalizers": ["b"]}},
            id="delete-from-primitive-list",
        ),
        pytest.param(
            {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}},
            {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}},
            {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]}},
            id="owner-references-by-uid",
        ),
        pytest.param({"rules": [1, 2]}, {"rules": [3]}, {"rules": [3]}, id="atomic-list-replaced"),
        pytest.param({"m": {"a": 1, "b": 2}}, {"m": {"$patch": "replace", "c": 3}}, {"m": {"c": 3}}, id="map-replace"),
        pytest.param({"m": {"a": 1}, "n": 1}, {"m": {"$patch": "delete"}}, {"n": 1}, id="map-delete"),
        pytest.param(
            {"m": {"a": 1, "b": 2}},
            {"m": {"$retainKeys": ["b", "c"], "c": 3}},
            {"m": {"b": 2, "c": 3}},
            id="retain-keys",
        ),
        pytest.param({"data": {"a": "1"}}, {"data": {"a": None}}, {"data": {}}, id="null-deletes"),
    ],
)
def test_strategic_merge_patch(original: Any, patch: Any, expected: Any) -> None:
    assert strategic_merge_patch(original, patch, SA_KEYS) == expected


# --- over HTTP ------------------------------------------------------------------------------------


def test_failed_json_patch_test_is_422_and_changes_nothing(widgets: Client) -> None:
    created = widgets.create(WIDGETS, widget("w"))
    patch = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x"]},
    ]
    response = widgets.patch(f"{WIDGETS}/w", patch, kind="json")
    assert response.status_code == 422
    assert status_of(response)["reason"] == "Invalid"
    assert widgets.read(f"{WIDGETS}/w") == created
    patch[0]["value"] = created["metadata"]["resourceVersion"]
    patched = widgets.ok(widgets.patch(f"{WIDGETS}/w", patch, kind="json"), 200)
    assert patched["metadata"]["finalizers"] == ["x"]


def test_merge_patch_with_a_stale_resource_version_is_409(widgets: Client) -> None:
    created = widgets.create(WIDGETS, widget("w"))
    widgets.ok(widgets.patch(f"{WIDGETS}/w", {"spec": {"size": 2}}), 200)
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "spec": {"size": 3}}
    response = widgets.patch(f"{WIDGETS}/w", stale)
    assert response.status_code == 409
    assert status_of(response)["reason"] == "Conflict"
    assert widgets.read(f"{WIDGETS}/w")["spec"]["size"] == 2


def test_strategic_merge_is_415_for_custom_resources_and_works_for_builtins(widgets: Client) -> None:
    widgets.create(WIDGETS, widget("w"))
    response = widgets.patch(f"{WIDGETS}/w", {"spec": {"size": 2}}, kind="strategic")
    assert response.status_code == 415
    assert status_of(response)["reason"] == "UnsupportedMediaType"
    sa_path = "/api/v1/namespaces/default/serviceaccounts"
    widgets.create(sa_path, {"metadata": {"name": "sa"}, "secrets": [{"name": "a"}]})
    patched = widgets.ok(widgets.patch(f"{sa_path}/sa", {"secrets": [{"name": "b"}]}, kind="strategic"), 200)
    assert patched["secrets"] == [{"name": "a"}, {"name": "b"}]
    merged = widgets.ok(widgets.patch(f"{sa_path}/sa", {"secrets": [{"name": "c"}]}), 200)
    assert merged["secrets"] == [{"name": "c"}]


def test_unknown_patch_content_type_and_apply_are_415(http: Client) -> None:
    http.create(CONFIGMAPS, {"metadata": {"name": "a"}})
    for media in ("application/apply-patch+yaml", "text/plain"):
        response = http.request("PATCH", f"{CONFIGMAPS}/a", data="{}", headers={"Content-Type": media})
        assert response.status_code == 415


def test_patch_of_a_missing_object_is_404(http: Client) -> None:
    assert http.patch(f"{CONFIGMAPS}/missing", {"data": {}}).status_code == 404


def test_patch_may_not_rename(http: Client) -> None:
    http.create(CONFIGMAPS, {"metadata": {"name": "a"}})
    assert http.patch(f"{CONFIGMAPS}/a", {"metadata": {"name": "b"}}).status_code == 400
