"""Pure parsers and renderers: label selectors (hypothesis), JSONPath subset, ages, URL routing, Tables."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubeapi_harness import CRDS, WIDGETS, Client, widget, widget_crd

from horizon_publisher.sandbox.kubeapi.api import ApiError
from horizon_publisher.sandbox.kubeapi.jsonpath import find
from horizon_publisher.sandbox.kubeapi.routing import Route, parse_resource_path
from horizon_publisher.sandbox.kubeapi.selectors import Requirement, parse_label_selector
from horizon_publisher.sandbox.kubeapi.table import human_duration

names = st.from_regex(r"[a-z]([a-z0-9.-]{0,8}[a-z0-9])?(/[a-z]([a-z0-9]{0,6}))?", fullmatch=True).filter(
    lambda n: n not in ("in", "notin")
)
values = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,8}[A-Za-z0-9])?", fullmatch=True).filter(
    lambda v: v not in ("in", "notin")
)
requirements = st.one_of(
    st.builds(lambda k: Requirement(k, "exists"), names),
    st.builds(lambda k: Requirement(k, "!"), names),
    st.builds(lambda k, v, op: Requirement(k, op, (v,)), names, values, st.sampled_from(["=", "!="])),
    st.builds(
        lambda k, vs, op: Requirement(k, op, tuple(vs)),
        names,
        st.lists(values, min_size=1, max_size=3),
        st.sampled_from(["in", "notin"]),
    ),
)


def render(requirement: Requirement) -> str:
    if requirement.operator == "exists":
        return requirement.key
    if requirement.operator == "!":
        return f"!{requirement.key}"
    if requirement.operator in ("in", "notin"):
        return f"{requirement.key} {requirement.operator} ({','.join(requirement.values)})"
    return f"{requirement.key}{requirement.operator}{requirement.values[0]}"


@given(st.lists(requirements, min_size=1, max_size=4))
def test_label_selector_round_trips(parsed: list[Requirement]) -> None:
    assert parse_label_selector(",".join(render(r) for r in parsed)).requirements == tuple(parsed)


@given(st.text(max_size=20))
def test_label_selector_parser_fails_only_with_400(text: str) -> None:
    code = 400
    try:
        parse_label_selector(text)
    except ApiError as error:
        code = error.code
    assert code == 400


@pytest.mark.parametrize("text", ["a in b", "a in (b", "!", "a,", "=b", "a notin", "a b"])
def test_malformed_label_selectors(text: str) -> None:
    with pytest.raises(ApiError):
        parse_label_selector(text)


@pytest.mark.parametrize(
    ("labels", "matches"), [({"n": "5"}, True), ({"n": "1"}, False), ({"n": "x"}, False), ({}, False)]
)
def test_greater_than_compares_integers(labels: dict[str, str], matches: bool) -> None:
    assert parse_label_selector("n>3").matches({"metadata": {"labels": labels}}) is matches


DOCUMENT = {
    "spec": {"size": 3, "tags": ["a", "b"]},
    "metadata": {"labels": {"app.kubernetes.io/name": "x"}},
    "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (".spec.size", [3]),
        ("{.spec.size}", [3]),
        (".spec.tags[1]", ["b"]),
        (".spec.tags[-1]", ["b"]),
        (".spec.tags[*]", ["a", "b"]),
        (".spec.missing", []),
        (r".metadata.labels.app\.kubernetes\.io/name", ["x"]),
        (".metadata.labels['app.kubernetes.io/name']", ["x"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type!='Ready')].type", ["Synced"]),
    ],
)
def test_jsonpath_subset(expression: str, expected: list[Any]) -> None:
    assert find(DOCUMENT, expression) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (119, "119s"), (120, "2m"), (150, "2m30s"), (600, "10m"),
        (3 * 3600 - 1, "179m"), (3 * 3600, "3h"), (3 * 3600 + 60, "3h1m"), (8 * 3600, "8h"), (48 * 3600, "2d"),
        (49 * 3600, "2d1h"), (8 * 86400, "8d"), (2 * 365 * 86400, "2y"), (2 * 365 * 86400 + 86400, "2y1d"),
        (9 * 365 * 86400, "9y"),
    ],
)  # fmt: skip
def test_human_duration_matches_apimachinery(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/api/v1/namespaces", Route("v1", "namespaces", None, None, None)),
        ("/api/v1/namespaces/ns1", Route("v1", "namespaces", None, "ns1", None)),
        ("/api/v1/namespaces/ns1/status", Route("v1", "namespaces", None, "ns1", "status")),
        ("/api/v1/namespaces/ns1/secrets", Route("v1", "secrets", "ns1", None, None)),
        ("/api/v1/namespaces/ns1/serviceaccounts/sa/token", Route("v1", "serviceaccounts", "ns1", "sa", "token")),
        ("/apis/g.io/v1/things/x/status", Route("g.io/v1", "things", None, "x", "status")),
        ("/api/v1/watch/namespaces/ns1/secrets", Route("v1", "secrets", "ns1", None, None, legacy_watch=True)),
        ("/apis/g.io/v1", None),
        ("/version", None),
    ],
)
def test_resource_urls(path: str, route: Route | None) -> None:
    assert parse_resource_path(path) == route


def test_table_for_custom_resources_uses_printer_columns(http: Client) -> None:
    http.create(CRDS, widget_crd())
    http.create(WIDGETS, widget("w", size=4))
    http.patch(f"{WIDGETS}/w/status", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    table = http.read(WIDGETS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Ready", "Age"]
    cells = table["rows"][0]["cells"]
    assert cells[:3] == ["w", 4, "True"]
    assert cells[3].endswith("s")
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_table_for_secrets_has_type_and_data_columns(http: Client) -> None:
    http.create("/api/v1/namespaces/default/secrets", {"metadata": {"name": "s"}, "data": {"a": "", "b": ""}})
    table = http.read(
        "/api/v1/namespaces/default/secrets/s", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    )
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Type", "Data", "Age"]
    assert table["rows"][0]["cells"][:3] == ["s", "Opaque", 2]
