"""IBM Cloud Container Registry end to end, on a plain-Kubernetes sandbox (no OpenShift needed).

The operator (kopf, 2 s resync) exchanges the API key at the IAM emulator, creates the registry namespace
through the Container Registry API emulator, writes ``iamapikey`` credentials, and resolves digests from a
real docker-registry whose token endpoint accepts ``iamapikey`` + key. A publication then hands the same
credentials to the Exchange emulator, ``horizon-publisher verify`` accepts what it signed, and a new key
in the Secret replaces the dockauth.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from horizon_publisher.sandbox.images import push_image
from tests.e2e.publication_support import Publisher, publication, service_url, sid_of, verified
from tests.e2e.service_image_kube import GROUP, VERSION, Token, configmap_path, docker_auths, secret_path
from tests.e2e.service_image_support import Cluster, cluster_with_operator, condition

ARCHES = ("amd64", "arm64")
KEY_SECRET = "ibm-api-key"
CA_MAP = "ibm-ca"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_with_operator(tmp_path_factory.mktemp("ibmcloud"), flavor="kubernetes") as running:
        yield running


@pytest.fixture(scope="module")
def publisher(cluster: Cluster) -> Iterator[Publisher]:
    running = Publisher(cluster)
    try:
        yield running
    finally:
        running.close()


def ibm(cluster: Cluster) -> dict[str, Any]:
    endpoints: dict[str, Any] = cluster.sandbox.endpoints["ibmCloud"]
    return endpoints


def prepare(cluster: Cluster, namespace: str, api_key: str) -> None:
    """The API key Secret and the sandbox CA the resource's tls.caRef names."""
    encoded = base64.b64encode(api_key.encode()).decode()
    body = {"metadata": {"name": KEY_SECRET}, "type": "Opaque", "data": {"apikey": encoded}}
    if cluster.kube.exists(secret_path(namespace, KEY_SECRET)):
        cluster.kube.merge_patch(secret_path(namespace, KEY_SECRET), {"data": {"apikey": encoded}})
    else:
        cluster.kube.create(f"/api/v1/namespaces/{namespace}/secrets", body)
    if not cluster.kube.exists(configmap_path(namespace, CA_MAP)):
        data = {"ca.crt": Path(ibm(cluster)["caFile"]).read_text()}
        cluster.kube.create(f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": CA_MAP}, "data": data})


def ibm_image(cluster: Cluster, name: str, namespace: str, registry_namespace: str, **image: Any) -> dict[str, Any]:
    settings = ibm(cluster)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EdgeServiceImage",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "registry": {
                "ibmCloud": {
                    "host": settings["host"],
                    "namespace": registry_namespace,
                    "apiKeySecretRef": {"name": KEY_SECRET},
                    "endpoints": {"iamURL": settings["iamURL"], "registryAPIURL": settings["registryAPIURL"]},
                    "tls": {"caRef": {"kind": "ConfigMap", "name": CA_MAP}},
                }
            },
            "image": {"name": name, "tag": "1.0.0", "arches": list(ARCHES), **image},
        },
    }


def push(cluster: Cluster, repository: str, arch: str, api_key: str) -> str:
    settings = ibm(cluster)
    credentials = ("iamapikey", api_key)
    return push_image(
        settings["registryURL"], repository, "1.0.0", arch=arch, credentials=credentials, verify=settings["caFile"]
    )


