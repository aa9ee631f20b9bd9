"""Request counters shared by the sandbox emulators: the table, the Basic user, the middleware, the token and
IBM Cloud apps (served in process on 127.0.0.1 by aiohttp's test server)."""

from __future__ import annotations

import base64
import datetime as dt
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.sandbox.ibmcloud import IAM_TOKENS, REGISTRY_API, ApiKeyIdentity, IbmCloudConfig
from horizon_publisher.sandbox.ibmcloud import create_ibmcloud_app as create_ibmcloud
from horizon_publisher.sandbox.ibmcloud_registry_auth import IcrApiKeyAuthorizer, add_icr_token_endpoint
from horizon_publisher.sandbox.registry_auth import Caller, Scope, TokenSigner, create_token_app
from horizon_publisher.sandbox.request_counts import (
    ANONYMOUS,
    PATH,
    REQUEST_COUNTS,
    RequestCounts,
    basic_user,
    basic_user_of,
    counting_middleware,
)

Client = TestClient[web.Request, web.Application]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def row(user: str, method: str, target: str, count: int = 1) -> dict[str, Any]:
    return {"user": user, "method": method, "target": target, "count": count}


async def serve(app: web.Application) -> AsyncIterator[Client]:
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        yield client


async def counts(client: Client) -> list[dict[str, Any]]:
    response = await client.get(PATH)
    assert response.status == 200
    rows: list[dict[str, Any]] = (await response.json())["requests"]
    return rows


# --- RequestCounts ---------------------------------------------------------------------------------


def test_snapshot_is_sorted_rows_and_clear_empties_it() -> None:
    table = RequestCounts()
    for who, method, target in [("bob", "GET", "b"), ("alice", "PUT", "a"), ("bob", "GET", "b"), ("alice", "GET", "z")]:
        table.add(who, method, target)
    assert table.snapshot() == [row("alice", "GET", "z"), row("alice", "PUT", "a"), row("bob", "GET", "b", 2)]
    table.clear()
    assert table.snapshot() == []


