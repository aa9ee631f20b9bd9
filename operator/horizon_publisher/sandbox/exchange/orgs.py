"""Admin, health, org and user endpoints an operator uses: ``/v1/admin/version`` and ``/v1/test``
(unauthenticated), ``/v1/admin/status``, ``/v1/orgs/{org}`` (GET; POST by root or a hub admin),
``/v1/orgs/{org}/status``, ``/v1/orgs/{org}/users/{user}`` (GET, POST) and
``/v1/orgs/{org}/users/{user}/apikeys`` (POST)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from horizon_publisher.sandbox.exchange.auth import Target
from horizon_publisher.sandbox.exchange.common import check, identity_of, json_body, store_of
from horizon_publisher.sandbox.exchange.jsonbody import Record, any_value, boolean, map_of, string
from horizon_publisher.sandbox.exchange.messages import (
    ALREADY_EXISTS,
    EXCHANGE_VERSION,
    OK,
    ApiError,
    api_response,
    bad_input,
    duplicate_key_detail,
    json_response,
    not_found,
)
from horizon_publisher.sandbox.exchange.store import ExchangeStore

SCHEMA_VERSION = 62  # SchemaTQ.latestSchemaVersion at 2.154.0
ORG_ATTRIBUTES = ("orgType", "label", "description", "lastUpdated", "tags", "limits", "heartbeatIntervals")
USER_BODY = Record(
    "org.openhorizon.exchangeapi.route.user.PostPutUsersRequest",
    {"password": string(), "admin": boolean(primitive=True), "hubAdmin": boolean(primitive=False), "email": string()},
)
ORG_BODY = Record(
    "org.openhorizon.exchangeapi.route.organization.PostPutOrgRequest",
    {
        "orgType": string(),
        "label": string(),
        "description": string(),
        "tags": map_of(string()),
        "limits": map_of(any_value()),
        "heartbeatIntervals": map_of(any_value()),
    },
    required=("label", "description"),
)
APIKEY_BODY = Record(
    "org.openhorizon.exchangeapi.route.user.apikey.PostApiKeyRequest", {"description": string(), "label": string()}
)


async def version(_: web.Request) -> web.Response:
    return web.Response(text=EXCHANGE_VERSION + "\n", content_type="text/plain", charset="utf-8")


async def liveness(_: web.Request) -> web.Response:
    return json_response({"result": "OK"})


def _counts(store: ExchangeStore, org: str | None) -> dict[str, int]:
    def count(table: str) -> int:
        return sum(1 for key in store.collection(table) if org is None or key.split("/", 1)[0] == org)

    return {
        "numberOfAgbotAgreements": 0,
        "numberOfAgbotMsgs": 0,
        "numberOfAgbots": count("agbots"),
        "numberOfNodeAgreements": 0,
        "numberOfNodeMsgs": 0,
        "numberOfNodes": count("nodes"),
        "numberOfRegisteredNodes": 0,
        "numberOfUnregisteredNodes": count("nodes"),
        "numberOfUsers": count("users"),
    }


async def admin_status(request: web.Request) -> web.Response:
    store = store_of(request)
    identity = check(request, Target("action", ""), "STATUS")
    scope = None if identity.is_super_user or identity.is_hub_admin else identity.org
    orgs = len(store.collection("orgs")) if scope is None else 1
    return json_response(
        {
            "dbSchemaVersion": SCHEMA_VERSION,
            "msg": "Exchange server operating normally",
            **_counts(store, scope),
            "numberOfOrganizations": orgs,
        }
    )


async def org_status(request: web.Request) -> web.Response:
    store, org = store_of(request), request.match_info["org"]
    check(request, Target("org", f"{org}/"), "READ")
    if org not in store.collection("orgs"):
        raise not_found(f"org '{org}' not found")
    return json_response(
        {"msg": "Exchange server operating normally", **_counts(store, org), "SchemaVersion": SCHEMA_VERSION}
    )


async def get_org(request: web.Request) -> web.Response:
    store, org = store_of(request), request.match_info["org"]
    check(request, Target("org", f"{org}/"), "READ")
    record = store.collection("orgs").get(org)
    if record is None:
        return json_response({"orgs": {}, "lastIndex": 0}, status=404)
    attribute = request.query.get("attribute")
    if attribute:
        if attribute not in ORG_ATTRIBUTES:
            raise bad_input(f"Org attribute name '{attribute}' is not an attribute of the org resource.")
        value = record[attribute]
        return json_response({"attribute": attribute, "value": value if isinstance(value, str) else json.dumps(value)})
    return json_response({"orgs": {org: record}, "lastIndex": 0})


async def create_org(request: web.Request) -> web.Response:
    store, org = store_of(request), request.match_info["org"]
    check(request, Target("org", f"{org}/"), "CREATE")
    body = await json_body(request, ORG_BODY)
    if body["orgType"] not in (None, "", "IBM"):
        raise bad_input("orgType must be 'IBM' or blank")
    if org in store.collection("orgs"):
        detail = duplicate_key_detail("orgs", "orgid", org)
        raise ApiError(409, ALREADY_EXISTS, f"org '{org}' already exists: {detail}")
    store.add_org(org, org_type=body["orgType"] or "", label=body["label"], description=body["description"])
    store.collection("orgs")[org]["tags"] = body["tags"]
    store.commit()
    return api_response(201, OK, f"org '{org}' created")


def _render_user(store: ExchangeStore, org: str, username: str, record: dict[str, Any]) -> dict[str, Any]:
    keys = [
        {"id": key_id, "description": key["description"], "label": key["label"], "lastUpdated": key["lastUpdated"]}
        for key_id, key in store.collection("apikeys").items()
        if key["org"] == org and key["username"] == username
    ]
    return {
        "password": "***************",
        "admin": record["admin"],
        "hubAdmin": record["hubAdmin"],
        "email": record["email"],
        "lastUpdated": record["lastUpdated"],
        "updatedBy": record["updatedBy"],
        "apikeys": keys,
    }


async def get_user(request: web.Request) -> web.Response:
    store, org, username = store_of(request), request.match_info["org"], request.match_info["user"]
    identity = identity_of(request)
    if username in ("apikey", "iamapikey") and identity.is_user:
        org, username = identity.org, identity.username  # the caller's own record
    resource = f"{org}/{username}"
    record = store.user(org, username)
    check(request, Target("user", resource, owner=record["uuid"] if record else None), "READ")
    if record is None:
        return json_response({"users": {}, "lastIndex": 0}, status=404)
    return json_response({"users": {resource: _render_user(store, org, username, record)}, "lastIndex": 0})


async def create_user(request: web.Request) -> web.Response:
    store, org, username = store_of(request), request.match_info["org"], request.match_info["user"]
    resource = f"{org}/{username}"
    identity = check(request, Target("user", resource), "CREATE")
    body = await json_body(request, USER_BODY)
    hub_admin = bool(body["hubAdmin"])
    problem = None
    if not body["password"] or body["email"] is None or not body["password"].strip():
        problem = "the password must be non-blank when creating a user"
    elif username.lower() in ("apikey", "iamapikey"):
        problem = "The usernames 'apikey' and 'iamapikey' are reserved and cannot be used"
    elif (body["admin"] and hub_admin) or (identity.is_standard_user and body["admin"]):
        problem = "a user without admin privilege can not give admin privilege"
    elif org == "root" and not hub_admin:
        problem = "Only the root user and hub admins can exist in the root org"
    elif identity.is_org_admin and hub_admin:
        problem = "This user does not have permissions to make Hub Admins"
    elif org != "root" and hub_admin:
        problem = "Hub Admin users must be created in the root org"
    elif identity.is_hub_admin and not body["admin"] and not hub_admin:
        problem = "Hub Admin users can only create or update hub admin or org admin users"
    if problem:
        raise bad_input(problem)
    if store.user(org, username) is not None:
        raise bad_input(f"user not added or updated: {resource}")
    user_uuid = store.add_user(
        org, username, body["password"], admin=body["admin"], hub_admin=hub_admin, email=body["email"]
    )
    return api_response(201, OK, f"{resource}(Resource:{user_uuid}) user added successfully")


async def create_api_key(request: web.Request) -> web.Response:
    store, org, username = store_of(request), request.match_info["org"], request.match_info["user"]
    record = store.user(org, username)
    check(request, Target("user", f"{org}/{username}", owner=record["uuid"] if record else None), "WRITE")
    body = await json_body(request, APIKEY_BODY)
    if record is None:
        raise not_found(f"user '{org}/{username}' not found")
    key_id, value = store.add_api_key(org, username, description=body["description"] or "", label=body["label"] or "")
    stored = store.collection("apikeys")[key_id]
    return json_response(
        {
            "id": key_id,
            "description": stored["description"],
            "label": stored["label"],
            "lastUpdated": stored["lastUpdated"],
            "owner": f"{org}/{username}",
            "value": value,  # shown once, stored hashed
        },
        status=201,
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/admin/version", version)
    app.router.add_get("/v1/test", liveness)
    app.router.add_get("/v1/admin/status", admin_status)
    app.router.add_get("/v1/orgs/{org}", get_org)
    app.router.add_post("/v1/orgs/{org}", create_org)
    app.router.add_get("/v1/orgs/{org}/status", org_status)
    app.router.add_get("/v1/orgs/{org}/users/{user}", get_user)
    app.router.add_post("/v1/orgs/{org}/users/{user}", create_user)
    app.router.add_post("/v1/orgs/{org}/users/{user}/apikeys", create_api_key)
