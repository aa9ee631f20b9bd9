"""Exchange request bodies, as ``hzn exchange service publish`` sends them (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

JSON = dict[str, Any]


def service_body(service: Mapping[str, Any], *, org: str, arch: str, deployment: str, signature: str) -> JSON:
    """Every field hzn sends for one architecture; absent strings as "" (what the Exchange stores)."""
    label = str(service.get("label") or service.get("url") or "")
    return {
        "label": label,
        "description": str(service.get("description") or label),
        "documentation": str(service.get("documentation") or ""),
        "public": bool(service.get("public", False)),
        "url": str(service.get("url")),
        "version": str(service.get("version")),
        "arch": arch,
        "sharable": str(service.get("sharable") or "multiple"),
        "matchHardware": dict(service.get("matchHardware") or {}),
        "requiredServices": [_required(r, org, arch) for r in service.get("requiredServices") or []],
        "userInput": [_user_input(u) for u in service.get("userInput") or []],
        "deployment": deployment,
        "deploymentSignature": signature,
        "clusterDeployment": "",
        "clusterDeploymentSignature": "",
    }


def _required(entry: Mapping[str, Any], org: str, arch: str) -> JSON:
    required: JSON = {"url": str(entry.get("url")), "org": str(entry.get("org") or org), "arch": arch}
    for key in ("version", "versionRange"):
        if entry.get(key):
            required[key] = str(entry[key])
    return required


def _user_input(entry: Mapping[str, Any]) -> dict[str, str]:
    # The Exchange types userInput as a list of string maps.
    return {str(k): v if isinstance(v, str) else _scalar(v) for k, v in entry.items() if v is not None}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def pattern_body(
    pattern: Mapping[str, Any], *, org: str, service_url: str, version: str, arches: Sequence[str]
) -> JSON:
    return {
        "label": str(pattern.get("label") or pattern.get("name")),
        "description": str(pattern.get("description") or ""),
        "public": bool(pattern.get("public", False)),
        "services": [
            {
                "serviceUrl": service_url,
                "serviceOrgid": org,
                "serviceArch": arch,
                "serviceVersions": [{"version": version}],
            }
            for arch in arches
        ],
        "userInput": user_inputs(pattern.get("userInput") or [], org=org, service_url=service_url),
        "agreementProtocols": [dict(a) for a in pattern.get("agreementProtocols") or []],
    }


def business_policy_body(policy: Mapping[str, Any], *, org: str, service_url: str, version: str) -> JSON:
    return {
        "label": str(policy.get("label") or policy.get("name")),
        "description": str(policy.get("description") or ""),
        "service": {
            "name": service_url,
            "org": org,
            "arch": "*",
            "serviceVersions": [{"version": version}],
        },
        "properties": [dict(p) for p in policy.get("properties") or []],
        "constraints": [str(c) for c in policy.get("constraints") or []],
        "userInput": user_inputs(policy.get("userInput") or [], org=org, service_url=service_url),
    }


BUILT_IN_PREFIX = "openhorizon.service."


def service_policy_body(policy: Mapping[str, Any], *, url: str, org: str, version: str, arch: str) -> JSON:
    """As ``hzn exchange service publish -p``: the user's properties plus the built-in ones, which win."""
    built_in = {"url": url, "name": url, "org": org, "version": version, "arch": arch}
    properties = [
        dict(p) for p in policy.get("properties") or [] if not str(p.get("name", "")).startswith(BUILT_IN_PREFIX)
    ]
    properties += [{"name": BUILT_IN_PREFIX + key, "value": value} for key, value in built_in.items()]
    return {"properties": properties, "constraints": [str(c) for c in policy.get("constraints") or []]}


def user_inputs(entries: Sequence[Mapping[str, Any]], *, org: str, service_url: str) -> list[JSON]:
    """Pattern / policy user input: the service reference defaults to this service, any arch and version."""
    return [
        {
            "serviceOrgid": str(entry.get("serviceOrgid") or org),
            "serviceUrl": str(entry.get("serviceUrl") or service_url),
            "serviceArch": str(entry.get("serviceArch") or ""),
            "serviceVersionRange": str(entry.get("serviceVersionRange") or "[0.0.0,INFINITY)"),
            "inputs": [dict(i) for i in entry.get("inputs") or []],
        }
        for entry in entries
    ]
