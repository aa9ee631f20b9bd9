"""Decoding the protobuf bodies kubectl sends to TokenRequest and the review endpoints."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.sandbox.openshift.protobuf_bodies import MAGIC, ProtobufError, decode_body


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(raw)) + raw


def envelope(api_version: str, kind: str, payload: bytes) -> bytes:
    type_meta = field(1, api_version) + field(2, kind)
    return MAGIC + field(1, type_meta) + field(2, payload) + field(3, "") + field(4, "")


# Shaped like what kubectl 1.32 sends: empty ObjectMeta fields, status present but empty.
EMPTY_META = field(1, b"".join(field(n, "") for n in range(1, 7)) + field(7, 0) + field(8, ""))


def test_token_request_like_kubectl_create_token() -> None:
    bound = field(1, "Secret") + field(2, "v1") + field(3, "holder") + field(4, "uid-1")
    spec = field(1, "a1") + field(1, "a2") + field(3, bound) + field(4, 1200)
    raw = envelope("authentication.k8s.io/v1", "TokenRequest", EMPTY_META + field(2, spec) + field(3, field(1, "")))
    body = decode_body(raw)
    assert body["kind"] == "TokenRequest"
    assert body["apiVersion"] == "authentication.k8s.io/v1"
    assert body["spec"] == {
        "audiences": ["a1", "a2"],
        "boundObjectRef": {"kind": "Secret", "apiVersion": "v1", "name": "holder", "uid": "uid-1"},
        "expirationSeconds": 1200,
    }
    assert body["metadata"]["name"] == ""


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (
            field(
                1,
                field(1, "p")
                + field(2, "update")
                + field(3, "image.openshift.io")
                + field(4, "")
                + field(5, "imagestreams")
                + field(6, "layers")
                + field(7, "app"),
            ),
            {
                "resourceAttributes": {
                    "namespace": "p",
                    "verb": "update",
                    "group": "image.openshift.io",
                    "version": "",
                    "resource": "imagestreams",
                    "subresource": "layers",
                    "name": "app",
                }
            },
        ),
        (
            field(2, field(1, "/healthz") + field(2, "get")),
            {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}},
        ),
    ],
)
def test_self_subject_access_review(attributes: bytes, expected: dict) -> None:
    raw = envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", EMPTY_META + field(2, attributes))
    assert decode_body(raw)["spec"] == expected


def test_subject_access_review_with_groups_and_extra() -> None:
    extra_entry = field(1, "scopes") + field(2, field(1, "a") + field(1, "b"))
    spec = field(2, field(1, "/x") + field(2, "get")) + field(3, "alice") + field(4, "g1") + field(4, "g2")
    spec += field(5, extra_entry) + field(6, "uid")
    labels = field(11, field(1, "k") + field(2, "v"))
    raw = envelope("authorization.k8s.io/v1", "SubjectAccessReview", field(1, field(1, "n") + labels) + field(2, spec))
    body = decode_body(raw)
    assert body["metadata"] == {"name": "n", "labels": {"k": "v"}}
    assert body["spec"]["groups"] == ["g1", "g2"]
    assert body["spec"]["extra"] == {"scopes": ["a", "b"]}
    assert body["spec"]["user"] == "alice"
    assert body["spec"]["uid"] == "uid"


def test_rules_review_and_self_subject_review() -> None:
    rules = envelope("authorization.k8s.io/v1", "SelfSubjectRulesReview", EMPTY_META + field(2, field(1, "p")))
    assert decode_body(rules)["spec"] == {"namespace": "p"}
    whoami = envelope("authentication.k8s.io/v1", "SelfSubjectReview", EMPTY_META + field(2, field(1, b"")))
    assert set(decode_body(whoami)) == {"apiVersion", "kind", "metadata"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"kind":"TokenRequest"}',
        envelope("v1", "Secret", b""),
        MAGIC + b"\x0a\xff",  # truncated length
        MAGIC + b"\x0f",  # wire type 7
    ],
)
def test_rejects_what_it_cannot_decode(raw: bytes) -> None:
    with pytest.raises(ProtobufError):
        decode_body(raw)


@given(st.binary(max_size=200))
def test_random_bytes_only_raise_protobuf_error(raw: bytes) -> None:
    with contextlib.suppress(ProtobufError):
        decode_body(MAGIC + raw)
