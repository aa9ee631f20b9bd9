"""Exchange response envelopes, message texts and timestamps, as exchange-api 2.154.0 renders them.

Message texts come from the server's ``messages.txt`` (Java ``MessageFormat``): integers are grouped
(``1,234``) and Scala ``Option`` values print as ``Some(x)`` / ``None``; :func:`java_arg` reproduces both.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from aiohttp import web

EXCHANGE_VERSION = "2.154.0"

# The ``code`` values of ApiRespType (note the underscore in internal_error).
OK = "ok"
BAD_CREDS = "invalid-credentials"
ACCESS_DENIED = "access-denied"
ALREADY_EXISTS = "already-exists"
BAD_INPUT = "invalid-input"
NOT_FOUND = "not-found"
INTERNAL_ERROR = "internal_error"

# Headers every response of the real server carries (ExchangeApiApp routes).
STANDARD_HEADERS = {
    "Cache-Control": "max-age=0, must-revalidate, no-cache, no-store",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
    "X-Content-Type-Options": "nosniff",
    "X-XSS-Protection": "1; mode=block",
}


class ApiError(Exception):
    """An error answer: HTTP status plus the ``{"code","msg"}`` envelope (or a raw body when given)."""

    def __init__(self, status: int, code: str, msg: str, *, body: Any = None) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg
        self.body = body

    def response(self) -> web.Response:
        if self.body is not None:
            return json_response(self.body, status=self.status)
        return api_response(self.status, self.code, self.msg)


class PlainError(Exception):
    """An answer from pekko's default rejection handler: text/plain, not the Exchange envelope."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text

    def response(self) -> web.Response:
        return web.Response(status=self.status, text=self.text, content_type="text/plain", charset="utf-8")


def json_response(body: Any, *, status: int = 200) -> web.Response:
    # Jackson writes compact JSON.
    return web.Response(status=status, text=json.dumps(body, separators=(",", ":")), content_type="application/json")


def api_response(status: int, code: str, msg: str) -> web.Response:
    if status == 204:  # HTTP 204 carries no entity even though the server passes an ApiResponse
        return web.Response(status=204)
    return json_response({"code": code, "msg": msg}, status=status)


def bad_input(msg: str) -> ApiError:
    return ApiError(400, BAD_INPUT, msg)


def not_found(msg: str) -> ApiError:
    return ApiError(404, NOT_FOUND, msg)


def java_arg(value: Any) -> str:
    """How ``MessageFormat`` prints an argument: grouped integers, Scala Option rendering via :class:`Opt`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if value is None:
        return "null"
    return str(value)


class Opt:
    """A Scala ``Option[String]`` as it appears inside a message: ``Some(1.0.0)`` or ``None``."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    def __str__(self) -> str:
        return "None" if self.value is None else f"Some({self.value})"


def duplicate_key_detail(table: str, column: str, key: str) -> str:
    """The PSQLException text the server appends to ``already exists`` messages."""
    return (
        f'ERROR: duplicate key value violates unique constraint "{table}_pkey"\n'
        f"  Detail: Key ({column})=({key}) already exists."
    )


def foreign_key_detail(table: str, constraint: str, service: str) -> str:
    return (
        f'ERROR: insert or update on table "{table}" violates foreign key constraint "{constraint}"\n'
        f'  Detail: Key (serviceid)=({service}) is not present in table "services".'
    )


def format_instant(epoch_ns: int) -> str:
    """``java.time.Instant.toString``: UTC, fraction in groups of 3 digits, trailing zero groups dropped."""
    seconds, nanos = divmod(epoch_ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if nanos == 0:
        return base + "Z"
    if nanos % 1_000_000 == 0:
        return f"{base}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{base}.{nanos // 1_000:06d}Z"
    return f"{base}.{nanos:09d}Z"


class Clock:
    """Microsecond timestamps (a JVM clock on Linux ticks in microseconds), strictly increasing so that a
    touched ``lastUpdated`` always differs from the previous value."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now(self) -> str:
        with self._lock:
            micros = max(time.time_ns() // 1_000, self._last + 1)
            self._last = micros
        return format_instant(micros * 1_000)
