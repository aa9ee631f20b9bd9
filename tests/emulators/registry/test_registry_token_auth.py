"""The real docker-registry behind the OpenShift-like /openshift/token endpoint."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from cryptography import x509
from registry_harness import ISSUER, SERVICE, SandboxRegistry

from horizon_publisher.sandbox.images import (
    DOCKER_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    RegistryClient,
    RegistryError,
    push_image,
    push_index,
    resolve_digest,
)
from horizon_publisher.sandbox.registry_auth import TokenSigner, libtrust_key_id, registry_token_claims

Creds = tuple[str, str] | None
PUSHER = ("ignored-user", "pusher-token")
PULLER = ("someone", "puller-token")
UPDATER = ("x", "updater-token")
ADMIN = ("kubeadmin", "admin-token")
ROBOT = ("robot", "robot-password")
OpenClient = Callable[[Creds], RegistryClient]


def push(registry: SandboxRegistry, repository: str, tag: str, credentials: Creds) -> str:
    return push_image(registry.url, repository, tag, credentials=credentials, verify=registry.ca)


def resolve(registry: SandboxRegistry, repository: str, reference: str, credentials: Creds) -> str:
    return resolve_digest(registry.url, repository, reference, credentials=credentials, verify=registry.ca)


def ask_token(registry: SandboxRegistry, scope: str, credentials: Creds) -> requests.Response:
    return requests.get(
        registry.token_url,
        params={"service": SERVICE, "scope": scope},
        auth=credentials,
        verify=registry.ca,
        timeout=10,
    )


def jwt_part(token: str, index: int) -> Any:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def open_client(token_registry: SandboxRegistry) -> Iterator[OpenClient]:
    """Registry clients for the test, closed at its end."""
    clients: list[RegistryClient] = []

    def make(credentials: Creds) -> RegistryClient:
        clients.append(RegistryClient(token_registry.url, credentials=credentials, verify=token_registry.ca))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_push_then_pull_with_kubernetes_tokens(token_registry: SandboxRegistry, open_client: OpenClient) -> None:
    digest = push(token_registry, "demo/web", "v1", PUSHER)

    client = open_client(PULLER)
    assert client.resolve_digest("demo/web", "v1") == digest
    scope = "repository:demo/web:pull"
    manifest = client.request("GET", "/v2/demo/web/manifests/v1", scope=scope, headers={"Accept": OCI_MANIFEST})
    assert manifest.status_code == 200
    assert sha256(manifest.content) == digest
    layer = json.loads(manifest.content)["layers"][0]["digest"]
    blob = client.request("GET", f"/v2/demo/web/blobs/{layer}", scope=scope)
    assert blob.status_code == 200
    assert sha256(blob.content) == layer


def test_puller_cannot_push(token_registry: SandboxRegistry) -> None:
    with pytest.raises(RegistryError) as caught:
        push(token_registry, "demo/pull-only", "v1", PULLER)
    assert caught.value.status == 401


@pytest.mark.parametrize("credentials", [None, ("anyone", "not-a-kubernetes-token")], ids=["anonymous", "bad"])
def test_anonymous_and_bad_tokens_cannot_pull_or_push(token_registry: SandboxRegistry, credentials: Creds) -> None:
    push(token_registry, "demo/private", "v1", PUSHER)
    with pytest.raises(RegistryError) as pull:
        resolve(token_registry, "demo/private", "v1", credentials)
    with pytest.raises(RegistryError) as push_error:
        push(token_registry, "demo/private", "v2", credentials)
    assert pull.value.status == push_error.value.status == 401


@pytest.mark.parametrize(
    ("credentials", "status", "granted"),
    [
        (None, 200, None),  # anonymous: a token with no access at all
        (("u", "pusher-token"), 200, ["pull", "push"]),
        (("u", "puller-token"), 200, ["pull"]),
        (("u", "wrong-token"), 401, None),
    ],
)
def test_token_endpoint_answers(
    token_registry: SandboxRegistry, credentials: Creds, status: int, granted: list[str] | None
) -> None:
    response = ask_token(token_registry, "repository:demo/web:pull,push", credentials)
    assert response.status_code == status
    if status != 200:
        return
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert body["issued_at"].endswith("+00:00")
    claims = jwt_part(body["token"], 1)
    assert (claims["aud"], claims["iss"]) == (SERVICE, ISSUER)
    assert claims["exp"] - claims["iat"] == 300
    assert [entry["actions"] for entry in claims["access"]] == ([granted] if granted else [])


@pytest.mark.parametrize("repository", ["demo/web/extra", "toplevel", "Demo/web"])
def test_repository_names_must_be_project_slash_name(token_registry: SandboxRegistry, repository: str) -> None:
    response = ask_token(token_registry, f"repository:{repository}:pull,push", PUSHER)
    assert response.status_code == 401
    assert "<project>/<name>" in response.json()["details"]
    with pytest.raises(RegistryError) as caught:
        push(token_registry, repository, "v1", ADMIN)
    assert caught.value.status == 401


@pytest.mark.parametrize(("credentials", "status"), [(PUSHER, 401), (PULLER, 401), (ADMIN, 200)])
def test_catalog_needs_cluster_wide_list(
    token_registry: SandboxRegistry, open_client: OpenClient, credentials: Creds, status: int
) -> None:
    push(token_registry, "demo/listed", "v1", PUSHER)
    client = open_client(credentials)
    response = client.request("GET", "/v2/_catalog", scope="registry:catalog:*")
    assert response.status_code == status
    if status == 200:
        assert "demo/listed" in response.json()["repositories"]


def test_new_repository_needs_create_imagestreams(token_registry: SandboxRegistry) -> None:
    with pytest.raises(RegistryError):
        push(token_registry, "demo/fresh", "v1", UPDATER)
    push(token_registry, "demo/fresh", "v1", PUSHER)
    # Once the repository exists, "update imagestreams/layers" is enough.
    digest = push(token_registry, "demo/fresh", "v2", UPDATER)
    assert resolve(token_registry, "demo/fresh", "v2", PULLER) == digest


def test_static_credentials_for_the_generic_flavour(token_registry: SandboxRegistry) -> None:
    digest = push(token_registry, "generic/tool", "v1", ROBOT)
    assert resolve(token_registry, "generic/tool", "v1", ROBOT) == digest
    with pytest.raises(RegistryError):  # outside its repository pattern
        push(token_registry, "demo/robot", "v1", ROBOT)
    with pytest.raises(RegistryError):  # a wrong password is neither a static login nor a Kubernetes token
        push(token_registry, "generic/tool", "v2", ("robot", "nope"))


@pytest.mark.parametrize("mode", ["kid", "x5c"])
@pytest.mark.parametrize(("expired", "status"), [(False, 200), (True, 401)], ids=["valid", "expired"])
def test_registry_checks_token_signature_and_expiry(
    token_registry: SandboxRegistry, mode: str, expired: bool, status: int
) -> None:
    push(token_registry, "demo/expiry", "v1", PUSHER)
    pki = token_registry.pki
    signer = TokenSigner.from_files(
        pki.token_signing_key, pki.token_signing_cert, mode="kid" if mode == "kid" else "x5c"
    )
    claims = registry_token_claims(
        issuer=ISSUER,
        service=SERVICE,
        subject="tester",
        access=[{"type": "repository", "name": "demo/expiry", "actions": ["pull"]}],
        # Expired 600 s ago: well beyond the registry's 60 s leeway.
        now=time.time() - (1200 if expired else 0),
        ttl=600,
    )
    response = requests.get(
        f"{token_registry.url}/v2/demo/expiry/tags/list",
        headers={"Authorization": f"Bearer {signer.sign(claims)}"},
        verify=token_registry.ca,
        timeout=10,
    )
    assert response.status_code == status


def test_kid_is_the_libtrust_key_id(token_registry: SandboxRegistry) -> None:
    pki = token_registry.pki
    key_id = jwt_part(TokenSigner.from_files(pki.token_signing_key, pki.token_signing_cert).sign({}), 0)["kid"]
    assert re.fullmatch(r"[A-Z2-7]{4}(:[A-Z2-7]{4}){11}", key_id)
    cert = x509.load_pem_x509_certificate(pki.token_signing_cert.read_bytes())
    assert key_id == libtrust_key_id(cert.public_key())


def _platform_key(platform: dict[str, str]) -> str:
    variant = platform.get("variant")
    return platform["architecture"] + (f"/{variant}" if variant else "")


@pytest.mark.parametrize(("media", "index_type"), [("oci", OCI_INDEX), ("docker", DOCKER_LIST)])
def test_index_digests_match_the_registry(
    token_registry: SandboxRegistry, open_client: OpenClient, media: Any, index_type: str
) -> None:
    tag = f"v1-{media}"
    pushed = push_index(
        token_registry.url,
        "demo/multi",
        tag,
        arches=("amd64", "arm64", "arm/v7"),
        credentials=PUSHER,
        verify=token_registry.ca,
        media=media,
    )
    assert len(set(pushed.per_arch.values())) == 3
    client = open_client(PULLER)
    assert client.resolve_digest("demo/multi", tag) == pushed.index
    for digest in pushed.per_arch.values():
        assert client.resolve_digest("demo/multi", digest) == digest
    index = client.request(
        "GET",
        f"/v2/demo/multi/manifests/{pushed.index}",
        scope="repository:demo/multi:pull",
        headers={"Accept": index_type},
    )
    assert index.headers["Content-Type"] == index_type
    assert sha256(index.content) == pushed.index
    listed = {_platform_key(m["platform"]): m["digest"] for m in index.json()["manifests"]}
    assert listed == pushed.per_arch


def test_review_answers_are_cached(token_registry: SandboxRegistry) -> None:
    before = token_registry.kube.calls["selfsubjectreviews"]
    for _ in range(3):
        assert ask_token(token_registry, "repository:demo/cached:pull", PULLER).status_code == 200
    assert token_registry.kube.calls["selfsubjectreviews"] - before <= 1
