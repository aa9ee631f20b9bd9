"""String formats the API server checks in CRD schemas (kube-openapi ``strfmt``).

The API server strips formats it does not know before validating, so an unknown ``format`` is
never an error. Known formats that are only approximated here are listed under Gaps in
``schema.py``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from datetime import date

_DATE_TIME_TAIL = re.compile(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$")
_UUID = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_UUID3 = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_UUID4 = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
_UUID5 = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
_MAC = re.compile(r"^(?:[0-9A-Fa-f]{2}[:-]){5,19}[0-9A-Fa-f]{2}$|^(?:[0-9A-Fa-f]{4}\.){2,9}[0-9A-Fa-f]{4}$")
_HOSTNAME_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGB_COLOR = re.compile(
    r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,"
    r"\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$"
)
_DURATION = re.compile(r"^(?:[-+]?(?:\d+(?:\.\d*)?|\.\d+)\s*(?:ns|us|µs|ms|s|m|h|d|w)\s*)+$")
_BSON_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")
_SSN = re.compile(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$")


def is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is not None


def is_date_time(text: str) -> bool:
    """strfmt.IsDateTime: a full-date, ``T``, and a time with a zone (``Z`` or ``+hh:mm``)."""
    if len(text) < 4:
        return False
    parts = text.lower().split("t")
    if len(parts) < 2 or not is_date(parts[0]):
        return False
    match = _DATE_TIME_TAIL.match(parts[1])
    if match is None:
        return False
    return match.group(1) <= "23" and match.group(2) <= "59" and match.group(3) <= "59"


def is_byte(text: str) -> bool:
    if not _BASE64.match(text):
        return False
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def is_hostname(text: str) -> bool:
    if not text or len(text) > 255:
        return False
    return all(_HOSTNAME_LABEL.match(label) for label in text.rstrip(".").split("."))


def is_uri(text: str) -> bool:
    """Go's ``url.ParseRequestURI``: an absolute URI or an absolute path, no fragment."""
    if not text or "#" in text or any(c.isspace() for c in text):
        return False
    if text.startswith("/"):
        return True
    scheme, sep, _ = text.partition(":")
    return bool(sep) and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) is not None


def is_isbn10(text: str) -> bool:
    digits = re.sub(r"[\s-]", "", text)
    if not re.fullmatch(r"\d{9}[\dX]", digits):
        return False
    total = sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(digits))
    return total % 11 == 0


def is_isbn13(text: str) -> bool:
    digits = re.sub(r"[\s-]", "", text)
    if not re.fullmatch(r"\d{13}", digits):
        return False
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(digits))
    return total % 10 == 0


def _matcher(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda text: pattern.match(text) is not None


# Keyed by the name with dashes removed, as go-openapi normalizes them ("date-time" == "datetime").
STRING_FORMATS: dict[str, Callable[[str], bool]] = {
    "datetime": is_date_time,
    "date": is_date,
    "byte": is_byte,
    "uuid": _matcher(_UUID),
    "uuid3": _matcher(_UUID3),
    "uuid4": _matcher(_UUID4),
    "uuid5": _matcher(_UUID5),
    "ipv4": is_ipv4,
    "ipv6": is_ipv6,
    "cidr": is_cidr,
    "mac": _matcher(_MAC),
    "hostname": is_hostname,
    "email": _matcher(_EMAIL),
    "uri": is_uri,
    "duration": _matcher(_DURATION),
    "hexcolor": _matcher(_HEX_COLOR),
    "rgbcolor": _matcher(_RGB_COLOR),
    "bsonobjectid": _matcher(_BSON_OBJECT_ID),
    "isbn10": is_isbn10,
    "isbn13": is_isbn13,
    "isbn": lambda text: is_isbn10(text) or is_isbn13(text),
    "password": lambda text: True,
    "ssn": _matcher(_SSN),
    "k8sshortname": lambda text: len(text) <= 63 and _DNS1123_LABEL.match(text) is not None,
    "k8slongname": lambda text: len(text) <= 253 and _DNS1123_SUBDOMAIN.match(text) is not None,
}


def string_format_check(schema_format: str) -> Callable[[str], bool] | None:
    """The check for a string format, or None when the API server would strip the format."""
    return STRING_FORMATS.get(schema_format.replace("-", ""))
