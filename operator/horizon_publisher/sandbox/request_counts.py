"""Server-side request counters for the sandbox emulators: who called what, how often (a sandbox extension).

A benchmark reads them to count the requests the operator makes to each backend:

    GET    /_sandbox/requests   -> {"requests": [{"user": U, "method": M, "target": T, "count": N}, ...]}
    DELETE /_sandbox/requests   -> clears the counters, answers {"requests": []}

Rows are sorted by (user, method, target). ``target`` comes from a small fixed vocabulary chosen by each
emulator (a path template, an operation name), so ids and credentials never become keys. ``user`` is a
user *name* only: :func:`basic_user` never returns a password, and no token is ever recorded.

Counting is one lock, one dict increment (well under a microsecond); requests to the endpoint itself are
not counted. When apps are nested (a sub-application mounted under a parent that counts too), the
outermost counter counts the request once and the inner ones leave it alone.

Gaps:
- Counters live in memory: a restart of the emulator clears them; they are not bounded (every distinct
  user name and target is a row), which is fine for a sandbox whose targets are templates.
- A request is counted when it arrives, whatever its outcome (also when the client goes away mid-way).
"""

from __future__ import annotations

import binascii
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

PATH = "/_sandbox/requests"
ANONYMOUS = "anonymous"

Key = tuple[str, str, str]  # (user, method, target)
_COUNTED: web.RequestKey[bool] = web.RequestKey("sandbox_request_counted", bool)


class RequestCounts:
    """Thread-safe counters of requests by (user, method, target)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[Key, int] = {}

    def add(self, who: str, method: str, target: str) -> None:
        key = (who, method, target)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            items = sorted(self._counts.items())
        return [{"user": who, "method": method, "target": target, "count": n} for (who, method, target), n in items]

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


REQUEST_COUNTS: web.AppKey[RequestCounts] = web.AppKey("sandbox_request_counts", RequestCounts)


def basic_user(request: web.Request) -> str:
    """The username of an ``Authorization: Basic`` header, else ``anonymous`` (never raises).

    Never the password: only the text before the first colon of the decoded credentials is returned, and
    credentials without a colon (or an empty username, or anything undecodable) give ``anonymous``.
    """
    return basic_user_of(request.headers.get("Authorization"))


def basic_user_of(header: str | None) -> str:
    """:func:`basic_user` on the header value itself."""
    if not header:
        return ANONYMOUS
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return ANONYMOUS
    try:
        # a2b_base64 strict: what b64decode(validate=True) checks, at half the cost
        decoded = binascii.a2b_base64(encoded.strip(), strict_mode=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ANONYMOUS
    username, colon, _ = decoded.partition(":")
    return username if colon and username else ANONYMOUS


def endpoint_answer(counts: RequestCounts, method: str) -> web.Response:
    """The answer of ``PATH`` for ``method``: the snapshot, a clear, or 405."""
    if method == "GET":
        return web.json_response({"requests": counts.snapshot()})
    if method == "DELETE":
        counts.clear()
        return web.json_response({"requests": []})
    raise web.HTTPMethodNotAllowed(method, ["GET", "DELETE"])


def counting_middleware(
    counts: RequestCounts,
    *,
    target: Callable[[web.Request], str],
    who: Callable[[web.Request], str],
) -> Middleware:
    """Count every request (before any other middleware or handler runs) and serve ``PATH``.

    Put it first in the app's middleware list so that requests later refused (401, 404...) count too.
    """

    @web.middleware
    async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.get(_COUNTED):  # an outer app's counter already took it
            return await handler(request)
        if request.path == PATH:
            return endpoint_answer(counts, request.method)
        request[_COUNTED] = True
        counts.add(who(request), request.method, target(request))
        return await handler(request)

    return count_requests
