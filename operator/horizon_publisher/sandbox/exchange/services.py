"""``/v1/orgs/{org}/services[/{service}]`` (and the ``/v1/catalog/{org}/services`` alias): list, create,
read, full replace, one-attribute patch, delete; exchange-api ``route/service/Services.scala`` and
``Service.scala``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from horizon_publisher.sandbox.exchange.auth import Identity, Target
from horizon_publisher.sandbox.exchange.common import (
    boolean_query,
    check,
    json_body,
    like,
    matches_filter,
    resource_name,
    store_of,
)
from horizon_publisher.sandbox.exchange.jsonbody import Record, any_value, boolean, list_of, map_of, string
from horizon_publisher.sandbox.exchange.messages import (
    ACCESS_DENIED,
    ALREADY_EXISTS,
    OK,
    ApiError,
    Opt,
    api_response,
    bad_input,
    duplicate_key_detail,
    java_arg,
    json_response,
    not_found,
)
from horizon_publisher.sandbox.exchange.store import ExchangeStore
from horizon_publisher.sandbox.exchange.versions import form_service_id, is_valid_version, version_in_range

SHARABLE_VALUES = ("exclusive", "single", "singleton", "multiple")
SERVICE_REF = Record(
    "org.openhorizon.exchangeapi.table.service.ServiceRef",
    {"url": string(), "org": string(), "version": string(), "versionRange": string(), "arch": string()},
)
_SERVICE_FIELDS = {
    "label": string(),
    "description": string(),
    "public": boolean(primitive=True),
    "documentation": string(),
    "url": string(),
    "version": string(),
    "arch": string(),
    "sharable": string(),
    "matchHardware": map_of(any_value()),
    "requiredServices": list_of(SERVICE_REF),
    "userInput": list_of(map_of(string())),
    "deployment": string(),
    "deploymentSignature": string(),
    "clusterDeployment": string(),
    "clusterDeploymentSignature": string(),
    "imageStore": map_of(any_value()),
}
POST_PUT_SERVICE = Record(
    "org.openhorizon.exchangeapi.route.service.PostPutServiceRequest",
    _SERVICE_FIELDS,
    required=("label", "url", "version", "arch", "sharable"),
)
PATCH_SERVICE = Record(
    "org.openhorizon.exchangeapi.route.service.PatchServiceRequest",
    {**_SERVICE_FIELDS, "public": boolean(primitive=False)},
)
# The order in which PATCH looks for the one attribute it applies.
PATCH_ORDER = (
    "label",
    "description",
    "public",
    "documentation",
    "url",
    "version",
    "arch",
    "sharable",
    "matchHardware",
    "requiredServices",
    "userInput",
    "deployment",
    "deploymentSignature",
    "imageStore",
)
ATTRIBUTES = (
    "arch",
    "clusterDeployment",
    "clusterDeploymentSignature",
    "deployment",
    "deploymentSignature",
    "description",
    "documentation",
    "imageStore",
    "label",
    "lastUpdated",
    "matchHardware",
    "organization",
    "owner",
    "public",
    "requiredServices",
    "sharable",
    "url",
    "userInput",
    "version",
)
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_JAVA_URL_PROTOCOLS = {"http", "https", "ftp", "file", "jar", "mailto"}


def is_java_url(text: str) -> bool:
    """Roughly ``new java.net.URL(text)`` succeeding: a protocol the JDK has a handler for."""
    match = _URL_SCHEME.match(text.strip())
    if match is None or match.group(1).lower() not in _JAVA_URL_PROTOCOLS:
        return False
    return match.group(1).lower() != "jar" or "!/" in text


def service_problem(body: dict[str, Any], org: str, path_resource: str | None) -> str | None:
    """``PostPutServiceRequest.getAnyProblem``: the first problem, checks in the server's order."""
    return next(_service_problems(body, org, path_resource), None)


