"""Resource URLs -> (resource key, namespace, name, subresource), as the real RequestInfoFactory parses them."""

from __future__ import annotations

from dataclasses import dataclass

# /api/v1/namespaces/{name}/status and /finalize belong to the namespace itself, not to a resource inside it.
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Route:
    group_version: str  # "v1" or "group/version"
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool = False  # /api/v1/watch/... (deprecated, still served)

    @property
    def key(self) -> str:
        return f"{self.group_version}/{self.plural}"


def parse_resource_path(path: str) -> Route | None:
    """Parse a resource URL; None for anything that is not one (discovery, /version, unknown prefixes)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group_version, rest = parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    legacy_watch = rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    namespace = None
    if len(rest) >= 2 and rest[0] == "namespaces":
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        else:  # the namespace object itself: /namespaces/{name}[/status]
            return Route(group_version, "namespaces", None, rest[1], _at(rest, 2), legacy_watch)
    if not rest or len(rest) > 3:
        return None
    return Route(group_version, rest[0], namespace, _at(rest, 1), _at(rest, 2), legacy_watch)


def _at(parts: list[str], index: int) -> str | None:
    return parts[index] if len(parts) > index else None
