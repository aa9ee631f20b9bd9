"""OpenAPI v3 value validation of a custom resource, worded as kube-openapi words it.

Errors carry kube-openapi's paths (``spec.labels.foo`` for a map entry, ``spec.arches[1]`` for
an item) and its messages (``spec.a in body must be of type string: "integer"``), turned into
field errors as ``kubeOpenAPIResultToFieldErrors`` does. On update, errors in a part of the
object that equals its old value are dropped (CRD validation ratcheting, on by default since
Kubernetes 1.30).
"""

from __future__ import annotations

from typing import Any

from .api import JSON
from .go_regex import RegexError, compile_pattern, regex_error_text
from .schema_errors import (
    NIL_PATH,
    FieldError,
    duplicate,
    go_float,
    go_json,
    go_quote,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
)
from .schema_formats import string_format_check

MISSING: Any = object()  # no old value to compare with (create, or an uncorrelatable part)

_JSON_TYPES: dict[type, str] = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value (``bool`` is checked before ``int`` by exact type)."""
    if value is None:
        return "null"
    return _JSON_TYPES.get(type(value), "object")


def json_equal(a: Any, b: Any) -> bool:
    """Deep equality of JSON values where ``true`` is never ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and bool(a == b)


def schema_types(schema: JSON) -> list[str]:
    if schema.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    schema_type = schema.get("type")
    return [schema_type] if isinstance(schema_type, str) and schema_type else []


def child_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _field(path: str) -> str:
    return path or NIL_PATH


def _type_matches(types: list[str], value: Any) -> bool:
    kind = json_type(value)
    if kind in types:
        return True
    if kind == "number" and "integer" in types:
        return bool(value.is_integer())  # JSON 3.0 is an integer to the API server
    return kind == "integer" and "number" in types


def _fewest(results: list[list[FieldError]]) -> list[FieldError]:
    """The alternative that failed least (kube-openapi reports the one with the most passing checks)."""
    return min(results, key=len)


def _bound(value: Any, bound: Any) -> str:
    if isinstance(value, int) and float(bound).is_integer():
        return str(int(bound))
    return go_float(float(bound))


