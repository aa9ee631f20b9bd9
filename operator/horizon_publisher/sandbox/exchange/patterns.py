"""Deployment patterns: ``/v1/orgs/{org}/patterns[/{pattern}]`` and the ``/deployment/patterns`` alias
(exchange-api ``route/deploymentpattern``): list, create, read, full replace, delete.

Every (serviceOrgid, serviceUrl, version, serviceArch) must be an existing service id exactly (``*`` is not
a wildcard); userInput entries must name an existing service; ``public: true`` needs an org of type IBM.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from horizon_publisher.sandbox.exchange.auth import Identity, Target
from horizon_publisher.sandbox.exchange.common import (
    boolean_query,
    check,
    json_body,
    matches_filter,
    resource_name,
    store_of,
)
from horizon_publisher.sandbox.exchange.jsonbody import Record, any_value, boolean, integer, list_of, map_of, string
from horizon_publisher.sandbox.exchange.messages import (
    ACCESS_DENIED,
    ALREADY_EXISTS,
    OK,
    ApiError,
    api_response,
    bad_input,
    duplicate_key_detail,
    java_arg,
    json_response,
    not_found,
)
from horizon_publisher.sandbox.exchange.references import (
    DEFAULT_NODE_HEALTH,
    SECRET_BINDING_SERVICE,
    USER_INPUT_SERVICE,
    missing_reference,
    render_secret_binding,
    user_input_reference,
)
from horizon_publisher.sandbox.exchange.store import ExchangeStore
from horizon_publisher.sandbox.exchange.versions import form_service_id, is_valid_version

_ROUTE = "org.openhorizon.exchangeapi.route.deploymentpattern"
_TABLE = "org.openhorizon.exchangeapi.table.deploymentpattern"
SERVICE_VERSION = Record(
    f"{_TABLE}.PServiceVersions",
    {
        "version": string(),
        "deployment_overrides": string(),
        "deployment_overrides_signature": string(),
        "priority": map_of(integer()),
        "upgradePolicy": map_of(string()),
    },
)
PATTERN_SERVICE = Record(
    f"{_TABLE}.PServices",
    {
        "serviceUrl": string(),
        "serviceOrgid": string(),
        "serviceArch": string(),
        "agreementLess": boolean(primitive=False),
        "serviceVersions": list_of(SERVICE_VERSION),
        "dataVerification": map_of(any_value()),
        "nodeHealth": map_of(integer()),
    },
)
PATTERN_BODY = Record(
    f"{_ROUTE}.PostPutPatternRequest",
    {
        "label": string(),
        "description": string(),
        "public": boolean(primitive=False),
        "services": list_of(PATTERN_SERVICE),
        "userInput": list_of(USER_INPUT_SERVICE),
        "secretBinding": list_of(SECRET_BINDING_SERVICE),
        "agreementProtocols": list_of(map_of(string())),
        "clusterNamespace": string(),
    },
    required=("label", "services"),
)


def pattern_problem(body: dict[str, Any]) -> str | None:
    if not body["services"]:
        return "No services were found in the pattern or the services field was left empty"
    for svc in body["services"]:
        if not svc["serviceVersions"]:
            return (
                f"no versions specified for service '{java_arg(svc['serviceOrgid'])}', "
                f"'{java_arg(svc['serviceUrl'])}', '{java_arg(svc['serviceArch'])}'"
            )
        for version in svc["serviceVersions"]:
            if not is_valid_version(version["version"] or ""):
                return f"version '{java_arg(version['version'])}' is not valid version format."
            if version["deployment_overrides"] and not version["deployment_overrides_signature"]:
                return "this pattern definition is not signed."
    return None


def references(body: dict[str, Any]) -> list[tuple[str, tuple[Any, Any, Any, Any]]]:
    found = []
    for svc in body["services"]:
        for version in svc["serviceVersions"]:
            org, url, arch = (java_arg(svc[name]) for name in ("serviceOrgid", "serviceUrl", "serviceArch"))
            found.append((form_service_id(org, url, version["version"], arch), (org, url, version["version"], arch)))
    found.extend(user_input_reference(entry) for entry in body["userInput"] or [])
    return found


def pattern_row(body: dict[str, Any], org: str, owner: str | None, now: str) -> dict[str, Any]:
    services = [
        {**svc, "nodeHealth": svc["nodeHealth"] if svc["nodeHealth"] is not None else dict(DEFAULT_NODE_HEALTH)}
        for svc in body["services"]
    ]
    return {
        "orgid": org,
        "owner": owner,
        "label": body["label"],
        "description": body["description"] if body["description"] is not None else body["label"],
        "public": bool(body["public"]),
        "services": services,
        "userInput": body["userInput"] or [],
        "secretBinding": body["secretBinding"] or [],
        "agreementProtocols": body["agreementProtocols"]
        if body["agreementProtocols"] is not None
        else [{"name": "Basic"}],
        "clusterNamespace": body["clusterNamespace"] or "",
        "lastUpdated": now,
    }


def render_pattern(store: ExchangeStore, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "owner": store.owner_name(row["owner"]),
        "label": row["label"],
        "description": row["description"],
        "public": row["public"],
        "services": row["services"],
        "userInput": row["userInput"],
        "secretBinding": [render_secret_binding(entry) for entry in row["secretBinding"]],
        "agreementProtocols": row["agreementProtocols"],
        "lastUpdated": row["lastUpdated"],
        "clusterNamespace": row["clusterNamespace"],
    }


def pattern_target(store: ExchangeStore, resource: str) -> Target:
    row = store.patterns.get(resource)
    if row is None:
        return Target("pattern", resource)
    return Target("pattern", resource, owner=row["owner"], public=row["public"])


def visible(identity: Identity, row: dict[str, Any]) -> bool:
    if identity.is_org_admin or identity.is_standard_user or (identity.is_agbot and not identity.is_multitenant_agbot):
        return row["orgid"] in (identity.org, "IBM") or row["public"]
    return True


def _empty() -> dict[str, Any]:
    return {"patterns": {}, "lastIndex": 0}


def _org_type(store: ExchangeStore, org: str) -> str:
    return str(store.collection("orgs").get(org, {}).get("orgType", ""))


async def list_patterns(request: web.Request) -> web.Response:
    store, org = store_of(request), request.match_info["org"]
    identity = check(request, Target("pattern", f"{org}/*"), "READ")
    public = boolean_query(request, "public")
    query = request.query
    found: dict[str, Any] = {}
    for resource in sorted(store.patterns):
        row = store.patterns[resource]
        if row["orgid"] != org or not visible(identity, row):
            continue
        rendered = render_pattern(store, row)
        if (
            matches_filter(resource, query.get("idfilter"))
            and matches_filter(rendered["owner"], query.get("owner"))
            and matches_filter(row["label"], query.get("label"))
            and matches_filter(row["description"], query.get("description"))
            and matches_filter(row["clusterNamespace"], query.get("clusternamespace"))
            and (public is None or row["public"] == public)
        ):
            found[resource] = rendered
    return json_response({"patterns": found, "lastIndex": 0}, status=200 if found else 404)


async def get_pattern(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "pattern")
    identity = check(request, pattern_target(store, resource), "READ")
    row = store.patterns.get(resource)
    if row is None or not visible(identity, row):
        return json_response(_empty(), status=404)
    return json_response({"patterns": {resource: render_pattern(store, row)}, "lastIndex": 0})


async def create_pattern(request: web.Request) -> web.Response:
    store = store_of(request)
    org, resource = resource_name(request, "pattern")
    identity = check(request, pattern_target(store, resource), "CREATE")
    body = await json_body(request, PATTERN_BODY)
    problem = pattern_problem(body)
    if problem:
        raise bad_input(problem)
    missing = missing_reference(store, references(body))
    if missing is None and body["public"] and _org_type(store, org) != "IBM":
        missing = "only IBM patterns can be made public"
    if missing:
        raise bad_input(f"pattern '{resource}' not created: {missing}")
    limit = store.limits.max_patterns
    if limit != 0 and store.count_owned("patterns", identity.uuid) > limit:
        raise ApiError(403, ACCESS_DENIED, f"Access Denied: you are over the limit of {java_arg(limit)} patterns")
    if resource in store.patterns:
        detail = duplicate_key_detail("patterns", "pattern", resource)
        raise ApiError(403, ALREADY_EXISTS, f"pattern '{resource}' already exists: {detail}")
    store.patterns[resource] = pattern_row(body, org, identity.uuid, store.now())
    store.commit()
    return api_response(201, OK, f"pattern '{resource}' created")


async def put_pattern(request: web.Request) -> web.Response:
    store = store_of(request)
    org, resource = resource_name(request, "pattern")
    identity = check(request, pattern_target(store, resource), "WRITE")
    body = await json_body(request, PATTERN_BODY)
    problem = pattern_problem(body)
    if problem:
        raise bad_input(problem)
    missing = missing_reference(store, references(body))
    if missing:
        raise bad_input(f"pattern '{resource}' not updated: {missing}")
    existing = store.patterns.get(resource)
    if existing is None:
        raise not_found(f"pattern '{resource}' not found")
    if (existing["public"] or body["public"]) and _org_type(store, org) != "IBM":
        raise bad_input(f"pattern '{resource}' not updated: only IBM patterns can be made public")
    store.patterns[resource] = pattern_row(body, org, identity.uuid, store.now())  # PUT takes the owner over
    store.commit()
    return api_response(201, OK, "pattern updated")


async def delete_pattern(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "pattern")
    check(request, pattern_target(store, resource), "WRITE")
    if store.patterns.pop(resource, None) is None:
        raise not_found(f"pattern '{resource}' not found")
    store.collection("patternKeys").pop(resource, None)
    store.commit()
    return api_response(204, OK, "pattern deleted")


def add_routes(app: web.Application) -> None:
    for base in ("/v1/orgs/{org}/patterns", "/v1/orgs/{org}/deployment/patterns"):
        app.router.add_get(base, list_patterns)
        app.router.add_get(base + "/{pattern}", get_pattern)
        app.router.add_post(base + "/{pattern}", create_pattern)
        app.router.add_put(base + "/{pattern}", put_pattern)
        app.router.add_delete(base + "/{pattern}", delete_pattern)
