"""The Kubernetes CEL function library on top of cel-python's standard functions.

Strings (``lowerAscii``, ``split``, ``join``, ``indexOf``...), lists (``isSorted``, ``sum``,
``max``...), regex (``find``, ``findAll``), URLs (``url``, ``isURL``, ``getHost``...), quantities
(``quantity``, ``isQuantity``, ``compareTo``...) and optionals (``hasValue``, ``value``,
``orValue``) for ``optionalOldSelf``. cel-python binds methods by name only, so one function
serves every receiver type that shares a name (``indexOf`` on strings and on lists).
A function that gets arguments it has no overload for raises TypeError: cel-python turns that
into a "no such overload" error, as cel-go does at run time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from celpy import celtypes

from .cel_types import (
    add,
    asApproximateFloat,
    asInteger,
    compareTo,
    getEscapedPath,
    getHost,
    getHostname,
    getPort,
    getQuery,
    getScheme,
    isGreaterThan,
    isInteger,
    isLessThan,
    isQuantity,
    isURL,
    quantity,
    sign,
    sub,
    url,
)
from .go_regex import RegexError, compile_pattern, regex_error_text


class OptionalValue:
    """A CEL ``optional``: what ``oldSelf`` is in a rule with ``optionalOldSelf: true``."""

    __slots__ = ("_value",)

    def __init__(self, value: Any = None) -> None:
        self._value = value

    @property
    def present(self) -> bool:
        return self._value is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OptionalValue) and self._value == other._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"optional.of({self._value!r})" if self.present else "optional.none()"


def _need(condition: bool) -> None:
    if not condition:
        raise TypeError("no such overload")


def _string(value: Any) -> str:
    _need(isinstance(value, str))
    return str(value)


def _int(value: Any) -> int:
    _need(isinstance(value, int) and not isinstance(value, celtypes.BoolType))
    return int(value)


# --- optionals -------------------------------------------------------------------------------


def hasValue(opt: Any) -> celtypes.BoolType:
    _need(isinstance(opt, OptionalValue))
    return celtypes.BoolType(opt.present)


def value(opt: Any) -> Any:
    _need(isinstance(opt, OptionalValue))
    if not opt.present:
        raise ValueError("optional.none() dereference")
    return opt._value


def orValue(opt: Any, default: Any) -> Any:
    _need(isinstance(opt, OptionalValue))
    return opt._value if opt.present else default


# --- strings ---------------------------------------------------------------------------------


def lowerAscii(text: Any) -> celtypes.StringType:
    return celtypes.StringType("".join(c.lower() if c.isascii() else c for c in _string(text)))


def upperAscii(text: Any) -> celtypes.StringType:
    return celtypes.StringType("".join(c.upper() if c.isascii() else c for c in _string(text)))


def trim(text: Any) -> celtypes.StringType:
    return celtypes.StringType(_string(text).strip())


def charAt(text: Any, index: Any) -> celtypes.StringType:
    s, i = _string(text), _int(index)
    if i < 0 or i > len(s):
        raise ValueError(f"index out of range: {i}")
    return celtypes.StringType(s[i : i + 1])


def substring(text: Any, start: Any, end: Any = None) -> celtypes.StringType:
    s, i = _string(text), _int(start)
    j = len(s) if end is None else _int(end)
    if i < 0 or j > len(s) or i > j:
        raise ValueError(f"index out of range: {i if i < 0 or i > j else j}")
    return celtypes.StringType(s[i:j])


def replace(text: Any, old: Any, new: Any, count: Any = None) -> celtypes.StringType:
    limit = -1 if count is None else _int(count)
    return celtypes.StringType(_string(text).replace(_string(old), _string(new), limit))


def split(text: Any, separator: Any, count: Any = None) -> celtypes.ListType:
    s, sep = _string(text), _string(separator)
    limit = -1 if count is None else _int(count)
    if limit == 0:
        return celtypes.ListType([])
    if sep == "":
        parts = list(s) if limit < 0 else [*list(s[: limit - 1]), s[limit - 1 :]] if s else []
    else:
        parts = s.split(sep) if limit < 0 else s.split(sep, limit - 1)
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def join(items: Any, separator: Any = "") -> celtypes.StringType:
    _need(isinstance(items, list) and all(isinstance(i, str) for i in items))
    return celtypes.StringType(_string(separator).join(items))


def indexOf(container: Any, item: Any, start: Any = None) -> celtypes.IntType:
    if isinstance(container, str):
        s, begin = _string(container), 0 if start is None else _int(start)
        if begin < 0 or begin > len(s):
            raise ValueError(f"index out of range: {begin}")
        return celtypes.IntType(s.find(_string(item), begin))
    _need(isinstance(container, list) and start is None)
    for position, element in enumerate(container):
        if element == item:
            return celtypes.IntType(position)
    return celtypes.IntType(-1)


def lastIndexOf(container: Any, item: Any, end: Any = None) -> celtypes.IntType:
    if isinstance(container, str):
        s = _string(container)
        stop = len(s) if end is None else _int(end)
        if stop < 0 or stop > len(s):
            raise ValueError(f"index out of range: {stop}")
        return celtypes.IntType(s.rfind(_string(item), 0, stop + len(_string(item))))
    _need(isinstance(container, list) and end is None)
    for position in range(len(container) - 1, -1, -1):
        if container[position] == item:
            return celtypes.IntType(position)
    return celtypes.IntType(-1)


# --- regex -----------------------------------------------------------------------------------


def _regex(pattern: Any) -> Any:
    try:
        return compile_pattern(_string(pattern))
    except RegexError as error:
        raise ValueError(f"invalid regex: {regex_error_text(error)}") from None


def matches(text: Any, pattern: Any) -> celtypes.BoolType:
    return celtypes.BoolType(_regex(pattern).search(_string(text)) is not None)


def find(text: Any, pattern: Any) -> celtypes.StringType:
    match = _regex(pattern).search(_string(text))
    return celtypes.StringType(match.group(0) if match else "")


def findAll(text: Any, pattern: Any, limit: Any = None) -> celtypes.ListType:
    found = [celtypes.StringType(m.group(0)) for m in _regex(pattern).finditer(_string(text))]
    if limit is not None and _int(limit) >= 0:
        found = found[: _int(limit)]
    return celtypes.ListType(found)


# --- lists -----------------------------------------------------------------------------------


def _list(items: Any) -> list[Any]:
    _need(isinstance(items, list))
    return list(items)


def isSorted(items: Any) -> celtypes.BoolType:
    values = _list(items)
    return celtypes.BoolType(all(a <= b for a, b in itertools.pairwise(values)))


def list_sum(items: Any) -> Any:
    values = _list(items)
    if not values:
        return celtypes.IntType(0)
    total = values[0]
    for element in values[1:]:
        total = total + element
    return total


def list_min(items: Any) -> Any:
    values = _list(items)
    if not values:
        raise ValueError("min called on empty list")
    return min(values)


def list_max(items: Any) -> Any:
    values = _list(items)
    if not values:
        raise ValueError("max called on empty list")
    return max(values)


_PLAIN = (
    hasValue, value, orValue,
    lowerAscii, upperAscii, trim, charAt, substring, replace, split, join, indexOf, lastIndexOf,
    matches, find, findAll, isSorted,
    url, isURL, getScheme, getHost, getHostname, getPort, getEscapedPath, getQuery,
    quantity, isQuantity, compareTo, isLessThan, isGreaterThan, sign, isInteger, asInteger,
    asApproximateFloat, add, sub,
)  # fmt: skip
# cel-python treats ``.min()`` as a macro it cannot transpile; rules are rewritten to call it by this name.
LIST_MIN_NAME = "k8sListMin"
LIBRARY: dict[str, Callable[..., Any]] = {
    **{fn.__name__: fn for fn in _PLAIN},
    "sum": list_sum,
    "max": list_max,
    LIST_MIN_NAME: list_min,
}