def _service_problems(body: dict[str, Any], org: str, path_resource: str | None) -> Iterator[str]:
    if body["documentation"] and not is_java_url(body["documentation"]):
        yield "the 'documentation' field is not valid URL format."
    if not is_valid_version(body["version"]):
        yield f"version '{body['version']}' is not valid version format."
    if body["arch"] == "":
        yield "arch can not be empty."
    if path_resource and form_service_id(org, body["url"], body["version"], body["arch"]) != path_resource:
        yield "the service id specified in the URL does not match the url, version, and arch in the body."
    if body["sharable"] not in SHARABLE_VALUES:
        yield f"invalid value '{body['sharable']}' for the sharable attribute."
    for ref in body["requiredServices"] or []:
        if ref["versionRange"] is None and ref["version"] is None:
            yield f"required service '{java_arg(ref['url'])}' does not contain a versionRange"
        if ref["arch"] != body["arch"]:
            yield (
                f"required service '{java_arg(ref['url'])}' has arch '{java_arg(ref['arch'])}', "
                f"which is different than this service's arch '{body['arch']}'"
            )
    for payload, signature in (
        ("deployment", "deploymentSignature"),
        ("clusterDeployment", "clusterDeploymentSignature"),
    ):
        if body[payload] and not body[signature]:
            yield "this service definition is not signed."


def missing_required_service(store: ExchangeStore, refs: list[dict[str, Any]] | None) -> str | None:
    """The first required service no stored service satisfies (same org, url, arch; version in range)."""
    for ref in refs or []:
        wanted_range = ref["versionRange"] if ref["versionRange"] is not None else (ref["version"] or "")
        if not any(
            svc["orgid"] == ref["org"]
            and svc["url"] == ref["url"]
            and svc["arch"] == ref["arch"]
            and version_in_range(svc["version"], wanted_range)
            for svc in store.services.values()
        ):
            return (
                "the following required service does not exist in the exchange: "
                f"org= {java_arg(ref['org'])}, url= {java_arg(ref['url'])}, version= {Opt(ref['version'])}, "
                f"arch= {java_arg(ref['arch'])}"
            )
    return None


def _compact_ref(ref: dict[str, Any]) -> dict[str, Any]:
    """json4s ``write`` omits ``None`` fields."""
    return {key: value for key, value in ref.items() if value is not None}


def service_row(body: dict[str, Any], org: str, owner: str | None, now: str) -> dict[str, Any]:
    """``toServiceRow``: absent strings become "", description defaults to the label."""
    refs = body["requiredServices"]
    return {
        "orgid": org,
        "owner": owner,
        "label": body["label"],
        "description": body["description"] if body["description"] is not None else body["label"],
        "public": body["public"],
        "documentation": body["documentation"] or "",
        "url": body["url"],
        "version": body["version"],
        "arch": body["arch"],
        "sharable": body["sharable"],
        "matchHardware": body["matchHardware"],
        "requiredServices": [_compact_ref(ref) for ref in refs] if refs is not None else None,
        "userInput": body["userInput"],
        "deployment": body["deployment"] or "",
        "deploymentSignature": body["deploymentSignature"] or "",
        "clusterDeployment": body["clusterDeployment"] or "",
        "clusterDeploymentSignature": body["clusterDeploymentSignature"] or "",
        "imageStore": body["imageStore"],
        "lastUpdated": now,
    }


