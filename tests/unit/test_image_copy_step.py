"""The ImageCopied step's decisions: what to copy where, when to skip, how failures read (no registry)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from horizon_publisher.clients.kube import Resource
from horizon_publisher.clients.registry import RegistryEndpoint, RegistryError
from horizon_publisher.clients.registry_copy import CopyResult
from horizon_publisher.desired.kube_objects import Owner
from horizon_publisher.reconcile import image_copy
from horizon_publisher.reconcile.openshift_image import Context
from horizon_publisher.reconcile.steps import Progress

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SOURCE_DIGEST = "sha256:" + "a" * 64
OLD_DIGEST = "sha256:" + "b" * 64


class MemoryKube:
    def __init__(self, objects: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        self.objects = objects

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.objects.get((resource.plural, str(namespace), name))


class FakeRegistry:
    """What the step sees of a registry: the target's tags, and every endpoint it was opened with."""

    opened: list[RegistryEndpoint] = []  # noqa: RUF012 - reset by the fixture
    target_tags: dict[tuple[str, str], str] = {}  # noqa: RUF012

    def __init__(self, endpoint: RegistryEndpoint) -> None:
        FakeRegistry.opened.append(endpoint)

    def __enter__(self) -> FakeRegistry:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def head_manifest(self, repository: str, reference: str) -> Any:
        digest = FakeRegistry.target_tags.get((repository, reference))
        if digest is None:
            raise RegistryError("ImageNotFound", f"{repository}:{reference} not found")
        return type("M", (), {"digest": digest})()


@pytest.fixture(autouse=True)
def fresh_registry() -> None:
    FakeRegistry.opened, FakeRegistry.target_tags = [], {}


def docker_config_secret(host: str) -> dict[str, Any]:
    config = {"auths": {host: {"username": "reader", "password": "s3cret-pw"}}}
    return {
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    }


def context(
    image: dict[str, Any],
    objects: dict[tuple[str, str, str], dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
) -> Context:
    spec = {"registry": {"generic": {"host": "target.example"}}, "image": {"name": "svc", "tag": "2.0", **image}}
    ctx = Context(
        MemoryKube(objects or {}),
        Owner("team", "svc", "uid-1"),
        spec,
        status or {},
        NOW,  # type: ignore[arg-type]
        Progress(("Ready", "ImageCopied")),
    )
    ctx.host, ctx.prefix, ctx.username, ctx.token = "target.example", "edge", "pusher", "push-token"
    return ctx


@pytest.mark.parametrize(
    ("image", "objects", "reason"),
    [
        ({"layout": "MultiArchIndex", "source": {"reference": "quay.io/x_{arch}:1"}}, {}, "InvalidSource"),
        ({"source": {"reference": "quay.io/x:1", "credentialsSecretRef": {"name": "absent"}}}, {}, "SecretNotFound"),
        (
            {"source": {"reference": "quay.io/x:1", "credentialsSecretRef": {"name": "pull"}}},
            {("secrets", "team", "pull"): docker_config_secret("other.example")},
            "InvalidDockerConfig",
        ),
        (
            {"source": {"reference": "quay.io/x:1", "tls": {"caRef": {"name": "ca"}}}},
            {("configmaps", "team", "ca"): {"data": {"ca.crt": "not a certificate"}}},
            "CAInvalid",
        ),
    ],
)
def test_spec_and_reference_problems_stop_before_any_request(
    image: dict[str, Any], objects: dict[tuple[str, str, str], dict[str, Any]], reason: str
) -> None:
    result = image_copy.copy_step(context(image, objects), FakeRegistry)  # type: ignore[arg-type]
    assert (result.condition.status, result.condition.reason) == ("False", reason)
    assert FakeRegistry.opened == []


def test_per_arch_plans_pick_each_platform_and_use_the_source_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, str, str, str | None]] = []

    def copy(*args: Any, platform: str | None) -> CopyResult:
        _, repo, ref, _, target_repo, tag = args
        calls.append((repo, ref, target_repo, tag, platform))
        return CopyResult(ref, "application/vnd.oci.image.manifest.v1+json", 3, 0, 1, 10 * 1024 * 1024)

    monkeypatch.setattr(image_copy, "source_digest", lambda *a, **k: SOURCE_DIGEST)
    monkeypatch.setattr(image_copy, "copy_image", copy)
    image = {
        "arches": ["amd64", "arm"],
        "source": {"reference": "quay.io/team/x_{arch}:1", "credentialsSecretRef": {"name": "pull"}},
    }
    ctx = context(image, {("secrets", "team", "pull"): docker_config_secret("quay.io")})
    result = image_copy.copy_step(ctx, FakeRegistry)  # type: ignore[arg-type]
    assert (result.condition.status, result.condition.reason) == ("True", "Copied")
    assert calls == [
        ("team/x_amd64", SOURCE_DIGEST, "edge/svc_amd64", "2.0", "amd64"),
        ("team/x_arm", SOURCE_DIGEST, "edge/svc_arm", "2.0", "arm"),
    ]
    sources = [e for e in FakeRegistry.opened if e.host == "quay.io"]
    assert {(e.username, e.password) for e in sources} == {("reader", "s3cret-pw")}
    assert [e.reason for e in result.events] == ["ImageCopied"]
    assert "s3cret-pw" not in result.events[0].message
    assert ctx.progress.status["copy"] == {
        "source": "quay.io/team/x_amd64:1",
        "sourceDigests": {"amd64": SOURCE_DIGEST, "arm": SOURCE_DIGEST},
        "lastCopiedTime": "2026-11-28T12:00:00Z",
        "bytesCopied": 20 * 1024 * 1024,
    }


