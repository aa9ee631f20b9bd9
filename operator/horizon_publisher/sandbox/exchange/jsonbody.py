"""Request bodies decoded the way the Exchange's Jackson (``DefaultScalaModule``, default settings) binds them
to its Scala case classes.

What Jackson does and this module reproduces: unknown properties are refused (``FAIL_ON_UNKNOWN_PROPERTIES``);
a scalar (number, boolean) is coerced into a ``String`` field as its text; ``"true"``/``"false"`` and
integers coerce into booleans; an object or array where a string is expected is refused; a missing or
``null`` primitive ``Boolean`` becomes ``false``; a missing ``Option`` is ``None``; a case-class ``require``
that fails refuses the body. The messages imitate Jackson's (without its ``at [Source: ...]`` suffix).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from horizon_publisher.sandbox.exchange.messages import PlainError, bad_input

Decoder = Callable[[Any, str], Any]

_TOKEN_NAMES = {dict: "Object", list: "Array", str: "String", bool: "Boolean", int: "Integer", float: "Float"}


class BodyError(ValueError):
    """The body does not bind to the case class (pekko turns this into 400 ``invalid-input``)."""


def _kind_of(value: Any) -> str:
    if value is None:
        return "Null"
    return _TOKEN_NAMES.get(type(value), type(value).__name__)


def _scalar_text(value: Any) -> str | None:
    """Jackson's StringDeserializer accepts scalars and uses their JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    return None


def string() -> Decoder:
    def decode(value: Any, where: str) -> str | None:
        if value is None:
            return None
        text = _scalar_text(value)
        if text is None:
            raise BodyError(
                f"Cannot deserialize value of type `java.lang.String` from {_kind_of(value)} value "
                f"(through reference chain: {where})"
            )
        return text

    return decode


def boolean(*, primitive: bool) -> Decoder:
    """``primitive``: a Scala ``Boolean`` (null or missing -> false); otherwise ``Option[Boolean]``."""

    def decode(value: Any, where: str) -> bool | None:
        if value is None:
            return False if primitive else None
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str) and value.strip() in ("true", "false"):
            return value.strip() == "true"
        raise BodyError(
            f"Cannot deserialize value of type `boolean` from {_kind_of(value)} value "
            f"(through reference chain: {where})"
        )

    return decode


def integer() -> Decoder:
    def decode(value: Any, where: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool):
            raise BodyError(
                f"Cannot deserialize value of type `int` from Boolean value (through reference chain: {where})"
            )
        if isinstance(value, int):
            if not -(2**31) <= value < 2**31:
                raise BodyError(f"Numeric value ({value}) out of range of int (through reference chain: {where})")
            return value
        if isinstance(value, float) and math.isfinite(value):
            return decode(int(value), where)  # ACCEPT_FLOAT_AS_INT truncates
        if isinstance(value, str):
            try:
                return decode(int(value.strip(), 10), where)
            except ValueError:
                pass
        raise BodyError(
            f"Cannot deserialize value of type `int` from {_kind_of(value)} value (through reference chain: {where})"
        )

    return decode


def any_value() -> Decoder:
    return lambda value, where: value


def map_of(values: Decoder) -> Decoder:
    def decode(value: Any, where: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise BodyError(
                f"Cannot deserialize value of type `scala.collection.immutable.Map` from {_kind_of(value)} value "
                f"(through reference chain: {where})"
            )
        return {key: values(item, f"{where}[{key!r}]") for key, item in value.items()}

    return decode


def list_of(items: Decoder) -> Decoder:
    def decode(value: Any, where: str) -> list[Any] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            raise BodyError(
                f"Cannot deserialize value of type `scala.collection.immutable.List` from {_kind_of(value)} value "
                f"(through reference chain: {where})"
            )
        return [items(item, f"{where}[{index}]") for index, item in enumerate(value)]

    return decode


@dataclass(frozen=True)
class Record:
    """A Scala case class: its JVM name (for messages), its fields, and the fields its ``require`` checks."""

    class_name: str
    fields: Mapping[str, Decoder]
    required: Sequence[str] = ()

    def __call__(self, value: Any, where: str = "") -> dict[str, Any] | None:
        if value is None:
            return None
        short = self.class_name.rsplit(".", 1)[-1]
        if not isinstance(value, dict):
            raise BodyError(f"Cannot deserialize value of type `{self.class_name}` from {_kind_of(value)} value")
        for key in value:
            if key not in self.fields:
                raise BodyError(
                    f'Unrecognized field "{key}" (class {self.class_name}), not marked as ignorable '
                    f"({len(self.fields)} known properties: {', '.join(repr(k) for k in self.fields)})"
                )
        decoded = {
            name: decoder(value.get(name), f"{where or short}[{name!r}]") for name, decoder in self.fields.items()
        }
        if any(decoded[name] is None for name in self.required):
            raise BodyError(f"Cannot construct instance of `{self.class_name}`, problem: requirement failed")
        return decoded


def parse_json_text(raw: bytes) -> Any:
    """Parse a request body as JSON, with pekko's answer for an empty body and Jackson-like parse errors."""
    if not raw:
        raise PlainError(400, "Request entity expected but not supplied")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as error:
        raise bad_input(f"Invalid UTF-8 start byte 0x{raw[error.start]:02x}") from None
    except json.JSONDecodeError as error:
        raise bad_input(
            f"Unexpected character: {error.msg} at [Source: (String); line: {error.lineno}, column: {error.colno}]"
        ) from None
    except ValueError as error:  # NaN / Infinity, which Jackson refuses by default
        raise bad_input(str(error)) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow")


def bind(raw: bytes, record: Record) -> dict[str, Any]:
    """Body bytes -> the case class's fields, or the 400 the real server answers."""
    document = parse_json_text(raw)
    try:
        decoded = record(document)
    except BodyError as error:
        raise bad_input(str(error)) from None
    if decoded is None:  # the literal body ``null``
        raise bad_input(f"Cannot construct instance of `{record.class_name}`, problem: requirement failed")
    return decoded
