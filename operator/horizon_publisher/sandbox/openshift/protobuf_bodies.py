"""Decode the protobuf request bodies kubectl sends to the review and TokenRequest endpoints.

kubectl's typed clients (``create token``, ``auth can-i``, ``auth whoami``) POST
``application/vnd.kubernetes.protobuf``: the magic ``k8s\\0`` followed by a ``runtime.Unknown``
{typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3, contentType=4} whose ``raw`` is the
object. Only the kinds below are understood (field numbers from k8s.io/api ``generated.proto``);
anything else raises :class:`ProtobufError`.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    """The body is not a protobuf message this decoder knows."""


# A message descriptor: field number -> (JSON name, kind, repeated). kind is "string", "int64", "bool",
# "map" (map<string,string>), "extra" (map<string, ExtraValue{items=1}>) or a nested descriptor.
Descriptor = dict[int, tuple[str, Any, bool]]

OBJECT_META: Descriptor = {
    1: ("name", "string", False),
    2: ("generateName", "string", False),
    3: ("namespace", "string", False),
    11: ("labels", "map", False),
    12: ("annotations", "map", False),
}
RESOURCE_ATTRIBUTES: Descriptor = {
    1: ("namespace", "string", False),
    2: ("verb", "string", False),
    3: ("group", "string", False),
    4: ("version", "string", False),
    5: ("resource", "string", False),
    6: ("subresource", "string", False),
    7: ("name", "string", False),
}
NON_RESOURCE_ATTRIBUTES: Descriptor = {1: ("path", "string", False), 2: ("verb", "string", False)}
SUBJECT_ACCESS_REVIEW_SPEC: Descriptor = {
    1: ("resourceAttributes", RESOURCE_ATTRIBUTES, False),
    2: ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES, False),
    3: ("user", "string", False),
    4: ("groups", "string", True),
    5: ("extra", "extra", False),
    6: ("uid", "string", False),
}
BOUND_OBJECT_REFERENCE: Descriptor = {
    1: ("kind", "string", False),
    2: ("apiVersion", "string", False),
    3: ("name", "string", False),
    4: ("uid", "string", False),
}
TOKEN_REQUEST_SPEC: Descriptor = {
    1: ("audiences", "string", True),
    3: ("boundObjectRef", BOUND_OBJECT_REFERENCE, False),
    4: ("expirationSeconds", "int64", False),
}
TOKEN_REVIEW_SPEC: Descriptor = {1: ("token", "string", False), 2: ("audiences", "string", True)}


def _object(spec: Descriptor | None) -> Descriptor:
    fields: Descriptor = {1: ("metadata", OBJECT_META, False)}
    if spec is not None:
        fields[2] = ("spec", spec, False)
    return fields


KINDS: dict[str, Descriptor] = {
    "TokenRequest": _object(TOKEN_REQUEST_SPEC),
    "TokenReview": _object(TOKEN_REVIEW_SPEC),
    "SelfSubjectReview": _object(None),
    "SubjectAccessReview": _object(SUBJECT_ACCESS_REVIEW_SPEC),
    "LocalSubjectAccessReview": _object(SUBJECT_ACCESS_REVIEW_SPEC),
    "SelfSubjectAccessReview": _object(
        {
            1: ("resourceAttributes", RESOURCE_ATTRIBUTES, False),
            2: ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES, False),
        }
    ),
    "SelfSubjectRulesReview": _object({1: ("namespace", "string", False)}),
}


def _varint(data: bytes, index: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if index >= len(data) or shift > 63:
            raise ProtobufError("truncated varint")
        byte = data[index]
        index += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, index


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """Wire-level (field number, varint or length-delimited bytes); fixed32/64 are skipped."""
    out: list[tuple[int, int | bytes]] = []
    index = 0
    while index < len(data):
        key, index = _varint(data, index)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, index = _varint(data, index)
            out.append((number, value))
        elif wire_type == 2:
            length, index = _varint(data, index)
            if index + length > len(data):
                raise ProtobufError("truncated field")
            out.append((number, data[index : index + length]))
            index += length
        elif wire_type in (1, 5):
            index += 8 if wire_type == 1 else 4
        else:
            raise ProtobufError(f"unsupported wire type {wire_type}")
    return out


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited field")
    try:
        return value.decode()
    except UnicodeDecodeError as exc:
        raise ProtobufError("invalid UTF-8 in a string field") from exc


def _map_entry(value: int | bytes) -> tuple[str, int | bytes]:
    """A map entry {key=1, value=2}; the value stays raw (a string, or an ExtraValue message)."""
    if not isinstance(value, bytes):
        raise ProtobufError("expected a map entry")
    key: str = ""
    raw: int | bytes = b""
    for number, inner in _fields(value):
        if number == 1:
            key = _text(inner)
        elif number == 2:
            raw = inner
    return key, raw


def _decode_value(name: str, kind: Any, value: int | bytes) -> Any:
    if kind == "string":
        return _text(value)
    if kind == "int64":
        if not isinstance(value, int):
            raise ProtobufError(f"{name}: expected a varint")
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "bool":
        return bool(value)
    if not isinstance(value, bytes):
        raise ProtobufError(f"{name}: expected a message")
    return decode_message(value, kind)


def decode_message(data: bytes, descriptor: Descriptor) -> JSON:
    out: JSON = {}
    for number, value in _fields(data):
        if number not in descriptor:
            continue  # unknown or status fields: not needed by the server side
        name, kind, repeated = descriptor[number]
        if kind in ("map", "extra"):
            key, raw = _map_entry(value)
            if kind == "map":
                out.setdefault(name, {})[key] = _text(raw)
            elif isinstance(raw, bytes):  # ExtraValue{repeated string items = 1}
                out.setdefault(name, {})[key] = [_text(v) for n, v in _fields(raw) if n == 1]
            else:
                raise ProtobufError(f"{name}: expected an ExtraValue")
        elif repeated:
            out.setdefault(name, []).append(_decode_value(name, kind, value))
        else:
            out[name] = _decode_value(name, kind, value)
    return out


def decode_body(raw: bytes) -> JSON:
    """The JSON equivalent of a ``k8s\\0``-framed protobuf body of one of :data:`KINDS`."""
    if not raw.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic")
    api_version, kind, payload = "", "", b""
    for number, value in _fields(raw[len(MAGIC) :]):
        if number == 1 and isinstance(value, bytes):
            for inner_number, inner in _fields(value):
                if inner_number == 1:
                    api_version = _text(inner)
                elif inner_number == 2:
                    kind = _text(inner)
        elif number == 2 and isinstance(value, bytes):
            payload = value
    descriptor = KINDS.get(kind)
    if descriptor is None:
        raise ProtobufError(f"no protobuf decoder for kind {kind!r}")
    body = decode_message(payload, descriptor)
    return {"apiVersion": api_version, "kind": kind, **body}