class ValueValidator:
    """One validation pass; ``ratchet`` is False on create."""

    def __init__(self, ratchet: bool) -> None:
        self.ratchet = ratchet

    def node(self, schema: JSON, value: Any, path: str, old: Any = MISSING) -> list[FieldError]:
        if self.ratchet and old is not MISSING and json_equal(value, old):
            return []
        errors: list[FieldError] = []
        types = schema_types(schema)
        if value is None:
            if types and not schema.get("nullable"):
                errors.append(self._type_error(path, types, "null"))
            errors.extend(self._enum(schema, value, path))
            return errors
        if types and not _type_matches(types, value):
            errors.append(self._type_error(path, types, json_type(value)))
        errors.extend(self._combinators(schema, value, path))
        if isinstance(value, str):
            errors.extend(self._string(schema, value, path, types))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            errors.extend(self._number(schema, value, path, types))
        elif isinstance(value, list):
            errors.extend(self._array(schema, value, path, old))
        errors.extend(self._enum(schema, value, path))
        if isinstance(value, dict):
            errors.extend(self._object(schema, value, path, old))
        return errors

    @staticmethod
    def _type_error(path: str, types: list[str], actual: str) -> FieldError:
        return type_invalid(
            _field(path), actual, f"{path} in body must be of type {','.join(types)}: {go_quote(actual)}"
        )

    def _combinators(self, schema: JSON, value: Any, path: str) -> list[FieldError]:
        errors: list[FieldError] = []
        if not any(k in schema for k in ("anyOf", "oneOf", "allOf", "not")):
            return errors
        quoted = go_quote(path)
        any_of = [s for s in schema.get("anyOf") or [] if isinstance(s, dict)]
        if any_of:
            results = [ValueValidator(False).node(s, value, path) for s in any_of]
            if all(results):
                errors.append(invalid(NIL_PATH, "", f"{quoted} must validate at least one schema (anyOf)"))
                errors.extend(_fewest(results))
        one_of = [s for s in schema.get("oneOf") or [] if isinstance(s, dict)]
        if one_of:
            results = [ValueValidator(False).node(s, value, path) for s in one_of]
            valid = sum(1 for r in results if not r)
            if valid != 1:
                found = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
                errors.append(invalid(NIL_PATH, "", f"{quoted} must validate one and only one schema (oneOf). {found}"))
                if valid == 0:
                    errors.extend(_fewest(results))
        all_of = [s for s in schema.get("allOf") or [] if isinstance(s, dict)]
        if all_of:
            results = [ValueValidator(False).node(s, value, path) for s in all_of]
            failed = sum(1 for r in results if r)
            for result in results:
                errors.extend(result)
            if failed:
                none = ". None validated" if failed == len(all_of) else ""
                errors.append(invalid(NIL_PATH, "", f"{quoted} must validate all the schemas (allOf){none}"))
        not_schema = schema.get("not")
        if isinstance(not_schema, dict) and not ValueValidator(False).node(not_schema, value, path):
            errors.append(invalid(NIL_PATH, "", f"{quoted} must not validate the schema (not)"))
        return errors

    @staticmethod
    def _string(schema: JSON, value: str, path: str, types: list[str]) -> list[FieldError]:
        errors: list[FieldError] = []
        max_length, min_length, pattern = (
            schema.get("maxLength"),
            schema.get("minLength"),
            schema.get("pattern"),
        )
        # kube-openapi stops at the first of maxLength, minLength, pattern.
        if isinstance(max_length, int) and len(value) > max_length:
            errors.append(too_long(_field(path), max_length))
        elif isinstance(min_length, int) and len(value) < min_length:
            errors.append(invalid(_field(path), value, f"{path} in body should be at least {min_length} chars long"))
        elif isinstance(pattern, str) and pattern:
            try:
                matched = compile_pattern(pattern).search(value) is not None
                shown = pattern
            except RegexError as error:
                matched, shown = False, f"{pattern}, but pattern is invalid: {regex_error_text(error)}"
            if not matched:
                errors.append(invalid(_field(path), value, f"{path} in body should match '{shown}'"))
        schema_format = schema.get("format")
        if isinstance(schema_format, str) and (len(types) != 1 or types == ["string"]):
            check = string_format_check(schema_format) if isinstance(schema_format, str) else None
            if check is not None and not check(value):
                detail = f"{path} in body must be of type {schema_format}: {go_quote(value)}"
                errors.append(type_invalid(_field(path), value, detail))
        return errors

    @staticmethod
    def _number(schema: JSON, value: float, path: str, types: list[str]) -> list[FieldError]:
        errors: list[FieldError] = []
        schema_format = schema.get("format")
        if types == ["integer"] and schema_format in ("int32", "int64"):
            limit = 2**31 if schema_format == "int32" else 2**63
            if not -limit <= value < limit or (isinstance(value, float) and not value.is_integer()):
                detail = f"Checked value must be of type integer with format {schema_format} in {path}"
                errors.append(invalid(NIL_PATH, "", detail))
        multiple_of = schema.get("multipleOf")
        if isinstance(multiple_of, (int, float)) and multiple_of > 0:
            quotient = value / multiple_of
            if not float(quotient).is_integer():
                detail = f"{path} in body should be a multiple of {_bound(value, multiple_of)}"
                errors.append(invalid(_field(path), value, detail))
        minimum, maximum = schema.get("minimum"), schema.get("maximum")
        if isinstance(minimum, (int, float)) and not isinstance(minimum, bool):
            exclusive = bool(schema.get("exclusiveMinimum"))
            if value < minimum or (exclusive and value == minimum):
                words = "greater than" if exclusive else "greater than or equal to"
                detail = f"{path} in body should be {words} {_bound(value, minimum)}"
                errors.append(invalid(_field(path), value, detail))
        if isinstance(maximum, (int, float)) and not isinstance(maximum, bool):
            exclusive = bool(schema.get("exclusiveMaximum"))
            if value > maximum or (exclusive and value == maximum):
                words = "less than" if exclusive else "less than or equal to"
                detail = f"{path} in body should be {words} {_bound(value, maximum)}"
                errors.append(invalid(_field(path), value, detail))
        return errors

    def _array(self, schema: JSON, value: list[Any], path: str, old: Any) -> list[FieldError]:
        errors: list[FieldError] = []
        items = schema.get("items")
        if isinstance(items, dict):
            old_items = correlate_list_items(schema, value, old)
            for index, item in enumerate(value):
                errors.extend(self.node(items, item, f"{path}[{index}]", old_items[index]))
        min_items, max_items = schema.get("minItems"), schema.get("maxItems")
        if isinstance(min_items, int) and len(value) < min_items:
            detail = f"{path} in body should have at least {min_items} items"
            errors.append(invalid(_field(path), len(value), detail))
        if isinstance(max_items, int) and len(value) > max_items:
            errors.append(too_many(_field(path), len(value), max_items))
        if schema.get("uniqueItems") and any(json_equal(a, b) for i, a in enumerate(value) for b in value[i + 1 :]):
            errors.append(invalid(_field(path), "", f"{path} in body shouldn't contain duplicates"))
        return errors

    @staticmethod
    def _enum(schema: JSON, value: Any, path: str) -> list[FieldError]:
        enum = schema.get("enum")
        if not isinstance(enum, list) or not enum or any(json_equal(value, e) for e in enum):
            return []
        supported = [e if isinstance(e, str) else go_json(e) for e in enum]
        return [not_supported(_field(path), value, supported)]

    def _object(self, schema: JSON, value: JSON, path: str, old: Any) -> list[FieldError]:
        errors: list[FieldError] = []
        count = len(value)
        min_properties, max_properties = schema.get("minProperties"), schema.get("maxProperties")
        if isinstance(min_properties, int) and count < min_properties:
            detail = f"{path} in body should have at least {min_properties} properties"
            errors.append(invalid(_field(path), count, detail))
        if isinstance(max_properties, int) and count > max_properties:
            errors.append(too_many(_field(path), count, max_properties))
        properties: JSON = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        old_map = old if isinstance(old, dict) else {}
        for key, item in value.items():
            if key in properties:
                continue
            if extra is False:
                detail = f"{child_path(path, key)} in body is a forbidden property"
                errors.append(invalid(_field(path), key, detail))
            elif isinstance(extra, dict):
                errors.extend(self.node(extra, item, child_path(path, key), old_map.get(key, MISSING)))
        for key, sub in properties.items():
            if key in value and isinstance(sub, dict):
                errors.extend(self.node(sub, value[key], child_path(path, key), old_map.get(key, MISSING)))
        for key in schema.get("required") or []:
            if key not in value:
                errors.append(required(child_path(path, key)))
        return errors


