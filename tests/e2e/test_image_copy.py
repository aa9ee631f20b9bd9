"""spec.image.source end to end: the operator copies a multi-arch image from a second real registry
(htpasswd, TLS, behind a fault-injecting proxy) into the sandbox's IBM Cloud registry, through cuts.

- PerArchRepository: each platform of the source index goes to NAME_ARCH:TAG; the source stream is cut
  once mid-layer and the copy resumes within the same reconcile.
- MultiArchIndex: the whole index goes to NAME:TAG; every attempt is cut until the fault clears, so the
  resource reports the failure (condition, Warning Event, backoff in status.retry), tags nothing, and
  the retry after the fault skips every blob already verified at the target.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from horizon_publisher.sandbox.fault_proxy import FaultProxy, cut_every, cut_first, pass_through
from horizon_publisher.sandbox.images import (
    TAR_LAYER,
    IndexDigests,
    LayerRef,
    RegistryClient,
    build_image,
    build_index,
    random_tar,
)
from horizon_publisher.sandbox.pki import ensure_pki
from horizon_publisher.sandbox.registry import RegistryProcess, start_registry, stop_process
from tests.e2e.publication_support import Publisher, publication, service_url, sid_of, verified
from tests.e2e.service_image_kube import GROUP, VERSION, secret_path
from tests.e2e.service_image_support import Cluster, cluster_with_operator, condition
from tests.e2e.test_ibmcloud import CA_MAP, KEY_SECRET, ibm, prepare

MIB = 1024 * 1024
LAYER = 12 * MIB  # per arch: large enough that a cut lands mid-layer, small enough for CI
ARCHES = ("amd64", "arm64")
USER, PASSWORD = "mirror-reader", "source-registry-password"
SOURCE_SECRET = "source-pull"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_with_operator(tmp_path_factory.mktemp("image-copy"), flavor="kubernetes") as running:
        yield running


@pytest.fixture(scope="module")
def source(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    pki = ensure_pki(Path(cluster.sandbox.endpoints["registry"]["caFile"]).parent)
    running = start_registry(tmp_path_factory.mktemp("source"), pki, auth="htpasswd", htpasswd_users={USER: PASSWORD})
    try:
        yield running
    finally:
        stop_process(running.pid)


@pytest.fixture(scope="module")
def proxy(source: RegistryProcess) -> Iterator[FaultProxy]:
    with FaultProxy(("127.0.0.1", source.port)) as running:
        yield running


def push_big_index(cluster: Cluster, source: RegistryProcess, repository: str, tag: str) -> IndexDigests:
    """One image per arch, each with a random LAYER-byte layer (streamed), then the OCI index."""
    ca = cluster.sandbox.endpoints["registry"]["caFile"]
    images, per_arch = [], {}
    with RegistryClient(f"https://127.0.0.1:{source.port}", credentials=(USER, PASSWORD), verify=ca) as client:
        for seed, arch in enumerate(ARCHES):
            digest, size = client.push_blob_chunks(repository, random_tar(LAYER, seed=seed + len(repository)))
            layer = LayerRef({"mediaType": TAR_LAYER["oci"], "digest": digest, "size": size}, digest)
            image = build_image(repository, tag, arch=arch, extra_layers=[layer])
            per_arch[arch] = client.push(repository, image.digest, image)
            images.append(image)
        body, media_type = build_index(images)
        return IndexDigests(client.put_manifest(repository, tag, body, media_type), per_arch)


def prepare_source(cluster: Cluster, namespace: str, proxy: FaultProxy) -> str:
    """The source registry's credentials Secret (keyed by the proxy's address); the source host."""
    host = f"127.0.0.1:{proxy.port}"
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    config = json.dumps({"auths": {host: {"username": USER, "password": PASSWORD, "auth": auth}}})
    body = {
        "metadata": {"name": SOURCE_SECRET},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()},
    }
    cluster.kube.create(f"/api/v1/namespaces/{namespace}/secrets", body)
    return host


def copying_image(cluster: Cluster, name: str, namespace: str, source: str, **image: Any) -> dict[str, Any]:
    settings = ibm(cluster)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EdgeServiceImage",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "registry": {
                "ibmCloud": {
                    "host": settings["host"],
                    "namespace": "copy-e2e",
                    "apiKeySecretRef": {"name": KEY_SECRET},
                    "endpoints": {"iamURL": settings["iamURL"], "registryAPIURL": settings["registryAPIURL"]},
                    "tls": {"caRef": {"kind": "ConfigMap", "name": CA_MAP}},
                }
            },
            "image": {
                "name": name,
                "tag": "3.0",
                "arches": list(ARCHES),
                "source": {
                    "reference": source,
                    "credentialsSecretRef": {"name": SOURCE_SECRET},
                    "tls": {"caRef": {"kind": "ConfigMap", "name": CA_MAP}},
                },
                **image,
            },
        },
    }


def copy_events(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    return [e for e in cluster.events(namespace, name) if e.get("reason") == "ImageCopied"]


def test_per_arch_copy_resumes_a_cut_stream_and_goes_ready(
    cluster: Cluster, source: RegistryProcess, proxy: FaultProxy
) -> None:
    pushed = push_big_index(cluster, source, "team/widget", "3.0")
    namespace = cluster.namespace("copy")
    prepare(cluster, namespace, ibm(cluster)["apiKey"])
    host = prepare_source(cluster, namespace, proxy)
    proxy.rule = cut_first(1, 4 * MIB)  # the first connection carrying a layer breaks a third of the way in
    cluster.apply(copying_image(cluster, "widget", namespace, f"{host}/team/widget:3.0"))
    ready = cluster.wait_condition(namespace, "widget", "Ready", "True", "Reconciled", timeout=90)
    assert proxy.faults == 1
    status = ready["status"]
    assert {i["arch"]: i["digest"] for i in status["images"]} == pushed.per_arch
    assert [i["reference"] for i in status["images"]] == [f"us.icr.io/copy-e2e/widget_{a}:3.0" for a in ARCHES]
    assert status["copy"]["sourceDigests"] == pushed.per_arch
    assert status["copy"]["bytesCopied"] >= 2 * LAYER
    events = copy_events(cluster, namespace, "widget")
    assert len(events) == 1
    assert "MiB) copied" in events[0]["message"]
    # The next resyncs compare digests and copy nothing more.
    settled = cluster.wait_condition(namespace, "widget", "ImageCopied", "True", "UpToDate")
    assert settled["status"]["copy"]["lastCopiedTime"] == status["copy"]["lastCopiedTime"]
    assert len(copy_events(cluster, namespace, "widget")) == 1
    secret = cluster.kube.get(secret_path(namespace, "widget-registry"))
    assert PASSWORD not in json.dumps(settled) + json.dumps(secret) + cluster.operator.log()


def test_index_copy_interrupted_on_every_attempt_fails_cleanly_then_resumes(
    cluster: Cluster, source: RegistryProcess, proxy: FaultProxy
) -> None:
    pushed = push_big_index(cluster, source, "team/gadget", "3.0")
    namespace = cluster.namespace("copy-cut")
    prepare(cluster, namespace, ibm(cluster)["apiKey"])
    host = prepare_source(cluster, namespace, proxy)
    proxy.rule = cut_every(2 * MIB)  # every big layer breaks, every small blob and manifest gets through
    manifest = copying_image(cluster, "gadget", namespace, f"{host}/team/gadget:3.0", layout="MultiArchIndex")
    cluster.apply(manifest)
    failing = cluster.wait_condition(namespace, "gadget", "ImageCopied", "False", timeout=90)
    copied = condition(failing, "ImageCopied")
    assert copied["reason"] in ("CopyFailed", "RegistryUnreachable"), copied
    assert "team/gadget" in copied["message"]
    assert failing["status"]["retry"]["step"] == "ImageCopied"
    assert condition(failing, "ImageResolved")["status"] == "Unknown"
    warnings = [e for e in cluster.events(namespace, "gadget") if e.get("type") == "Warning"]
    assert [e["reason"] for e in warnings] == [copied["reason"]]
    assert "images" not in failing["status"]  # nothing half-published: no digest was reported

    proxy.rule = pass_through()
    ready = cluster.wait_condition(namespace, "gadget", "Ready", "True", "Reconciled", timeout=90)
    assert ready["status"]["indexDigest"] == pushed.index
    assert {i["arch"]: i["digest"] for i in ready["status"]["images"]} == pushed.per_arch
    assert ready["status"]["copy"]["sourceDigests"] == {"index": pushed.index}
    (event,) = copy_events(cluster, namespace, "gadget")
    present = re.search(r"(\d+) already there", event["message"])
    assert present is not None
    assert int(present[1]) > 0, event["message"]  # the retry resumed: blobs verified before were skipped


def generic_mirror(name: str, namespace: str, host: str, source: str) -> dict[str, Any]:
    """The source registry itself as a generic target: the copy lands in mirror/NAME_ARCH on the same host."""
    refs = {"credentialsSecretRef": {"name": SOURCE_SECRET}, "tls": {"caRef": {"kind": "ConfigMap", "name": CA_MAP}}}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EdgeServiceImage",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "registry": {"generic": {"host": host, "repositoryPrefix": "mirror", **refs}},
            "image": {"name": name, "tag": "1.0.0", "arches": list(ARCHES), "source": {"reference": source, **refs}},
        },
    }


def test_same_registry_copy_mounts_every_blob_and_a_publication_verifies(
    cluster: Cluster, source: RegistryProcess, proxy: FaultProxy
) -> None:
    proxy.rule = pass_through()
    pushed = push_big_index(cluster, source, "team/mounted", "1.0.0")
    namespace = cluster.namespace("mirror")
    prepare(cluster, namespace, ibm(cluster)["apiKey"])
    host = prepare_source(cluster, namespace, proxy)
    before = proxy.bytes_down
    cluster.apply(generic_mirror("mounted", namespace, host, f"{host}/team/mounted:1.0.0"))
    ready = cluster.wait_condition(namespace, "mounted", "Ready", "True", "Reconciled", timeout=60)
    assert {i["arch"]: i["digest"] for i in ready["status"]["images"]} == pushed.per_arch
    assert ready["status"]["copy"]["bytesCopied"] == 0
    assert proxy.bytes_down - before < LAYER  # no layer went through the operator
    (event,) = copy_events(cluster, namespace, "mounted")
    mounted = re.search(r"(\d+) mounted", event["message"])
    assert mounted is not None
    assert int(mounted[1]) == 3 * len(ARCHES), event["message"]  # config, small layer, big layer per arch

    publisher = Publisher(cluster)
    try:
        publisher.prepare(namespace)
        url = service_url("mirror")
        manifest = publication("mounted-pub", namespace, publisher.endpoints, url=url, image="mounted", arches=ARCHES)
        cluster.apply(manifest)
        publisher.wait_ready(namespace, "mounted-pub")
        sids = [sid_of(url, arch) for arch in ARCHES]
        for sid in sids:
            assert [(d.registry, d.username) for d in publisher.dockauths(sid)] == [(host, USER)]
        verified(publisher, *sids)
    finally:
        publisher.close()


def test_a_missing_source_tag_is_reported_retried_and_writes_no_digest(cluster: Cluster, proxy: FaultProxy) -> None:
    proxy.rule = pass_through()
    namespace = cluster.namespace("copy-missing")
    prepare(cluster, namespace, ibm(cluster)["apiKey"])
    host = prepare_source(cluster, namespace, proxy)
    cluster.apply(copying_image(cluster, "absent", namespace, f"{host}/team/absent:9.9"))
    failed = cluster.wait_condition(namespace, "absent", "ImageCopied", "False", "SourceNotFound")
    assert f"{host}/team/absent" in condition(failed, "ImageCopied")["message"]
    assert condition(failed, "Ready")["reason"] == "SourceNotFound"
    retried = cluster.wait_until(
        namespace, "absent", lambda r: r["status"]["retry"]["attempts"] >= 2, "a second attempt, after backoff"
    )
    assert retried["status"]["retry"]["step"] == "ImageCopied"
    assert "images" not in retried["status"]
    warnings = [e for e in cluster.events(namespace, "absent") if e.get("type") == "Warning"]
    assert [e["reason"] for e in warnings] == ["SourceNotFound"]  # one Event, not one per retry
