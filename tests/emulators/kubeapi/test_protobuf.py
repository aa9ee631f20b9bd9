"""decode_protobuf_body on hand-built bodies: every embedded type, omission rules, malformed input, and fuzzing
(only ValueError may escape). Real kubectl bodies are in test_protobuf_kubectl.py."""

from __future__ import annotations

import base64
import contextlib
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protobuf_encoding import FIXED32, FIXED64, delimited, envelope, key, map_entries, number

from horizon_publisher.sandbox.kubeapi.api import ApiError
from horizon_publisher.sandbox.kubeapi.protobuf import MAGIC, decode, decode_protobuf_body
from horizon_publisher.sandbox.kubeapi.protobuf_types import TOP_LEVEL

RBAC = "rbac.authorization.k8s.io/v1"


def _obj(api_version: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": api_version, **fields}


def _meta(*fields: bytes) -> bytes:
    return delimited(1, b"".join(fields))


_FULL_META = _meta(
    delimited(1, "web"),
    delimited(2, "web-"),
    delimited(3, "prod"),
    delimited(4, ""),  # selfLink: Go writes empty strings; omitempty drops them
    delimited(5, "u-1"),
    delimited(6, "42"),
    number(7, 3),
    delimited(8, number(1, 1_700_000_000)),
    delimited(9, number(1, 1_700_000_060) + number(2, 5)),  # nanos are dropped, as by the real server
    number(10, 0),  # deletionGracePeriodSeconds is a pointer: present zero stays
    map_entries(11, {"app": "web", "tier": ""}),
    map_entries(12, {"note": "a=b"}),
    delimited(
        13, delimited(5, "v1") + delimited(1, "ConfigMap") + delimited(3, "cm") + delimited(4, "u-0") + number(6, 1)
    ),
    delimited(14, "example.com/f1"),
    delimited(14, "example.com/f2"),
    delimited(17, delimited(1, "kubectl")),  # managedFields: skipped
)
_FULL_META_JSON = {
    "name": "web",
    "generateName": "web-",
    "namespace": "prod",
    "uid": "u-1",
    "resourceVersion": "42",
    "generation": 3,
    "creationTimestamp": "2023-11-14T22:13:20Z",
    "deletionTimestamp": "2023-11-14T22:14:20Z",
    "deletionGracePeriodSeconds": 0,
    "labels": {"app": "web", "tier": ""},
    "annotations": {"note": "a=b"},
    "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "u-0", "controller": True}],
    "finalizers": ["example.com/f1", "example.com/f2"],
}
_UNKNOWN_FIELDS = number(99, 7) + key(98, FIXED64) + bytes(8) + key(97, FIXED32) + bytes(4) + delimited(96, "x")
_SELECTOR = delimited(1, "a=b") + delimited(2, delimited(1, "a") + delimited(2, "In") + delimited(3, "b"))

EDGE_CASES: list[tuple[str, bytes, dict[str, Any]]] = [
    ("full ObjectMeta", envelope("v1", "Namespace", _FULL_META), _obj("v1", "Namespace", metadata=_FULL_META_JSON)),
    (
        "unknown fields of every wire type are skipped",
        envelope("v1", "Namespace", _UNKNOWN_FIELDS + _meta(delimited(1, "n"), _UNKNOWN_FIELDS) + _UNKNOWN_FIELDS),
        _obj("v1", "Namespace", metadata={"name": "n"}),
    ),
    (
        "negative int64, epoch time, zero time",
        envelope("v1", "Namespace", _meta(number(7, -1), delimited(8, number(1, 0)), delimited(9, b""))),
        _obj(
            "v1",
            "Namespace",
            metadata={"generation": -1, "creationTimestamp": "1970-01-01T00:00:00Z", "deletionTimestamp": None},
        ),
    ),
    (
        "Secret pointer bool, stringData, empty and binary data",
        envelope(
            "v1",
            "Secret",
            number(5, 0)
            + map_entries(2, {"e": b"", "b": b"\x00\xff"})
            + map_entries(4, {"s": "t"})
            + delimited(3, "Opaque"),
        ),
        _obj("v1", "Secret", immutable=False, data={"e": "", "b": "AP8="}, stringData={"s": "t"}, type="Opaque"),
    ),
    (
        "map entries without key or value",
        envelope(
            "v1", "ConfigMap", delimited(2, delimited(2, "v")) + delimited(2, delimited(1, "k")) + delimited(3, b"")
        ),
        _obj("v1", "ConfigMap", data={"": "v", "k": ""}, binaryData={"": ""}),
    ),
    (
        "ServiceAccount references",
        envelope(
            "v1",
            "ServiceAccount",
            delimited(2, delimited(3, "tok") + delimited(1, "")) + delimited(3, delimited(1, "pull")) + number(4, 0),
        ),
        _obj(
            "v1",
            "ServiceAccount",
            secrets=[{"name": "tok"}],
            imagePullSecrets=[{"name": "pull"}],
            automountServiceAccountToken=False,
        ),
    ),
    (
        "SubjectAccessReview with extra, selectors and status",
        envelope(
            "authorization.k8s.io/v1",
            "SubjectAccessReview",
            delimited(
                2,
                delimited(1, delimited(2, "list") + delimited(8, _SELECTOR) + delimited(9, _SELECTOR))
                + delimited(3, "alice")
                + delimited(4, "devs")
                + delimited(5, delimited(1, "scopes") + delimited(2, delimited(1, "a") + delimited(1, "b")))
                + delimited(6, "u-9"),
            )
            + delimited(3, number(1, 1) + number(4, 0) + delimited(2, "")),
        ),
        _obj(
            "authorization.k8s.io/v1",
            "SubjectAccessReview",
            spec={
                "resourceAttributes": {
                    "verb": "list",
                    "fieldSelector": {
                        "rawSelector": "a=b",
                        "requirements": [{"key": "a", "operator": "In", "values": ["b"]}],
                    },
                    "labelSelector": {
                        "rawSelector": "a=b",
                        "requirements": [{"key": "a", "operator": "In", "values": ["b"]}],
                    },
                },
                "user": "alice",
                "groups": ["devs"],
                "extra": {"scopes": ["a", "b"]},
                "uid": "u-9",
            },
            status={"allowed": True},
        ),
    ),
    (
        "DeleteOptions under any apiVersion, pointers kept when zero",
        envelope(
            "meta.k8s.io/v1",
            "DeleteOptions",
            number(1, 0)
            + delimited(2, delimited(1, "u") + delimited(2, ""))
            + number(3, 0)
            + delimited(4, "Foreground")
            + delimited(5, "All"),
        ),
        _obj(
            "meta.k8s.io/v1",
            "DeleteOptions",
            gracePeriodSeconds=0,
            preconditions={"uid": "u", "resourceVersion": ""},
            orphanDependents=False,
            propagationPolicy="Foreground",
            dryRun=["All"],
        ),
    ),
    (
        "ClusterRole aggregation with match expressions",
        envelope(
            RBAC, "ClusterRole", delimited(3, delimited(1, delimited(2, delimited(1, "k") + delimited(2, "Exists"))))
        ),
        _obj(
            RBAC,
            "ClusterRole",
            aggregationRule={"clusterRoleSelectors": [{"matchExpressions": [{"key": "k", "operator": "Exists"}]}]},
        ),
    ),
    (
        "invalid UTF-8 becomes U+FFFD like Go's JSON",
        envelope("v1", "Namespace", _meta(delimited(1, b"a\xffb"))),
        _obj("v1", "Namespace", metadata={"name": "a\ufffdb"}),
    ),
    (
        "last scalar wins",
        envelope("v1", "Namespace", _meta(delimited(1, "first"), delimited(1, "second"))),
        _obj("v1", "Namespace", metadata={"name": "second"}),
    ),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in EDGE_CASES], ids=[c[0] for c in EDGE_CASES])
