"""Label and field selectors, parsed once per request and matched per object."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .api import JSON, ResourceType
from .errors import bad_request

_TOKEN = re.compile(r"\s*(==|!=|=|!|\(|\)|,|<|>|[^\s,=!()<>]+)")
_OPERATORS = {"=", "==", "!=", "in", "notin", "<", ">"}


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "exists" | "!" | "=" | "!=" | "in" | "notin" | "<" | ">"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        try:  # "<" and ">" compare integers; a non-integer label never matches
            number, bound = int(value or ""), int(self.values[0])
        except ValueError:
            return False
        return number < bound if self.operator == "<" else number > bound


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    def matches(self, obj: JSON) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in self.requirements)


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position:].strip():
                raise bad_request(f"unable to parse requirement: invalid selector: '{text}'")
            break
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _fail(why: str) -> Exception:
    return bad_request(f"unable to parse requirement: {why}")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse ``a=b,c!=d,e in (x,y),f notin (z),g,!h``; 400 BadRequest on a syntax error."""
    if not text or not text.strip():
        return LabelSelector(())
    tokens = _tokens(text)
    requirements: list[Requirement] = []
    index = 0
    while index < len(tokens):
        requirement, index = _requirement(tokens, index)
        requirements.append(requirement)
        if index < len(tokens):
            if tokens[index] != ",":
                raise _fail(f"found '{tokens[index]}', expected: ',' or 'end of string'")
            index += 1
            if index >= len(tokens):
                raise _fail("found '', expected: !, identifier, or 'end of string'")
    return LabelSelector(tuple(requirements))


def _requirement(tokens: list[str], index: int) -> tuple[Requirement, int]:
    """One requirement starting at ``tokens[index]``, and the index after it."""
    if tokens[index] == "!":
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if not following or following in _OPERATORS | {",", "(", ")"}:
            raise _fail(f"found '{following}', expected: identifier")
        return Requirement(following, "!"), index + 2
    key = tokens[index]
    if key in {",", "(", ")", "=", "==", "!="}:
        raise _fail(f"found '{key}', expected: !, identifier, or 'end of string'")
    index += 1
    if index >= len(tokens) or tokens[index] == ",":
        return Requirement(key, "exists"), index
    operator = tokens[index]
    index += 1
    if operator in ("in", "notin"):
        values, index = _parse_set(tokens, index)
        return Requirement(key, operator, values), index
    if operator not in ("=", "==", "!=", "<", ">"):
        raise _fail(f"found '{operator}', expected: in, notin, =, ==, !=, gt, lt")
    value = ""
    if index < len(tokens) and tokens[index] not in {",", "(", ")"}:
        value, index = tokens[index], index + 1
    return Requirement(key, "=" if operator == "==" else operator, (value,)), index


def _parse_set(tokens: list[str], index: int) -> tuple[tuple[str, ...], int]:
    if index >= len(tokens) or tokens[index] != "(":
        raise _fail("found '', expected: '('")
    index += 1
    values: list[str] = []
    expect_value = True
    while index < len(tokens) and tokens[index] != ")":
        token = tokens[index]
        if token == ",":
            if expect_value:
                values.append("")
            expect_value = True
        elif expect_value:
            values.append(token)
            expect_value = False
        else:
            raise _fail(f"found '{token}', expected: ',' or ')'")
        index += 1
    if index >= len(tokens):
        raise _fail("found '', expected: ')'")
    return tuple(values), index + 1


# --- field selectors -----------------------------------------------------------------------------

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_EXTRA_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "secrets"): ("type",),
    ("", "namespaces"): ("status.phase",),
    ("", "events"): (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    ("events.k8s.io", "events"): (
        "regarding.kind",
        "regarding.name",
        "regarding.namespace",
        "reason",
        "type",
    ),
    ("", "serviceaccounts"): (),
}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    negated: bool
    value: str

    def matches(self, obj: JSON) -> bool:
        current: object = obj
        for part in self.field.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        actual = "" if current is None else str(current)
        if self.field == "source" and isinstance(current, dict):
            actual = str(current.get("component", ""))
        return (actual != self.value) if self.negated else (actual == self.value)


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...]

    def matches(self, obj: JSON) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def exact_name(self) -> str | None:
        """The name when the selector pins ``metadata.name`` (kubectl wait/delete do), for an O(1) lookup."""
        for r in self.requirements:
            if r.field == "metadata.name" and not r.negated:
                return r.value
        return None


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts, current, escaped = [], "", False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            current += char
            escaped = True
        elif char == separator:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_field_selector(text: str | None, resource: ResourceType) -> FieldSelector:
    """Parse ``metadata.name=x,type!=y``; a field the kind does not support is 400 BadRequest."""
    if not text or not text.strip():
        return FieldSelector(())
    allowed = _COMMON_FIELDS + _EXTRA_FIELDS.get((resource.group, resource.plural), ())
    requirements: list[FieldRequirement] = []
    for term in _split_unescaped(text, ","):
        match = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)(.*)", term)
        if match is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, value = match.group(1), match.group(2), _unescape(match.group(3).strip())
        if field not in allowed:
            raise bad_request(f"field label not supported: {field}")
        requirements.append(FieldRequirement(field, operator == "!=", value))
    return FieldSelector(tuple(requirements))
