"""Discovery documents (/version, /api, /apis, APIResourceList), built from what is served right now."""

from __future__ import annotations

from collections import defaultdict

from .api import JSON
from .crds import preferred_version
from .store import Served

KUBERNETES_VERSION = "v1.32.4"
STATUS_VERBS = ["get", "patch", "update"]


def version_info() -> JSON:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": KUBERNETES_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T00:00:00Z",
        "goVersion": "go1.23.8",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions(server_address: str) -> JSON:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _groups(served: list[Served]) -> dict[str, list[str]]:
    versions: dict[str, list[str]] = defaultdict(list)
    for entry in served:
        resource = entry.resource
        if resource.group and resource.version not in versions[resource.group]:
            versions[resource.group].append(resource.version)
    return versions


def _group(name: str, versions: list[str]) -> JSON:
    preferred = preferred_version(versions)
    ordered = sorted(versions, key=lambda v: v != preferred)
    return {
        "name": name,
        "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in ordered],
        "preferredVersion": {"groupVersion": f"{name}/{preferred}", "version": preferred},
    }


def group_list(served: list[Served]) -> JSON:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name, versions) for name, versions in _groups(served).items()],
    }


def group(served: list[Served], name: str) -> JSON | None:
    versions = _groups(served).get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(served: list[Served], group_version: str, specials: dict[str, dict[str, list[str]]]) -> JSON | None:
    """The APIResourceList of one group/version; ``specials`` maps key -> subresource -> verbs."""
    resources: list[JSON] = []
    for entry in served:
        resource = entry.resource
        if resource.group_version != group_version:
            continue
        main: JSON = {
            "name": resource.plural,
            "singularName": resource.singular or resource.kind.lower(),
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": sorted(resource.verbs),
        }
        if resource.short_names:
            main["shortNames"] = list(resource.short_names)
        if resource.categories:
            main["categories"] = list(resource.categories)
        resources.append(main)
        subresources = {name: list(STATUS_VERBS) for name in resource.subresources if name == "status"}
        for name in resource.subresources:
            subresources.setdefault(name, ["create"])
        for name, verbs in specials.get(resource.key, {}).items():
            subresources[name] = sorted(set(verbs) | set(subresources.get(name, [])) - {"list"})
        for name, verbs in subresources.items():
            resources.append(
                {
                    "name": f"{resource.plural}/{name}",
                    "singularName": "",
                    "namespaced": resource.namespaced,
                    "kind": "TokenRequest" if name == "token" else resource.kind,
                    "verbs": verbs,
                    **({"group": "authentication.k8s.io", "version": "v1"} if name == "token" else {}),
                }
            )
    if not resources:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}
