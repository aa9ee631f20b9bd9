"""Resource requests: verb resolution, authorization, special endpoints, storage verbs."""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from . import protobuf
from .api import JSON, ApiError, SpecialRequest, UserInfo
from .cluster import InMemoryCluster
from .errors import (
    bad_request,
    forbidden,
    method_not_allowed,
    not_acceptable,
    not_found,
    unsupported_media_type,
)
from .routing import Route
from .selectors import parse_field_selector, parse_label_selector
from .store import Served
from .table import build_table
from .watchstream import WatchStreamer
from .writes import PATCH_MEDIA_TYPES

_BODY_TYPES = ("application/json", "application/yaml", "")
_FIELD_VALIDATION = ("", "Ignore", "Warn", "Strict")


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def json_response(body: JSON, status: int = 200, media: str = "json") -> web.Response:
    if media == "yaml":
        return web.Response(body=yaml.safe_dump(body).encode(), status=status, content_type="application/yaml")
    return web.Response(body=dumps(body), status=status, content_type="application/json")


def negotiate(accept: str) -> str:
    """What the client can read: ``table``, ``meta`` (PartialObjectMetadata), ``json`` or ``yaml``."""
    if not accept.strip():
        return "json"
    for media_range in accept.split(","):
        media, *raw_params = [p.strip() for p in media_range.split(";")]
        params = dict(p.split("=", 1) for p in raw_params if "=" in p)
        wanted = params.get("as")
        if wanted == "Table" and params.get("g") == "meta.k8s.io" and media == "application/json":
            return "table"
        if wanted in ("PartialObjectMetadata", "PartialObjectMetadataList") and media == "application/json":
            return "meta"
        if wanted:
            continue
        if media in ("application/json", "*/*", "application/*"):
            return "json"
        if media == "application/yaml":
            return "yaml"
    raise not_acceptable()


def _verb(method: str, route: Route, watch: bool) -> str:
    if method == "GET":
        if watch or route.legacy_watch:
            return "watch"
        return "get" if route.name else "list"
    verbs = {
        ("POST", False): "create",
        ("POST", True): "create" if route.subresource else "",
        ("PUT", True): "update",
        ("PATCH", True): "patch",
        ("DELETE", True): "delete",
        ("DELETE", False): "deletecollection",
    }
    verb = verbs.get((method, route.name is not None), "")
    if not verb:
        raise method_not_allowed()
    return verb


def _forbidden(served: Served, route: Route, user: UserInfo, verb: str) -> ApiError:
    resource = served.resource
    plural = f"{resource.plural}/{route.subresource}" if route.subresource else resource.plural
    scope = f'in the namespace "{route.namespace}"' if route.namespace else "at the cluster scope"
    why = f'User "{user.username}" cannot {verb} resource "{plural}" in API group "{resource.group}" {scope}'
    return forbidden(resource, route.name, why)


