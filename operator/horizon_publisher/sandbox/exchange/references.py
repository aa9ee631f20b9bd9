"""Body pieces patterns and deployment policies share (userInput, secretBinding, properties) and the check
that every service they reference exists (``PatternsTQ/BusinessPoliciesTQ.validateServiceIds``)."""

from __future__ import annotations

from typing import Any

from horizon_publisher.sandbox.exchange.common import like
from horizon_publisher.sandbox.exchange.jsonbody import Record, any_value, boolean, list_of, map_of, string
from horizon_publisher.sandbox.exchange.messages import java_arg
from horizon_publisher.sandbox.exchange.store import ExchangeStore
from horizon_publisher.sandbox.exchange.versions import VersionRange, form_service_id

_TABLE = "org.openhorizon.exchangeapi.table"
USER_INPUT_SERVICE = Record(
    f"{_TABLE}.deploymentpattern.OneUserInputService",
    {
        "serviceOrgid": string(),
        "serviceUrl": string(),
        "serviceArch": string(),
        "serviceVersionRange": string(),
        "inputs": list_of(
            Record(f"{_TABLE}.deploymentpattern.OneUserInputValue", {"name": string(), "value": any_value()})
        ),
    },
)
SECRET_BINDING_SERVICE = Record(
    f"{_TABLE}.deploymentpattern.OneSecretBindingService",
    {
        "serviceOrgid": string(),
        "serviceUrl": string(),
        "serviceArch": string(),
        "serviceVersionRange": string(),
        "secrets": list_of(map_of(string())),
        "enableNodeLevelSecrets": boolean(primitive=False),
    },
)
ONE_PROPERTY = Record(f"{_TABLE}.service.OneProperty", {"name": string(), "type": string(), "value": any_value()})
PROPERTY_TYPES = ("string", "int", "float", "boolean", "list of strings", "version")
DEFAULT_NODE_HEALTH = {"missing_heartbeat_interval": 1800, "check_agreement_status": 1800}


def service_exists(store: ExchangeStore, resource: str) -> bool:
    """``ServicesTQ.getService(id)``: exact id, or SQL LIKE when the id contains ``%``."""
    if "%" in resource:
        return any(like(resource, existing) for existing in store.services)
    return resource in store.services


def render_secret_binding(entry: dict[str, Any]) -> dict[str, Any]:
    rendered = dict(entry)
    if rendered.get("enableNodeLevelSecrets") is None:
        rendered["enableNodeLevelSecrets"] = False  # the case class default
    return rendered


def user_input_reference(entry: dict[str, Any]) -> tuple[str, tuple[Any, Any, Any, Any]]:
    """(id to look up, (org, url, versionRange, arch) for the error) of a userInput entry.

    The server turns a single-version range into ``Some(1.0.0)`` inside the id (an ``Option.toString`` slip),
    so such entries never match."""
    version_range = entry["serviceVersionRange"]
    arch = entry["serviceArch"] or "%"
    if not version_range:
        version = "%"
    else:
        single = VersionRange.parse(version_range).single_version()
        version = f"Some({single})" if single is not None else "%"
    resource = form_service_id(java_arg(entry["serviceOrgid"]), java_arg(entry["serviceUrl"]), version, arch)
    shown = (
        entry["serviceOrgid"],
        entry["serviceUrl"],
        version_range or "[0.0.0,INFINITY)",
        entry["serviceArch"] or "",
    )
    return resource, shown


def missing_reference(store: ExchangeStore, references: list[tuple[str, tuple[Any, Any, Any, Any]]]) -> str | None:
    for resource, (org, url, version, arch) in references:
        if not service_exists(store, resource):
            return (
                "the following referenced service does not exist in the exchange: "
                f"org= {java_arg(org)}, url= {java_arg(url)}, version= {java_arg(version)}, arch= {java_arg(arch)}"
            )
    return None


def property_problem(properties: list[dict[str, Any]] | None) -> str | None:
    for prop in properties or []:
        if prop["type"] is not None and prop["type"] not in PROPERTY_TYPES:
            return f"The properties.type value '{prop['type']}' must be 1 of: {', '.join(PROPERTY_TYPES)}"
    return None
