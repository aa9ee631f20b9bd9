#!/usr/bin/env python3
"""Generate the field tables of docs/crd-reference.md from crds/*.yaml.

The prose around the tables is written by hand; each table sits between markers
``<!-- generated: KIND spec|status|tls|userInputs|nodeHealth -->`` and ``<!-- end generated -->`` and is
replaced wholesale. Shared shapes (TLS, user inputs, node health) get one table and a link where they
are used. ``--check`` exits 1 when the document is not what the schemas give (the test suite runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "crd-reference.md"
CRDS = {
    "EdgeServiceImage": ROOT / "crds" / "edgeserviceimages.yaml",
    "EdgePublication": ROOT / "crds" / "edgepublications.yaml",
}
# Fields whose subtree is one shared table: (anchor, label) by field name, and the parents it is shared under.
SHARED = {"tls": ("tls", "TLS"), "userInput": ("userinputs", "UserInputs"), "nodeHealth": ("nodehealth", "NodeHealth")}
SHARED_UNDER = {"userInput": ("pattern", "deploymentPolicy")}
BLOCK = re.compile(r"(<!-- generated: (?P<key>[A-Za-z]+ [A-Za-z]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
HEADER = "| Field | Type | Default | Description |\n|---|---|---|---|\n"


def schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load(CRDS[kind].read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    return dict(version["schema"]["openAPIV3Schema"])


def type_text(node: Mapping[str, Any]) -> str:
    kind = str(node.get("type") or ("any" if node.get("x-kubernetes-preserve-unknown-fields") else "object"))
    if kind == "array":
        items = node.get("items") or {}
        list_type = node.get("x-kubernetes-list-type")
        keys = node.get("x-kubernetes-list-map-keys")
        shape = " (set)" if list_type == "set" else ""
        if list_type == "map" and keys:
            shape = f" (map by {', '.join(keys)})"
        parts = [f"[]{items.get('type') or 'object'}{shape}"]
        parts += _constraints(items)
        if "maxItems" in node:
            parts.append(f"≤{node['maxItems']} items")
        return ", ".join(parts)
    if kind == "object" and isinstance(node.get("additionalProperties"), Mapping):
        return "map"
    if kind == "object" and node.get("x-kubernetes-preserve-unknown-fields"):
        return "object (free-form)"
    return ", ".join([kind, *_constraints(node)])


def _constraints(node: Mapping[str, Any]) -> list[str]:
    parts = []
    if "enum" in node:
        parts.append(" \\| ".join(f"`{v}`" for v in node["enum"]))
    elif "pattern" in node:
        parts.append("pattern")
    if node.get("format") == "date-time":
        parts.append("RFC 3339")
    if "maxLength" in node and "enum" not in node and "pattern" not in node:
        parts.append(f"≤{node['maxLength']} chars")
    if "minimum" in node:
        parts.append(f"≥{node['minimum']}")
    if "maximum" in node:
        parts.append(f"≤{node['maximum']}")
    return parts


def default_text(node: Mapping[str, Any]) -> str:
    if "default" not in node:
        return ""
    value = node["default"]
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (list, dict)):
        return "`" + json.dumps(value, separators=(",", ":")) + "`"
    return f"`{value}`"


def description(node: Mapping[str, Any]) -> str:
    return " ".join(str(node.get("description") or "").split()).replace("|", "\\|")


def rows(node: Mapping[str, Any], prefix: str) -> Iterator[str]:
    """One row per field under ``node``; shared shapes become a link row and are not descended."""
    for name, child in (node.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        mark = " *" if name in (node.get("required") or []) else ""
        parent = prefix.rsplit(".", maxsplit=1)[-1]
        if name in SHARED and prefix and parent in SHARED_UNDER.get(name, (parent,)):
            anchor, label = SHARED[name]
            yield f"| `{path}`{mark} | [{label}](#{anchor}) | | {description(child)} |"
            continue
        yield f"| `{path}`{mark} | {type_text(child)} | {default_text(child)} | {description(child)} |"
        yield from _children(child, path)


def _children(node: Mapping[str, Any], path: str) -> Iterator[str]:
    if node.get("type") == "array" and isinstance(node.get("items"), Mapping):
        yield from rows(node["items"], f"{path}[]")
    elif isinstance(node.get("additionalProperties"), Mapping):
        extra = node["additionalProperties"]
        yield f"| `{path}.<key>` | {type_text(extra)} | {default_text(extra)} | {description(extra)} |"
        yield from rows(extra, f"{path}.<key>")
    else:
        yield from rows(node, path)


def find_shared(node: Mapping[str, Any], name: str, parents: tuple[str, ...] | None, parent: str = "") -> Any:
    """The first ``name`` field (under one of ``parents`` when given), depth first."""
    for key, child in (node.get("properties") or {}).items():
        if key == name and (parents is None or parent in parents):
            return child
        inner = child["items"] if isinstance(child.get("items"), Mapping) else child
        found = find_shared(inner, name, parents, key)
        if found is not None:
            return found
    return None


def table(key: str) -> str:
    kind, part = key.split()
    root = schema(kind)
    if part in ("spec", "status"):
        node = root["properties"][part]
        body = [r for r in rows(node, "") if not r.startswith(("| `conditions[]", "| `conditions`"))]
        if part == "status" and "conditions" in node.get("properties", {}):
            body.insert(1 if body and body[0].startswith("| `observedGeneration`") else 0, _conditions_row(node))
        return HEADER + "\n".join(body) + "\n"
    shared = {"tls": "tls", "userInputs": "userInput", "nodeHealth": "nodeHealth"}[part]
    node = find_shared(root, shared, SHARED_UNDER.get(shared))
    assert node is not None, f"{kind} has no {shared}"
    if node.get("type") == "array":
        return HEADER + "\n".join(rows(node["items"], "[]")) + "\n"
    return HEADER + "\n".join(rows(node, "")) + "\n"


def _conditions_row(status: Mapping[str, Any]) -> str:
    node = status["properties"]["conditions"]
    return f"| `conditions` | {type_text(node)} |  | {description(node)} |"


def render(text: str) -> str:
    return BLOCK.sub(lambda m: m[1] + table(m["key"]) + m[4], text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/crd-reference.md is out of date")
    args = parser.parse_args()
    current = DOC.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("docs/crd-reference.md is out of date: run scripts/crd_reference.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
