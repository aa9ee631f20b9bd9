"""A tiny protobuf wire encoder for the decoder tests: builds bodies kubectl never sends (maps, times,
negative numbers, unknown fields, broken framing)."""

from __future__ import annotations

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


def varint(value: int) -> bytes:
    """Unsigned LEB128; negative numbers as 64-bit two's complement (10 bytes), as Go writes int64."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def number(field: int, value: int) -> bytes:
    return key(field, VARINT) + varint(value)


def delimited(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return key(field, LENGTH_DELIMITED) + varint(len(data)) + data


def map_entries(field: int, entries: dict[str, bytes | str]) -> bytes:
    return b"".join(delimited(field, delimited(1, k) + delimited(2, v)) for k, v in entries.items())


def envelope(api_version: str, kind: str, raw: bytes, *, content_encoding: str = "") -> bytes:
    """``k8s\\x00`` + runtime.Unknown, the way client-go frames a body (empty encoding/type written)."""
    type_meta = delimited(1, api_version) + delimited(2, kind)
    unknown = delimited(1, type_meta) + delimited(2, raw) + delimited(3, content_encoding) + delimited(4, "")
    return b"k8s\x00" + unknown