def test_ibm_image_goes_ready_and_a_publication_verifies(cluster: Cluster, publisher: Publisher) -> None:
    settings, key = ibm(cluster), ibm(cluster)["apiKey"]
    namespace = cluster.namespace("ibm")
    prepare(cluster, namespace, key)
    cluster.apply(ibm_image(cluster, "hello", namespace, "edge-e2e"))
    waiting = cluster.wait_condition(namespace, "hello", "ImageResolved", "False", "ImageNotFound")
    assert condition(waiting, "ProjectReady")["reason"] == "Created"
    assert "us.icr.io/edge-e2e/hello_amd64:1.0.0" in condition(waiting, "Ready")["message"]
    assert waiting["status"]["registry"]["accountId"] == settings["accountId"]
    secret = cluster.kube.get(secret_path(namespace, "hello-registry"))
    assert secret is not None
    auth = docker_auths(secret)["us.icr.io"]
    assert (auth.username, auth.token.reveal()) == ("iamapikey", key)
    digests = {arch: push(cluster, f"edge-e2e/hello_{arch}", arch, key) for arch in ARCHES}
    ready = cluster.wait_condition(namespace, "hello", "Ready", "True", "Reconciled")
    assert {i["arch"]: i["digest"] for i in ready["status"]["images"]} == digests
    assert [c["type"] for c in ready["status"]["conditions"]] == [
        "Ready",
        "CATrusted",
        "TokenReady",
        "ProjectReady",
        "CredentialsReady",
        "ImageResolved",
    ]

    publisher.prepare(namespace)
    url = service_url("ibm")
    cluster.apply(publication("hello-pub", namespace, publisher.endpoints, url=url, arches=ARCHES))
    publisher.wait_ready(namespace, "hello-pub")
    sids = [sid_of(url, arch) for arch in ARCHES]
    for sid, arch in zip(sids, ARCHES, strict=True):
        assert [(d.registry, d.username, d.token.reveal()) for d in publisher.dockauths(sid)] == [
            ("us.icr.io", "iamapikey", key)
        ]
        assert f"us.icr.io/edge-e2e/hello_{arch}@{digests[arch]}" in json.dumps(publisher.deployment(sid))
    verified(publisher, *sids)
    leaks = publisher.leaks(namespace, "hello-pub", [Token(key)])
    leaks += [f"status of hello: {w}" for w in ("status",) if key in json.dumps(cluster.esi(namespace, "hello"))]
    assert leaks == []

    # A new key in the Secret: the output Secret, then every dockauth, follow; the old dockauth is gone.
    second = settings["secondApiKey"]
    prepare(cluster, namespace, second)
    cluster.wait_until(
        namespace,
        "hello",
        lambda r: docker_auths(cluster.kube.get(secret_path(namespace, "hello-registry")) or {})["us.icr.io"]
        .token.reveal()
        == second,
        "output Secret holds the new key",
    )
    publisher.wait_until(
        namespace,
        "hello-pub",
        lambda _: all([d.token.reveal() for d in publisher.dockauths(sid)] == [second] for sid in sids),
        "every dockauth carries the new key",
    )
    publisher.wait_ready(namespace, "hello-pub")


BAD_INPUT = {
    # name: (the API key, the registry namespace (None: the other account's), condition, reason)
    "wrongkey": ("not-a-key-anyone-issued", "edge-bad-key", "TokenReady", "InvalidAPIKey"),
    "taken": ("apiKey", None, "ProjectReady", "NamespaceNotOwned"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUT))
def test_ibm_bad_input_names_the_problem_and_writes_nothing(cluster: Cluster, name: str) -> None:
    settings = ibm(cluster)
    key, registry_namespace, condition_type, reason = BAD_INPUT[name]
    key = settings.get(key, key)  # a sandbox key by its endpoints.json name, or a literal
    namespace = cluster.namespace(f"ibm-{name}")
    prepare(cluster, namespace, key)
    cluster.apply(ibm_image(cluster, name, namespace, registry_namespace or settings["otherAccountNamespace"]))
    failed = cluster.wait_condition(namespace, name, condition_type, "False", reason)
    assert condition(failed, "Ready")["reason"] == reason
    assert condition(failed, "CredentialsReady")["status"] == "Unknown"
    assert not cluster.kube.exists(secret_path(namespace, f"{name}-registry"))
    events = [e for e in cluster.events(namespace, name) if e.get("reason") == reason]
    assert [e["type"] for e in events] == ["Warning"]
    assert key not in json.dumps(failed) + json.dumps(cluster.events(namespace, name))
