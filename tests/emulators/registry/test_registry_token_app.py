"""The token endpoint on its own (no registry): request handling and the reviews it asks for."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from registry_harness import ISSUER, SERVICE, STATIC_ROBOT, FakeReviewApi

from horizon_publisher.sandbox.pki import SandboxPKI
from horizon_publisher.sandbox.registry import free_port
from horizon_publisher.sandbox.registry_auth import (
    BackgroundServer,
    KubeReviewAuthorizer,
    RegistryAuthorizer,
    TokenSigner,
    create_token_app,
    server_ssl_context,
)
from horizon_publisher.sandbox.registry_static_auth import StaticCredentialAuthorizer


def claims_of(response: requests.Response) -> Any:
    part = response.json()["token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class TokenEndpoint:
    def __init__(self, pki: SandboxPKI, authorizer: RegistryAuthorizer, *, openshift_names: bool = True) -> None:
        signer = TokenSigner.from_files(pki.token_signing_key, pki.token_signing_cert)
        app = create_token_app(authorizer, signer, SERVICE, ISSUER, openshift_names=openshift_names)
        self.server = BackgroundServer(app, ssl_context=server_ssl_context(pki.router_cert, pki.router_key))
        self.ca = str(pki.ca_cert)

    def get(self, scope: str | None, auth: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
        params = {"service": SERVICE, **({"scope": scope} if scope else {})}
        return requests.get(
            self.server.url + "/openshift/token", params=params, auth=auth, headers=headers, verify=self.ca, timeout=10
        )


@pytest.fixture
def endpoint(pki: SandboxPKI, fake_kube: tuple[FakeReviewApi, str], tmp_path: Path) -> Iterator[TokenEndpoint]:
    authorizer = KubeReviewAuthorizer(fake_kube[1], pki.ca_cert, storage_root=tmp_path, cache_seconds=0)
    token_endpoint = TokenEndpoint(pki, authorizer)
    with token_endpoint.server:
        yield token_endpoint


def test_username_is_ignored(endpoint: TokenEndpoint) -> None:
    subjects = {
        claims_of(endpoint.get(None, auth=(user, "pusher-token")))["sub"] for user in ("alice", "bob", "<token>")
    }
    assert subjects == {"system:serviceaccount:demo:pusher"}


def test_anonymous_token_has_no_access(endpoint: TokenEndpoint) -> None:
    response = endpoint.get("repository:demo/web:pull")
    assert response.status_code == 200
    assert claims_of(response)["sub"] == "anonymous"
    assert claims_of(response)["access"] == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer pusher-token"},  # only Basic is read, as OpenShift
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"user:").decode()},  # empty password
    ],
)
def test_unusable_authorization_is_401(endpoint: TokenEndpoint, headers: dict[str, str]) -> None:
    assert endpoint.get("repository:demo/web:pull", headers=headers).status_code == 401


def test_malformed_scope_is_400(endpoint: TokenEndpoint) -> None:
    response = endpoint.get("repository-without-colons", auth=("u", "pusher-token"))
    assert response.status_code == 400
    assert "malformed scope" in response.json()["details"]


def test_reviews_match_openshift(endpoint: TokenEndpoint, fake_kube: tuple[FakeReviewApi, str]) -> None:
    kube = fake_kube[0]
    before = kube.calls.copy()
    response = endpoint.get("repository:demo/web:pull,push", auth=("u", "pusher-token"))
    assert claims_of(response)["access"] == [{"type": "repository", "name": "demo/web", "actions": ["pull", "push"]}]
    catalog = endpoint.get("registry:catalog:*", auth=("u", "pusher-token"))
    assert claims_of(catalog)["access"] == []
    asked = kube.calls - before
    assert asked["selfsubjectreviews"] == 2
    # The repository does not exist in storage: push also needs "create imagestreams".
    assert {key for key in asked if key.startswith("ssar:")} == {
        "ssar:('get', 'imagestreams/layers', 'demo')",
        "ssar:('update', 'imagestreams/layers', 'demo')",
        "ssar:('create', 'imagestreams', 'demo')",
        "ssar:('list', 'imagestreams', '')",
    }


def test_existing_repository_skips_the_create_review(
    endpoint: TokenEndpoint, fake_kube: tuple[FakeReviewApi, str], tmp_path: Path
) -> None:
    (tmp_path / "docker/registry/v2/repositories/demo/web").mkdir(parents=True)
    before = fake_kube[0].calls.copy()
    response = endpoint.get("repository:demo/web:push", auth=("u", "updater-token"))
    assert claims_of(response)["access"] == [{"type": "repository", "name": "demo/web", "actions": ["push"]}]
    assert "ssar:('create', 'imagestreams', 'demo')" not in fake_kube[0].calls - before


def test_unreachable_api_server_is_401_unable_to_validate(pki: SandboxPKI) -> None:
    authorizer = KubeReviewAuthorizer(f"https://127.0.0.1:{free_port()}", pki.ca_cert, timeout=2)
    with TokenEndpoint(pki, authorizer).server as server:
        response = requests.get(
            server.url + "/openshift/token", auth=("u", "pusher-token"), verify=str(pki.ca_cert), timeout=10
        )
    assert response.status_code == 401
    assert response.json() == {"details": "unable to validate token"}


@pytest.mark.parametrize(("openshift_names", "status"), [(True, 401), (False, 200)])
def test_generic_flavour_lifts_the_name_rule(pki: SandboxPKI, openshift_names: bool, status: int) -> None:
    endpoint = TokenEndpoint(pki, StaticCredentialAuthorizer([STATIC_ROBOT]), openshift_names=openshift_names)
    with endpoint.server:
        response = endpoint.get("repository:generic/deep/tool:pull", auth=("robot", "robot-password"))
    assert response.status_code == status
    if status == 200:
        assert claims_of(response)["access"][0]["actions"] == ["pull"]
