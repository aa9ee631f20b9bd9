"""The JSONPath subset CRD printer columns use: ``.a.b``, ``.a[0]``, ``.a[*]``, ``['k']``, ``[?(@.x=="y")]``."""

from __future__ import annotations

import re
from typing import Any

_STEP = re.compile(
    r"""\.(?P<field>(?:\\.|[^.\[\\])+)"""  # .field (a backslash escapes a dot)
    r"""|\[(?P<index>-?\d+|\*)\]"""
    r"""|\[['"](?P<quoted>[^'"]+)['"]\]"""
    r"""|\[\?\(@(?P<path>(?:\.[\w-]+)+)\s*(?P<op>==|!=)\s*(?P<value>"[^"]*"|'[^']*'|[^)\s]+)\)\]"""
)


def find(document: Any, expression: str) -> list[Any]:
    """Every value ``expression`` selects in ``document`` (empty when nothing matches)."""
    expression = expression.strip()
    if expression.startswith("{") and expression.endswith("}"):
        expression = expression[1:-1]
    expression = expression.removeprefix("$")
    results = [document]
    position = 0
    while position < len(expression):
        match = _STEP.match(expression, position)
        if match is None:
            raise ValueError(f"unsupported JSONPath: {expression}")
        position = match.end()
        results = [child for value in results for child in _step(value, match)]
    return results


def _step(value: Any, match: re.Match[str]) -> list[Any]:
    field = match.group("field") or match.group("quoted")
    if field is not None:
        field = field.replace("\\.", ".")
        return [value[field]] if isinstance(value, dict) and field in value else []
    index = match.group("index")
    if index is not None:
        if not isinstance(value, list):
            return []
        if index == "*":
            return list(value)
        number = int(index)
        return [value[number]] if -len(value) <= number < len(value) else []
    if not isinstance(value, list):
        return []
    path = match.group("path").split(".")[1:]
    wanted = match.group("value").strip("\"'")
    selected = []
    for item in value:
        current: Any = item
        for part in path:
            current = current.get(part) if isinstance(current, dict) else None
        text = None if current is None else (str(current).lower() if isinstance(current, bool) else str(current))
        if (text == wanted) == (match.group("op") == "=="):
            selected.append(item)
    return selected
