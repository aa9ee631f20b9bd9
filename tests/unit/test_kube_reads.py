"""The process-wide read cache: identical GETs within the TTL answered once; our writes invalidate at once."""

from __future__ import annotations

import pytest
from tests.unit.test_kube_one_pass import SECRET, FakeApi

from horizon_publisher.clients.kube import CONFIG_MAPS, SECRETS, SERVICE_ACCOUNTS, Kube
from horizon_publisher.clients.kube_reads import ReadCache


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_reads_within_the_ttl_are_answered_once_and_copied() -> None:
    clock, api = Clock(), FakeApi()
    api.objects[SECRET] = {"data": {"k": "v"}}
    kube = Kube(api, ReadCache(ttl=1.0, clock=clock))  # type: ignore[arg-type]
    first = kube.get(SECRETS, "ns", "s")
    assert first is not None
    first["data"]["k"] = "mutated by a caller"
    assert kube.get(SECRETS, "ns", "s") == {"data": {"k": "v"}}
    assert kube.for_one_pass().get(SECRETS, "ns", "s") == {"data": {"k": "v"}}  # another reconcile, same answer
    assert api.calls == [f"GET {SECRET}"]
    clock.now += 1.0
    kube.get(SECRETS, "ns", "s")
    assert api.calls == [f"GET {SECRET}"] * 2


@pytest.mark.parametrize(
    ("write", "path"),
    [
        (lambda k: k.merge_patch(SECRETS, "ns", "s", {}), SECRET),
        (lambda k: k.replace(SECRETS, "ns", "s", {}), SECRET),
        (lambda k: k.delete(SECRETS, "ns", "s"), SECRET),
        (lambda k: k.create(SECRETS, "ns", {"metadata": {"name": "s"}}), SECRET),
        (lambda k: k.request_token("ns", "sa", 600), "/api/v1/namespaces/ns/serviceaccounts/sa"),
    ],
    ids=["patch", "replace", "delete", "create", "token"],
)
def test_our_writes_invalidate_the_object(write: object, path: str) -> None:
    clock, api = Clock(), FakeApi()
    api.objects[path] = {"v": 1}
    kube = Kube(api, ReadCache(ttl=60.0, clock=clock))  # type: ignore[arg-type]
    resource, name = (SERVICE_ACCOUNTS, "sa") if "serviceaccounts" in path else (SECRETS, "s")
    kube.get(resource, "ns", name)
    write(kube)  # type: ignore[operator]
    api.objects[path] = {"v": 2}
    assert kube.get(resource, "ns", name) == {"v": 2}


def test_misses_are_cached_too_and_other_objects_are_apart() -> None:
    api = FakeApi()
    kube = Kube(api, ReadCache(ttl=60.0, clock=Clock()))  # type: ignore[arg-type]
    assert kube.get(CONFIG_MAPS, "ns", "absent") is None
    assert kube.get(CONFIG_MAPS, "ns", "absent") is None
    assert kube.get(CONFIG_MAPS, "other", "absent") is None
    assert len(api.calls) == 2


def test_a_zero_ttl_turns_it_off() -> None:
    api = FakeApi()
    kube = Kube(api, ReadCache(ttl=0))  # type: ignore[arg-type]
    kube.get(CONFIG_MAPS, "ns", "a")
    kube.get(CONFIG_MAPS, "ns", "a")
    assert len(api.calls) == 2


def test_custom_resources_are_always_read_afresh() -> None:
    """A publication reconciled because its image changed must see that change."""
    from horizon_publisher.clients.kube import SERVICE_IMAGES

    api = FakeApi()
    kube = Kube(api, ReadCache(ttl=60.0, clock=Clock()))  # type: ignore[arg-type]
    kube.get(SERVICE_IMAGES, "ns", "img")
    kube.get(SERVICE_IMAGES, "ns", "img")
    assert len(api.calls) == 2
