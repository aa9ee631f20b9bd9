"""Field errors as the real API server words them (k8s.io/apimachinery ``field.Error``).

A :class:`FieldError` carries the ``StatusCause`` of a 422: ``field`` is the path
(``spec.arches[1]``), ``reason`` the cause type (``FieldValueRequired``...), ``message`` what
``field.Error.ErrorBody()`` prints (``Unsupported value: "c": supported values: "a", "b"``).
Bad values are rendered the way Go renders them: strings ``%q``-quoted, numbers with ``%v``
(``1e+06`` for a float of a million), anything else as JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .api import ApiError

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
TYPE_INVALID = "FieldValueTypeInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
DUPLICATE = "FieldValueDuplicate"
INTERNAL = "InternalError"

# The word each cause type prints (field.ErrorType.String()).
_TYPE_WORDS = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    TYPE_INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    FORBIDDEN: "Forbidden",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
    DUPLICATE: "Duplicate value",
    INTERNAL: "Internal error",
}

# What field.Path.String() prints for a nil path (errors about the object as a whole).
NIL_PATH = "<nil>"


class Omit:
    """Marker for ``field.OmitValueType``: the error names no value."""


OMIT = Omit()


@dataclass(frozen=True)
class FieldError:
    """One ``StatusCause`` of a 422 Invalid answer."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def go_float(value: float) -> str:
    """Go's ``%v`` for a float64: shortest digits, exponent form from 1e6 up or below 1e-4."""
    if math.isinf(value) or math.isnan(value) or value == 0:
        special = {math.inf: "+Inf", -math.inf: "-Inf"}.get(value, "NaN" if math.isnan(value) else "0")
        return "-0" if special == "0" and math.copysign(1.0, value) < 0 else special
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits)
    decimal_exponent = len(text) + exponent - 1  # position of the leading digit
    prefix = "-" if sign else ""
    # strconv 'g' with shortest precision switches to %e when exp < -4 or exp >= 6.
    if decimal_exponent < -4 or decimal_exponent >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'+' if decimal_exponent >= 0 else '-'}{abs(decimal_exponent):02d}"
    point = len(text) + exponent  # digits before the decimal point
    if exponent >= 0:
        plain = text + "0" * exponent
    elif point > 0:
        plain = text[:point] + "." + text[point:]
    else:
        plain = "0." + "0" * (-point) + text
    return prefix + plain


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: double quotes, C-style escapes, printable Unicode kept."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not char.isprintable() and char != " ":
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_json_ready(value: Any) -> Any:
    """Integral floats marshal without a fraction in Go (``3``, not ``3.0``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _go_json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_json_ready(v) for v in value]
    return value


def go_json(value: Any) -> str:
    """Go's ``json.Marshal``: compact, map keys sorted, HTML characters escaped."""
    text = json.dumps(_go_json_ready(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def go_value(value: Any) -> str:
    """How ``field.Error`` prints a bad value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_json(value)


def _error(field: str, reason: str, value: Any, detail: str) -> FieldError:
    word = _TYPE_WORDS[reason]
    if reason in (REQUIRED, FORBIDDEN, TOO_LONG, INTERNAL) or isinstance(value, Omit):
        body = word
    else:
        body = f"{word}: {go_value(value)}"
    if detail:
        body += f": {detail}"
    return FieldError(field=field, reason=reason, message=body)


def required(field: str, detail: str = "") -> FieldError:
    return _error(field, REQUIRED, "", detail)


def invalid(field: str, value: Any, detail: str) -> FieldError:
    return _error(field, INVALID, value, detail)


def type_invalid(field: str, value: Any, detail: str) -> FieldError:
    return _error(field, TYPE_INVALID, value, detail)


def not_supported(field: str, value: Any, supported: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(go_quote(v) for v in supported) if supported else ""
    return _error(field, NOT_SUPPORTED, value, detail)


def forbidden(field: str, detail: str) -> FieldError:
    return _error(field, FORBIDDEN, "", detail)


def too_long(field: str, max_length: int) -> FieldError:
    unit = "byte" if max_length == 1 else "bytes"
    return _error(field, TOO_LONG, "", f"may not be more than {max_length} {unit}")


def too_many(field: str, actual: int, maximum: int) -> FieldError:
    unit = "item" if maximum == 1 else "items"
    return _error(field, TOO_MANY, actual, f"must have at most {maximum} {unit}")


def duplicate(field: str, value: Any) -> FieldError:
    return _error(field, DUPLICATE, value, "")


def aggregate_message(errors: list[FieldError]) -> str:
    """``utilerrors.Aggregate.Error()``: one error bare, several in brackets, duplicates once."""
    seen: list[str] = []
    for error in errors:
        text = str(error)
        if text not in seen:
            seen.append(text)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


def invalid_error(group: str, kind: str, name: str, errors: list[FieldError]) -> ApiError:
    """The 422 ``Invalid`` Status the API server answers for a rejected object."""
    qualified_kind = f"{kind}.{group}" if group else kind
    message = f'{qualified_kind} "{name}" is invalid'
    if errors:
        message += f": {aggregate_message(errors)}"
    causes = [{"reason": e.reason, "message": e.message, "field": e.field} for e in errors]
    details = {"name": name, "group": group, "kind": kind, "causes": causes}
    return ApiError(422, "Invalid", message, details)
