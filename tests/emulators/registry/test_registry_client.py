"""The operator's registry client against real docker-registry processes (token, htpasswd and anonymous).

Images are pushed with the sandbox push helpers; the client must read back exactly the digests the
pushes returned, map failures to condition reasons, and never show a credential.
"""

from __future__ import annotations

import logging
import socket
import threading
import traceback
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certifi
import pytest
import requests
import urllib3
from aiohttp import web
from registry_harness import APPS_DOMAIN, ISSUER, SERVICE, FakeReviewApi, SandboxRegistry
from tests.e2e.conftest import Sandbox, start_sandbox

from horizon_publisher.clients.connect_to import ENV_VAR, parse_connect_to_list, session_with_connect_to
from horizon_publisher.clients.registry import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    RegistryClient,
    RegistryEndpoint,
    RegistryError,
)
from horizon_publisher.sandbox import manager
from horizon_publisher.sandbox.images import Media, push_image, push_index
from horizon_publisher.sandbox.pki import SandboxPKI, ensure_pki
from horizon_publisher.sandbox.registry import RegistryProcess, free_port, start_registry, stop_process
from horizon_publisher.sandbox.registry_auth import (
    BackgroundServer,
    KubeReviewAuthorizer,
    TokenSigner,
    create_token_app,
    server_ssl_context,
)

PUSHER = ("ignored-user", "pusher-token")
PULLER = ("someone", "puller-token")
BASIC_USER, BASIC_PASSWORD = "tester", "s3cret-basic"
TOKEN_HOST = f"token.{APPS_DOMAIN}"  # resolvable only through the connect-to mapping
ARCHES = ("amd64", "arm64", "arm/v7")
MEDIA: tuple[Media, ...] = ("oci", "docker")
SINGLE_TYPE = {"oci": OCI_MANIFEST, "docker": DOCKER_MANIFEST}
INDEX_TYPE = {"oci": OCI_INDEX, "docker": DOCKER_LIST}


def endpoint(url: str, ca: str | None, credentials: tuple[str, str] | None = None, **extra: bool) -> RegistryEndpoint:
    user, password = credentials or (None, None)
    return RegistryEndpoint(
        url.removeprefix("https://"),
        ca_pem=Path(ca).read_text() if ca else None,
        username=user,
        password=password,
        **extra,
    )


def head(
    url: str, ca: str | None, repository: str, reference: str, credentials: tuple[str, str] | None = None
) -> Manifest:
    with RegistryClient(endpoint(url, ca, credentials), timeout=(2.0, 10.0)) as client:
        return client.head_manifest(repository, reference)


def failure(call: Callable[[], object]) -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        call()
    return caught.value


# --- the OpenShift-like token registry of conftest.py --------------------------------------------------


@pytest.mark.parametrize("media", MEDIA)
def test_single_manifest_digest_equals_the_push(token_registry: SandboxRegistry, media: Media) -> None:
    reg = token_registry
    pushed = push_image(reg.url, "demo/client-single", media, credentials=PUSHER, verify=reg.ca, media=media)
    manifest = head(reg.url, reg.ca, "demo/client-single", media, PULLER)
    assert manifest == Manifest(pushed, SINGLE_TYPE[media], {})
    assert head(reg.url, reg.ca, "demo/client-single", pushed, PULLER).digest == pushed  # by digest


@pytest.mark.parametrize("media", MEDIA)
def test_index_digest_and_platform_digests(token_registry: SandboxRegistry, media: Media) -> None:
    reg = token_registry
    pushed = push_index(
        reg.url, "demo/client-multi", media, arches=ARCHES, credentials=PUSHER, verify=reg.ca, media=media
    )
    manifest = head(reg.url, reg.ca, "demo/client-multi", media, PULLER)
    assert manifest.digest == pushed.index
    assert manifest.media_type == INDEX_TYPE[media]
    assert manifest.platforms == pushed.per_arch
    assert manifest.digest_for_arch("arm", "ref") == pushed.per_arch["arm/v7"]
    # A platform digest resolves to a single manifest of its own.
    assert head(reg.url, reg.ca, "demo/client-multi", pushed.per_arch["arm64"], PULLER).platforms == {}


def test_not_pushed_yet(token_registry: SandboxRegistry) -> None:
    reg = token_registry
    error = failure(lambda: head(reg.url, reg.ca, "demo/client-absent_amd64", "1.0", PULLER))
    host = reg.url.removeprefix("https://")
    assert (error.reason, error.status) == ("ImageNotFound", 404)
    assert error.message == f"{host}/demo/client-absent_amd64:1.0 not found in the registry (not pushed yet?)"


