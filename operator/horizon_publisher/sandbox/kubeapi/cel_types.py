"""Kubernetes CEL library types: URLs (``url()``, ``isURL()``, ``getHost()``...) and resource
quantities (``quantity()``, ``isQuantity()``, ``compareTo()``...), for ``cel_functions``."""

from __future__ import annotations

import re
import urllib.parse
from decimal import Decimal, InvalidOperation
from typing import Any

from celpy import celtypes


def _need(condition: bool) -> None:
    if not condition:
        raise TypeError("no such overload")


def _string(value: Any) -> str:
    _need(isinstance(value, str))
    return str(value)


# --- URLs ------------------------------------------------------------------------------------


class URLValue:
    """A parsed URL (Kubernetes ``url()``): only absolute URIs and absolute paths parse."""

    __slots__ = ("parts",)

    def __init__(self, text: str) -> None:
        if not _is_request_uri(text):
            raise ValueError(f"URL parse error during conversion from string: {text}")
        self.parts = urllib.parse.urlsplit(text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, URLValue) and self.parts == other.parts

    def __hash__(self) -> int:
        return hash(self.parts)


def _is_request_uri(text: str) -> bool:
    if not text or any(c.isspace() for c in text) or "#" in text:
        return False
    if text.startswith("/"):
        return True
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text) is not None


def url(text: Any) -> URLValue:
    return URLValue(_string(text))


def isURL(text: Any) -> celtypes.BoolType:
    return celtypes.BoolType(_is_request_uri(_string(text)))


def _url(value: Any) -> URLValue:
    _need(isinstance(value, URLValue))
    assert isinstance(value, URLValue)
    return value


def getScheme(u: Any) -> celtypes.StringType:
    return celtypes.StringType(_url(u).parts.scheme)


def getHost(u: Any) -> celtypes.StringType:
    return celtypes.StringType(_url(u).parts.netloc.rpartition("@")[2])


def getHostname(u: Any) -> celtypes.StringType:
    return celtypes.StringType(_url(u).parts.hostname or "")


def getPort(u: Any) -> celtypes.StringType:
    host = _url(u).parts.netloc.rpartition("@")[2]
    port = host.rpartition(":")[2] if ":" in host.rpartition("]")[2] else ""
    return celtypes.StringType(port)


def getEscapedPath(u: Any) -> celtypes.StringType:
    return celtypes.StringType(_url(u).parts.path)


def getQuery(u: Any) -> celtypes.MapType:
    query = urllib.parse.parse_qs(_url(u).parts.query, keep_blank_values=True)
    return celtypes.MapType(
        {celtypes.StringType(k): celtypes.ListType([celtypes.StringType(v) for v in vs]) for k, vs in query.items()}
    )


# --- quantities ------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


class QuantityValue:
    """A Kubernetes resource quantity (``quantity('1Gi')``), compared by exact value."""

    __slots__ = ("amount",)

    def __init__(self, amount: Decimal) -> None:
        self.amount = amount

    @classmethod
    def parse(cls, text: str) -> QuantityValue:
        match = _QUANTITY.match(text)
        if match is None:
            raise ValueError(f"quantities must match the regular expression: {text}")
        number, suffix = match.group(1), match.group(2) or ""
        try:
            if suffix[:1] in ("e", "E"):
                return cls(Decimal(number) * (Decimal(10) ** int(suffix[1:])))
            return cls(Decimal(number) * _SUFFIXES[suffix])
        except InvalidOperation:
            raise ValueError(f"quantities must match the regular expression: {text}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QuantityValue) and self.amount == other.amount

    def __hash__(self) -> int:
        return hash(self.amount)


def quantity(text: Any) -> QuantityValue:
    return QuantityValue.parse(_string(text))


def isQuantity(text: Any) -> celtypes.BoolType:
    return celtypes.BoolType(_QUANTITY.match(_string(text)) is not None)


def _quantity(q: Any) -> Decimal:
    _need(isinstance(q, QuantityValue))
    assert isinstance(q, QuantityValue)
    return q.amount


def _quantity_or_number(q: Any) -> Decimal:
    if isinstance(q, QuantityValue):
        return q.amount
    _need(isinstance(q, int) and not isinstance(q, celtypes.BoolType))
    return Decimal(int(q))


def compareTo(a: Any, b: Any) -> celtypes.IntType:
    x, y = _quantity(a), _quantity(b)
    return celtypes.IntType((x > y) - (x < y))


def isLessThan(a: Any, b: Any) -> celtypes.BoolType:
    return celtypes.BoolType(_quantity(a) < _quantity(b))


def isGreaterThan(a: Any, b: Any) -> celtypes.BoolType:
    return celtypes.BoolType(_quantity(a) > _quantity(b))


def sign(q: Any) -> celtypes.IntType:
    amount = _quantity(q)
    return celtypes.IntType((amount > 0) - (amount < 0))


def isInteger(q: Any) -> celtypes.BoolType:
    return celtypes.BoolType(_quantity(q) == _quantity(q).to_integral_value())


def asInteger(q: Any) -> celtypes.IntType:
    amount = _quantity(q)
    if amount != amount.to_integral_value() or abs(amount) >= 2**63:
        raise ValueError("cannot convert value to integer")
    return celtypes.IntType(int(amount))


def asApproximateFloat(q: Any) -> celtypes.DoubleType:
    return celtypes.DoubleType(float(_quantity(q)))


def add(a: Any, b: Any) -> QuantityValue:
    return QuantityValue(_quantity(a) + _quantity_or_number(b))


def sub(a: Any, b: Any) -> QuantityValue:
    return QuantityValue(_quantity(a) - _quantity_or_number(b))
