"""Server-side ``meta.k8s.io/v1`` Tables, what ``kubectl get`` prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .api import JSON, ResourceType
from .jsonpath import find
from .meta import parse_rfc3339

NAME_COLUMN: JSON = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace. "
    "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    "priority": 0,
}
AGE_COLUMN: JSON = {
    "name": "Age",
    "type": "date",
    "jsonPath": ".metadata.creationTimestamp",
    "description": "CreationTimestamp is a timestamp representing the server time when this object was created.",
}
_BUILTIN_COLUMNS: dict[tuple[str, str], tuple[JSON, ...]] = {
    ("", "secrets"): (
        {"name": "Type", "type": "string", "jsonPath": ".type"},
        {"name": "Data", "type": "integer", "jsonPath": ".data", "count": True},
    ),
    ("", "configmaps"): ({"name": "Data", "type": "integer", "jsonPath": ".data", "count": True},),
    ("", "namespaces"): ({"name": "Status", "type": "string", "jsonPath": ".status.phase"},),
    ("", "serviceaccounts"): ({"name": "Secrets", "type": "integer", "jsonPath": ".secrets", "count": True},),
}


def human_duration(seconds: float) -> str:  # noqa: PLR0911 - mirrors the Go function branch by branch
    """apimachinery's ``duration.HumanDuration``: 45s, 3m20s, 2h5m, 4d3h, 3y12d."""
    total = int(seconds)
    if total < -1:
        return "<invalid>"
    if total < 0:
        return "0s"
    if total < 120:
        return f"{total}s"
    minutes, hours = total // 60, total // 3600
    if minutes < 10:
        return f"{minutes}m{total % 60}s" if total % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def columns_for(resource: ResourceType, custom: bool) -> tuple[JSON, ...]:
    if resource.printer_columns:
        return resource.printer_columns
    if resource.group == "apiextensions.k8s.io" and resource.plural == "customresourcedefinitions":
        return ({**AGE_COLUMN, "name": "Created At", "type": "date", "format": "date-time", "raw": True},)
    del custom
    return (*_BUILTIN_COLUMNS.get((resource.group, resource.plural), ()), AGE_COLUMN)


def _number(value: Any) -> Any:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# How a printer column of each type renders a found value (apiextensions' cellForJSONValue).
_RENDER: dict[str, Any] = {
    "string": lambda v: v if isinstance(v, str) else json.dumps(v, separators=(",", ":")),
    "integer": lambda v: None if _number(v) is None else int(v),
    "number": _number,
    "boolean": lambda v: v if isinstance(v, bool) else None,
}


def _age(value: Any, now: datetime) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return human_duration((now - parse_rfc3339(value)).total_seconds())
    except ValueError:
        return "<invalid>"


def _cell(column: JSON, obj: JSON, now: datetime) -> Any:
    try:
        found = find(obj, column["jsonPath"])
    except ValueError:
        return None
    if column.get("count"):
        return len(found[0]) if found and isinstance(found[0], (dict, list)) else 0
    if not found or found[0] is None:
        return None
    value, kind = found[0], column.get("type", "string")
    if kind == "date":
        return value if column.get("raw") else _age(value, now)
    render = _RENDER.get(kind)
    return None if render is None else render(value)


def _row_object(obj: JSON, include: str) -> JSON | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def build_table(
    resource: ResourceType,
    custom: bool,
    objects: list[JSON],
    list_metadata: JSON,
    include_object: str = "Metadata",
) -> JSON:
    columns = columns_for(resource, custom)
    definitions = [NAME_COLUMN] + [
        {
            "name": c["name"],
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": c.get("priority", 0),
        }
        for c in columns
    ]
    now = datetime.now(UTC)
    rows = []
    for obj in objects:
        row: JSON = {"cells": [obj["metadata"]["name"]] + [_cell(c, obj, now) for c in columns]}
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    }