@pytest.mark.parametrize(
    ("credentials", "reason", "text"),
    [
        (None, "Unauthorized", "requires credentials"),  # anonymous tokens carry no access
        (PULLER, "Forbidden", "may not pull"),  # a token, but no pull right in project "other"
        (("x", "not-a-kubernetes-token"), "Unauthorized", "refused the credentials"),  # at the token endpoint
    ],
)
def test_refusals(token_registry: SandboxRegistry, credentials: tuple[str, str] | None, reason: str, text: str) -> None:
    reg = token_registry
    error = failure(lambda: head(reg.url, reg.ca, "other/client-image", "1.0", credentials))
    assert error.reason == reason
    assert text in error.message
    assert "other/client-image:1.0" in error.message


def test_secrets_appear_in_no_error_and_no_log(
    token_registry: SandboxRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    reg = token_registry
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's included
    secret = "RECOGNIZABLE-PASSWORD-7f3c9"
    wrong = failure(lambda: head(reg.url, reg.ca, "demo/client-single", "oci", ("user", secret)))
    assert wrong.reason == "Unauthorized"
    # A successful token flow: neither the password nor the issued token may be logged.
    issued: list[str] = []
    session = requests.Session()
    session.hooks["response"].append(
        lambda r, *_, **__: issued.append(r.json()["token"]) if "/openshift/token" in r.url else None
    )
    with RegistryClient(endpoint(reg.url, reg.ca, PULLER), session=session) as client:
        missing = failure(lambda: client.head_manifest("demo/client-never", "1"))
    assert missing.reason == "ImageNotFound"
    assert issued
    texts = [caplog.text, *(r.getMessage() for r in caplog.records)]
    for error in (wrong, missing):
        texts += ["".join(traceback.format_exception(error)), repr(error), repr(error.__cause__)]
    for text in texts:
        for hidden in (secret, PULLER[1], *issued):
            assert hidden not in text
    assert any("HEAD https://" in r.getMessage() for r in caplog.records)  # the client does log its requests


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(ensure_pki(tmp_path_factory.mktemp("other-pki"), apps_domain=APPS_DOMAIN).ca_cert)


def test_tls_trust(token_registry: SandboxRegistry, other_ca: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = token_registry
    # The environment's bundle must neither replace the configured CA nor be replaced by it.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    pushed = push_image(reg.url, "demo/client-tls", "1", credentials=PUSHER, verify=reg.ca)
    assert head(reg.url, reg.ca, "demo/client-tls", "1", PULLER).digest == pushed

    wrong = failure(lambda: head(reg.url, other_ca, "demo/client-tls", "1", PULLER))
    assert wrong.reason == "TLSError"
    assert "certificate not trusted by the configured CA (the CA bundle configured" in wrong.message
    system = failure(lambda: head(reg.url, None, "demo/client-tls", "1", PULLER))
    assert system.reason == "TLSError"
    assert "(the system trust store)" in system.message

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        insecure = endpoint(reg.url, None, PULLER, insecure_skip_verify=True)
        with RegistryClient(insecure) as client:
            assert client.head_manifest("demo/client-tls", "1").digest == pushed


def test_registry_down_or_silent() -> None:
    port = free_port()
    down = failure(lambda: head(f"https://127.0.0.1:{port}", None, "demo/x", "1"))
    assert down.reason == "RegistryUnreachable"
    assert down.message == f"cannot reach the registry 127.0.0.1:{port}: connection failed"
    with socket.socket() as silent:  # accepts connections (backlog) but never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        with RegistryClient(RegistryEndpoint(host), timeout=(0.5, 0.5)) as client:
            hung = failure(lambda: client.head_manifest("demo/x", "1"))
    assert hung.reason == "RegistryUnreachable"
    assert hung.message.endswith("timed out")


def test_threads_share_one_client(token_registry: SandboxRegistry) -> None:
    reg = token_registry
    pushed = push_image(reg.url, "demo/client-threads", "1", credentials=PUSHER, verify=reg.ca)
    results: list[str] = []
    with RegistryClient(endpoint(reg.url, reg.ca, PULLER)) as client:
        threads = [
            threading.Thread(target=lambda: results.append(client.head_manifest("demo/client-threads", "1").digest))
            for _ in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert results == [pushed] * 6


# --- htpasswd (Basic) and anonymous registries -----------------------------------------------------------


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory, pki: SandboxPKI) -> Iterator[RegistryProcess]:
    process = start_registry(
        tmp_path_factory.mktemp("basic"), pki, auth="htpasswd", htpasswd_users={BASIC_USER: BASIC_PASSWORD}
    )
    try:
        yield process
    finally:
        stop_process(process.pid)


@pytest.fixture(scope="module")
def anonymous_registry(tmp_path_factory: pytest.TempPathFactory, pki: SandboxPKI) -> Iterator[RegistryProcess]:
    process = start_registry(tmp_path_factory.mktemp("anonymous"), pki, auth="none")
    try:
        yield process
    finally:
        stop_process(process.pid)


def test_basic_auth(basic_registry: RegistryProcess, pki: SandboxPKI, caplog: pytest.LogCaptureFixture) -> None:
    url, ca = basic_registry.url, str(pki.ca_cert)
    pushed = push_index(url, "team/basic", "1", credentials=(BASIC_USER, BASIC_PASSWORD), verify=ca)
    sent: list[str] = []
    session = requests.Session()
    session.hooks["response"].append(lambda r, *_, **__: sent.append(f"{r.request.method} {r.status_code}"))
    with RegistryClient(endpoint(url, ca, (BASIC_USER, BASIC_PASSWORD)), session=session) as client:
        first = client.head_manifest("team/basic", "1")
        assert sent == ["HEAD 401", "HEAD 200", "GET 200"]
        assert client.head_manifest("team/basic", pushed.per_arch["amd64"]).digest == pushed.per_arch["amd64"]
        assert sent[3:] == ["HEAD 200"]  # Basic is sent up front once the registry asked for it
    assert (first.digest, first.platforms) == (pushed.index, pushed.per_arch)

    caplog.set_level(logging.DEBUG)
    secret = "RECOGNIZABLE-BASIC-PW"
    wrong = failure(lambda: head(url, ca, "team/basic", "1", (BASIC_USER, secret)))
    assert (wrong.reason, wrong.status) == ("Unauthorized", 401)
    assert "refused the configured credentials" in wrong.message
    assert secret not in caplog.text + "".join(traceback.format_exception(wrong))
    anonymous = failure(lambda: head(url, ca, "team/basic", "1"))
    assert (anonymous.reason, anonymous.message.split(" (")[-1]) == ("Unauthorized", "none are configured)")


def test_anonymous_registry(anonymous_registry: RegistryProcess, pki: SandboxPKI) -> None:
    url, ca = anonymous_registry.url, str(pki.ca_cert)
    single = push_image(url, "open/single", "v2s2", verify=ca, media="docker")
    index = push_index(url, "open/multi", "1", verify=ca, media="docker")
    assert head(url, ca, "open/single", "v2s2") == Manifest(single, DOCKER_MANIFEST, {})
    assert head(url, ca, "open/multi", "1") == Manifest(index.index, DOCKER_LIST, index.per_arch)
    assert failure(lambda: head(url, ca, "open/multi", "2")).reason == "ImageNotFound"


# --- the route host and a token realm on another host, both through HORIZON_PUBLISHER_CONNECT_TO ----------


@dataclass(frozen=True)
class RoutedRegistry:
    process: RegistryProcess
    connect_to: str
    token_calls: Counter[str]


@pytest.fixture(scope="module")
def routed_registry(
    tmp_path_factory: pytest.TempPathFactory, pki: SandboxPKI, fake_kube: tuple[FakeReviewApi, str]
) -> Iterator[RoutedRegistry]:
    """A token registry whose realm is https://token.<apps domain>/openshift/token (port 443, mapped)."""
    state = tmp_path_factory.mktemp("routed")
    calls: Counter[str] = Counter()

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        calls[request.path] += 1
        return await handler(request)

    authorizer = KubeReviewAuthorizer(fake_kube[1], pki.ca_cert, storage_root=state / "storage", cache_seconds=5.0)
    signer = TokenSigner.from_files(pki.token_signing_key, pki.token_signing_cert, mode="kid")
    app = create_token_app(authorizer, signer, SERVICE, ISSUER)
    app.middlewares.append(count)
    with BackgroundServer(app, ssl_context=server_ssl_context(pki.router_cert, pki.router_key)) as token_server:
        realm = f"https://{TOKEN_HOST}/openshift/token"
        process = start_registry(state, pki, auth="token", token_realm=realm, service=SERVICE, issuer=ISSUER)
        try:
            connect_to = (
                f"{pki.registry_host}:443:127.0.0.1:{process.port},{TOKEN_HOST}:443:127.0.0.1:{token_server.port}"
            )
            yield RoutedRegistry(process, connect_to, calls)
        finally:
            stop_process(process.pid)


def test_route_host_token_realm_and_token_cache(
    routed_registry: RoutedRegistry, pki: SandboxPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = session_with_connect_to(parse_connect_to_list(routed_registry.connect_to))
    base, ca = f"https://{pki.registry_host}", str(pki.ca_cert)
    pushed = push_image(base, "demo/routed", "1", credentials=PUSHER, verify=ca, session=session)
    push_image(base, "demo/routed-too", "1", credentials=PUSHER, verify=ca, session=session)
    session.close()

    monkeypatch.setenv(ENV_VAR, routed_registry.connect_to)
    calls = routed_registry.token_calls
    calls.clear()
    now = [0.0]
    with RegistryClient(endpoint(base, ca, PULLER), clock=lambda: now[0]) as client:
        assert client.head_manifest("demo/routed", "1").digest == pushed
        assert client.head_manifest("demo/routed", "1").digest == pushed
        assert calls["/openshift/token"] == 1  # cached per scope
        client.head_manifest("demo/routed-too", "1")
        assert calls["/openshift/token"] == 2  # another repository, another scope
        now[0] = 224.0  # the sandbox's tokens live 300 s; reused for 300 - 30 s
        client.head_manifest("demo/routed", "1")
        assert calls["/openshift/token"] == 2
        now[0] = 271.0
        client.head_manifest("demo/routed", "1")
        assert calls["/openshift/token"] == 3

    monkeypatch.delenv(ENV_VAR)  # without the mapping the route host does not resolve
    assert failure(lambda: head(base, ca, "demo/routed", "1", PULLER)).reason == "RegistryUnreachable"


# --- the full sandbox: a real ServiceAccount token, decided by the emulator's RBAC --------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state_dir = tmp_path_factory.mktemp("client-sandbox")
    try:
        yield start_sandbox(state_dir)
    finally:
        manager.down(state_dir, out=lambda _: None)


def _service_account_token(sandbox: Sandbox, project: str, account: str, role: str | None) -> str:
    from kubernetes import client

    core = sandbox.core()
    core.create_namespaced_service_account(project, {"metadata": {"name": account}})
    if role is not None:
        binding: Any = {
            "metadata": {"name": f"{account}-{role}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": project}],
        }
        client.RbacAuthorizationV1Api(sandbox.api_client()).create_namespaced_role_binding(project, binding)
    answer = core.create_namespaced_service_account_token(account, project, {"spec": {"expirationSeconds": 600}})
    token: str = answer.status.token
    return token


@pytest.mark.e2e
def test_full_sandbox_with_a_service_account_token(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    project = "client-images"
    sandbox.custom_objects().create_cluster_custom_object(
        "project.openshift.io",
        "v1",
        "projectrequests",
        {"apiVersion": "project.openshift.io/v1", "kind": "ProjectRequest", "metadata": {"name": project}},
    )
    token = _service_account_token(sandbox, project, "publisher", "edit")
    registry = sandbox.endpoints["registry"]
    host, ca = registry["host"], registry["caFile"]
    with session_with_connect_to(parse_connect_to_list(registry["connectTo"])) as session:
        pushed = push_index(
            f"https://{host}", f"{project}/hello", "1.0", credentials=("x", token), verify=ca, session=session
        )

    monkeypatch.setenv(ENV_VAR, registry["connectTo"])
    # The operator's way: route host, the ingress CA as PEM, the token as password and no user name.
    with RegistryClient(RegistryEndpoint(host, ca_pem=Path(ca).read_text(), password=token)) as client:
        manifest = client.head_manifest(f"{project}/hello", "1.0")
        missing = failure(lambda: client.head_manifest(f"{project}/hello_arm64", "1.0"))
    assert (manifest.digest, manifest.platforms) == (pushed.index, pushed.per_arch)
    assert missing.message == f"{host}/{project}/hello_arm64:1.0 not found in the registry (not pushed yet?)"

    outsider = _service_account_token(sandbox, "default", "outsider", None)
    refused = failure(lambda: head(f"https://{host}", ca, f"{project}/hello", "1.0", ("x", outsider)))
    assert refused.reason == "Forbidden"