class ResourceHandler:
    def __init__(self, cluster: InMemoryCluster, watches: WatchStreamer) -> None:
        self.cluster = cluster
        self.watches = watches

    async def handle(self, request: web.Request, route: Route, user: UserInfo) -> web.StreamResponse:
        served = self.cluster.served(route.key)
        resource = served.resource
        if route.namespace is not None and not resource.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        query = request.query
        verb = _verb(request.method, route, query.get("watch") in ("true", "1"))
        if not self.cluster.authorize(
            user, verb, group=resource.group, resource=resource.plural, subresource=route.subresource or "",
            namespace=route.namespace or "", name=route.name or "",
        ):  # fmt: skip
            raise _forbidden(served, route, user, verb)
        dry_run = _dry_run(query.getall("dryRun", []))
        if query.get("fieldValidation", "") not in _FIELD_VALIDATION:
            raise bad_request(f'fieldValidation: Unsupported value: "{query["fieldValidation"]}"')
        special = self.cluster.special(route.key, route.subresource, verb)
        if special is not None:
            body = await _body(request) if request.method in ("POST", "PUT", "PATCH") else None
            code, payload = special(
                SpecialRequest(verb, resource, route.namespace, route.name, route.subresource, body, user, dry_run)
            )
            if code == 200 and verb in ("get", "list") and not route.subresource:
                return self._special_read(request, served, verb, payload)
            return json_response(payload, code)
        if route.subresource not in (None, "status") or (
            route.subresource == "status" and "status" not in resource.subresources
        ):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if verb not in resource.verbs or (route.subresource and verb not in ("get", "update", "patch")):
            raise method_not_allowed()
        return await self._storage_verb(request, served, route, verb, user=user, dry_run=dry_run)

    async def _storage_verb(
        self, request: web.Request, served: Served, route: Route, verb: str, *, user: UserInfo, dry_run: bool
    ) -> web.StreamResponse:
        cluster, query, key = self.cluster, request.query, route.key
        strict = query.get("fieldValidation") == "Strict"
        if verb in ("get", "list", "watch"):
            return await self._read(request, served, route, verb)
        media = negotiate(request.headers.get("Accept", ""))
        media = "yaml" if media == "yaml" else "json"
        if verb == "create":
            created = cluster.create(key, await _body(request), namespace=route.namespace, user=user,
                                     dry_run=dry_run, strict=strict)  # fmt: skip
            return json_response(created, 201, media)
        assert route.name is not None or verb == "deletecollection"
        if verb == "update":
            updated = cluster.update(key, await _body(request), subresource=route.subresource,
                                     namespace=route.namespace, name=route.name, user=user, dry_run=dry_run,
                                     strict=strict)  # fmt: skip
            return json_response(updated, 200, media)
        if verb == "patch":
            patch_type = PATCH_MEDIA_TYPES.get(request.content_type)
            if patch_type is None or patch_type == "apply":
                accepted = tuple(t for t in PATCH_MEDIA_TYPES if t != "application/apply-patch+yaml")
                raise unsupported_media_type(request.content_type, accepted)
            patched = cluster.patch(key, route.namespace, str(route.name), patch_type, await _json(request),
                                    subresource=route.subresource, user=user, dry_run=dry_run,
                                    strict=strict)  # fmt: skip
            return json_response(patched, 200, media)
        options = await _delete_options(request)
        dry_run = dry_run or _dry_run(options.get("dryRun") or [])
        if verb == "delete":
            deleted = cluster.delete_object(key, route.namespace, str(route.name),
                                            propagation=options.get("propagationPolicy"),
                                            preconditions=options.get("preconditions"), user=user,
                                            dry_run=dry_run)  # fmt: skip
            return json_response(deleted, 200, media)
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), served.resource)
        items = cluster.delete_collection(key, route.namespace, labels, fields,
                                          propagation=options.get("propagationPolicy"), user=user,
                                          dry_run=dry_run)  # fmt: skip
        body = {"kind": served.resource.list_kind, "apiVersion": served.resource.group_version,
                "metadata": {}, "items": items}  # fmt: skip
        return json_response(body, 200, media)

    async def _read(self, request: web.Request, served: Served, route: Route, verb: str) -> web.StreamResponse:
        query, resource = request.query, served.resource
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), resource)
        if verb == "watch":
            if route.name:  # /watch/.../{name}: a watch pinned to one object
                fields = parse_field_selector(f"metadata.name={route.name}", resource)
            return await self.watches.serve(request, served, route.namespace, labels, fields)
        negotiate(request.headers.get("Accept", ""))  # 406 before doing any work
        if verb == "get":
            obj = served.storage.get(route.namespace, str(route.name))
            if obj is None:
                raise not_found(resource, str(route.name))
            objects, list_meta = [served.present(obj)], {"resourceVersion": obj["metadata"]["resourceVersion"]}
        else:
            limit = _int(query.get("limit"), "limit")
            page = self.cluster.list_page(
                served, route.namespace, labels, fields, limit=limit, continue_token=query.get("continue")
            )
            objects = [served.present(obj) for obj in page.items]
            list_meta = {"resourceVersion": page.resource_version}
            if page.continue_token:
                list_meta["continue"] = page.continue_token
                list_meta["remainingItemCount"] = page.remaining
        return _render(request, served, verb, objects, list_meta)

    def _special_read(self, request: web.Request, served: Served, verb: str, payload: JSON) -> web.Response:
        """A virtual resource's get/list answer, filtered and negotiated like a stored one."""
        if verb == "get":
            return _render(request, served, verb, [payload], dict(payload.get("metadata") or {}))
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"), served.resource)
        items = [item for item in payload.get("items") or [] if labels.matches(item) and fields.matches(item)]
        list_meta = dict(payload.get("metadata") or {})
        list_meta.setdefault("resourceVersion", str(self.cluster.resource_version))
        return _render(request, served, verb, items, list_meta, list_body=payload)


