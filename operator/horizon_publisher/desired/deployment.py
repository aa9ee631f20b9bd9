"""The Horizon ``deployment`` string, byte for byte as ``hzn exchange service publish`` stores and signs it.

hzn decodes the service file's ``deployment`` object into ``map[string]interface{}`` (every number
becomes a float64), rewrites images to digests, then ``json.Marshal``s it (anax
``cli/native_deployment``). Go's encoder, which ``deployment_string`` reproduces:

- object keys sorted at every level (byte order of their UTF-8, which equals code point order);
- no whitespace;
- strings: ``"`` and ``\\`` backslash-escaped; ``\\b \\f \\n \\r \\t`` short forms (Go >= 1.22; anax
  builds with 1.24+); other controls below U+0020 as ``\\u00XX`` (lower-case hex); ``<`` ``>`` ``&`` as
  ``\\u003c \\u003e \\u0026``; U+2028 and U+2029 as ``\\u2028 \\u2029``; everything else, DEL and all
  non-ASCII included, raw UTF-8. ``/`` is not escaped. A lone surrogate (only a Python string can hold
  one) becomes U+FFFD, as Go's decoder would have made of the ``\\udXXX`` escape;
- numbers: the float64 value in the shortest form that round-trips; plain decimal notation when
  1e-6 <= |x| < 1e21, else exponent form ``1e+21``, ``1.5e-7`` (sign always written, no zero padding);
  ``1.0`` -> ``1``, ``-0.0`` -> ``-0``; integers above 2^53 lose precision exactly as in hzn
  (``9007199254740993`` -> ``9007199254740992``). NaN and infinities are refused (Go refuses them too).

The agent verifies the stored bytes and only then parses them, so this canonical form is not required
for a valid signature; it makes the string (and so the "unchanged, do not re-sign" test) stable.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

INVALID_DEPLOYMENT = "InvalidDeployment"

_HTML_AND_LINE_SEPARATORS = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN_MIN, _PLAIN_LIMIT = 1e-6, 1e21  # Go's encoding/json switches to exponent form outside [1e-6, 1e21)


class DeploymentError(ValueError):
    """The deployment cannot be turned into what hzn would publish; ``message`` says where and why."""

    def __init__(self, message: str, reason: str = INVALID_DEPLOYMENT) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


def _repair_surrogates(text: str) -> str:
    """Pair up surrogates that form a character; each unpaired one becomes U+FFFD (Go's decoder does so)."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _go_string(text: str) -> str:
    # Python's escaper (ensure_ascii=False) matches Go's for '"', '\\', controls and the short forms.
    return json.dumps(_repair_surrogates(text), ensure_ascii=False).translate(_HTML_AND_LINE_SEPARATORS)


def _go_number(value: float, path: str) -> str:
    if not math.isfinite(value):
        raise DeploymentError(f"{path}: {value!r} is not a JSON number")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    shortest = Decimal(repr(value)).normalize()  # repr() is the shortest round-trip form, as Go's 'g' -1
    if _PLAIN_MIN <= abs(value) < _PLAIN_LIMIT:
        return format(shortest, "f")
    sign, digits, exponent = shortest.as_tuple()
    assert isinstance(exponent, int)  # finite
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    power = exponent + len(digits) - 1
    # strconv writes e+21 / e-07 and encoding/json trims e-07 to e-7; positive powers are >= 21 here.
    suffix = f"e+{power:02d}" if power >= 0 else f"e-{-power}"
    return f"{'-' if sign else ''}{mantissa}{suffix}"


def _encode(value: Any, path: str, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True or value is False:
        out.append("true" if value else "false")
    elif isinstance(value, str):
        out.append(_go_string(value))
    elif isinstance(value, int):
        try:
            as_float = float(value)  # hzn decodes every number into a float64
        except OverflowError:
            raise DeploymentError(f"{path}: integer too large for a JSON number") from None
        out.append(_go_number(as_float, path))
    elif isinstance(value, float):
        out.append(_go_number(value, path))
    elif isinstance(value, Mapping):
        _encode_object(value, path, out)
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, f"{path}[{index}]", out)
        out.append("]")
    else:
        raise DeploymentError(f"{path}: a {type(value).__name__} is not a JSON value")


def _encode_object(value: Mapping[Any, Any], path: str, out: list[str]) -> None:
    members: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise DeploymentError(f"{path}: object key {key!r} is not a string")
        repaired = _repair_surrogates(key)
        if repaired in members:
            raise DeploymentError(f"{path}: two keys become the same JSON key {_go_string(repaired)}")
        members[repaired] = item
    out.append("{")
    for index, key in enumerate(sorted(members)):  # code point order == Go's UTF-8 byte order
        if index:
            out.append(",")
        out.append(_go_string(key))
        out.append(":")
        _encode(members[key], f"{path}.{key}", out)
    out.append("}")


def deployment_string(deployment: Mapping[str, Any]) -> str:
    """The compact JSON text Go's ``json.Marshal`` makes of ``deployment`` (see the module docstring)."""
    if not isinstance(deployment, Mapping):
        raise DeploymentError("deployment: must be a JSON object")
    out: list[str] = []
    _encode_object(deployment, "deployment", out)
    return "".join(out)


def _plain_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_copy(item) for item in value]
    return value


def pin_images(deployment: Mapping[str, Any], pinned: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``deployment`` whose ``services[<container>].image`` is ``pinned[<container>]``.

    Every container named in ``pinned`` must exist in ``deployment["services"]``; nothing else changes
    and the input is not modified.
    """
    result: dict[str, Any] = _plain_copy(deployment)
    services = result.get("services")
    if not isinstance(services, dict):
        raise DeploymentError("deployment.services: missing or not an object")
    for container, image in pinned.items():
        service = services.get(container)
        if not isinstance(service, dict):
            known = ", ".join(sorted(map(str, services))) or "none"
            raise DeploymentError(f"deployment.services.{container}: no such container (containers: {known})")
        service["image"] = image
    return result


def unpinned_containers(deployment: Mapping[str, Any]) -> list[str]:
    """Containers whose image names no digest: a node would run whatever the tag points at, unsigned."""
    services = deployment.get("services")
    if not isinstance(services, Mapping):
        return []
    return sorted(
        str(name)
        for name, service in services.items()
        if not (isinstance(service, Mapping) and "@sha256:" in str(service.get("image") or ""))
    )
