"""The fault-injecting HTTPS proxy (``sandbox/fault_http.py``) against a small TLS upstream: every fault
does what the reliability matrix relies on, and everything else passes through untouched."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from horizon_publisher.sandbox.fault_http import (
    FaultHTTPProxy,
    Rule,
    expired_token,
    http_status,
    refused,
    reset_mid_response,
    timeout,
)
from horizon_publisher.sandbox.pki import SandboxPKI, ensure_pki
from horizon_publisher.sandbox.registry_auth import TokenSigner
from horizon_publisher.sandbox.tls_server import BackgroundServer, server_ssl_context
from tests.e2e.conftest import wait_for

BIG = bytes(range(256)) * 4096  # 1 MiB


@dataclass
class Upstream:
    received: list[tuple[str, str, bytes]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024**2)
        app.router.add_route("*", "/echo", self.echo)
        app.router.add_get("/big", self.big)
        app.router.add_route("HEAD", "/manifest", self.manifest)
        app.router.add_get("/openshift/token", self.token)
        return app

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((request.method, request.path_qs, body))
        answer = {"host": request.headers.get("Host"), "sha": hashlib.sha256(body).hexdigest(), "padding": "x" * 200}
        return web.json_response(answer, headers={"X-Upstream": "yes"})

    async def big(self, request: web.Request) -> web.Response:
        self.received.append((request.method, request.path_qs, b""))
        return web.Response(body=BIG, content_type="application/octet-stream")

    async def manifest(self, request: web.Request) -> web.Response:
        self.received.append((request.method, request.path_qs, b""))
        headers = {"Docker-Content-Digest": "sha256:" + "a" * 64, "Content-Type": "application/json"}
        return web.Response(headers={**headers, "Content-Length": "1234"})

    async def token(self, request: web.Request) -> web.Response:
        self.received.append((request.method, request.path_qs, b""))
        now = int(time.time())
        claims = {"sub": "someone", "access": [{"name": "p/n", "actions": ["pull"]}], "iat": now, "exp": now + 300}
        header = _b64(json.dumps({"alg": "none"}).encode())
        return web.json_response({"token": f"{header}.{_b64(json.dumps(claims).encode())}.", "expires_in": 300})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPKI:
    return ensure_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def upstream(pki: SandboxPKI) -> Iterator[tuple[Upstream, str]]:
    state = Upstream()
    with BackgroundServer(state.app(), ssl_context=server_ssl_context(pki.router_cert, pki.router_key)) as server:
        yield state, server.url


@pytest.fixture
def proxy(pki: SandboxPKI, upstream: tuple[Upstream, str]) -> Iterator[tuple[FaultHTTPProxy, Upstream]]:
    state, url = upstream
    state.received.clear()
    signer = TokenSigner.from_files(pki.token_signing_key, pki.token_signing_cert)
    with FaultHTTPProxy(
        url, cert_file=pki.router_cert, key_file=pki.router_key, ca_file=pki.ca_cert, token_signer=signer.sign
    ) as running:
        yield running, state


def _get(proxy: FaultHTTPProxy, pki: SandboxPKI, path: str, method: str = "GET", **kwargs: Any) -> requests.Response:
    wait = kwargs.pop("timeout", (5, 10))
    return requests.request(method, proxy.url + path, verify=str(pki.ca_cert), timeout=wait, **kwargs)


def test_unmatched_requests_pass_through_with_host_headers_and_bodies(
    proxy: tuple[FaultHTTPProxy, Upstream], pki: SandboxPKI
) -> None:
    running, upstream = proxy
    running.add(Rule("DELETE", "/echo", http_status(500), count=None))  # another method: never applies
    answer = _get(running, pki, "/echo?a=1", "POST", data=BIG, headers={"Host": "route.example.test"})
    assert answer.status_code == 200
    assert answer.headers["X-Upstream"] == "yes"
    assert answer.json()["host"] == "route.example.test"
    assert answer.json()["sha"] == hashlib.sha256(BIG).hexdigest()
    assert _get(running, pki, "/big").content == BIG
    head = _get(running, pki, "/manifest", "HEAD")
    assert (head.status_code, head.headers["Content-Length"], head.content) == (200, "1234", b"")
    assert [r[:2] for r in upstream.received] == [("POST", "/echo?a=1"), ("GET", "/big"), ("HEAD", "/manifest")]
    assert [(r.method, r.path, r.outcome) for r in running.records()] == [
        ("POST", "/echo", "HTTP 200"),
        ("GET", "/big", "HTTP 200"),
        ("HEAD", "/manifest", "HTTP 200"),
    ]


@pytest.mark.parametrize(
    ("nth", "count", "statuses"),
    [
        (1, 1, [503, 200, 200, 200]),
        (1, 3, [503, 503, 503, 200]),
        (2, 2, [200, 503, 503, 200]),
        (3, None, [200, 200, 503, 503]),
    ],
)
def test_a_rule_faults_the_numbered_matching_requests(
    proxy: tuple[FaultHTTPProxy, Upstream], pki: SandboxPKI, nth: int, count: int | None, statuses: list[int]
) -> None:
    running, upstream = proxy
    rule = running.add(Rule("GET|PUT", r"^/echo\?id=7$", http_status(503), nth=nth, count=count))
    seen = []
    for _ in statuses:
        assert _get(running, pki, "/echo?id=8").status_code == 200  # another target: not counted
        seen.append(_get(running, pki, "/echo?id=7", "PUT").status_code)
    assert seen == statuses
    assert (rule.matched, rule.fired, rule.ended) == (4, statuses.count(503), statuses.count(503))
    assert rule.exhausted == (count is not None)
    assert len(upstream.received) == 8 - statuses.count(503)  # a status fault never reaches the upstream


def test_status_fault_answers_json_with_retry_after(proxy: tuple[FaultHTTPProxy, Upstream], pki: SandboxPKI) -> None:
    running, _ = proxy
    running.add(Rule("GET", "/echo", http_status(429, retry_after=2)))
    answer = _get(running, pki, "/echo")
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "2")
    assert answer.json() == {"code": "fault_injected", "msg": "HTTP 429 Retry-After 2"}
    assert running.records()[0].outcome == "fault: HTTP 429 Retry-After 2"


def test_body_regex_picks_one_request_among_same_path(proxy: tuple[FaultHTTPProxy, Upstream], pki: SandboxPKI) -> None:
    running, upstream = proxy
    rule = running.add(Rule("POST", "^/echo$", http_status(502), body=r'"url": "com\.example\.b"', count=None))
    ok = _get(running, pki, "/echo", "POST", json={"url": "com.example.a"})
    faulted = _get(running, pki, "/echo", "POST", json={"url": "com.example.b"})
    assert (ok.status_code, faulted.status_code, rule.matched) == (200, 502, 1)
    assert [json.loads(r[2]) for r in upstream.received] == [{"url": "com.example.a"}]  # buffered, then forwarded


def test_refused_resets_before_any_answer_and_sends_nothing(
    proxy: tuple[FaultHTTPProxy, Upstream], pki: SandboxPKI
) -> None:
    running, upstream = proxy
    running.add(Rule("POST", "/echo", refused()))
    with pytest.raises(requests.ConnectionError):
        _get(running, pki, "/echo", "POST", data=b"write")
    assert upstream.received == []
    assert _get(running, pki, "/echo", "POST", data=b"write").status_code == 200  # only the first


def test_reset_mid_response_lands_the_write_then_cuts_the_body(
    proxy: tuple[FaultHTTPProxy, Upstream], pki: SandboxPKI
) -> None:
    running, upstream = proxy
    running.add(Rule("POST|GET", "/echo|/big", reset_mid_response(), count=2))
    with pytest.raises(requests.RequestException):
        _get(running, pki, "/echo", "POST", data=b"write")
    assert upstream.received == [("POST", "/echo", b"write")]
    with _get(running, pki, "/big", stream=True) as answer:
        assert answer.status_code == 200  # the headers arrived
        assert answer.headers["Content-Length"] == str(len(BIG))
        got = bytearray()
        with pytest.raises(requests.RequestException):
            _read_into(answer, got)
    assert 0 < len(got) < len(BIG)


def _read_into(answer: requests.Response, got: bytearray) -> None:
    for chunk in answer.iter_content(65536):
        got += chunk


def test_reset_of_a_head_answer_cuts_inside_the_headers(
    proxy: tuple[FaultHTTPProxy, Upstream], pki: SandboxPKI
) -> None:
    running, upstream = proxy
    running.add(Rule("HEAD", "/manifest", reset_mid_response()))
    try:
        answer = _get(running, pki, "/manifest", "HEAD")
    except requests.ConnectionError:
        pass
    else:  # http.client takes a header block cut by the reset for a complete one: what is missing shows it
        assert "Content-Length" not in answer.headers, answer.headers
    assert upstream.received == [("HEAD", "/manifest", b"")]


def test_timeout_holds_the_answer_until_the_client_gives_up(
    proxy: tuple[FaultHTTPProxy, Upstream], pki: SandboxPKI
) -> None:
    running, upstream = proxy
    rule = running.add(Rule("PUT", "/echo", timeout(hold_seconds=30)))
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        _get(running, pki, "/echo", "PUT", data=b"write", timeout=(2, 0.5))
    assert upstream.received == [("PUT", "/echo", b"write")]  # the request went through, its answer did not
    wait_for(lambda: rule.ended == 1, timeout=5, what="the proxy to notice the client hung up")
    assert rule.last_end is not None
    assert rule.last_end - started < 5


def test_expired_token_is_the_upstream_token_signed_an_hour_ago(
    proxy: tuple[FaultHTTPProxy, Upstream], pki: SandboxPKI
) -> None:
    running, _ = proxy
    running.add(Rule("GET", r"/openshift/token\?.*scope=repository:p/n:pull", expired_token()))
    answer = _get(running, pki, "/openshift/token", params={"service": "r", "scope": "repository:p/n:pull"}).json()
    assert answer["expires_in"] == 0
    assert answer["issued_at"] < time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1800))
    assert answer["access_token"] == answer["token"]
    header, payload, signature = (part.encode() for part in answer["token"].split("."))
    claims = json.loads(_unb64(payload.decode()))
    assert claims["exp"] < time.time() - 1800
    assert claims["iat"] < claims["exp"]
    assert (claims["sub"], claims["access"]) == ("someone", [{"name": "p/n", "actions": ["pull"]}])
    certificate = x509.load_pem_x509_certificates(Path(pki.token_signing_cert).read_bytes())[0]
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(_unb64(signature.decode()), header + b"." + payload, padding.PKCS1v15(), hashes.SHA256())
    fresh = _get(running, pki, "/openshift/token", params={"scope": "repository:p/n:pull"}).json()
    assert fresh["expires_in"] == 300  # the rule faulted only the first


def test_rules_are_replaced_while_running(proxy: tuple[FaultHTTPProxy, Upstream], pki: SandboxPKI) -> None:
    running, _ = proxy
    first = Rule("GET", "/echo", http_status(500), count=None, name="first")
    running.rules = [first]
    assert _get(running, pki, "/echo").status_code == 500
    running.rules = [Rule("GET", "/echo", http_status(502), count=None, name="second")]
    assert _get(running, pki, "/echo").status_code == 502
    running.clear()
    assert _get(running, pki, "/echo").status_code == 200
    assert [(r.outcome, r.rule) for r in running.records()] == [
        ("fault: HTTP 500", "first"),
        ("fault: HTTP 502", "second"),
        ("HTTP 200", None),
    ]
    assert first.matched == 1  # a rule removed from the table counts nothing more


def test_a_rule_tells_one_clients_retries_from_another_client(
    proxy: tuple[FaultHTTPProxy, Upstream], pki: SandboxPKI
) -> None:
    running, _ = proxy
    rule = running.add(Rule("GET", "/echo", http_status(503, retry_after=1), count=2))
    with requests.Session() as first, requests.Session() as second:
        statuses = [
            s.get(running.url + "/echo", verify=str(pki.ca_cert), timeout=5).status_code for s in (first, first, second)
        ]
    assert statuses == [503, 503, 200]
    ports = [port for _, port in rule.starts]
    assert ports[0] == ports[1] != ports[2]  # a keep-alive connection per client
    assert [port for _, port in rule.fault_ends] == ports[:2]