def correlate_list_items(schema: JSON, items: list[Any], old: Any) -> list[Any]:
    """Old counterparts of list items: only list-type=map lists correlate (by their keys)."""
    keys = schema.get("x-kubernetes-list-map-keys")
    if schema.get("x-kubernetes-list-type") != "map" or not isinstance(old, list) or not keys:
        return [MISSING] * len(items)
    by_key = {_map_key(o, keys): o for o in old if isinstance(o, dict)}
    return [by_key.get(_map_key(i, keys), MISSING) if isinstance(i, dict) else MISSING for i in items]


def _map_key(item: JSON, keys: list[str]) -> str:
    return go_json([item.get(k) for k in keys])


# --- x-kubernetes-list-type set/map uniqueness (structurallisttype.ValidateListSetsAndMaps) ---


def list_type_errors(schema: JSON, value: Any, path: str = "") -> list[FieldError]:
    """Duplicates in ``set`` lists and duplicate keys in ``map`` lists, anywhere in the object."""
    errors: list[FieldError] = []
    if isinstance(value, dict):
        properties: JSON = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if isinstance(extra, dict):
                errors.extend(list_type_errors(extra, item, f"{path}[{key}]"))
            if isinstance(properties.get(key), dict):
                errors.extend(list_type_errors(properties[key], item, child_path(path, key)))
    elif isinstance(value, list):
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            errors.extend(duplicate(f"{path}[{i}]", value[i]) for i in _second_occurrences(value))
        elif list_type == "map":
            errors.extend(_list_map_errors(schema, value, path))
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                errors.extend(list_type_errors(items, item, f"{path}[{index}]"))
    return errors


def _identity(value: Any) -> tuple[str, Any]:
    """Go compares scalars as interface values (1 and 1.0 differ) and compounds by their JSON."""
    if isinstance(value, (dict, list)):
        return ("json", go_json(value))
    return (json_type(value), value)


def _second_occurrences(values: list[Any]) -> list[int]:
    seen: dict[tuple[str, Any], int] = {}
    repeated: list[int] = []
    for index, value in enumerate(values):
        identity = _identity(value)
        seen[identity] = seen.get(identity, 0) + 1
        if seen[identity] == 2:
            repeated.append(index)
    return repeated


def _list_map_errors(schema: JSON, value: list[Any], path: str) -> list[FieldError]:
    for index, item in enumerate(value):
        if item is not None and not isinstance(item, dict):
            return [invalid(f"{path}[{index}]", item, "must be an object for an array of list-type map")]
    keys = [k for k in schema.get("x-kubernetes-list-map-keys") or [] if isinstance(k, str)]
    entries = [{k: item[k] for k in keys if isinstance(item, dict) and k in item} for item in value]
    if len(keys) == 1:
        # A lone key is compared as a scalar; a missing key is one more "unspecified" value.
        scalars = [e.get(keys[0], _UNSPECIFIED) for e in entries]
        return [duplicate(f"{path}[{i}]", entries[i]) for i in _second_occurrences(scalars)]
    return [duplicate(f"{path}[{i}]", entries[i]) for i in _second_occurrences(entries)]


_UNSPECIFIED: Any = ("<unspecified>",)
