"""Signing keys of services and patterns: ``/v1/orgs/{org}/services/{service}/keys[/{keyid}]`` and
``/v1/orgs/{org}/patterns/{pattern}/keys[/{keyid}]`` (exchange-api ``route/service/key``,
``route/deploymentpattern/key``).

The PUT body is the raw key text (PEM), stored verbatim whatever the Content-Type; PUT is an upsert by key
id; GET of the list gives a JSON array of ids (404 ``[]`` when there are none, also when the service is
missing); GET of one key answers the raw text as text/plain (404 with an empty body).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from horizon_publisher.sandbox.exchange.auth import Target
from horizon_publisher.sandbox.exchange.common import check, resource_name, store_of
from horizon_publisher.sandbox.exchange.messages import (
    INTERNAL_ERROR,
    OK,
    ApiError,
    api_response,
    foreign_key_detail,
    json_response,
    not_found,
)
from horizon_publisher.sandbox.exchange.store import ExchangeStore


@dataclass(frozen=True)
class KeyOwner:
    """What the keys hang off: services or patterns."""

    kind: str  # "service" | "pattern"
    id_param: str
    parent_table: str
    key_table: str
    fk_table: str
    fk_constraint: str

    def target(self, store: ExchangeStore, resource: str) -> Target:
        row = store.collection(self.parent_table).get(resource)
        if row is None:
            return Target(self.kind, resource)  # type: ignore[arg-type]
        return Target(self.kind, resource, owner=row["owner"], public=row.get("public", False))  # type: ignore[arg-type]

    def keys(self, store: ExchangeStore, resource: str) -> dict[str, Any]:
        table = store.collection(self.key_table)
        found: dict[str, Any] = table.get(resource, {})
        return found


SERVICE_KEYS = KeyOwner("service", "service", "services", "serviceKeys", "servicekeys", "service_fk")
PATTERN_KEYS = KeyOwner("pattern", "pattern", "patterns", "patternKeys", "patternkeys", "pattern_fk")


def _parent_missing(owner: KeyOwner, resource: str) -> ApiError:
    return not_found(f"{owner.kind} '{resource}' not found")


def _handlers(owner: KeyOwner) -> dict[str, Any]:
    async def list_keys(request: web.Request) -> web.Response:
        store = store_of(request)
        _, resource = resource_name(request, owner.id_param)
        check(request, owner.target(store, resource), "READ")
        ids = list(owner.keys(store, resource))
        return json_response(ids, status=200 if ids else 404)

    async def get_key(request: web.Request) -> web.Response:
        store = store_of(request)
        _, resource = resource_name(request, owner.id_param)
        check(request, owner.target(store, resource), "READ")
        entry = owner.keys(store, resource).get(request.match_info["keyid"])
        status, text = (200, entry["key"]) if entry else (404, "")
        return web.Response(status=status, text=text, content_type="text/plain", charset="utf-8")

    async def put_key(request: web.Request) -> web.Response:
        store = store_of(request)
        _, resource = resource_name(request, owner.id_param)
        check(request, owner.target(store, resource), "WRITE")
        key_id = request.match_info["keyid"]
        text = (await request.read()).decode("utf-8", errors="replace")
        if resource not in store.collection(owner.parent_table):
            detail = foreign_key_detail(owner.fk_table, owner.fk_constraint, resource)
            raise ApiError(
                500, INTERNAL_ERROR, f"key '{key_id}' for {owner.kind} '{resource}' not inserted or updated: {detail}"
            )
        store.collection(owner.key_table).setdefault(resource, {})[key_id] = {"key": text, "lastUpdated": store.now()}
        store.commit()
        return api_response(201, OK, "key added or updated")

    async def delete_key(request: web.Request) -> web.Response:
        store = store_of(request)
        _, resource = resource_name(request, owner.id_param)
        check(request, owner.target(store, resource), "WRITE")
        key_id = request.match_info["keyid"]
        if resource not in store.collection(owner.parent_table):
            raise _parent_missing(owner, resource)
        keys = owner.keys(store, resource)
        if keys.pop(key_id, None) is None:
            raise not_found(f"key '{key_id}' for {owner.kind} '{resource}' not found")
        store.commit()
        return api_response(204, OK, f"{owner.kind} key deleted")

    async def delete_keys(request: web.Request) -> web.Response:
        store = store_of(request)
        _, resource = resource_name(request, owner.id_param)
        check(request, owner.target(store, resource), "WRITE")
        if resource not in store.collection(owner.parent_table):
            raise _parent_missing(owner, resource)
        if not store.collection(owner.key_table).pop(resource, None):
            raise not_found(f"no keys for {owner.kind} '{resource}' found")
        store.commit()
        return api_response(204, OK, f"{owner.kind} keys deleted")

    return {"list": list_keys, "get": get_key, "put": put_key, "delete": delete_key, "delete_all": delete_keys}


def add_routes(app: web.Application) -> None:
    for owner, bases in (
        (SERVICE_KEYS, ("/v1/orgs/{org}/services/{service}",)),
        (PATTERN_KEYS, ("/v1/orgs/{org}/patterns/{pattern}", "/v1/orgs/{org}/deployment/patterns/{pattern}")),
    ):
        handlers = _handlers(owner)
        for base in bases:
            app.router.add_get(f"{base}/keys", handlers["list"])
            app.router.add_delete(f"{base}/keys", handlers["delete_all"])
            app.router.add_get(f"{base}/keys/{{keyid}}", handlers["get"])
            app.router.add_put(f"{base}/keys/{{keyid}}", handlers["put"])
            app.router.add_delete(f"{base}/keys/{{keyid}}", handlers["delete"])
