"""A connection the Exchange (or a proxy on the way) resets or closes is a lost connection, whatever layer
notices it: retried like any other (a POST after reading back), reported as ``ExchangeUnreachable``, never
as a TLS trust problem or a protocol error.

Found by the reliability suite: a reset inside a TLS record surfaced as ``ExchangeTLSError`` ("TLS
handshake ... failed", not retried) and an answer cut mid-body as ``ExchangeProtocolError`` (not retried)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from horizon_publisher.clients.exchange import ExchangeClient, ExchangeEndpoint
from horizon_publisher.clients.exchange_model import ExchangeTLSError, ExchangeUnreachable

ORG, SID = "myorg", "com.example.x_1.0.0_amd64"
SERVICE = {"url": "com.example.x", "version": "1.0.0", "arch": "amd64", "label": "x", "deployment": ""}
EOF_IN_TLS = requests.exceptions.SSLError("SSLEOFError(8, 'EOF occurred in violation of protocol (_ssl.c:2406)')")
UNEXPECTED_EOF = requests.exceptions.SSLError("[SSL: UNEXPECTED_EOF_WHILE_READING] unexpected eof while reading")
CUT_BODY = requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead(283 bytes read, 283 more)")
UNTRUSTED = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")


class Breaking(HTTPAdapter):
    """Raises ``error`` for the first ``times`` requests of ``method``; otherwise answers as the Exchange."""

    def __init__(self, method: str, error: Exception, times: int = 1) -> None:
        super().__init__()
        self.method, self.error, self.times = method, error, times
        self.calls: list[str] = []
        self.created = False

    def send(self, request: requests.PreparedRequest, *_: Any, **__: Any) -> requests.Response:
        self.calls.append(str(request.method))
        if request.method == self.method and self.times > 0:
            self.times -= 1
            raise self.error
        status, body = 200, {"services": {f"{ORG}/{SID}": SERVICE}, "lastIndex": 0}
        if request.method == "POST":
            self.created, status, body = True, 201, {"code": "ok", "msg": "created"}
        elif not self.created and urlsplit(str(request.url)).path.endswith(SID):
            status, body = 404, {"code": "not_found", "msg": "not found"}
        response = requests.Response()
        response.status_code, response.request, response.url = status, request, str(request.url)
        response._content = json.dumps(body).encode()
        return response


def _client(adapter: Breaking, sleeps: list[float]) -> ExchangeClient:
    session = requests.Session()
    session.mount("https://", adapter)
    endpoint = ExchangeEndpoint("https://exchange.example/v1", ORG, "alice", "pw")
    return ExchangeClient(endpoint, session=session, sleep=sleeps.append, backoff=0.5)


@pytest.mark.parametrize("error", [EOF_IN_TLS, UNEXPECTED_EOF, CUT_BODY], ids=["eof-in-tls", "unexpected-eof", "cut"])
def test_a_lost_connection_on_a_get_is_retried(error: Exception) -> None:
    sleeps: list[float] = []
    adapter = Breaking("GET", error)
    adapter.created = True
    with _client(adapter, sleeps) as client:
        assert client.get_service(SID) is not None
    assert (adapter.calls, sleeps) == (["GET", "GET"], [0.5])


@pytest.mark.parametrize("error", [EOF_IN_TLS, CUT_BODY], ids=["eof-in-tls", "cut"])
def test_a_lost_connection_on_a_post_reads_back_then_posts_again(error: Exception) -> None:
    sleeps: list[float] = []
    adapter = Breaking("POST", error)
    with _client(adapter, sleeps) as client:
        assert client.ensure_service(SID, SERVICE) == "created"
    assert adapter.calls == ["GET", "POST", "GET", "POST"]


@pytest.mark.parametrize("error", [EOF_IN_TLS, CUT_BODY], ids=["eof-in-tls", "cut"])
def test_a_connection_lost_every_time_is_unreachable(error: Exception) -> None:
    sleeps: list[float] = []
    adapter = Breaking("GET", error, times=99)
    with _client(adapter, sleeps) as client, pytest.raises(ExchangeUnreachable) as caught:
        client.get_service(SID)
    assert caught.value.reason == "ExchangeUnreachable"
    assert "cannot reach the Exchange at exchange.example (GET /orgs/myorg/services/" in caught.value.message
    assert len(adapter.calls) == 4  # 1 + 3 retries


def test_an_untrusted_certificate_is_still_a_tls_error_and_not_retried() -> None:
    sleeps: list[float] = []
    adapter = Breaking("GET", UNTRUSTED, times=99)
    with _client(adapter, sleeps) as client, pytest.raises(ExchangeTLSError, match="not trusted"):
        client.get_service(SID)
    assert (adapter.calls, sleeps) == (["GET"], [])
