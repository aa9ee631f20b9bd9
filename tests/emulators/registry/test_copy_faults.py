"""copy_image when things break: cut source streams (fault proxy), lying sources, big layers, memory.

The source is a real registry behind :class:`FaultProxy` (TLS passes through; the proxy cuts the
upstream->client stream) or the fake source of ``test_copy_support`` that serves wrong bytes.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from typing import Literal

import pytest
from test_copy_support import (
    MIB,
    TARGET_PASSWORD,
    TARGET_USER,
    FakeSource,
    failure,
    registry_client,
    running_registry,
    serving,
)

from horizon_publisher.clients.registry_blobs import blob_exists
from horizon_publisher.clients.registry_copy import RESUMES, copy_image
from horizon_publisher.sandbox.fault_proxy import FaultProxy, cut_every, cut_first, pass_through
from horizon_publisher.sandbox.images import push_image_with_random_layer, resolve_digest
from horizon_publisher.sandbox.pki import SandboxPKI
from horizon_publisher.sandbox.registry import RegistryProcess, free_port

TARGET = (TARGET_USER, TARGET_PASSWORD)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, pki: SandboxPKI) -> Iterator[RegistryProcess]:
    with running_registry(tmp_path_factory.mktemp("faults-source"), pki, "htpasswd", {"reader": "reader-pw"}) as p:
        yield p


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, pki: SandboxPKI) -> Iterator[RegistryProcess]:
    with running_registry(
        tmp_path_factory.mktemp("faults-target"), pki, "htpasswd", {TARGET_USER: TARGET_PASSWORD}
    ) as p:
        yield p


@pytest.fixture
def proxy(source: RegistryProcess) -> Iterator[FaultProxy]:
    with FaultProxy(("127.0.0.1", source.port)) as running:
        yield running


READER = ("reader", "reader-pw")


def layers_of(source: RegistryProcess, pki: SandboxPKI, repository: str, digest: str) -> list[str]:
    with registry_client(source.port, pki, READER) as client:
        manifest = json.loads(client.get_manifest(repository, digest).body)
    return [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]


def test_a_50_mib_layer_resumes_after_a_cut_with_flat_memory(
    source: RegistryProcess, target: RegistryProcess, pki: SandboxPKI, proxy: FaultProxy
) -> None:
    size, chunk = 50 * MIB, MIB
    digest = push_image_with_random_layer(source.url, "src/big", "1.0", layer_size=size, credentials=READER,
                                          verify=str(pki.ca_cert))  # fmt: skip
    proxy.rule = cut_first(1, 20 * MIB)  # the first connection breaks mid-layer
    with (
        registry_client(0, pki, READER, host="source.example", url=proxy.url) as src,
        registry_client(target.port, pki, TARGET) as dst,
    ):
        tracemalloc.start()
        try:
            result = copy_image(src, "src/big", "1.0", dst, "dst/big", "1.0", chunk_size=chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert (result.digest, result.blobs_copied, result.blobs_present) == (digest, 3, 0)
    assert result.bytes_copied > size
    assert (proxy.faults, proxy.connections) == (1, 2)  # one cut, one resumed connection
    assert proxy.bytes_down < result.bytes_copied + 2 * MIB  # resumed with Range, not from byte 0
    assert peak < 4 * chunk, f"tracemalloc peak {peak / MIB:.1f} MiB"
    assert resolve_digest(target.url, "dst/big", "1.0", credentials=TARGET, verify=str(pki.ca_cert)) == digest


@pytest.mark.parametrize("action", ["reset", "close"])
def test_cuts_on_every_attempt_fail_cleanly_and_the_next_call_resumes(
    source: RegistryProcess,
    target: RegistryProcess,
    pki: SandboxPKI,
    proxy: FaultProxy,
    action: Literal["reset", "close"],
) -> None:
    digest = push_image_with_random_layer(source.url, "src/flaky", "1.0", layer_size=8 * MIB, credentials=READER,
                                          seed=7, verify=str(pki.ca_cert))  # fmt: skip
    config, small, big = layers_of(source, pki, "src/flaky", digest)
    proxy.rule = cut_every(2 * MIB, action=action)
    destination = f"dst/flaky-{action}"
    with (
        registry_client(0, pki, READER, host="source.example", url=proxy.url) as src,
        registry_client(target.port, pki, TARGET) as dst,
    ):
        error = failure(lambda: copy_image(src, "src/flaky", "1.0", dst, destination, "1.0", chunk_size=MIB))
        assert proxy.faults == RESUMES + 1
        present = [blob_exists(dst, destination, blob) for blob in (config, small, big)]
        not_tagged = failure(lambda: dst.head_manifest(destination, "1.0"))
        proxy.rule = pass_through()  # the fault clears
        result = copy_image(src, "src/flaky", "1.0", dst, destination, "1.0", chunk_size=MIB)
    assert error.reason == "CopyFailed"
    assert f"source.example/src/flaky@{big}" in error.message
    assert "failed 4 times" in error.message
    assert present == [True, True, False]  # only complete, verified blobs are left behind
    assert not_tagged.reason == "ImageNotFound"
    assert (result.digest, result.blobs_present, result.blobs_copied) == (digest, 2, 1)


def test_a_stalled_source_times_out_and_resumes(
    source: RegistryProcess, target: RegistryProcess, pki: SandboxPKI, proxy: FaultProxy
) -> None:
    digest = push_image_with_random_layer(source.url, "src/stall", "1.0", layer_size=4 * MIB, credentials=READER,
                                          seed=3, verify=str(pki.ca_cert))  # fmt: skip
    proxy.rule = cut_first(1, 2 * MIB, action="stall")
    src = registry_client(0, pki, READER, url=proxy.url, host="source.example", timeout=(2.0, 1.0))
    with src, registry_client(target.port, pki, TARGET) as dst:
        result = copy_image(src, "src/stall", "1.0", dst, "dst/stall", "1.0")
    assert (result.digest, result.blobs_copied, proxy.faults) == (digest, 3, 1)


def test_a_broken_upload_starts_the_blob_again(
    source: RegistryProcess, target: RegistryProcess, pki: SandboxPKI
) -> None:
    digest = push_image_with_random_layer(source.url, "src/upload-cut", "1.0", layer_size=4 * MIB, credentials=READER,
                                          seed=5, verify=str(pki.ca_cert))  # fmt: skip
    # The request stream to the target breaks in the third 1 MiB PATCH. Registry 2.8 keeps the bytes it got
    # but then refuses that session ("upload resumed at wrong offset"): the blob goes again, in a new one.
    with FaultProxy(("127.0.0.1", target.port), cut_first(1, 2 * MIB + MIB // 2, direction="up")) as proxy:
        src = registry_client(source.port, pki, READER)
        with src, registry_client(0, pki, TARGET, host="target.example", url=proxy.url) as dst:
            result = copy_image(src, "src/upload-cut", "1.0", dst, "dst/upload-cut", "1.0", chunk_size=MIB)
    assert (result.digest, result.blobs_copied, proxy.faults) == (digest, 3, 1)
    assert proxy.bytes_up > 4 * MIB + 2 * MIB  # the layer went once in part, then whole
    assert resolve_digest(target.url, "dst/upload-cut", "1.0", credentials=TARGET, verify=str(pki.ca_cert)) == digest


@pytest.mark.parametrize("lie", ["flipped byte", "extra bytes"])
def test_a_source_serving_wrong_bytes_tags_nothing(target: RegistryProcess, pki: SandboxPKI, lie: str) -> None:
    fake = FakeSource()
    layer = bytes(range(256)) * 4096  # 1 MiB
    manifest_digest = fake.add_image("1.0", [b"small layer", layer], corrupt=1 if lie == "flipped byte" else None)
    layer_digest = next(d for d, data in fake.blobs.items() if len(data) == len(layer))
    if lie == "extra bytes":
        fake.blobs[layer_digest] = layer + b"surplus"
    with (
        serving(fake, pki) as server,
        registry_client(server.port, pki) as src,
        registry_client(target.port, pki, TARGET) as dst,
    ):
        caught = failure(lambda: copy_image(src, "fake/image", "1.0", dst, "dst/lied-to", "1.0", chunk_size=256 * 1024))
        assert not blob_exists(dst, "dst/lied-to", layer_digest)
        assert failure(lambda: dst.head_manifest("dst/lied-to", "1.0")).reason == "ImageNotFound"
    assert caught.reason == "DigestMismatch"
    assert f"127.0.0.1:{server.port}/fake/image@{layer_digest}" in caught.message
    assert manifest_digest not in caught.message


@pytest.mark.parametrize("honour_range", [True, False])
def test_a_truncated_stream_resumes_with_or_without_range_support(
    target: RegistryProcess, pki: SandboxPKI, honour_range: bool
) -> None:
    fake = FakeSource(truncate_first=300_000, honour_range=honour_range)
    layer = bytes(reversed(range(256))) * 4096
    digest = fake.add_image("1.0", [layer])
    destination = f"dst/truncated-{honour_range}".lower()
    with (
        serving(fake, pki) as server,
        registry_client(server.port, pki) as src,
        registry_client(target.port, pki, TARGET) as dst,
    ):
        result = copy_image(src, "fake/image", "1.0", dst, destination, "1.0", chunk_size=100_000)
    assert (result.digest, result.blobs_copied) == (digest, 2)
    assert max(fake.blob_gets.values()) == 2  # each blob's first GET was cut, the second completed it


def test_foreign_layers_are_never_fetched(target: RegistryProcess, pki: SandboxPKI) -> None:
    fake = FakeSource()
    fake.add_image("1.0", [b"normal layer"])
    media_type, body = fake.manifests["1.0"]
    manifest = json.loads(body)
    foreign = "sha256:" + "f" * 64
    manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                               "digest": foreign, "size": 10, "urls": ["https://layers.example/f"]})  # fmt: skip
    fake.manifests["1.0"] = (media_type, json.dumps(manifest).encode())
    with (
        serving(fake, pki) as server,
        registry_client(server.port, pki) as src,
        registry_client(target.port, pki, TARGET) as dst,
    ):
        caught = failure(lambda: copy_image(src, "fake/image", "1.0", dst, "dst/foreign", "1.0"))
    # Every distributable blob was copied; registry 2.8 then refuses foreign URLs by default.
    assert foreign not in fake.blob_gets
    assert len(fake.blob_gets) == 2
    assert caught.reason == "CopyFailed"
    assert "refused the manifest" in caught.message


def test_source_unreachable(target: RegistryProcess, pki: SandboxPKI) -> None:
    with registry_client(free_port(), pki) as src, registry_client(target.port, pki, TARGET) as dst:
        error = failure(lambda: copy_image(src, "team/app", "1.0", dst, "dst/never", "1.0"))
    assert error.reason == "RegistryUnreachable"
    assert "cannot reach the registry 127.0.0.1:" in error.message