def test_edge_cases_decode(body: bytes, expected: dict[str, Any]) -> None:
    assert decode_protobuf_body(body) == expected


_OVERLONG = bytes([0xFF] * 10) + b"\x01"
ERROR_CASES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "expected prefix"),
    ("JSON", b'{"kind":"Namespace"}', "expected prefix"),
    ("magic only", MAGIC, "empty body"),
    ("truncated key", MAGIC + b"\x0a", "truncated varint"),
    ("truncated length", MAGIC + b"\x0a\x05ab", "truncated field 1"),
    ("varint over 10 bytes", MAGIC + key(1, 0) + _OVERLONG, "longer than 10 bytes"),
    ("varint over 64 bits", MAGIC + key(1, 0) + bytes([0xFF] * 9) + b"\x7f", "overflows 64 bits"),
    ("field number 0", MAGIC + b"\x02\x00", "field number 0"),
    ("group wire type", MAGIC + key(5, 3), "unsupported wire type 3"),
    ("envelope field as varint", MAGIC + number(2, 1), "runtime.Unknown: wrong wire type"),
    ("gzip", envelope("v1", "Namespace", b"", content_encoding="gzip"), "contentEncoding 'gzip'"),
    ("unsupported kind", envelope("v1", "Pod", b""), "v1 Pod unsupported"),
    ("no type meta", MAGIC + delimited(2, b""), "<no apiVersion> <no kind>"),
    ("kind under another group", envelope("v1", "Role", b""), "v1 Role unsupported"),
    ("message as varint", envelope("v1", "Namespace", number(1, 5)), "Namespace.metadata: wrong wire type 0"),
    ("string as varint", envelope("v1", "Namespace", _meta(number(1, 5))), "ObjectMeta.name: wrong wire type 0"),
    ("bool as bytes", envelope("v1", "Secret", delimited(5, "x")), "Secret.immutable: wrong wire type 2"),
    ("map entry key as varint", envelope("v1", "ConfigMap", delimited(2, number(1, 1))), "in a map entry"),
    (
        "time beyond year 9999",
        envelope("v1", "Namespace", _meta(delimited(8, number(1, 1 << 40)))),
        "time out of range",
    ),
    (
        "time before year 1",
        envelope("v1", "Namespace", _meta(delimited(8, number(1, -62_135_596_801)))),
        "time out of range",
    ),
]


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_undecodable_bodies_raise_value_error(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        decode_protobuf_body(body)


def test_decode_for_handlers_maps_errors_to_statuses() -> None:
    assert decode(envelope("v1", "Namespace", _meta(delimited(1, "n"))))["metadata"] == {"name": "n"}
    with pytest.raises(ApiError) as unsupported:
        decode(envelope("v1", "Pod", b""))
    with pytest.raises(ApiError) as malformed:
        decode(MAGIC + b"\x0a")
    assert (unsupported.value.code, malformed.value.code) == (415, 400)
    assert "truncated varint" in malformed.value.message


def _wire_fields(payload: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Well-framed random fields (numbers 1..20, every wire type) whose delimited payloads come from ``payload``."""
    one = st.one_of(
        st.builds(number, st.integers(1, 20), st.integers(-(1 << 63), (1 << 64) - 1)),
        st.builds(delimited, st.integers(1, 20), payload),
        st.builds(lambda n, b: key(n, FIXED32) + b, st.integers(1, 20), st.binary(min_size=4, max_size=4)),
        st.builds(lambda n, b: key(n, FIXED64) + b, st.integers(1, 20), st.binary(min_size=8, max_size=8)),
    )
    return st.lists(one, max_size=6).map(b"".join)


_NESTED = st.recursive(st.binary(max_size=12), _wire_fields, max_leaves=20)
_KINDS = [*sorted(TOP_LEVEL), ("v1", "DeleteOptions")]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), prefixed=st.booleans())
def test_random_bytes_raise_only_value_error(data: bytes, prefixed: bool) -> None:
    with contextlib.suppress(ValueError):
        assert isinstance(decode_protobuf_body((MAGIC if prefixed else b"") + data), dict)


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(_KINDS), raw=_wire_fields(_NESTED))
def test_random_well_framed_objects_raise_only_value_error(kind: tuple[str, str], raw: bytes) -> None:
    """Framing is valid, so decoding reaches every field table with random nested content."""
    with contextlib.suppress(ValueError):
        decoded = decode_protobuf_body(envelope(*kind, raw))
        assert (decoded["apiVersion"], decoded["kind"]) == kind
        json.dumps(decoded)  # always JSON-serializable


_TEXT = st.text(max_size=8)


@settings(max_examples=100, deadline=None)
@given(labels=st.dictionaries(_TEXT, _TEXT, max_size=5), data=st.dictionaries(_TEXT, st.binary(max_size=8), max_size=5))
def test_maps_round_trip(labels: dict[str, str], data: dict[str, bytes]) -> None:
    body = envelope("v1", "Secret", _meta(map_entries(11, dict(labels))) + map_entries(2, dict(data)))
    decoded = decode_protobuf_body(body)
    assert decoded["metadata"].get("labels", {}) == labels
    assert decoded.get("data", {}) == {k: base64.b64encode(v).decode() for k, v in data.items()}
