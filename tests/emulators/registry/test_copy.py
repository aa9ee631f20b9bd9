"""copy_image / source_digest between real docker-registry processes (anonymous, htpasswd, token auth).

Sources are pushed with the sandbox push helpers; every copied digest must equal the source's, and
skopeo (a real client) must read the target as it reads the source.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from registry_harness import SandboxRegistry
from test_copy_support import (
    MIB,
    TARGET_PASSWORD,
    TARGET_USER,
    failure,
    registry_client,
    running_registry,
    skopeo_inspect,
)

from horizon_publisher.clients.registry import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    RegistryClient,
)
from horizon_publisher.clients.registry_copy import CopyResult, copy_image, source_digest
from horizon_publisher.sandbox.fault_proxy import FaultProxy
from horizon_publisher.sandbox.images import (
    Media,
    build_image,
    push_image,
    push_image_with_random_layer,
    push_index,
    resolve_digest,
)
from horizon_publisher.sandbox.pki import SandboxPKI
from horizon_publisher.sandbox.registry import RegistryProcess, free_port

SINGLE = {"oci": OCI_MANIFEST, "docker": DOCKER_MANIFEST}
INDEX = {"oci": OCI_INDEX, "docker": DOCKER_LIST}
ARCHES = ("amd64", "arm64", "arm/v7")
TARGET = (TARGET_USER, TARGET_PASSWORD)
PUSHER = ("pusher", "pusher-token")  # demo/*: pull and push (token registry)
ROBOT = ("robot", "robot-password")  # generic/*: pull and push, nothing in demo/*


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, pki: SandboxPKI) -> Iterator[RegistryProcess]:
    with running_registry(tmp_path_factory.mktemp("copy-source"), pki, "none") as process:
        yield process


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, pki: SandboxPKI) -> Iterator[RegistryProcess]:
    with running_registry(tmp_path_factory.mktemp("copy-target"), pki, "htpasswd", {TARGET_USER: TARGET_PASSWORD}) as p:
        yield p


@contextmanager
def two_clients(
    source: RegistryProcess, target: RegistryProcess, pki: SandboxPKI
) -> Iterator[tuple[RegistryClient, RegistryClient]]:
    with registry_client(source.port, pki) as src, registry_client(target.port, pki, TARGET) as dst:
        yield src, dst


def blob_bytes(repository: str, tag: str, media: Media, arch: str = "amd64") -> int:
    image = build_image(repository, tag, arch=arch, media=media)
    return sum(len(blob.data) for blob in image.blobs)


@pytest.mark.parametrize("media", ["oci", "docker"])
def test_single_manifest_is_copied_then_found_present(
    source: RegistryProcess, target: RegistryProcess, pki: SandboxPKI, media: Media
) -> None:
    repository = f"src/single-{media}"
    digest = push_image(source.url, repository, "1.0", media=media, verify=str(pki.ca_cert))
    with two_clients(source, target, pki) as (src, dst):
        assert source_digest(src, repository, "1.0") == digest
        first = copy_image(src, repository, "1.0", dst, f"dst/single-{media}", "v1")
        again = copy_image(src, repository, digest, dst, f"dst/single-{media}", "v2")  # by digest this time
    size = blob_bytes(repository, "1.0", media)
    assert first == CopyResult(
        digest, SINGLE[media], blobs_copied=2, blobs_mounted=0, blobs_present=0, bytes_copied=size
    )
    assert again == CopyResult(digest, SINGLE[media], blobs_copied=0, blobs_mounted=0, blobs_present=2, bytes_copied=0)
    for tag in ("v1", "v2"):
        assert (
            resolve_digest(target.url, f"dst/single-{media}", tag, credentials=TARGET, verify=str(pki.ca_cert))
            == digest
        )


@pytest.mark.parametrize("media", ["oci", "docker"])
def test_whole_index_is_copied_byte_for_byte(
    source: RegistryProcess, target: RegistryProcess, pki: SandboxPKI, media: Media, tmp_path: Path
) -> None:
    repository = f"src/index-{media}"
    pushed = push_index(source.url, repository, "2.0", arches=ARCHES, media=media, verify=str(pki.ca_cert))
    with two_clients(source, target, pki) as (src, dst):
        assert source_digest(src, repository, "2.0") == pushed.index
        result = copy_image(src, repository, "2.0", dst, f"dst/index-{media}", "2.0")
    assert (result.digest, result.media_type) == (pushed.index, INDEX[media])
    assert (result.blobs_copied, result.blobs_present, result.blobs_mounted) == (2 * len(ARCHES), 0, 0)
    source_ref, target_ref = f"127.0.0.1:{source.port}/{repository}", f"127.0.0.1:{target.port}/dst/index-{media}"
    raw = skopeo_inspect(f"{target_ref}:2.0", pki, tmp_path, raw=True, creds=TARGET)
    assert raw == skopeo_inspect(f"{source_ref}:2.0", pki, tmp_path, raw=True)
    for arch in ("arm64", "arm/v7"):
        copied = json.loads(skopeo_inspect(f"{target_ref}:2.0", pki, tmp_path, arch=arch, creds=TARGET))
        original = json.loads(skopeo_inspect(f"{source_ref}:2.0", pki, tmp_path, arch=arch))
        assert (copied["Digest"], copied["Architecture"]) == (pushed.index, arch.partition("/")[0])
        assert copied["Layers"] == original["Layers"]
        assert resolve_digest(target.url, f"dst/index-{media}", pushed.per_arch[arch], credentials=TARGET,
                              verify=str(pki.ca_cert)) == pushed.per_arch[arch]  # fmt: skip


@pytest.mark.parametrize("media", ["oci", "docker"])
@pytest.mark.parametrize("wanted", ["amd64", "arm64", "arm=arm/v7"])  # Horizon arch=the index's platform
def test_one_platform_of_an_index(source: RegistryProcess, target: RegistryProcess, pki: SandboxPKI, media: Media,
                                  wanted: str) -> None:  # fmt: skip
    platform, _, key = wanted.partition("=")
    key = key or platform
    repository = f"src/platforms-{media}"
    pushed = push_index(source.url, repository, "3.0", arches=ARCHES, media=media, verify=str(pki.ca_cert))
    destination = f"dst/platform-{media}-{platform}"
    with two_clients(source, target, pki) as (src, dst):
        wanted = source_digest(src, repository, "3.0", platform=platform)
        result = copy_image(src, repository, "3.0", dst, destination, "3.0", platform=platform)
        on_target = dst.head_manifest(destination, "3.0")
    assert wanted == result.digest == pushed.per_arch[key] == on_target.digest
    assert (result.media_type, result.blobs_copied) == (SINGLE[media], 2)


def test_platform_mismatch_copies_nothing(source: RegistryProcess, target: RegistryProcess, pki: SandboxPKI) -> None:
    single = push_image(source.url, "src/amd64-only", "1.0", arch="amd64", verify=str(pki.ca_cert))
    push_index(source.url, "src/two-arches", "1.0", verify=str(pki.ca_cert))
    with two_clients(source, target, pki) as (src, dst):
        wrong_arch = failure(
            lambda: copy_image(src, "src/amd64-only", "1.0", dst, "dst/mismatch", "1.0", platform="arm64")
        )
        assert (
            failure(lambda: source_digest(src, "src/amd64-only", "1.0", platform="arm64")).reason == "PlatformMismatch"
        )
        absent = failure(lambda: copy_image(src, "src/two-arches", "1.0", dst, "dst/mismatch", "1.0", platform="s390x"))
        not_there = failure(lambda: dst.head_manifest("dst/mismatch", "1.0"))
        # The platform that matches is copied (the config names amd64).
        assert copy_image(src, "src/amd64-only", single, dst, "dst/mismatch", "1.0", platform="amd64").digest == single
    assert wrong_arch.reason == "PlatformMismatch"
    assert f"127.0.0.1:{source.port}/src/amd64-only@{single}" in wrong_arch.message
    assert "amd64" in wrong_arch.message
    assert absent.reason == "PlatformMismatch"
    assert "s390x" in absent.message
    assert "amd64, arm64" in absent.message
    assert not_there.reason == "ImageNotFound"


@pytest.mark.parametrize("reference", ["missing-tag", "sha256:" + "0" * 64])
def test_missing_source(source: RegistryProcess, target: RegistryProcess, pki: SandboxPKI, reference: str) -> None:
    push_image(source.url, "src/exists", "1.0", verify=str(pki.ca_cert))
    with two_clients(source, target, pki) as (src, dst):
        errors = [
            failure(lambda: copy_image(src, "src/exists", reference, dst, "dst/never", "1.0")),
            failure(lambda: source_digest(src, "src/exists", reference)),
            failure(lambda: copy_image(src, "src/no-such-repo", reference, dst, "dst/never", "1.0")),
        ]
    assert [e.reason for e in errors] == ["SourceNotFound"] * 3
    separator = "@" if reference.startswith("sha256:") else ":"
    assert f"127.0.0.1:{source.port}/src/exists{separator}{reference}" in errors[0].message


def test_target_unreachable(source: RegistryProcess, pki: SandboxPKI) -> None:
    push_image(source.url, "src/unreachable", "1.0", verify=str(pki.ca_cert))
    closed = free_port()
    with (
        registry_client(source.port, pki) as src,
        registry_client(
            443, pki, TARGET, host="registry.example.com", url=f"https://127.0.0.1:{closed}", timeout=(1.0, 2.0)
        ) as dst,
    ):
        error = failure(lambda: copy_image(src, "src/unreachable", "1.0", dst, "team/app", "1.0"))
    assert error.reason == "RegistryUnreachable"
    assert "registry.example.com" in error.message  # the host users know, not the override URL


def test_wrong_target_password_is_named_but_never_shown(
    source: RegistryProcess, target: RegistryProcess, pki: SandboxPKI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    push_image(source.url, "src/secretive", "1.0", verify=str(pki.ca_cert))
    secret = "WRONG-PASSWORD-91a4"
    with registry_client(source.port, pki) as src, registry_client(target.port, pki, (TARGET_USER, secret)) as dst:
        error = failure(lambda: copy_image(src, "src/secretive", "1.0", dst, "dst/secretive", "1.0"))
    assert error.reason == "Unauthorized"
    assert f"127.0.0.1:{target.port}" in error.message
    assert secret not in error.message + repr(error) + caplog.text


def test_mount_on_the_same_registry_streams_no_blob(token_registry: SandboxRegistry) -> None:
    reg = token_registry
    digest = push_image_with_random_layer(reg.url, "demo/copy-src", "1.0", layer_size=2 * MIB, credentials=PUSHER,
                                          verify=reg.ca)  # fmt: skip
    with FaultProxy(("127.0.0.1", reg.process.port)) as proxy:
        route = "registry.sandbox.test"
        with (
            registry_client(0, reg.pki, PUSHER, host=route, url=proxy.url) as src,
            registry_client(0, reg.pki, PUSHER, host=route, url=proxy.url) as dst,
        ):
            result = copy_image(src, "demo/copy-src", "1.0", dst, "demo/copy-dst", "1.0")
    assert result == CopyResult(digest, OCI_MANIFEST, blobs_copied=0, blobs_mounted=3, blobs_present=0, bytes_copied=0)
    assert proxy.bytes_down < MIB // 4  # the 2 MiB layer never came through
    assert resolve_digest(reg.url, "demo/copy-dst", "1.0", credentials=PUSHER, verify=reg.ca) == digest


def test_refused_mount_falls_back_to_an_upload(token_registry: SandboxRegistry) -> None:
    reg = token_registry
    digest = push_image(reg.url, "demo/copy-robot-src", "1.0", credentials=PUSHER, verify=reg.ca)
    # The robot may push generic/* but not pull demo/*: the registry refuses the mount's scope.
    with (
        registry_client(reg.process.port, reg.pki, PUSHER) as src,
        registry_client(reg.process.port, reg.pki, ROBOT) as dst,
    ):
        result = copy_image(src, "demo/copy-robot-src", "1.0", dst, "generic/copied", "1.0")
    assert (result.digest, result.blobs_copied, result.blobs_mounted) == (digest, 2, 0)


def test_index_into_a_token_auth_registry(
    source: RegistryProcess, token_registry: SandboxRegistry, tmp_path: Path
) -> None:
    reg = token_registry
    pushed = push_index(source.url, "src/to-token", "1.0", arches=ARCHES, verify=reg.ca)
    with registry_client(source.port, reg.pki) as src, registry_client(reg.process.port, reg.pki, ROBOT) as dst:
        result = copy_image(src, "src/to-token", "1.0", dst, "generic/from-anonymous", "1.0")
    assert result.digest == pushed.index
    reference = f"127.0.0.1:{reg.process.port}/generic/from-anonymous:1.0"
    copied = json.loads(skopeo_inspect(reference, reg.pki, tmp_path, arch="arm64", creds=ROBOT))
    assert (copied["Digest"], copied["Architecture"]) == (pushed.index, "arm64")