def test_concurrent_adds_lose_no_count() -> None:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: an unlocked read-modify-write loses updates
    try:
        table = RequestCounts()

        def add_many() -> None:
            for _ in range(5000):
                table.add("u", "GET", "t")

        threads = [threading.Thread(target=add_many) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert table.snapshot() == [row("u", "GET", "t", 40000)]


# --- basic_user --------------------------------------------------------------------------------------

HEADERS = [
    (basic("myorg/alice", "secret"), "myorg/alice"),
    (basic("iamapikey", "key:with:colons"), "iamapikey"),
    ("basic " + base64.b64encode(b"bob:pw").decode(), "bob"),
    ("  Basic   " + base64.b64encode(b"bob:pw").decode() + " ", "bob"),
    (basic("", "password-only"), ANONYMOUS),
    ("Basic " + base64.b64encode(b"no-colon-at-all").decode(), ANONYMOUS),
    ("Basic not*base64", ANONYMOUS),
    ("Basic " + base64.b64encode(b"\xff\xfe:pw").decode(), ANONYMOUS),
    ("Basic", ANONYMOUS),
    ("Bearer abc:def", ANONYMOUS),
    ("", ANONYMOUS),
    (None, ANONYMOUS),
]


@pytest.mark.parametrize(("header", "expected"), HEADERS)
def test_basic_user_of_headers(header: str | None, expected: str) -> None:
    assert basic_user_of(header) == expected


@given(st.text())
def test_any_header_text_gives_a_name_without_colon(header: str) -> None:
    assert ":" not in basic_user_of(header)


@given(st.binary())
def test_any_basic_credentials_give_only_the_text_before_the_first_colon(credentials: bytes) -> None:
    user = basic_user_of("Basic " + base64.b64encode(credentials).decode())
    assert user == ANONYMOUS or credentials.startswith(user.encode() + b":")


@given(st.text().filter(lambda u: ":" not in u and u != ""), st.text())
def test_user_and_password_pairs_give_the_user(user: str, password: str) -> None:
    assert basic_user_of(basic(user, password)) == user


# --- the middleware ----------------------------------------------------------------------------------


@web.middleware
async def refuse_unless_basic(request: web.Request, handler: Handler) -> web.StreamResponse:
    if basic_user(request) == ANONYMOUS:
        raise web.HTTPUnauthorized
    return await handler(request)


def target_of(request: web.Request) -> str:
    return request.path.split("/")[1] or "root"


@pytest.fixture
async def counted() -> AsyncIterator[tuple[Client, RequestCounts]]:
    table = RequestCounts()
    app = web.Application(
        middlewares=[counting_middleware(table, target=target_of, who=basic_user), refuse_unless_basic]
    )

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/things/{name}", ok)
    app.router.add_put("/things/{name}", ok)
    async for client in serve(app):
        yield client, table


async def test_middleware_counts_every_request_even_refused_and_unrouted(counted: tuple[Client, RequestCounts]) -> None:
    client, table = counted
    alice = {"Authorization": basic("alice", "alice-password")}
    assert (await client.get("/things/a", headers=alice)).status == 200
    assert (await client.get("/things/b", headers=alice)).status == 200
    assert (await client.put("/things/a", headers=alice)).status == 200
    assert (await client.get("/things/a")).status == 401
    assert (await client.get("/nowhere", headers=alice)).status == 404
    expected = [row("alice", "GET", "nowhere"), row("alice", "GET", "things", 2), row("alice", "PUT", "things")]
    expected.append(row(ANONYMOUS, "GET", "things"))
    response = await client.get(PATH)  # no credentials needed, not counted itself
    assert await response.json() == {"requests": expected}
    assert "alice-password" not in await response.text()
    assert table.snapshot() == expected


async def test_endpoint_delete_clears_and_other_methods_are_405(counted: tuple[Client, RequestCounts]) -> None:
    client, _ = counted
    await client.get("/things/a")
    assert (await client.post(PATH)).status == 405
    assert (await client.put(PATH)).status == 405
    assert len(await counts(client)) == 1
    response = await client.delete(PATH)
    assert (response.status, await response.json()) == (200, {"requests": []})
    assert await counts(client) == []


async def test_nested_apps_count_once_in_the_outermost_counter() -> None:
    outer, inner = RequestCounts(), RequestCounts()
    sub = web.Application(middlewares=[counting_middleware(inner, target=lambda _: "inner", who=basic_user)])

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    sub.router.add_get("/x", ok)
    app = web.Application(middlewares=[counting_middleware(outer, target=lambda _: "outer", who=basic_user)])
    app.add_subapp("/sub", sub)
    async for client in serve(app):
        assert (await client.get("/sub/x")).status == 200
    assert (outer.snapshot(), inner.snapshot()) == ([row(ANONYMOUS, "GET", "outer")], [])


# --- the token app and the IBM Cloud app -------------------------------------------------------------


@pytest.fixture(scope="module")
def signer() -> TokenSigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test token signer")])
    now = dt.datetime.now(dt.UTC)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
    return TokenSigner(key, [builder.sign(key, hashes.SHA256())])


class PasswordAuthorizer:
    """Accepts the password ``good`` whatever the user name, grants nothing."""

    async def authenticate(self, username: str, password: str) -> Caller | None:
        return Caller(username=f"checked-{username}", credential=password) if password == "good" else None

    async def allowed_actions(self, caller: Caller, scope: Scope) -> frozenset[str]:
        del caller, scope
        return frozenset()

    async def aclose(self) -> None:
        return None


async def test_token_app_counts_token_requests_under_the_basic_user(signer: TokenSigner) -> None:
    app = create_token_app(PasswordAuthorizer(), signer, "svc", "issuer")
    async for client in serve(app):
        assert (await client.get("/openshift/token", headers={"Authorization": basic("robot", "good")})).status == 200
        assert (await client.get("/token", headers={"Authorization": basic("robot", "bad")})).status == 401
        assert (await client.get("/openshift/token")).status == 200
        response = await client.get(PATH)
        assert await response.json() == {"requests": [row(ANONYMOUS, "GET", "token"), row("robot", "GET", "token", 2)]}
        assert "good" not in await response.text()
    assert app[REQUEST_COUNTS].snapshot() == [row(ANONYMOUS, "GET", "token"), row("robot", "GET", "token", 2)]


API_KEY = "the-api-key-0123456789"
IDENTITY = ApiKeyIdentity(account_id="a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6", iam_id="IBMid-counted")


def ibmcloud_app(signer: TokenSigner) -> web.Application:
    app = create_ibmcloud(IbmCloudConfig(api_keys={API_KEY: IDENTITY}))
    authorizer = IcrApiKeyAuthorizer(app[IAM_TOKENS].identity_for_api_key, app[REGISTRY_API].namespace_owner)
    add_icr_token_endpoint(app, authorizer, signer)
    return app


async def test_ibmcloud_counts_iam_icr_and_token_calls_without_the_api_key(signer: TokenSigner) -> None:
    app = ibmcloud_app(signer)
    async for client in serve(app):
        form = {"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": API_KEY}
        iam = await client.post("/identity/token", data=form, headers={"Authorization": basic("bx", "bx")})
        token = (await iam.json())["access_token"]
        icr = {"Authorization": f"Bearer {token}", "Account": IDENTITY.account_id}
        assert (await client.put("/api/v1/namespaces/team-a", headers=icr)).status == 201
        assert (await client.get("/api/v1/namespaces", headers=icr)).status == 200
        assert (await client.get("/api/v1/images", headers=icr)).status == 200
        assert (await client.get("/api/v1/namespaces/details", headers=icr)).status == 200
        icr_login = {"Authorization": basic("iamapikey", API_KEY)}
        assert (await client.get("/oauth/token", params={"service": "registry"}, headers=icr_login)).status == 200
        response = await client.get(PATH)
        assert await response.json() == {
            "requests": [
                row(ANONYMOUS, "GET", "image_list"),
                row(ANONYMOUS, "GET", "namespace_list"),
                row(ANONYMOUS, "GET", "other"),
                row(ANONYMOUS, "PUT", "namespace_add"),
                row("bx", "POST", "iam_token"),
                row("iamapikey", "GET", "token"),
            ]
        }
        text = await response.text()
        assert API_KEY not in text
        assert token not in text
