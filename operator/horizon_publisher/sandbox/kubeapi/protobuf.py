"""Decode Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``) into JSON dicts.

kubectl's typed clients (create namespace/secret/configmap/serviceaccount/role/rolebinding/clusterrole/
clusterrolebinding/token, auth can-i, auth whoami) send built-in kinds this way. A body is the 4-byte
magic ``k8s\\x00`` followed by a ``runtime.Unknown`` {typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2,
contentEncoding = 3, contentType = 4}; ``raw`` is the object's own message, decoded here with the field
tables of :mod:`.protobuf_types` into the dict the same object's JSON encoding gives.

:func:`decode_protobuf_body` is pure (ValueError on bad input); :func:`decode` wraps it for the HTTP
handlers (400 for malformed bodies, 415 for kinds without a table).

Gaps against the real protobuf serializer:
- Only the kinds in :data:`.protobuf_types.TOP_LEVEL` (plus DeleteOptions) decode; any other kind is an
  :class:`UnsupportedKindError` (the real server decodes every built-in kind).
- apiVersion and kind must be in the envelope; the real server falls back to the URL's group/version/kind.
- ``metadata.managedFields`` and TokenRequest ``spec.attestations`` are skipped like unknown fields.
- A nil slice whose JSON tag lacks omitempty (e.g. Role ``rules``) is absent instead of ``null``.
- Invalid UTF-8 in strings becomes U+FFFD (what Go's JSON encoder would print), not an error.
- Proto groups (wire types 3/4) are refused instead of skipped; a repeated message field seen twice
  appends, and a singular message field seen twice replaces instead of merging.
- Time nanos are dropped (as the real server does); seconds outside years 1..9999 are an error.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from .api import JSON
from .errors import bad_request, unsupported_media_type
from .protobuf_types import ANY_VERSION_KINDS, TABLES, TOP_LEVEL, Field, Kind, Table

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5
_FIXED_SIZES = {_FIXED64: 8, _FIXED32: 4}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WireValue = int | bytes


class UnsupportedKindError(ValueError):
    """A well-framed body of a kind this module has no field table for."""


def decode(raw: bytes) -> JSON:
    """:func:`decode_protobuf_body` for the HTTP handlers: ApiError 415 for unknown kinds, 400 otherwise."""
    try:
        return decode_protobuf_body(raw)
    except UnsupportedKindError:
        raise unsupported_media_type(MEDIA_TYPE, ("application/json", "application/yaml")) from None
    except ValueError as error:
        raise bad_request(f"protobuf: {error}") from None


def decode_protobuf_body(raw: bytes) -> dict[str, Any]:
    """The JSON form of a ``k8s\\x00``-prefixed protobuf object; ValueError on anything undecodable."""
    if not raw.startswith(MAGIC):
        raise ValueError(f"provided data does not appear to be a protobuf message, expected prefix {MAGIC!r}")
    if len(raw) == len(MAGIC):
        raise ValueError("empty body")
    api_version, kind, payload = _unwrap(raw[len(MAGIC) :])
    table = kind if kind in ANY_VERSION_KINDS else TOP_LEVEL.get((api_version, kind))
    if table is None:
        shown = f"{api_version or '<no apiVersion>'} {kind or '<no kind>'}"
        raise UnsupportedKindError(f"protobuf decoding of {shown} unsupported")
    return {"kind": kind, "apiVersion": api_version, **_decode_message(payload, table)}


def _unwrap(envelope: bytes) -> tuple[str, str, bytes]:
    """runtime.Unknown -> (apiVersion, kind, raw)."""
    type_meta: dict[str, Any] = {}
    payload = b""
    content_encoding = ""
    for number, wire_type, value in _fields(envelope):
        if number in (1, 2, 3) and wire_type != _LENGTH_DELIMITED:
            raise ValueError(f"runtime.Unknown: wrong wire type {wire_type} for field {number}")
        if number == 1:
            type_meta = _decode_message(_as_bytes(value), "runtime.TypeMeta")
        elif number == 2:
            payload = _as_bytes(value)
        elif number == 3:
            content_encoding = _text(_as_bytes(value))
    if content_encoding:
        raise ValueError(f"runtime.Unknown: contentEncoding {content_encoding!r} unsupported")
    return str(type_meta.get("apiVersion", "")), str(type_meta.get("kind", "")), payload


def _decode_message(data: bytes, table_name: str) -> dict[str, Any]:
    table: Table = TABLES[table_name]
    out: dict[str, Any] = {}
    for number, wire_type, value in _fields(data):
        field = table.get(number)
        if field is None:
            continue  # unknown fields are skipped, as the generated Go unmarshalers do
        expected = _LENGTH_DELIMITED if field.length_delimited else _VARINT
        if wire_type != expected:
            raise ValueError(f"{table_name}.{field.json_name}: wrong wire type {wire_type}, expected {expected}")
        if field.kind in (Kind.STRING_MAP, Kind.BYTES_MAP, Kind.STRINGS_MAP):
            key, entry = _map_entry(_as_bytes(value), field, table_name)
            out.setdefault(field.json_name, {})[key] = entry
        elif field.repeated:
            out.setdefault(field.json_name, []).append(_scalar_or_message(field, value))
        else:
            out[field.json_name] = _scalar_or_message(field, value)
    for field in table.values():
        if not field.keep and _is_zero(out.get(field.json_name, "")):
            out.pop(field.json_name, None)
    return out


def _scalar_or_message(field: Field, value: WireValue) -> Any:
    if field.kind is Kind.INT:
        return _signed(_as_int(value))
    if field.kind is Kind.BOOL:
        return _as_int(value) != 0
    data = _as_bytes(value)
    if field.kind is Kind.STRING:
        return _text(data)
    if field.kind is Kind.TIME:
        return _time(data)
    return _decode_message(data, field.message)


def _map_entry(data: bytes, field: Field, table_name: str) -> tuple[str, Any]:
    """A map entry message {key = 1, value = 2}; a missing key or value is its zero value."""
    key = ""
    entry: Any = [] if field.kind is Kind.STRINGS_MAP else b""
    for number, wire_type, value in _fields(data):
        if number not in (1, 2):
            continue
        if wire_type != _LENGTH_DELIMITED:
            raise ValueError(f"{table_name}.{field.json_name}: wrong wire type {wire_type} in a map entry")
        if number == 1:
            key = _text(_as_bytes(value))
        elif field.kind is Kind.STRINGS_MAP:
            entry = _decode_message(_as_bytes(value), "ExtraValue").get("items", [])
        else:
            entry = _as_bytes(value)
    if field.kind is Kind.STRING_MAP:
        return key, _text(entry)
    if field.kind is Kind.BYTES_MAP:
        return key, base64.b64encode(entry).decode("ascii")
    return key, entry


def _time(data: bytes) -> str | None:
    """meta/v1 Time: empty means the zero time (JSON null); only seconds count, as in the real server."""
    if not data:
        return None
    seconds = _decode_message(data, "Timestamp").get("seconds", 0)
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"time out of range: {seconds} seconds") from None
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"


def _fields(data: bytes) -> Iterator[tuple[int, int, WireValue]]:
    """(field number, wire type, value) of each field; varints as int, the other wire types as bytes."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ValueError("illegal field number 0")
        if wire_type == _VARINT:
            value, position = _varint(data, position)
            yield number, wire_type, value
            continue
        if wire_type == _LENGTH_DELIMITED:
            size, position = _varint(data, position)
        elif wire_type in _FIXED_SIZES:
            size = _FIXED_SIZES[wire_type]
        else:
            raise ValueError(f"unsupported wire type {wire_type} for field {number}")
        end = position + size
        if end > len(data):
            raise ValueError(f"truncated field {number}: needs {size} bytes, {len(data) - position} left")
        yield number, wire_type, data[position:end]
        position = end


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if position >= len(data):
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value >= 1 << 64:
                raise ValueError("varint overflows 64 bits")
            return value, position
    raise ValueError("varint longer than 10 bytes")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _as_bytes(value: WireValue) -> bytes:
    if not isinstance(value, bytes):  # unreachable: callers check the wire type first
        raise ValueError("expected a length-delimited field")
    return value


def _as_int(value: WireValue) -> int:
    if not isinstance(value, int):  # unreachable: callers check the wire type first
        raise ValueError("expected a varint field")
    return value


def _is_zero(value: Any) -> bool:
    return value is None or value is False or value == "" or (type(value) is int and value == 0)
