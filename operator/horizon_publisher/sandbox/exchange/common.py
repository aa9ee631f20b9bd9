"""Helpers the route modules share: the app's store and caller, JSON bodies, SQL LIKE, list answers."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from horizon_publisher.sandbox.exchange.auth import Identity, Target, authorize
from horizon_publisher.sandbox.exchange.jsonbody import Record, bind
from horizon_publisher.sandbox.exchange.messages import PlainError, bad_input
from horizon_publisher.sandbox.exchange.store import ExchangeStore

STORE_KEY = web.AppKey("exchange_store", ExchangeStore)
ACCEPT_IAMAPIKEY_KEY = web.AppKey("exchange_accept_iamapikey", bool)
IDENTITY_KEY = web.RequestKey("exchange_identity", Identity)


def store_of(request: web.Request) -> ExchangeStore:
    return request.app[STORE_KEY]


def identity_of(request: web.Request) -> Identity:
    return request[IDENTITY_KEY]


def check(request: web.Request, target: Target, access: str) -> Identity:
    identity = identity_of(request)
    authorize(identity, target, access)
    return identity


async def json_body(request: web.Request, record: Record) -> dict[str, Any]:
    """The body bound to ``record``; pekko-http-jackson only unmarshals ``application/json`` (else 415)."""
    if request.content_type != "application/json":
        raise PlainError(415, "The request's Content-Type is not supported. Expected:\napplication/json")
    return bind(await request.read(), record)


def like(pattern: str, text: str) -> bool:
    """PostgreSQL ``LIKE``: ``%`` any run, ``_`` one character, ``\\`` escapes the next character."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re.fullmatch("".join(parts), text, re.DOTALL) is not None


def matches_filter(value: str, wanted: str | None) -> bool:
    """The list filters' rule: exact, or LIKE when the filter contains ``%``."""
    if wanted is None:
        return True
    return like(wanted, value) if "%" in wanted else value == wanted


_PEKKO_TRUE = {"true", "yes", "on", "1"}
_PEKKO_FALSE = {"false", "no", "off", "0"}


def boolean_query(request: web.Request, name: str) -> bool | None:
    """A ``.as[Boolean]`` query parameter (pekko's string-to-boolean unmarshaller)."""
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw.lower() in _PEKKO_TRUE:
        return True
    if raw.lower() in _PEKKO_FALSE:
        return False
    raise bad_input(f"{name}, not a valid 32-bit signed integer value")


def resource_name(request: web.Request, id_param: str) -> tuple[str, str]:
    """(org, ``org/<id>``) from the path."""
    org = request.match_info["org"]
    return org, f"{org}/{request.match_info[id_param]}"