def _render(
    request: web.Request,
    served: Served,
    verb: str,
    objects: list[JSON],
    list_meta: JSON,
    *,
    list_body: JSON | None = None,
) -> web.Response:
    """GET answers in the negotiated form: a Table, PartialObjectMetadata, or the objects (JSON or YAML)."""
    resource = served.resource
    media = negotiate(request.headers.get("Accept", ""))
    if media == "table":
        include = request.query.get("includeObject", "Metadata")
        return json_response(build_table(resource, served.custom, objects, list_meta, include))
    if media == "meta":
        return json_response(_partial(objects, list_meta, single=verb == "get"))
    if verb == "get":
        return json_response(objects[0], 200, media)
    body = {"kind": resource.list_kind, "apiVersion": resource.group_version, **(list_body or {}),
            "metadata": list_meta, "items": objects}  # fmt: skip
    return json_response(body, 200, media)


def _partial(objects: list[JSON], list_meta: JSON, *, single: bool) -> JSON:
    items = [
        {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]} for o in objects
    ]
    if single:
        return items[0]
    return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "items": items}  # fmt: skip


def _dry_run(values: list[str]) -> bool:
    for value in values:
        if value != "All":
            raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


def _int(text: str | None, name: str) -> int | None:
    if not text:
        return None
    try:
        return max(int(text), 0)
    except ValueError:
        raise bad_request(f"invalid {name}: {text}") from None


async def _json(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw) if raw else None
    except ValueError as error:
        raise bad_request(f"error decoding patch: {error}") from None


async def _body(request: web.Request) -> JSON:
    raw = await request.read()
    if request.content_type == protobuf.MEDIA_TYPE:
        return protobuf.decode(raw)
    media = request.content_type if request.headers.get("Content-Type") else ""  # none: JSON, as the real one
    if media not in _BODY_TYPES:
        raise unsupported_media_type(media, ("application/json", "application/yaml"))
    try:
        body = yaml.safe_load(raw) if request.content_type == "application/yaml" else json.loads(raw or b"null")
    except (ValueError, yaml.YAMLError) as error:
        raise bad_request(f"couldn't get version/kind; json parse error: {error}") from None
    if not isinstance(body, dict):
        raise bad_request("Object 'Kind' is missing in the request body")
    return body


async def _delete_options(request: web.Request) -> JSON:
    raw = await request.read()
    options: JSON = {}
    if raw.strip():
        try:
            parsed = json.loads(raw)
        except ValueError as error:
            raise bad_request(f"invalid DeleteOptions: {error}") from None
        options = parsed if isinstance(parsed, dict) else {}
    query = request.query
    if "propagationPolicy" in query:
        options["propagationPolicy"] = query["propagationPolicy"]
    orphan = options.get("orphanDependents", query.get("orphanDependents"))
    if orphan in (True, "true") and not options.get("propagationPolicy"):
        options["propagationPolicy"] = "Orphan"
    return options
