"""Registry credentials of a service: ``/v1/orgs/{org}/services/{service}/dockauths[/{dockauthid}]``
(exchange-api ``route/service/dockerauth``).

Ids come from one serial shared by every service (starting at 1, consumed even by a failed insert). POST
only de-duplicates an exact (registry, username-or-"token", token) match of the same service, touching its
``lastUpdated``; anything else is a new row. The server's quirks are kept: when the new id is exactly 1 the
message is ``dockauth resource updated``; a PUT on a missing id answers 404 with ``code: "ok"``; a POST to
a missing service is a 500 foreign-key error whose message repeats the service (a MessageFormat slip).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from horizon_publisher.sandbox.exchange.common import check, json_body, resource_name, store_of
from horizon_publisher.sandbox.exchange.jsonbody import Record, string
from horizon_publisher.sandbox.exchange.messages import (
    INTERNAL_ERROR,
    OK,
    ApiError,
    api_response,
    bad_input,
    java_arg,
    json_response,
    not_found,
)
from horizon_publisher.sandbox.exchange.services import service_target
from horizon_publisher.sandbox.exchange.store import ExchangeStore

DOCKAUTH_BODY = Record(
    "org.openhorizon.exchangeapi.route.service.PostPutServiceDockAuthRequest",
    {"registry": string(), "username": string(), "token": string()},
    required=("registry", "token"),
)


def _rows(store: ExchangeStore, resource: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = store.collection("dockauths").setdefault(resource, [])
    return rows


def _java_int(text: str) -> int:
    """``String.toInt`` (Integer.parseInt): optional sign, ASCII digits, 32-bit; else NumberFormatException."""
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not digits.isascii() or not digits.isdigit() or not -(2**31) <= int(text) < 2**31:
        raise ValueError(f'For input string: "{text}"')
    return int(text)


async def list_dockauths(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "service")
    check(request, service_target(store, resource), "READ")
    rows = sorted(store.collection("dockauths").get(resource, []), key=lambda row: row["dockAuthId"])
    return json_response(rows, status=200 if rows else 404)


async def post_dockauth(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "service")
    check(request, service_target(store, resource), "WRITE")
    body = await json_body(request, DOCKAUTH_BODY)
    username = body["username"] if body["username"] is not None else "token"
    now = store.now()
    if resource not in store.services:
        store.next_dockauth_id()  # the failed insert still consumed a serial value
        raise ApiError(500, INTERNAL_ERROR, f"dockAuthId '0' for service '{resource}' not inserted: {resource}")
    rows = _rows(store, resource)
    for row in rows:
        if (row["registry"], row["username"], row["token"]) == (body["registry"], username, body["token"]):
            row["lastUpdated"] = now
            store.commit()
            return api_response(201, OK, "dockauth resource updated")
    new_id = store.next_dockauth_id()
    rows.append(
        {
            "dockAuthId": new_id,
            "registry": body["registry"],
            "username": username,
            "token": body["token"],
            "lastUpdated": now,
        }
    )
    store.commit()
    # The server cannot tell "id 1 inserted" from "1 row updated".
    msg = "dockauth resource updated" if new_id == 1 else f"dockauth {java_arg(new_id)} added"
    return api_response(201, OK, msg)


async def delete_dockauths(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "service")
    check(request, service_target(store, resource), "WRITE")
    if resource not in store.services:
        raise not_found(f"service '{resource}' not found")
    if not store.collection("dockauths").pop(resource, None):
        raise not_found(f"no dockauths for service '{resource}' found")
    store.commit()
    return api_response(204, OK, "service dockauths deleted")


async def get_dockauth(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "service")
    check(request, service_target(store, resource), "READ")
    raw_id = request.match_info["dockauthid"]
    try:
        wanted = _java_int(raw_id)
    except ValueError:
        raise bad_input("dockauthid must be an integer: {1}") from None  # the literal {1} is the server's
    for row in store.collection("dockauths").get(resource, []):
        if row["dockAuthId"] == wanted:
            return json_response(row)
    return json_response([], status=404)


async def put_dockauth(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "service")
    check(request, service_target(store, resource), "WRITE")
    body = await json_body(request, DOCKAUTH_BODY)
    raw_id = request.match_info["dockauthid"]
    try:
        wanted = _java_int(raw_id)
    except ValueError as error:
        raise bad_input(f"dockauthid must be an integer: {error}") from None
    for row in store.collection("dockauths").get(resource, []):
        if row["dockAuthId"] == wanted:
            row.update(
                registry=body["registry"],
                username=body["username"] if body["username"] is not None else "token",
                token=body["token"],
                lastUpdated=store.now(),
            )
            store.commit()
            return api_response(201, OK, f"dockauth {java_arg(wanted)} updated")
    raise ApiError(404, OK, f"dockauth {java_arg(wanted)} not found")  # code "ok" on a 404: the server's bug


async def delete_dockauth(request: web.Request) -> web.Response:
    store = store_of(request)
    _, resource = resource_name(request, "service")
    check(request, service_target(store, resource), "WRITE")
    raw_id = request.match_info["dockauthid"]
    try:
        wanted = _java_int(raw_id)
    except ValueError as error:
        raise bad_input(f"dockauthid must be an integer: {error}") from None
    if resource not in store.services:
        raise not_found(f"service '{resource}' not found")
    rows = store.collection("dockauths").get(resource, [])
    remaining = [row for row in rows if row["dockAuthId"] != wanted]
    if len(remaining) == len(rows):
        raise not_found(f"dockauths '{java_arg(wanted)}' for service '{resource}' not found")
    if remaining:
        store.collection("dockauths")[resource] = remaining
    else:
        store.collection("dockauths").pop(resource, None)
    store.commit()
    return api_response(204, OK, "service dockauths deleted")


def add_routes(app: web.Application) -> None:
    base = "/v1/orgs/{org}/services/{service}/dockauths"
    app.router.add_get(base, list_dockauths)
    app.router.add_post(base, post_dockauth)
    app.router.add_delete(base, delete_dockauths)
    app.router.add_get(base + "/{dockauthid}", get_dockauth)
    app.router.add_put(base + "/{dockauthid}", put_dockauth)
    app.router.add_delete(base + "/{dockauthid}", delete_dockauth)
