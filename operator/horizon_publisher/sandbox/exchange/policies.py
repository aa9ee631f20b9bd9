"""Deployment (business) policies, ``/v1/orgs/{org}/business/policies[/{policy}]`` and the
``/deployment/policies`` alias (exchange-api ``route/deploymentpolicy``), and the service policy,
``/v1/orgs/{org}/services/{service}/policy`` (``route/service/Policy.scala``).

A deployment policy's ``service.serviceVersions[].version`` must each exist as a service of that org, name
and arch (``*`` or ``""`` match any arch; versions by exact string). Policies are never public and only
their org (plus root and IBM agbots) can read them. PUT keeps the owner.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from horizon_publisher.sandbox.exchange.auth import Identity, Target
from horizon_publisher.sandbox.exchange.common import check, json_body, matches_filter, resource_name, store_of
from horizon_publisher.sandbox.exchange.jsonbody import Record, integer, list_of, map_of, string
from horizon_publisher.sandbox.exchange.messages import (
    ACCESS_DENIED,
    ALREADY_EXISTS,
    INTERNAL_ERROR,
    OK,
    ApiError,
    api_response,
    bad_input,
    duplicate_key_detail,
    foreign_key_detail,
    java_arg,
    json_response,
    not_found,
)
from horizon_publisher.sandbox.exchange.references import (
    DEFAULT_NODE_HEALTH,
    ONE_PROPERTY,
    SECRET_BINDING_SERVICE,
    USER_INPUT_SERVICE,
    missing_reference,
    property_problem,
    render_secret_binding,
    user_input_reference,
)
from horizon_publisher.sandbox.exchange.services import service_target
from horizon_publisher.sandbox.exchange.store import ExchangeStore
from horizon_publisher.sandbox.exchange.versions import form_service_id, is_valid_version

_TABLE = "org.openhorizon.exchangeapi.table.deploymentpolicy"
POLICY_SERVICE = Record(
    f"{_TABLE}.BService",
    {
        "name": string(),
        "org": string(),
        "arch": string(),
        "serviceVersions": list_of(
            Record(
                f"{_TABLE}.BServiceVersions",
                {"version": string(), "priority": map_of(integer()), "upgradePolicy": map_of(string())},
            )
        ),
        "nodeHealth": map_of(integer()),
        "clusterNamespace": string(),
    },
)
POLICY_BODY = Record(
    "org.openhorizon.exchangeapi.route.deploymentpolicy.PostPutBusinessPolicyRequest",
    {
        "label": string(),
        "description": string(),
        "service": POLICY_SERVICE,
        "userInput": list_of(USER_INPUT_SERVICE),
        "secretBinding": list_of(SECRET_BINDING_SERVICE),
        "properties": list_of(ONE_PROPERTY),
        "constraints": list_of(string()),
    },
    required=("label", "service"),
)
SERVICE_POLICY_BODY = Record(
    "org.openhorizon.exchangeapi.route.service.PutServicePolicyRequest",
    {"label": string(), "description": string(), "properties": list_of(ONE_PROPERTY), "constraints": list_of(string())},
)


async def _policy_body(request: web.Request) -> dict[str, Any]:
    body = await json_body(request, POLICY_BODY)
    service = body["service"]
    if any(service[name] is None for name in ("name", "org", "arch", "serviceVersions")):
        raise bad_input(f"Cannot construct instance of `{POLICY_BODY.class_name}`, problem: requirement failed")
    return body


def policy_problem(service: dict[str, Any]) -> str | None:
    if not service["serviceVersions"]:
        return "no versions specified for service"
    for version in service["serviceVersions"]:
        if not is_valid_version(version["version"] or ""):
            return f"version '{java_arg(version['version'])}' is not valid version format."
    return None


def references(body: dict[str, Any]) -> list[tuple[str, tuple[Any, Any, Any, Any]]]:
    service = body["service"]
    arch = "%" if service["arch"] in ("*", "") else service["arch"]  # any arch, through SQL LIKE
    found = [
        (
            form_service_id(service["org"], service["name"], version["version"], arch),
            (service["org"], service["name"], version["version"], service["arch"]),
        )
        for version in service["serviceVersions"]
    ]
    found.extend(user_input_reference(entry) for entry in body["userInput"] or [])
    return found


def _stored_service(service: dict[str, Any]) -> dict[str, Any]:
    stored = dict(service)
    if stored["nodeHealth"] is None:
        stored["nodeHealth"] = dict(DEFAULT_NODE_HEALTH)
    return stored


def render_policy(store: ExchangeStore, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "constraints": row["constraints"] or [],
        "created": row["created"],
        "description": row["description"],
        "label": row["label"],
        "lastUpdated": row["lastUpdated"],
        "owner": store.owner_name(row["owner"]),
        "properties": row["properties"] or [],
        "secretBinding": [render_secret_binding(entry) for entry in row["secretBinding"] or []],
        "service": row["service"],
        "userInput": row["userInput"] or [],
    }


def policy_target(store: ExchangeStore, resource: str) -> Target:
    row = store.business_policies.get(resource)
    return Target("business policy", resource, owner=row["owner"] if row else None)


def visible(identity: Identity, row: dict[str, Any]) -> bool:
    return identity.is_super_user or identity.is_multitenant_agbot or row["orgid"] == identity.org


async def list_policies(request: web.Request) -> web.Response:
    store, org = store_of(request), request.match_info["org"]
    identity = check(request, Target("business policy", f"{org}/*"), "READ")
    query = request.query
    found: dict[str, Any] = {}
    for resource in sorted(store.business_policies):
        row = store.business_policies[resource]
        if row["orgid"] != org or not visible(identity, row):
            continue
        rendered = render_policy(store, row)
        if (
            matches_filter(resource, query.get("idfilter"))
            and matches_filter(rendered["owner"], query.get("owner"))
            and matches_filter(row["label"], query.get("label"))
            and matches_filter(row["description"], query.get("description"))
        ):
            found[resource] = rendered
    return json_response({"businessPolicy": found, "lastIndex": 0}, status=200 if found else 404)


async def get_policy(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "policy")
    identity = check(request, policy_target(store, resource), "READ")
    row = store.business_policies.get(resource)
    if row is None or not visible(identity, row):
        return json_response({"businessPolicy": {}, "lastIndex": 0}, status=404)
    return json_response({"businessPolicy": {resource: render_policy(store, row)}, "lastIndex": 0})


async def create_policy(request: web.Request) -> web.Response:
    store = store_of(request)
    org, resource = resource_name(request, "policy")
    identity = check(request, policy_target(store, resource), "CREATE")
    body = await _policy_body(request)
    problem = policy_problem(body["service"])
    if problem:
        raise bad_input(problem)
    missing = missing_reference(store, references(body))
    if missing:
        raise bad_input(f"business policy '{resource}' not created: {missing}")
    limit = store.limits.max_business_policies
    if limit != 0 and store.count_owned("businessPolicies", identity.uuid) > limit:
        raise ApiError(
            403, ACCESS_DENIED, f"Access Denied: you are over the limit of {java_arg(limit)} business policies"
        )
    if resource in store.business_policies:
        detail = duplicate_key_detail("businesspolicies", '"businessPolicy"', resource)
        raise ApiError(403, ALREADY_EXISTS, f"business policy '{resource}' already exists: {detail}")
    now = store.now()
    store.business_policies[resource] = {
        "orgid": org,
        "owner": identity.uuid,
        "created": now,
        **_policy_fields(body, now),
    }
    store.commit()
    return api_response(201, OK, f"business policy '{resource}' created")


def _policy_fields(body: dict[str, Any], now: str) -> dict[str, Any]:
    return {
        "label": body["label"],
        "description": body["description"] if body["description"] is not None else body["label"],
        "service": _stored_service(body["service"]),
        "userInput": body["userInput"],
        "secretBinding": body["secretBinding"],
        "properties": body["properties"],
        "constraints": body["constraints"],
        "lastUpdated": now,
    }


async def put_policy(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "policy")
    check(request, policy_target(store, resource), "WRITE")
    body = await _policy_body(request)
    problem = policy_problem(body["service"])
    if problem:
        raise bad_input(problem)
    missing = missing_reference(store, references(body))
    if missing:
        raise bad_input(f"business policy '{resource}' not updated: {missing}")
    row = store.business_policies.get(resource)
    if row is None:
        raise not_found(f"business policy '{resource}' not found")
    row.update(_policy_fields(body, store.now()))  # owner and created stay
    store.commit()
    return api_response(201, OK, "business policy updated")


async def delete_policy(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "policy")
    check(request, policy_target(store, resource), "WRITE")
    if store.business_policies.pop(resource, None) is None:
        raise not_found(f"business policy '{resource}' not found")
    store.commit()
    return api_response(204, OK, "business policy deleted")


async def get_service_policy(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "service")
    check(request, service_target(store, resource), "READ")
    policy = store.collection("servicePolicies").get(resource)
    if policy is None:
        raise not_found("not found")
    return json_response(policy)


async def put_service_policy(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "service")
    check(request, service_target(store, resource), "WRITE")
    body = await json_body(request, SERVICE_POLICY_BODY)
    problem = property_problem(body["properties"])
    if problem:
        raise bad_input(problem)
    if resource not in store.services:
        detail = foreign_key_detail("servicepolicies", "service_fk", resource)
        raise ApiError(
            500,
            INTERNAL_ERROR,
            f"policy for service '{resource}' not inserted or updated: org.postgresql.util.PSQLException: {detail}",
        )
    label = body["label"] or ""
    store.collection("servicePolicies")[resource] = {
        "label": label,
        "description": body["description"] if body["description"] is not None else label,
        "properties": body["properties"] or [],
        "constraints": body["constraints"] or [],
        "lastUpdated": store.now(),
    }
    store.commit()
    return api_response(201, OK, "policy added or updated")


async def delete_service_policy(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "service")
    check(request, service_target(store, resource), "WRITE")
    if resource not in store.services:
        raise not_found(f"service '{resource}' not found")
    if store.collection("servicePolicies").pop(resource, None) is None:
        raise not_found(f"policy for service '{resource}' not found")
    store.commit()
    return api_response(204, OK, "service policy deleted")


def add_routes(app: web.Application) -> None:
    for base in ("/v1/orgs/{org}/business/policies", "/v1/orgs/{org}/deployment/policies"):
        app.router.add_get(base, list_policies)
        app.router.add_get(base + "/{policy}", get_policy)
        app.router.add_post(base + "/{policy}", create_policy)
        app.router.add_put(base + "/{policy}", put_policy)
        app.router.add_delete(base + "/{policy}", delete_policy)
    single = "/v1/orgs/{org}/services/{service}/policy"
    app.router.add_get(single, get_service_policy)
    app.router.add_put(single, put_service_policy)
    app.router.add_delete(single, delete_service_policy)
