"""The aiohttp application of the emulated Exchange: routing, authentication before routing (as the real
server, bad credentials give 401 even on unknown paths), error envelopes and the standard headers.

Sandbox extension: ``GET``/``DELETE /_sandbox/requests`` (:mod:`horizon_publisher.sandbox.request_counts`)
reports and clears request counters by Basic user, method and path template
(:func:`horizon_publisher.metrics_paths.exchange_template`). It needs no authentication: the counters hold
user names and templates only, never a password, an id or a body. Every other request is counted first,
even one that authentication then refuses.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from horizon_publisher.metrics_paths import exchange_template
from horizon_publisher.sandbox.exchange import dockauths, keys, orgs, patterns, policies, services
from horizon_publisher.sandbox.exchange.auth import authenticate
from horizon_publisher.sandbox.exchange.common import ACCEPT_IAMAPIKEY_KEY, IDENTITY_KEY, STORE_KEY
from horizon_publisher.sandbox.exchange.messages import (
    INTERNAL_ERROR,
    NOT_FOUND,
    STANDARD_HEADERS,
    ApiError,
    PlainError,
    api_response,
)
from horizon_publisher.sandbox.exchange.store import ExchangeStore
from horizon_publisher.sandbox.request_counts import REQUEST_COUNTS, RequestCounts, basic_user, counting_middleware

_LOG = logging.getLogger(__name__)
_UNAUTHENTICATED = {"/v1/admin/version", "/v1/test"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _method_not_allowed(error: web.HTTPMethodNotAllowed) -> web.Response:
    allowed = ", ".join(sorted(error.allowed_methods - {"HEAD"}))
    return PlainError(405, f"HTTP method not allowed, supported methods: {allowed}").response()


@web.middleware
async def exchange_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await _answer(request, handler)
    for name, value in STANDARD_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await _route(request, handler)
    except (ApiError, PlainError) as error:
        return error.response()
    except web.HTTPMethodNotAllowed as error:
        return _method_not_allowed(error)
    except web.HTTPNotFound:
        return api_response(404, NOT_FOUND, "unrecognized route")
    except web.HTTPException:
        raise
    except Exception:  # a bug in the emulator: answer like the server's catch-all, log without request data
        _LOG.exception("exchange emulator failed on %s %s", request.method, request.path)
        return api_response(500, INTERNAL_ERROR, "internal error in the Exchange emulator")


async def _route(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if not (path == "/v1" or path.startswith("/v1/")):
        raise web.HTTPNotFound
    if not (request.method in ("GET", "HEAD") and path in _UNAUTHENTICATED):
        request[IDENTITY_KEY] = authenticate(
            request.headers.get("Authorization"),
            request.app[STORE_KEY],
            accept_iamapikey=request.app[ACCEPT_IAMAPIKEY_KEY],
        )
        if path in _UNAUTHENTICATED:  # no authenticated route has these paths: the sealed block's 404
            raise web.HTTPNotFound
    return await handler(request)


def _template(request: web.Request) -> str:
    return _path_template(request.path)


@functools.lru_cache(maxsize=4096)  # keeps counting near a microsecond: the operator repeats its paths
def _path_template(path: str) -> str:
    return exchange_template(path[3:] if path == "/v1" or path.startswith("/v1/") else path)


def create_exchange_app(store: ExchangeStore, *, accept_iamapikey: bool = True) -> web.Application:
    """The Exchange REST API under ``/v1`` on ``store``.

    ``accept_iamapikey``: take ``org/iamapikey:KEY`` as IEAM does (checked against the org's Exchange API
    keys); ``False`` behaves as open-source Exchange 2.154.0, which answers 401. The request counters are
    at ``app[REQUEST_COUNTS]``.
    """
    counts = RequestCounts()
    counting = counting_middleware(counts, target=_template, who=basic_user)
    app = web.Application(middlewares=[counting, exchange_middleware], client_max_size=16 * 1024 * 1024)
    app[REQUEST_COUNTS] = counts
    app[STORE_KEY] = store
    app[ACCEPT_IAMAPIKEY_KEY] = accept_iamapikey
    orgs.add_routes(app)
    services.add_routes(app)
    keys.add_routes(app)
    dockauths.add_routes(app)
    policies.add_routes(app)
    patterns.add_routes(app)
    return app