def render_service(store: ExchangeStore, row: dict[str, Any]) -> dict[str, Any]:
    """The GET shape (fields in the server's alphabetical order)."""
    refs = [
        {
            "url": ref.get("url"),
            "org": ref.get("org"),
            "version": ref.get("version"),
            "versionRange": ref.get("versionRange", ref.get("version")),
            "arch": ref.get("arch"),
        }
        for ref in row["requiredServices"] or []
    ]
    return {
        "arch": row["arch"],
        "clusterDeployment": row["clusterDeployment"],
        "clusterDeploymentSignature": row["clusterDeploymentSignature"],
        "deployment": row["deployment"],
        "deploymentSignature": row["deploymentSignature"],
        "description": row["description"],
        "documentation": row["documentation"],
        "imageStore": row["imageStore"] or {},
        "label": row["label"],
        "lastUpdated": row["lastUpdated"],
        "matchHardware": row["matchHardware"] or {},
        "organization": row["orgid"],
        "owner": store.owner_name(row["owner"]),
        "public": row["public"],
        "requiredServices": refs,
        "sharable": row["sharable"],
        "url": row["url"],
        "userInput": row["userInput"] or [],
        "version": row["version"],
    }


def service_target(store: ExchangeStore, resource: str) -> Target:
    row = store.services.get(resource)
    if row is None:
        return Target("service", resource)
    return Target("service", resource, owner=row["owner"], public=row["public"])


def visible(identity: Identity, org: str, row: dict[str, Any]) -> bool:
    """The 2.154.0 visibility filter (Issue 833): a standard user sees only their own services and public ones."""
    if identity.is_standard_user:
        return (org == identity.org and row["owner"] == identity.uuid) or bool(row["public"])
    if identity.is_org_admin or identity.is_node or (identity.is_agbot and not identity.is_multitenant_agbot):
        return org == identity.org or bool(row["public"])
    return True


async def list_services(request: web.Request) -> web.Response:
    store, org = store_of(request), request.match_info["org"]
    identity = check(request, Target("service", f"{org}/*"), "READ")
    query = request.query
    public = boolean_query(request, "public")
    version = query.get("version")
    if version is not None and not is_valid_version(version):
        raise bad_input(f"version '{version}' is not valid version format.")
    nodetype = query.get("nodetype")
    if nodetype is not None and nodetype.lower() not in ("device", "cluster"):
        raise bad_input("the 'nodetype' url parameter must have one of these values: device, cluster")
    found: dict[str, Any] = {}
    for resource in sorted(store.services):
        row = store.services[resource]
        if row["orgid"] != org or not visible(identity, org, row):
            continue
        if not (  # the row's own fields first: rendering every service for every query made lists O(N) renders
            matches_filter(row["arch"], query.get("arch"))
            and matches_filter(row["url"], query.get("url"))
            and matches_filter(row["version"], version)
        ):
            continue
        rendered = render_service(store, row)
        if not (
            matches_filter(rendered["owner"], query.get("owner"))
            and (public is None or row["public"] == public)
            and (nodetype != "device" or row["deployment"] != "")
            and (nodetype != "cluster" or row["clusterDeployment"] != "")
            and _required_url_matches(row, query.get("requiredurl"))
        ):
            continue
        found[resource] = rendered
    return json_response({"services": found, "lastIndex": 0}, status=200 if found else 404)


def _required_url_matches(row: dict[str, Any], wanted: str | None) -> bool:
    """``requiredServices LIKE '%"url":"<wanted>"%'`` on the stored json4s text."""
    if wanted is None:
        return True
    stored = json.dumps(row["requiredServices"], separators=(",", ":"))
    return like(f'%"url":"{wanted}"%', stored)


async def create_service(request: web.Request) -> web.Response:
    store, org = store_of(request), request.match_info["org"]
    identity = check(request, Target("service", f"{org}/"), "CREATE")
    body = await json_body(request, POST_PUT_SERVICE)
    problem = service_problem(body, org, None)
    if problem:
        raise bad_input(problem)
    resource = form_service_id(org, body["url"], body["version"], body["arch"])
    missing = missing_required_service(store, body["requiredServices"])
    if missing:
        raise bad_input(f"service '{resource}' not created: {missing}")
    limit = store.limits.max_services
    if limit != 0 and limit < store.count_owned("services", identity.uuid):  # the server's off-by-one
        raise ApiError(403, ACCESS_DENIED, f"Access Denied: you are over the limit of {java_arg(limit)} services")
    if resource in store.services:
        detail = duplicate_key_detail("services", "service", resource)
        raise ApiError(403, ALREADY_EXISTS, f"service '{resource}' already exists: {detail}")
    store.services[resource] = service_row(body, org, identity.uuid, store.now())
    store.commit()
    return api_response(201, OK, f"service '{resource}' created")


