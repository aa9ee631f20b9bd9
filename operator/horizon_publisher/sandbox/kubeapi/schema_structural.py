"""Why the API server would refuse a CRD's ``openAPIV3Schema`` (structural-schema rules).

Each problem reads ``<path>: <message>`` with the path rooted at ``openAPIV3Schema`` (prefix it
with ``spec.versions[i].schema.`` for the CRD field) and the message worded as
``ValidateStructural`` and the CRD validation word it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from .api import JSON
from .go_regex import RegexError, compile_pattern, regex_error_text
from .schema_defaults import prune
from .schema_errors import go_json, go_quote
from .schema_values import ValueValidator

_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_UNSUPPORTED = ("$ref", "id", "additionalItems", "patternProperties", "definitions", "dependencies")
_NESTED_FORBIDDEN = (
    ("type", "must be empty to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
)
_NESTED_FORBIDDEN_TRUE = (
    "nullable",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
)
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def structural_problems(schema: JSON) -> list[str]:
    """Every reason the schema is not an acceptable structural CRD schema, sorted like the server."""
    problems = list(_node(schema, "openAPIV3Schema", "root"))
    if schema.get("nullable"):
        problems.append("openAPIV3Schema.nullable: Forbidden: nullable cannot be true at the root")
    return sorted(set(problems))


def _node(s: JSON, p: str, level: str) -> Iterator[str]:
    yield from _keywords(s, p)
    yield from _shape(s, p, level)
    yield from _extensions(s, p)
    yield from _pattern(s, p)
    embedded = bool(s.get("x-kubernetes-embedded-resource"))
    yield from _resource_meta(s, p, level == "root" or embedded, level == "root")
    yield from _list_and_map_types(s, p)
    yield from _value_validations(s, p, bool(s.get("x-kubernetes-int-or-string")))
    yield from _default(s, p)
    for name, sub in (s.get("properties") or {}).items():
        if isinstance(sub, dict):
            yield from _node(sub, f"{p}.properties[{name}]", "field")
    if isinstance(s.get("additionalProperties"), dict):
        yield from _node(s["additionalProperties"], f"{p}.additionalProperties", "field")
    if isinstance(s.get("items"), dict):
        yield from _node(s["items"], f"{p}.items", "item")


def _keywords(s: JSON, p: str) -> Iterator[str]:
    """Keywords a CRD schema may not use at all, or not in that form."""
    schema_type = s.get("type")
    if schema_type == "null":
        yield f"{p}.type: Forbidden: type cannot be set to null, use nullable as an alternative"
    elif schema_type is not None and schema_type not in _TYPES:
        supported = ", ".join(go_quote(t) for t in _TYPES)
        yield f"{p}.type: Unsupported value: {go_quote(str(schema_type))}: supported values: {supported}"
    for keyword in _UNSUPPORTED:
        if keyword in s:
            yield f"{p}.{keyword}: Forbidden: {keyword} is not supported"
    if isinstance(s.get("items"), list):
        yield f"{p}.items: Forbidden: items must be a schema object and not an array"
    if s.get("uniqueItems") is True:
        yield f"{p}.uniqueItems: Forbidden: {_UNIQUE_ITEMS}"


_UNIQUE_ITEMS = "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
_EMBEDDED_OBJECT = "must be object if x-kubernetes-embedded-resource is true"
_EMBEDDED_PROPERTIES = (
    "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"
)
_EMPTY_TYPE = {"root": "at the root", "item": "for specified array items", "field": "for specified object fields"}


def _shape(s: JSON, p: str, level: str) -> Iterator[str]:
    """type, items and additionalProperties as a structural schema needs them."""
    schema_type = s.get("type")
    embedded = bool(s.get("x-kubernetes-embedded-resource"))
    preserve = s.get("x-kubernetes-preserve-unknown-fields")
    extra = s.get("additionalProperties")
    if schema_type == "array" and s.get("items") is None:
        yield f"{p}.items: Required value: must be specified"
    if extra is not None and level == "root":
        yield f"{p}.additionalProperties: Forbidden: must not be used at the root"
    if extra is not None and s.get("properties"):
        yield f"{p}.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
    if embedded and extra is not None:
        yield f"{p}.additionalProperties: Forbidden: must not be used if x-kubernetes-embedded-resource is set"
    if embedded and schema_type != "object":
        if schema_type:
            yield f"{p}.type: Invalid value: {go_quote(str(schema_type))}: {_EMBEDDED_OBJECT}"
        else:
            yield f"{p}.type: Required value: {_EMBEDDED_OBJECT}"
    elif not schema_type and not s.get("x-kubernetes-int-or-string") and not preserve:
        yield f"{p}.type: Required value: must not be empty {_EMPTY_TYPE[level]}"
    if level == "root" and schema_type and schema_type != "object":
        yield f"{p}.type: Invalid value: {go_quote(str(schema_type))}: must be object at the root"
    if embedded and not preserve and not s.get("properties"):
        yield f"{p}.properties: Required value: {_EMBEDDED_PROPERTIES}"


def _extensions(s: JSON, p: str) -> Iterator[str]:
    preserve = s.get("x-kubernetes-preserve-unknown-fields")
    if preserve is False:
        yield f"{p}.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"
    if s.get("x-kubernetes-int-or-string"):
        reason = "must be false if x-kubernetes-int-or-string is true"
        if preserve:
            yield f"{p}.x-kubernetes-preserve-unknown-fields: Invalid value: true: {reason}"
        if s.get("x-kubernetes-embedded-resource"):
            yield f"{p}.x-kubernetes-embedded-resource: Invalid value: true: {reason}"


def _pattern(s: JSON, p: str) -> Iterator[str]:
    pattern = s.get("pattern")
    if isinstance(pattern, str) and pattern:
        try:
            compile_pattern(pattern)
        except RegexError as error:
            yield (
                f"{p}.pattern: Invalid value: {go_quote(pattern)}: "
                f"must be a valid regular expression, but isn't: {regex_error_text(error)}"
            )


def _resource_meta(s: JSON, p: str, check_metadata: bool, root: bool) -> Iterator[str]:
    properties: JSON = s.get("properties") or {}
    for name in ("kind", "apiVersion"):
        sub = properties.get(name)
        if check_metadata and isinstance(sub, dict) and sub.get("type") != "string":
            shown = go_quote(str(sub.get("type") or ""))
            yield f"{p}.properties[{name}].type: Invalid value: {shown}: must be string"
    metadata = properties.get("metadata")
    if not isinstance(metadata, dict):
        return
    if check_metadata and metadata.get("type") != "object":
        shown = go_quote(str(metadata.get("type") or ""))
        yield f"{p}.properties[metadata].type: Invalid value: {shown}: must be object"
    if root:
        rest = {k: v for k, v in metadata.items() if k not in ("type", "default")}
        meta_properties = rest.pop("properties", None) or {}
        if set(meta_properties) - {"name", "generateName"} or rest:
            yield (
                f"{p}.properties[metadata]: Forbidden: must not specify anything other than name and "
                "generateName, but metadata is implicitly specified"
            )


_MAP_IF_KEYS = "must be map if x-kubernetes-list-map-keys is non-empty"
_KEYS_IF_MAP = "must not be empty if x-kubernetes-list-type is map"
_ATOMIC_IN_SET = "must be atomic as item of a list with x-kubernetes-list-type=set"
_SCALAR_KEY = "must be a scalar type if parent array's x-kubernetes-list-type is map"
_KEY_NOT_NULLABLE = "this property is in x-kubernetes-list-map-keys, so it cannot be nullable"
_KEY_NEEDS_DEFAULT = (
    "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"
)


def _list_and_map_types(s: JSON, p: str) -> Iterator[str]:
    list_type, keys, map_type = (
        s.get("x-kubernetes-list-type"),
        s.get("x-kubernetes-list-map-keys"),
        s.get("x-kubernetes-map-type"),
    )
    items = s.get("items") if isinstance(s.get("items"), dict) else None
    if map_type is not None:
        if s.get("type") != "object":
            yield f"{p}.type: Required value: must be object if x-kubernetes-map-type is specified"
        if map_type not in ("atomic", "granular"):
            shown = go_quote(str(map_type))
            yield f'{p}.x-kubernetes-map-type: Unsupported value: {shown}: supported values: "atomic", "granular"'
    if list_type is not None:
        if s.get("type") != "array":
            yield f"{p}.type: Required value: must be array if x-kubernetes-list-type is specified"
        if list_type not in ("atomic", "set", "map"):
            yield (
                f"{p}.x-kubernetes-list-type: Unsupported value: {go_quote(str(list_type))}: "
                'supported values: "atomic", "set", "map"'
            )
    if keys and list_type != "map":
        yield f"{p}.x-kubernetes-list-type: Required value: {_MAP_IF_KEYS}"
    if list_type in ("set", "map") and items is not None and items.get("nullable"):
        yield f"{p}.items.nullable: Forbidden: cannot be nullable when x-kubernetes-list-type is {list_type}"
    if list_type == "set" and items is not None:
        yield from _set_items(p, items)
    if list_type == "map":
        yield from _list_map_keys(p, keys, items)


def _set_items(p: str, items: JSON) -> Iterator[str]:
    if items.get("type") == "object" and items.get("x-kubernetes-map-type") != "atomic":
        yield f"{p}.items.x-kubernetes-map-type: Invalid value: {_ATOMIC_IN_SET}"
    if items.get("type") == "array" and items.get("x-kubernetes-list-type") not in (None, "atomic"):
        yield f"{p}.items.x-kubernetes-list-type: Invalid value: {_ATOMIC_IN_SET}"


def _list_map_keys(p: str, keys: Any, items: JSON | None) -> Iterator[str]:
    if not keys:
        yield f"{p}.x-kubernetes-list-map-keys: Required value: {_KEYS_IF_MAP}"
    if items is None:
        yield f"{p}.items: Required value: must have a schema if x-kubernetes-list-type is map"
        return
    if items.get("type") != "object":
        yield f"{p}.items.type: Invalid value: must be object if parent array's x-kubernetes-list-type is map"
        return
    properties: JSON = items.get("properties") or {}
    key_list = [k for k in keys or [] if isinstance(k, str)]
    if len(set(key_list)) != len(key_list):
        yield f"{p}.x-kubernetes-list-map-keys: Invalid value: must not contain duplicate entries"
    for key in key_list:
        sub = properties.get(key)
        if not isinstance(sub, dict):
            yield f"{p}.x-kubernetes-list-map-keys: Invalid value: entries must all be names of item properties"
        else:
            yield from _list_map_key(f"{p}.items.properties[{key}]", key in (items.get("required") or []), sub)


def _list_map_key(p: str, is_required: bool, sub: JSON) -> Iterator[str]:
    if sub.get("type") not in ("string", "integer", "number", "boolean"):
        yield f"{p}.type: Invalid value: {_SCALAR_KEY}"
    if not is_required and "default" not in sub:
        yield f"{p}.default: Required value: {_KEY_NEEDS_DEFAULT}"
    if sub.get("nullable"):
        yield f"{p}.nullable: Forbidden: {_KEY_NOT_NULLABLE}"


def _value_validations(s: JSON, p: str, int_or_string: bool) -> Iterator[str]:
    any_of = s.get("anyOf")
    skip_any_of = int_or_string and any_of == _INT_OR_STRING_ANY_OF
    for keyword in ("anyOf", "allOf", "oneOf"):
        for index, sub in enumerate(s.get(keyword) or []):
            if not isinstance(sub, dict):
                continue
            if keyword == "anyOf" and skip_any_of:
                continue
            first_all_of = keyword == "allOf" and index == 0 and sub.get("anyOf") == _INT_OR_STRING_ANY_OF
            yield from _nested(sub, f"{p}.{keyword}[{index}]", keyword == "allOf", first_all_of)
    if isinstance(s.get("not"), dict):
        yield from _nested(s["not"], f"{p}.not", False, False)


def _nested(v: JSON, p: str, rules_allowed: bool, skip_int_or_string_any_of: bool) -> Iterator[str]:
    """Inside anyOf/allOf/oneOf/not only value validations may appear, no structure."""
    yield from _nested_forbidden(v, p, rules_allowed)
    yield from _pattern(v, p)
    for keyword in ("anyOf", "allOf", "oneOf"):
        for index, sub in enumerate(v.get(keyword) or []):
            if isinstance(sub, dict) and not (keyword == "anyOf" and skip_int_or_string_any_of):
                yield from _nested(sub, f"{p}.{keyword}[{index}]", rules_allowed and keyword == "allOf", False)
    for name, sub in (v.get("properties") or {}).items():
        if isinstance(sub, dict):
            yield from _nested(sub, f"{p}.properties[{name}]", rules_allowed, False)
    if isinstance(v.get("items"), dict):
        yield from _nested(v["items"], f"{p}.items", rules_allowed, False)


def _nested_forbidden(v: JSON, p: str, rules_allowed: bool) -> Iterator[str]:
    for keyword, message in _NESTED_FORBIDDEN:
        if v.get(keyword) not in (None, "", []):
            yield f"{p}.{keyword}: Forbidden: {message}"
    for keyword in _NESTED_FORBIDDEN_TRUE:
        if v.get(keyword):
            yield f"{p}.{keyword}: Forbidden: must be false to be structural"
    if v.get("additionalProperties") is not None:
        yield f"{p}.additionalProperties: Forbidden: must be undefined to be structural"
    if v.get("x-kubernetes-validations") and not rules_allowed:
        yield f"{p}.x-kubernetes-validations: Forbidden: must be empty to be structural"
    if "metadata" in (v.get("properties") or {}):
        yield f"{p}.properties[metadata]: Forbidden: must not be specified in a nested context"


def _default(s: JSON, p: str) -> Iterator[str]:
    if "default" not in s or s["default"] is None:
        return
    default = s["default"]
    errors = ValueValidator(ratchet=False).node(s, default, "")
    for error in errors:
        yield f"{p}.default: Invalid value: {go_json(default)}: {error.message}"
    if isinstance(default, (dict, list)):
        pruned = copy.deepcopy(default)
        holder = {"x": pruned}
        prune({"type": "object", "properties": {"x": s}}, holder)
        if holder.get("x") != default:
            yield f"{p}.default: Invalid value: {go_json(default)}: must not have unknown fields"
