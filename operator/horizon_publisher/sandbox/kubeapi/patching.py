"""The three PATCH flavours: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch.

All functions return a new document and never modify their inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .api import JSON, ApiError
from .errors import bad_request
from .meta import clone

# --- RFC 7386 -------------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 -------------------------------------------------------------------------------------


class JsonPatchError(Exception):
    """A patch that is well-formed but does not apply (the server answers 422)."""


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise bad_request(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    current = doc
    for part in parts[:-1]:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise JsonPatchError(f"doc is missing path: {path}: missing value")
    return current


def _index(container: list[Any], part: str, path: str, *, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(container)
    if not part.isdigit() or int(part) > len(container) - (0 if allow_end else 1):
        raise JsonPatchError(f"Unable to access invalid index: {part}: {path}")
    return int(part)


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent, last = _parent(doc, parts, path), parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, path, allow_end=False)]
    raise JsonPatchError(f"doc is missing key: {path}: missing value")


def _remove(doc: Any, path: str, op: str) -> Any:
    parts = _pointer(path)
    if not parts:
        raise JsonPatchError(f"{op} operation does not apply: cannot remove the root")
    parent, last = _parent(doc, parts, path), parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise JsonPatchError(f"{op} operation does not apply: doc is missing key: {path}: missing value")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, path, allow_end=False))
    raise JsonPatchError(f"{op} operation does not apply: doc is missing path: {path}: missing value")


def _add(doc: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent, last = _parent(doc, parts, path), parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise JsonPatchError(f"replace operation does not apply: doc is missing key: {path}: missing value")
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, path, allow_end=False)] = value
        else:
            parent.insert(_index(parent, last, path, allow_end=True), value)
    else:
        raise JsonPatchError(f"add operation does not apply: doc is missing path: {path}: missing value")
    return doc


def json_patch(target: JSON, operations: Any) -> JSON:
    """Apply RFC 6902 ``operations``; 400 for a malformed patch, :class:`JsonPatchError` if one fails."""
    if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc: Any = clone(target)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path")
        if op in ("add", "replace", "test") and "value" not in operation:
            raise bad_request(f"{op} operation must have a value")
        if op == "add":
            doc = _add(doc, path, clone(operation["value"]))
        elif op == "replace":
            doc = _add(doc, path, clone(operation["value"]), replace=True)
        elif op == "remove":
            _remove(doc, path, "remove")
        elif op in ("move", "copy"):
            source = operation.get("from")
            value = _remove(doc, source, op) if op == "move" else clone(_get(doc, source))
            doc = _add(doc, path, value)
        elif op == "test":
            try:
                actual = _get(doc, path)
            except JsonPatchError as error:
                raise JsonPatchError(f"testing value {path} failed: {error}") from None
            if actual != operation["value"]:
                raise JsonPatchError(f"testing value {path} failed: test failed")
        else:
            raise bad_request(f"Unexpected kind: {op}")
    if not isinstance(doc, dict):
        raise JsonPatchError("the patched document is not an object")
    return doc


def json_patch_failed(error: JsonPatchError) -> ApiError:
    """How the real server answers a JSON patch that does not apply (kopf reads 422 as a conflict)."""
    return ApiError(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
        {"causes": [{"message": str(error)}]},
    )


# --- strategic merge patch ------------------------------------------------------------------------

# Dotted path of a list -> its patchMergeKey, or None for a merged list of primitives. Lists not named
# here are atomic (replaced), which is what the Go types declare for every other list we serve.
MergeKeys = Mapping[str, str | None]

METADATA_MERGE_KEYS: dict[str, str | None] = {
    "metadata.ownerReferences": "uid",
    "metadata.finalizers": None,
}

_DELETE = object()
_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"


def strategic_merge_patch(target: JSON, patch: Any, merge_keys: MergeKeys) -> JSON:
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    keys = {**METADATA_MERGE_KEYS, **merge_keys}
    result = _merge_map(target, patch, "", keys)
    return {} if result is _DELETE else result


def _merge_map(original: Any, patch: JSON, path: str, keys: MergeKeys) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip(patch)
    result = dict(original) if isinstance(original, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        child = f"{path}.{key}" if path else key
        if key.startswith("$"):
            _list_directive(result, orders, key, value)
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _merge_map(result.get(key), value, child, keys)
            result[key] = merged
            if merged is _DELETE:
                del result[key]
        elif isinstance(value, list) and child in keys:
            result[key] = _merge_list(result.get(key), value, child, keys)
        else:
            result[key] = _strip(value)
    for name, order in orders.items():
        if isinstance(result.get(name), list):
            result[name] = _reorder(result[name], order, keys.get(f"{path}.{name}" if path else name))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _list_directive(result: JSON, orders: dict[str, list[Any]], key: str, value: Any) -> None:
    """``$setElementOrder/x`` (applied after the merge) and ``$deleteFromPrimitiveList/x``."""
    values = value if isinstance(value, list) else []
    if key.startswith(_ORDER):
        orders[key[len(_ORDER) :]] = values
    elif key.startswith(_DELETE_PRIMITIVES):
        name = key[len(_DELETE_PRIMITIVES) :]
        if isinstance(result.get(name), list):
            result[name] = [v for v in result[name] if v not in values]


def _merge_list(original: Any, patch: list[Any], path: str, keys: MergeKeys) -> list[Any]:
    merge_key = keys[path]
    items = list(original) if isinstance(original, list) else []
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [_strip(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    if merge_key is None:
        return items + [clone(p) for p in patch if p not in items]
    for entry in patch:
        if not isinstance(entry, dict):
            raise bad_request(f"strategic merge patch: {path} entries must be objects")
        position = next(
            (i for i, it in enumerate(items) if isinstance(it, dict) and it.get(merge_key) == entry.get(merge_key)),
            None,
        )
        if entry.get("$patch") == "delete":
            if position is not None:
                items.pop(position)
        elif position is None:
            items.append(_strip(entry))
        else:
            items[position] = _merge_map(items[position], entry, path, keys)
    return items


def _reorder(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    """Order ``items`` like ``order``; items it does not name keep their relative order at the end."""

    def identity(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, dict) else item

    wanted = [o.get(merge_key) if merge_key and isinstance(o, dict) else o for o in order]
    rank = {repr(v): i for i, v in enumerate(wanted)}
    return sorted(items, key=lambda it: rank.get(repr(identity(it)), len(rank)))


def _strip(value: Any) -> Any:
    """A copy of a patch fragment without directives, as stored when nothing is there to merge with."""
    if isinstance(value, dict):
        return {
            k: _strip(v)
            for k, v in value.items()
            if not (k.startswith("$") and (k in ("$patch", "$retainKeys") or "/" in k))
        }
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value
