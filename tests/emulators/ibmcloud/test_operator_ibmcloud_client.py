"""The operator's IBM Cloud client and provider steps against the IAM + Container Registry emulator."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from tests.emulators.ibmcloud.conftest import ALICE, ALICE_KEY, BOB, IbmCloud

from horizon_publisher.clients.ibmcloud import IbmCloud as IbmCloudClient
from horizon_publisher.clients.ibmcloud import IbmCloudEndpoints, IbmCloudError
from horizon_publisher.clients.kube import SECRETS, Resource
from horizon_publisher.clients.registry import RegistryEndpoint, RegistryError
from horizon_publisher.desired.kube_objects import Owner
from horizon_publisher.reconcile.ibmcloud_image import run_ibmcloud
from horizon_publisher.reconcile.openshift_image import Context
from horizon_publisher.reconcile.steps import Progress, StepResult, ok
from horizon_publisher.sandbox.ibmcloud import ImageRow

OTHER_NAMESPACE = "bobs-space"


def client_for(emulator: IbmCloud) -> tuple[IbmCloudClient, IbmCloudEndpoints]:
    return IbmCloudClient(clock=emulator.clock), IbmCloudEndpoints(emulator.url, emulator.url)


@pytest.fixture
def emulator(ibmcloud_factory: Callable[..., IbmCloud]) -> IbmCloud:
    return ibmcloud_factory(namespaces={OTHER_NAMESPACE: BOB.account_id})


def test_token_carries_the_account_and_is_cached_until_80_percent_of_its_life(emulator: IbmCloud) -> None:
    client, endpoints = client_for(emulator)
    first = client.token(endpoints, ALICE_KEY)
    assert (first.account_id, first.iam_id) == (ALICE.account_id, ALICE.iam_id)
    emulator.clock.now += 0.79 * 3600
    assert client.token(endpoints, ALICE_KEY) is first
    assert client.token_requests == 1
    emulator.clock.now += 0.02 * 3600
    renewed = client.token(endpoints, ALICE_KEY)
    assert renewed is not first
    assert client.token_requests == 2


@pytest.mark.parametrize("api_key", ["not-a-known-key", "x" * 64])
def test_a_wrong_api_key_is_refused_without_echoing_it(emulator: IbmCloud, api_key: str) -> None:
    client, endpoints = client_for(emulator)
    with pytest.raises(IbmCloudError) as caught:
        client.token(endpoints, api_key)
    assert caught.value.reason == "InvalidAPIKey"
    assert not caught.value.retry
    assert "BXNIM0415E" in caught.value.message
    assert api_key not in caught.value.message
    assert api_key not in repr(caught.value)


def test_namespace_is_created_once_then_accepted_as_ours(emulator: IbmCloud) -> None:
    client, endpoints = client_for(emulator)
    token = client.token(endpoints, ALICE_KEY)
    assert client.ensure_namespace(endpoints, token, "edge-team") is True
    assert client.ensure_namespace(endpoints, token, "edge-team") is False
    assert "edge-team" in client.namespaces(endpoints, token)


def test_a_namespace_of_another_account_is_not_ours(emulator: IbmCloud) -> None:
    client, endpoints = client_for(emulator)
    token = client.token(endpoints, ALICE_KEY)
    with pytest.raises(IbmCloudError) as caught:
        client.ensure_namespace(endpoints, token, OTHER_NAMESPACE)
    assert caught.value.reason == "NamespaceNotOwned"
    assert OTHER_NAMESPACE in caught.value.message


def test_images_lists_the_tags_of_the_namespace(emulator: IbmCloud) -> None:
    client, endpoints = client_for(emulator)
    token = client.token(endpoints, ALICE_KEY)
    client.ensure_namespace(endpoints, token, "edge-team")
    emulator.images.append(ImageRow("edge-team/hello_amd64", "1.0", "sha256:" + "1" * 64))
    listed = client.images(endpoints, token, "edge-team")
    assert [row.repo_tags for row in listed] == [("us.icr.io/edge-team/hello_amd64:1.0",)]


def test_an_unreachable_iam_is_a_retryable_failure() -> None:
    client = IbmCloudClient()
    with pytest.raises(IbmCloudError) as caught:
        client.token(IbmCloudEndpoints("http://127.0.0.1:9", "http://127.0.0.1:9"), ALICE_KEY)
    assert caught.value.reason == "IAMUnavailable"
    assert caught.value.retry


# --- the provider's steps, with an in-memory Kube face and a registry that has no image yet ---------------


class MemoryKube:
    def __init__(self, objects: dict[tuple[str, str | None, str], dict[str, Any]]) -> None:
        self.objects = objects

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.objects.get((resource.plural, namespace, name))

    def create(self, resource: Resource, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        self.objects[(resource.plural, namespace, body["metadata"]["name"])] = body
        return body

    def merge_patch(self, resource: Resource, namespace: str | None, name: str, patch: dict[str, Any]) -> Any:
        self.objects[(resource.plural, namespace, name)].update(patch)
        return {}

    def delete(self, resource: Resource, namespace: str | None, name: str) -> bool:
        return self.objects.pop((resource.plural, namespace, name), None) is not None


class NoImageRegistry:
    endpoints: ClassVar[list[RegistryEndpoint]] = []

    def __init__(self, endpoint: RegistryEndpoint) -> None:
        NoImageRegistry.endpoints.append(endpoint)

    def __enter__(self) -> NoImageRegistry:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def head_manifest(self, repository: str, reference: str) -> Any:
        raise RegistryError("ImageNotFound", f"us.icr.io/{repository}:{reference} not found")


def run(emulator: IbmCloud, api_key: str, namespace: str = "edge-team", **settings: Any) -> tuple[Progress, MemoryKube]:
    secret = {"type": "Opaque", "data": {"apikey": base64.b64encode(api_key.encode()).decode()}}
    kube = MemoryKube({("secrets", "team", "ibm-key"): secret})
    spec = {
        "registry": {
            "ibmCloud": {
                "host": "us.icr.io",
                "namespace": namespace,
                "apiKeySecretRef": {"name": "ibm-key"},
                "endpoints": {"iamURL": emulator.url, "registryAPIURL": emulator.url},
                **settings,
            }
        },
        "image": {"name": "hello", "tag": "1.0", "arches": ["amd64"]},
    }
    progress = Progress(("Ready",))
    ctx = Context(kube, Owner("team", "hello", "uid-1"), spec, {}, datetime.now(UTC), progress)  # type: ignore[arg-type]

    def no_copy(_: Context) -> StepResult:
        return ok("ImageCopied", "Copied")

    run_ibmcloud(ctx, NoImageRegistry, IbmCloudClient(clock=emulator.clock), no_copy)  # type: ignore[arg-type]
    return progress, kube


def reasons(progress: Progress) -> list[tuple[str, str, str]]:
    return [(r.condition.type, r.condition.status, r.condition.reason) for r in progress.results]


def test_provider_steps_write_iamapikey_credentials_and_wait_for_the_image(emulator: IbmCloud) -> None:
    progress, kube = run(emulator, ALICE_KEY)
    assert reasons(progress) == [
        ("TokenReady", "True", "TokenIssued"),
        ("ProjectReady", "True", "Created"),
        ("CredentialsReady", "True", "SecretWritten"),
        ("ImageResolved", "False", "ImageNotFound"),
    ]
    written = kube.objects[(SECRETS.plural, "team", "hello-registry")]
    config = json.loads(base64.b64decode(written["data"][".dockerconfigjson"]))
    assert config["auths"]["us.icr.io"]["username"] == "iamapikey"
    assert config["auths"]["us.icr.io"]["password"] == ALICE_KEY
    assert NoImageRegistry.endpoints[-1].username == "iamapikey"
    assert progress.status["registry"]["accountId"] == ALICE.account_id
    assert ALICE_KEY not in json.dumps(progress.status)
    assert all(ALICE_KEY not in r.condition.message for r in progress.results)


@pytest.mark.parametrize(
    ("api_key", "namespace", "expected"),
    [
        ("wrong-key", "edge-team", [("TokenReady", "False", "InvalidAPIKey")]),
        (
            ALICE_KEY,
            OTHER_NAMESPACE,
            [("TokenReady", "True", "TokenIssued"), ("ProjectReady", "False", "NamespaceNotOwned")],
        ),
    ],
)
def test_provider_stops_before_writing_anything_on_bad_input(
    emulator: IbmCloud, api_key: str, namespace: str, expected: list[tuple[str, str, str]]
) -> None:
    progress, kube = run(emulator, api_key, namespace)
    assert reasons(progress) == expected
    assert set(kube.objects) == {("secrets", "team", "ibm-key")}  # no output Secret was written


def test_without_ensure_namespace_a_missing_namespace_stops_and_an_existing_one_is_used(emulator: IbmCloud) -> None:
    progress, _ = run(emulator, ALICE_KEY, "not-made-yet", ensureNamespace=False)
    assert reasons(progress)[-1] == ("ProjectReady", "False", "NamespaceMissing")
    client, endpoints = client_for(emulator)
    client.ensure_namespace(endpoints, client.token(endpoints, ALICE_KEY), "made-by-hand")
    progress, _ = run(emulator, ALICE_KEY, "made-by-hand", ensureNamespace=False)
    assert reasons(progress)[1] == ("ProjectReady", "True", "Exists")


@pytest.mark.parametrize(
    ("data", "reason"),
    [({}, "APIKeyMissing"), ({"apikey": "!!not base64!!"}, "APIKeyMissing"), ({"apikey": "IA=="}, "APIKeyMissing")],
)
def test_an_unusable_api_key_secret_is_named(emulator: IbmCloud, data: dict[str, str], reason: str) -> None:
    kube = MemoryKube({("secrets", "team", "ibm-key"): {"type": "Opaque", "data": data}})
    spec = {
        "registry": {
            "ibmCloud": {
                "host": "us.icr.io",
                "namespace": "edge-team",
                "apiKeySecretRef": {"name": "ibm-key"},
                "endpoints": {"iamURL": emulator.url, "registryAPIURL": emulator.url},
            }
        },
        "image": {"name": "x", "tag": "1"},
    }
    progress = Progress(("Ready",))
    ctx = Context(kube, Owner("team", "x", "uid"), spec, {}, datetime.now(UTC), progress)  # type: ignore[arg-type]
    run_ibmcloud(ctx, NoImageRegistry, IbmCloudClient(clock=emulator.clock), lambda _: ok("ImageCopied", "Copied"))  # type: ignore[arg-type]
    assert reasons(progress) == [("TokenReady", "False", reason)]