async def get_service(request: web.Request) -> web.Response:
    store = store_of(request)
    org, resource = resource_name(request, "service")
    identity = check(request, service_target(store, resource), "READ")
    row = store.services.get(resource)
    if row is None or not visible(identity, org, row):
        raise not_found(f"service '{resource}' not found")
    rendered = render_service(store, row)
    attribute = request.query.get("attribute")
    if attribute:
        names = {name.lower(): name for name in ATTRIBUTES}
        if attribute.lower() in names:
            value = rendered[names[attribute.lower()]]
            text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
            return json_response({"attribute": attribute, "value": text})
    return json_response({"services": {resource: rendered}, "lastIndex": 0})


async def put_service(request: web.Request) -> web.Response:
    store = store_of(request)
    org, resource = resource_name(request, "service")
    identity = check(request, service_target(store, resource), "WRITE")
    body = await json_body(request, POST_PUT_SERVICE)
    problem = service_problem(body, org, resource)
    if problem:
        raise bad_input(problem)
    missing = missing_required_service(store, body["requiredServices"])
    if missing:
        raise bad_input(f"service '{resource}' not updated: {missing}")
    if resource not in store.services:  # PUT never creates
        raise not_found(f"service '{resource}' not found")
    # PUT rewrites the owner to the caller.
    store.services[resource] = service_row(body, org, identity.uuid, store.now())
    store.commit()
    return api_response(201, OK, "service updated")


async def patch_service(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "service")
    check(request, service_target(store, resource), "WRITE")
    body = await json_body(request, PATCH_SERVICE)
    attribute = next((name for name in PATCH_ORDER if body[name] is not None), None)
    if attribute is None:
        raise bad_input("no valid service attribute specified")
    if attribute in ("url", "version", "arch"):
        raise bad_input(
            "patching attributes 'url', 'version', and 'arch' are not allowed (because the id would not match). "
            "To change those attributes you must delete the resource and recreate it."
        )
    value = body[attribute]
    if attribute == "sharable" and value not in SHARABLE_VALUES:
        raise bad_input(f"invalid value '{value}' for the sharable attribute.")
    if attribute == "requiredServices":
        missing = missing_required_service(store, value)
        if missing:
            raise bad_input(f"service '{resource}' not updated: {missing}")
        value = [_compact_ref(ref) for ref in value]
    row = store.services.get(resource)
    if row is None:
        raise not_found(f"service '{resource}' not found")
    row[attribute] = value
    row["lastUpdated"] = store.now()
    store.commit()
    return api_response(201, OK, f"attribute '{attribute}' of service '{resource}' updated")


async def delete_service(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "service")
    check(request, service_target(store, resource), "WRITE")
    if store.services.pop(resource, None) is None:
        raise not_found(f"service '{resource}' not found")
    # Keys, dockauths and the service policy go by foreign-key cascade.
    for table in ("serviceKeys", "dockauths", "servicePolicies"):
        store.collection(table).pop(resource, None)
    store.commit()
    return api_response(204, OK, "service deleted")


def add_routes(app: web.Application) -> None:
    for prefix in ("/v1/orgs/{org}/services", "/v1/catalog/{org}/services"):
        app.router.add_get(prefix, list_services)
        app.router.add_post(prefix, create_service)
    single = "/v1/orgs/{org}/services/{service}"
    app.router.add_get(single, get_service)
    app.router.add_put(single, put_service)
    app.router.add_patch(single, patch_service)
    app.router.add_delete(single, delete_service)
