"""The ICR token endpoint: ``iamapikey`` logins, namespace ownership decides pull/push."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from horizon_publisher.sandbox.ibmcloud import IAM_TOKENS, REGISTRY_API, ApiKeyIdentity, IbmCloudConfig
from horizon_publisher.sandbox.ibmcloud import create_ibmcloud_app as create_app
from horizon_publisher.sandbox.ibmcloud_registry_auth import (
    ICR_ISSUER,
    ICR_SERVICE,
    IcrApiKeyAuthorizer,
    add_icr_token_endpoint,
    icr_token_realm,
    repository_namespace,
)
from horizon_publisher.sandbox.openshift import jwt
from horizon_publisher.sandbox.pki import SandboxPKI, ensure_pki
from horizon_publisher.sandbox.registry_auth import Caller, Scope, TokenSigner
from horizon_publisher.sandbox.tls_server import BackgroundServer

OUR_KEY = "our-api-key-0123456789abcdef"
THEIR_KEY = "their-api-key-fedcba9876543210"
OURS = ApiKeyIdentity(account_id="0123456789abcdef0123456789abcdef", iam_id="iam-ServiceId-ours")
THEIRS = ApiKeyIdentity(account_id="fedcba9876543210fedcba9876543210", iam_id="iam-ServiceId-theirs")
KEYS = {OUR_KEY: OURS, THEIR_KEY: THEIRS}
OWNERS = {"ours": OURS.account_id, "theirs": THEIRS.account_id}


def make_authorizer() -> IcrApiKeyAuthorizer:
    return IcrApiKeyAuthorizer(KEYS.get, OWNERS.get)


@pytest.mark.parametrize(
    ("repository", "namespace"),
    [
        ("ns/app", "ns"),
        ("ns/team/app_amd64", "ns"),
        ("ns", None),
        ("ns/", None),
        ("/app", None),
        ("ns//app", None),
        ("ns/app/", None),
    ],
)
def test_repository_namespace(repository: str, namespace: str | None) -> None:
    assert repository_namespace(repository) == namespace


@pytest.mark.parametrize(
    ("username", "password", "iam_id"),
    [
        ("iamapikey", OUR_KEY, OURS.iam_id),
        ("iamapikey", THEIR_KEY, THEIRS.iam_id),
        ("iamapikey", "not-a-known-key", None),
        ("iamapikey", OUR_KEY[:-1], None),
        ("IAMAPIKEY", OUR_KEY, None),  # the username is matched exactly
        ("iambearer", OUR_KEY, None),
        ("iamrefresh", OUR_KEY, None),
        ("token", OUR_KEY, None),
    ],
)
async def test_authenticate(username: str, password: str, iam_id: str | None) -> None:
    caller = await make_authorizer().authenticate(username, password)
    assert (caller.username if caller is not None else None) == iam_id
    if caller is not None:
        assert caller.kind == "iamapikey"
        assert password not in repr(caller)


@pytest.mark.parametrize(
    ("key", "scope", "granted"),
    [
        (OUR_KEY, "repository:ours/app:pull,push", {"pull", "push"}),
        (OUR_KEY, "repository:ours/app:pull", {"pull"}),
        (OUR_KEY, "repository:ours/team/app_arm64:push", {"push"}),
        (OUR_KEY, "repository:ours/app:pull,push,delete,*", {"pull", "push"}),
        (OUR_KEY, "repository:ours/app:delete", set()),
        (OUR_KEY, "repository:theirs/app:pull,push", set()),  # another account's namespace
        (OUR_KEY, "repository:missing/app:pull,push", set()),  # nobody created it
        (OUR_KEY, "repository:ours:pull", set()),  # no repository below the namespace
        (OUR_KEY, "registry:catalog:*", set()),
        (THEIR_KEY, "repository:theirs/app:pull,push", {"pull", "push"}),
        (THEIR_KEY, "repository:ours/app:pull", set()),
    ],
)
async def test_allowed_actions(key: str, scope: str, granted: set[str]) -> None:
    authorizer = make_authorizer()
    caller = await authorizer.authenticate("iamapikey", key)
    assert caller is not None
    assert await authorizer.allowed_actions(caller, Scope.parse(scope)) == granted


async def test_callers_of_other_authorizers_get_nothing() -> None:
    stranger = Caller(username=OURS.iam_id, credential=OUR_KEY, kind="kubernetes")
    assert await make_authorizer().allowed_actions(stranger, Scope.parse("repository:ours/app:pull")) == frozenset()


def test_realm_url() -> None:
    assert icr_token_realm(8443) == "https://127.0.0.1:8443/oauth/token"


# --- over HTTP, on the IBM Cloud emulator's app ----------------------------------------------------------


@dataclass
class TokenEndpoint:
    url: str
    signing_cert: x509.Certificate

    def get(self, scopes: list[str], auth: tuple[str, str] | None, **kwargs: Any) -> requests.Response:
        params = {"service": ICR_SERVICE, "scope": scopes}
        return requests.get(f"{self.url}/oauth/token", params=params, auth=auth, timeout=10, **kwargs)

    def claims(self, response: requests.Response) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        public_key = self.signing_cert.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        return jwt.verify(response.json()["token"], public_key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPKI:
    return ensure_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def endpoint(pki: SandboxPKI) -> Iterator[TokenEndpoint]:
    app = create_app(IbmCloudConfig(api_keys=KEYS, namespaces={"theirs": THEIRS.account_id}))
    authorizer = IcrApiKeyAuthorizer(app[IAM_TOKENS].identity_for_api_key, app[REGISTRY_API].namespace_owner)
    add_icr_token_endpoint(app, authorizer, TokenSigner.from_files(pki.token_signing_key, pki.token_signing_cert))
    server = BackgroundServer(app, ssl_context=None).start()
    iam = requests.post(
        f"{server.url}/identity/token",
        data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": OUR_KEY},
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {iam}", "Account": OURS.account_id}
    assert requests.put(f"{server.url}/api/v1/namespaces/ours", headers=headers, timeout=10).status_code == 201
    try:
        yield TokenEndpoint(server.url, x509.load_pem_x509_certificate(pki.token_signing_cert.read_bytes()))
    finally:
        server.stop()


def test_grants_only_the_callers_namespaces(endpoint: TokenEndpoint) -> None:
    scopes = ["repository:ours/app:pull,push", "repository:theirs/app:pull,push repository:missing/x:pull"]
    claims = endpoint.claims(endpoint.get(scopes, ("iamapikey", OUR_KEY)))
    assert claims["access"] == [{"type": "repository", "name": "ours/app", "actions": ["pull", "push"]}]
    assert (claims["iss"], claims["aud"], claims["sub"]) == (ICR_ISSUER, ICR_SERVICE, OURS.iam_id)
    assert claims["exp"] > claims["iat"]


def test_the_owner_of_a_preexisting_namespace_may_push(endpoint: TokenEndpoint) -> None:
    claims = endpoint.claims(endpoint.get(["repository:theirs/app:push"], ("iamapikey", THEIR_KEY)))
    assert claims["access"] == [{"type": "repository", "name": "theirs/app", "actions": ["push"]}]


def test_anonymous_requests_get_no_access(endpoint: TokenEndpoint) -> None:
    claims = endpoint.claims(endpoint.get(["repository:ours/app:pull"], None))
    assert (claims["sub"], claims["access"]) == ("anonymous", [])


@pytest.mark.parametrize(
    "auth",
    [("iamapikey", "wrong-key"), ("iambearer", OUR_KEY), ("someone", OUR_KEY), ("iamapikey", THEIR_KEY + "x")],
)
def test_bad_credentials_get_401(endpoint: TokenEndpoint, auth: tuple[str, str]) -> None:
    response = endpoint.get(["repository:ours/app:pull"], auth)
    assert response.status_code == 401
    assert auth[1] not in response.text


def test_a_bearer_header_is_not_a_login(endpoint: TokenEndpoint) -> None:
    headers = {"Authorization": f"Bearer {OUR_KEY}"}
    assert endpoint.get(["repository:ours/app:pull"], None, headers=headers).status_code == 401


def test_the_token_endpoint_lives_at_oauth_token(endpoint: TokenEndpoint) -> None:
    basic = base64.b64encode(f"iamapikey:{OUR_KEY}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}"}
    assert requests.get(f"{endpoint.url}/token", headers=headers, timeout=10).status_code == 404
    ok = requests.get(f"{endpoint.url}/oauth/token", headers=headers, timeout=10)
    assert ok.status_code == 200
    assert json.loads(ok.text)["expires_in"] > 0