def test_a_target_that_holds_the_source_digest_is_not_copied_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_copy, "source_digest", lambda *a, **k: SOURCE_DIGEST)
    monkeypatch.setattr(image_copy, "copy_image", lambda *a, **k: pytest.fail("copied again"))
    FakeRegistry.target_tags = {("edge/svc", "2.0"): SOURCE_DIGEST}
    previous = {"copy": {"lastCopiedTime": "2026-11-27T00:00:00Z", "bytesCopied": 5}}
    ctx = context({"layout": "MultiArchIndex", "source": {"reference": "quay.io/x:1"}}, status=previous)
    result = image_copy.copy_step(ctx, FakeRegistry)  # type: ignore[arg-type]
    assert (result.condition.reason, result.events) == ("UpToDate", ())
    assert ctx.progress.status["copy"]["lastCopiedTime"] == "2026-11-27T00:00:00Z"
    assert ctx.progress.status["copy"]["sourceDigests"] == {"index": SOURCE_DIGEST}


def test_a_moved_source_is_copied_again(monkeypatch: pytest.MonkeyPatch) -> None:
    copied: list[str] = []
    monkeypatch.setattr(image_copy, "source_digest", lambda *a, **k: SOURCE_DIGEST)
    monkeypatch.setattr(
        image_copy, "copy_image", lambda *a, **k: copied.append(a[2]) or CopyResult(SOURCE_DIGEST, "", 1, 0, 2, 1)
    )
    FakeRegistry.target_tags = {("edge/svc", "2.0"): OLD_DIGEST}
    result = image_copy.copy_step(
        context({"layout": "MultiArchIndex", "source": {"reference": "quay.io/x:1"}}), FakeRegistry
    )  # type: ignore[arg-type]
    assert (result.condition.reason, copied) == ("Copied", [SOURCE_DIGEST])


@pytest.mark.parametrize("reason", ["DigestMismatch", "SourceNotFound", "RegistryUnreachable", "CopyFailed"])
def test_copy_failures_back_off_and_keep_counting(monkeypatch: pytest.MonkeyPatch, reason: str) -> None:
    def broken(*_: Any, **__: Any) -> str:
        raise RegistryError(reason, f"quay.io/x:1: {reason}")  # type: ignore[arg-type]

    monkeypatch.setattr(image_copy, "source_digest", broken)
    image = {"layout": "MultiArchIndex", "source": {"reference": "quay.io/x:1"}}
    first = context(image)
    result = image_copy.copy_step(first, FakeRegistry)  # type: ignore[arg-type]
    assert (result.condition.status, result.condition.reason, result.retry_after) == ("False", reason, 5.0)
    again = context(image, status={"retry": first.progress.status["retry"]})
    result = image_copy.copy_step(again, FakeRegistry)  # type: ignore[arg-type]
    assert (again.progress.status["retry"]["attempts"], result.retry_after) == (2, 10.0)
    assert again.progress.status["retry"]["step"] == "ImageCopied"
