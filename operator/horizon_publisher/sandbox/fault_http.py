"""An HTTPS reverse proxy on 127.0.0.1 that answers chosen requests with a fault: fault injection for tests.

TLS is terminated with a certificate the client trusts (the sandbox router certificate names the route
host and 127.0.0.1) and every request is forwarded to one upstream ``https`` URL, verified against a CA
file; bodies stream both ways, ``Host`` and every end-to-end header pass unchanged. The rule table can be
replaced while running (``proxy.rules = [...]``, :meth:`FaultHTTPProxy.add`, :meth:`FaultHTTPProxy.remove`,
:meth:`FaultHTTPProxy.disarm`: no more faults, the rule goes on counting).

A :class:`Rule` matches a method (regex, e.g. ``"POST|PUT"``), a regex searched in the percent-decoded
path and query (``/v1/orgs/o/services/s/keys/k``, ``/openshift/token?scope=repository:p/n:pull``) and
optionally a regex searched in the request body (then buffered). Matching requests are numbered 1, 2, ...
per rule; the fault applies to numbers ``nth`` .. ``nth + count - 1`` (``count=None``: every one from
``nth``). Faults (:class:`Fault`):

- ``status``: an HTTP error (500, 502, 503, 429...) with a JSON body and an optional ``Retry-After``;
  nothing reaches the upstream;
- ``refuse``: the connection is reset (RST) before any byte of a response; nothing reaches the upstream;
- ``reset``: the request is forwarded (a write lands), then the status line, the headers and half the body
  are sent (half the headers for an answer without a body, e.g. to HEAD) and the connection is reset;
- ``timeout``: the request is forwarded, then the answer is held until the client gives up (it closes
  the connection) or ``hold_seconds`` pass, and the connection is reset;
- ``expired_token``: for a token endpoint: the upstream's token answer with ``expires_in`` 0, ``issued_at``
  an hour ago and the JWT's ``iat``/``nbf``/``exp`` an hour in the past, re-signed by ``token_signer``.

Every request is recorded (:class:`Recorded`: start and end on ``time.monotonic`` (a forwarded request
ends when the upstream's answer starts back), method, path without the query, the upstream status or the
fault) and each rule counts its matches, faults fired and faulted requests ended, with the times and the
client's port (the same port: the same keep-alive connection, so one client's retry).

    with FaultHTTPProxy(upstream, cert_file=..., key_file=..., ca_file=...) as proxy:
        rule = proxy.add(Rule("PUT", r"/keys/", http_status(503), count=3))
        ...  # https://127.0.0.1:{proxy.port}; rule.ended == 3 once all three were answered

Gaps:
- "Connection refused" is emulated by a reset after the request was read: a real refusal happens at
  ``connect()``, before any request, and is not tied to a path; clients treat both as "not sent" only
  in the second case (here the client cannot tell, as with a reset on a reused keep-alive connection).
- One upstream per proxy; no HTTP/2; no WebSocket or ``Upgrade``; trailers are dropped.
- A faulted request is answered by the proxy, so a ``status`` fault never reaches the upstream (a
  gateway's 502 after the upstream did the write is not modelled; ``reset`` and ``timeout`` model that).
- ``expired_token`` without a ``token_signer`` sends an unsigned JWT (``alg: none``), which a registry
  refuses for its signature, not its age; the path and query are recorded decoded, so are the counts.
- Rules are evaluated in order and every rule that matches counts the request; the first one whose range
  covers it applies its fault.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self
from urllib.parse import unquote

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from horizon_publisher.sandbox.fault_http_rules import (
    Fault,
    FaultKind,
    Recorded,
    Rule,
    expired_token,
    http_status,
    refused,
    reset_mid_response,
    timeout,
)
from horizon_publisher.sandbox.tls_server import BackgroundServer, server_ssl_context

__all__ = [
    "Fault",
    "FaultHTTPProxy",
    "FaultKind",
    "Recorded",
    "Rule",
    "TokenSigner",
    "expired_token",
    "http_status",
    "refused",
    "reset_mid_response",
    "timeout",
]

TokenSigner = Callable[[Mapping[str, Any]], str]

# Hop-by-hop headers (RFC 9110 7.6.1) and those aiohttp computes itself: never copied through.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)
_CHUNK = 64 * 1024
_EXPIRED_AGO = 3600  # seconds: how far in the past an "expired" token was issued and expired


class FaultHTTPProxy:
    """``https://127.0.0.1:<port>`` in front of ``upstream`` (scheme and authority, e.g. ``https://127.0.0.1:8443``)."""

    def __init__(
        self,
        upstream: str,
        *,
        cert_file: Path,
        key_file: Path,
        ca_file: Path,
        token_signer: TokenSigner | None = None,
        read_timeout: float = 120.0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self._ca_file = ca_file
        self._token_signer = token_signer
        self._read_timeout = read_timeout
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._records: list[Recorded] = []
        self._session: aiohttp.ClientSession | None = None
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.cleanup_ctx.append(self._client)
        self._server = BackgroundServer(app, ssl_context=server_ssl_context(cert_file, key_file))

    # --- lifecycle and table -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        """Release held requests, stop serving, close the upstream connections."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and loop.is_running():
            loop.call_soon_threadsafe(stopping.set)
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    @rules.setter
    def rules(self, rules: Sequence[Rule]) -> None:
        with self._lock:
            self._rules = list(rules)

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: Rule) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if r is not rule]

    def clear(self) -> None:
        self.rules = []

    def disarm(self, rule: Rule) -> None:
        """No more faults from ``rule``; it stays in the table and goes on counting matching requests."""
        with self._lock:
            rule.count = rule.fired

    def records(self) -> list[Recorded]:
        with self._lock:
            return list(self._records)

    # --- serving -------------------------------------------------------------------------------------

    async def _client(self, _: web.Application) -> AsyncIterator[None]:
        context = ssl.create_default_context(cafile=str(self._ca_file))
        connector = aiohttp.TCPConnector(ssl=context, limit=0)
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # bytes pass through as the upstream encoded them
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=self._read_timeout),
        ) as session:
            self._session = session
            yield
            self._stopping.set()

    def _select(self, method: str, target: str, body: bytes | None, peer: int) -> Rule | None:
        chosen = None
        now = time.monotonic()
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, target, body):
                    rule.matched += 1
                    rule.starts.append((now, peer))
                    if chosen is None and rule.covers(rule.matched):
                        rule.fired += 1
                        chosen = rule
        return chosen

    def _wants_body(self, method: str, target: str) -> bool:
        with self._lock:
            return any(rule.wants_body(method, target) for rule in self._rules)

    def _record(self, started: float, request: web.Request, outcome: str, rule: Rule | None) -> None:
        ended = time.monotonic()
        with self._lock:
            name = None if rule is None else rule.name
            self._records.append(Recorded(started, ended, request.method, request.path, outcome, name))
            if rule is not None:
                rule.ended += 1
                rule.last_end = ended
                rule.fault_ends.append((ended, _peer_port(request)))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        target = unquote(request.raw_path)
        body = await request.read() if self._wants_body(request.method, target) else None
        rule = self._select(request.method, target, body, _peer_port(request))
        if rule is None:
            try:
                return await self._forward(request, body, started)
            except (aiohttp.ClientError, TimeoutError) as error:
                self._record(started, request, f"upstream error {type(error).__name__}", None)
                return web.json_response({"code": "bad_gateway", "msg": "upstream unreachable"}, status=502)
        try:
            return await self._apply(rule.fault, request, body)
        finally:
            self._record(started, request, f"fault: {rule.fault.label}", rule)

    async def _apply(self, fault: Fault, request: web.Request, body: bytes | None) -> web.StreamResponse:
        if fault.kind == "status":
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            payload = fault.body if fault.body is not None else {"code": "fault_injected", "msg": fault.label}
            return web.json_response(dict(payload), status=fault.status, headers=extra)
        if fault.kind == "refuse":
            _reset(request)
            return web.Response()  # never sent: the connection is gone
        status, reason, headers, content = await self._fetch(request, body)
        if fault.kind == "expired_token":
            expired = self._expire(content)
            return web.Response(body=expired, status=status, content_type="application/json")
        if fault.kind == "reset":
            raw = _raw_response(status, reason, headers, content)
            head_length = raw.index(b"\r\n\r\n") + 4
            cut = head_length + len(content) // 2 if content else head_length // 2
            assert request.transport is not None
            request.transport.write(raw[:cut])
            await asyncio.sleep(0.2)  # let the client read what was sent before the reset
        else:  # timeout: the answer never comes
            await self._hold(request, fault.hold_seconds)
        _reset(request)
        return web.Response()

    async def _hold(self, request: web.Request, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        transport = request.transport
        while time.monotonic() < deadline and transport is not None and not transport.is_closing():
            if self._stopping is not None and self._stopping.is_set():
                return
            await asyncio.sleep(0.25)

    def _upstream_request(self, request: web.Request, body: bytes | None) -> Any:
        assert self._session is not None
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP)
        data: Any = body
        if body is None and request.can_read_body:
            data = request.content
            if request.content_length is not None:
                headers["Content-Length"] = str(request.content_length)  # else aiohttp sends it chunked
        return self._session.request(
            request.method, self.upstream + request.raw_path, headers=headers, data=data, allow_redirects=False
        )

    async def _forward(self, request: web.Request, body: bytes | None, started: float) -> web.StreamResponse:
        async with self._upstream_request(request, body) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=_end_to_end(upstream))
            length = upstream.headers.get("Content-Length", "")
            if length.isdigit():
                response.content_length = int(length)
            self._record(started, request, f"HTTP {upstream.status}", None)  # before the client hears anything
            await response.prepare(request)
            if request.method != "HEAD":
                async for chunk in upstream.content.iter_chunked(_CHUNK):
                    await response.write(chunk)
            await response.write_eof()
            return response

    async def _fetch(self, request: web.Request, body: bytes | None) -> tuple[int, str, CIMultiDict[str], bytes]:
        async with self._upstream_request(request, body) as upstream:
            content = b"" if request.method == "HEAD" else await upstream.read()
            return upstream.status, upstream.reason or "", _end_to_end(upstream), content

    def _expire(self, content: bytes) -> bytes:
        """The token answer, its token replaced by the same claims an hour in the past."""
        answer = json.loads(content)
        now = int(time.time())
        token = str(answer.get("token") or answer.get("access_token") or "")
        claims = _jwt_claims(token)
        claims.update(iat=now - _EXPIRED_AGO, nbf=now - _EXPIRED_AGO, exp=now - _EXPIRED_AGO + 60)
        expired = self._token_signer(claims) if self._token_signer is not None else _unsigned_jwt(claims)
        issued = dt.datetime.fromtimestamp(now - _EXPIRED_AGO, dt.UTC).isoformat()
        answer.update(token=expired, access_token=expired, expires_in=0, issued_at=issued)
        return json.dumps(answer).encode()


def _peer_port(request: web.Request) -> int:
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    return int(peer[1]) if isinstance(peer, tuple) and len(peer) >= 2 else 0


def _end_to_end(upstream: aiohttp.ClientResponse) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP)


def _raw_response(status: int, reason: str, headers: CIMultiDict[str], content: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
    lines.append(f"Content-Length: {len(content)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content


def _reset(request: web.Request) -> None:
    """Abort the client connection with an RST (SO_LINGER 0), TLS or not."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT; ``{}`` when the token is not one (an opaque token gets fresh claims)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(_b64url_decode(parts[1]))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _unsigned_jwt(claims: Mapping[str, Any]) -> str:
    def encode(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(dict(value)).encode()).rstrip(b"=").decode()

    return f"{encode({'typ': 'JWT', 'alg': 'none'})}.{encode(claims)}."
