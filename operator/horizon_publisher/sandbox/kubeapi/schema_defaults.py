"""Pruning and defaulting of custom resources, as the API server does them when it decodes a write.

``prune`` is ``structuralpruning.Prune`` (root treated as an embedded resource, so
``apiVersion``/``kind``/``metadata`` stay) followed by ``PruneNonNullableNullsWithoutDefaults``,
the two steps the server runs together; ``apply_defaults`` is ``structuraldefaulting.Default``.
"""

from __future__ import annotations

import copy
from typing import Any

from .api import JSON

_META_FIELDS = frozenset({"apiVersion", "kind", "metadata"})


def prune(schema: JSON, obj: JSON) -> None:
    """Drop, in place, every field the schema does not declare (and nulls it does not allow)."""
    _prune(obj, {**schema, "x-kubernetes-embedded-resource": True})
    _prune_nulls(obj, schema)


def _prune(value: Any, schema: JSON | None) -> None:
    if schema is not None and schema.get("x-kubernetes-preserve-unknown-fields"):
        _prune_known_only(value, schema)
        return
    if isinstance(value, dict):
        if schema is None:
            value.clear()
            return
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        properties: JSON = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in list(value):
            if embedded and key in _META_FIELDS:
                continue
            if key in properties:
                _prune(value[key], properties[key])
            elif extra is not None and extra is not False:
                _prune(value[key], extra if isinstance(extra, dict) else None)
            else:
                del value[key]
    elif isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        for item in value:
            _prune(item, items if isinstance(items, dict) else None)


def _prune_known_only(value: Any, schema: JSON) -> None:
    """Under x-kubernetes-preserve-unknown-fields: keep unknown fields, prune inside known ones."""
    if isinstance(value, dict):
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        properties: JSON = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if embedded and key in _META_FIELDS:
                continue
            if key in properties:
                _prune(item, properties[key])
            elif isinstance(extra, dict):
                _prune(item, extra)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for item in value:
                _prune_known_only(item, items)


def _field_schema(schema: JSON | None, key: str) -> JSON | None:
    if schema is None:
        return None
    properties: JSON = schema.get("properties") or {}
    if key in properties:
        sub = properties[key]
        return sub if isinstance(sub, dict) else None
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _prune_nulls(value: Any, schema: JSON | None) -> None:
    if isinstance(value, dict):
        for key in list(value):
            sub = _field_schema(schema, key)
            if value[key] is None and sub is not None and not sub.get("nullable") and "default" not in sub:
                del value[key]
            else:
                _prune_nulls(value[key], sub)
    elif isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        for item in value:
            _prune_nulls(item, items if isinstance(items, dict) else None)


def _is_non_nullable_null(value: Any, schema: JSON | None) -> bool:
    return value is None and schema is not None and not schema.get("nullable")


def apply_defaults(schema: JSON, obj: JSON) -> None:
    """Fill, in place, absent fields (and non-nullable nulls) that have a ``default``.

    A default applies only where its parent object exists; a defaulted object is then
    defaulted inside as well.
    """
    _default(obj, schema)


def _fill(container: Any, key: Any, schema: JSON) -> None:
    """Replace a non-nullable null by the schema's default (absent fields are handled by the parent)."""
    if _is_non_nullable_null(container[key], schema) and schema.get("default") is not None:
        container[key] = copy.deepcopy(schema["default"])


def _default(value: Any, schema: JSON | None) -> None:
    if schema is None:
        return
    if isinstance(value, dict):
        properties: JSON = schema.get("properties") or {}
        for key, sub in properties.items():
            if isinstance(sub, dict) and sub.get("default") is not None and key not in value:
                value[key] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        for key in list(value):
            sub = properties.get(key)
            sub = sub if isinstance(sub, dict) else extra if isinstance(extra, dict) else None
            if sub is not None:
                _fill(value, key, sub)
                _default(value[key], sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index in range(len(value)):
            _fill(value, index, schema["items"])
            _default(value[index], schema["items"])
