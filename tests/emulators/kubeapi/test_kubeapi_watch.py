"""Watch: initial ADDED, resume from a resourceVersion, 410 Expired, bookmarks, timeouts, selectors."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubeapi_harness import CONFIGMAPS, Client

from horizon_publisher.sandbox.kubeapi.cluster import InMemoryCluster
from horizon_publisher.sandbox.kubeapi.runner import EmulatorThread


def names(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def test_watch_without_resource_version_starts_with_added_for_existing_objects(http: Client) -> None:
    http.create(CONFIGMAPS, {"metadata": {"name": "a"}})
    http.create(CONFIGMAPS, {"metadata": {"name": "b"}})
    events = list(http.watch(CONFIGMAPS, timeoutSeconds=0.3))
    assert names(events) == [("ADDED", "a"), ("ADDED", "b")]
    assert events[0]["object"]["kind"] == "ConfigMap"


def test_watch_from_a_resource_version_replays_only_newer_events(http: Client) -> None:
    http.create(CONFIGMAPS, {"metadata": {"name": "a"}})
    rv = http.read(CONFIGMAPS)["metadata"]["resourceVersion"]
    http.patch(f"{CONFIGMAPS}/a", {"data": {"k": "v"}})
    http.create(CONFIGMAPS, {"metadata": {"name": "b"}})
    http.delete(f"{CONFIGMAPS}/a")
    events = list(http.watch(CONFIGMAPS, resourceVersion=rv, timeoutSeconds=0.3))
    assert names(events) == [("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs)
    assert rvs[0] > int(rv)


def test_watch_streams_live_changes(http: Client) -> None:
    received: list[dict[str, Any]] = []
    rv = http.read(CONFIGMAPS)["metadata"]["resourceVersion"]

    def follow() -> None:
        received.extend(http.watch(CONFIGMAPS, resourceVersion=rv, timeoutSeconds=1))

    thread = threading.Thread(target=follow)
    thread.start()
    time.sleep(0.3)
    http.create(CONFIGMAPS, {"metadata": {"name": "live"}})
    thread.join(10)
    assert names(received) == [("ADDED", "live")]


def test_too_old_resource_version_is_one_error_event_with_410_expired() -> None:
    with EmulatorThread(InMemoryCluster(event_window=3)) as api:
        http = Client(api.url, api.admin_token)
        first = http.create(CONFIGMAPS, {"metadata": {"name": "a"}})["metadata"]["resourceVersion"]
        for index in range(5):
            http.patch(f"{CONFIGMAPS}/a", {"data": {"i": str(index)}})
        events = list(http.watch(CONFIGMAPS, resourceVersion=first))
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"].startswith(f"too old resource version: {first} (")


def test_bookmarks_are_sent_periodically_and_before_closing_on_timeout(http: Client) -> None:
    http.create(CONFIGMAPS, {"metadata": {"name": "a"}})
    rv = http.read(CONFIGMAPS)["metadata"]["resourceVersion"]
    started = time.monotonic()
    events = list(http.watch(CONFIGMAPS, resourceVersion=rv, timeoutSeconds=1.6, allowWatchBookmarks="true"))
    elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 5
    assert [e["type"] for e in events] == ["BOOKMARK"] * len(events)
    assert len(events) >= 3
    assert events[-1]["object"] == {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}


def test_watch_without_bookmarks_sends_none(http: Client) -> None:
    http.create(CONFIGMAPS, {"metadata": {"name": "a"}})
    rv = http.read(CONFIGMAPS)["metadata"]["resourceVersion"]
    assert list(http.watch(CONFIGMAPS, resourceVersion=rv, timeoutSeconds=0.3)) == []


def test_an_object_leaving_the_selector_is_deleted_for_the_watcher(http: Client) -> None:
    http.create(CONFIGMAPS, {"metadata": {"name": "a", "labels": {"keep": "yes"}}})
    rv = http.read(CONFIGMAPS)["metadata"]["resourceVersion"]
    http.patch(f"{CONFIGMAPS}/a", {"metadata": {"labels": {"keep": "no"}}})
    http.patch(f"{CONFIGMAPS}/a", {"metadata": {"labels": {"keep": "yes"}}})
    http.create(CONFIGMAPS, {"metadata": {"name": "other"}})
    events = list(http.watch(CONFIGMAPS, resourceVersion=rv, labelSelector="keep=yes", timeoutSeconds=0.3))
    assert names(events) == [("DELETED", "a"), ("ADDED", "a")]


def test_field_selector_watch_on_one_name(http: Client) -> None:
    for name in ("a", "b"):
        http.create(CONFIGMAPS, {"metadata": {"name": name}})
    events = list(http.watch(CONFIGMAPS, fieldSelector="metadata.name=b", timeoutSeconds=0.3))
    assert names(events) == [("ADDED", "b")]
    legacy = list(http.watch("/api/v1/watch/namespaces/default/configmaps/a", timeoutSeconds=0.3))
    assert names(legacy) == [("ADDED", "a")]


def test_namespaced_watch_ignores_other_namespaces_and_cluster_watch_sees_all(http: Client) -> None:
    http.create("/api/v1/namespaces", {"metadata": {"name": "other"}})
    http.create("/api/v1/namespaces/other/configmaps", {"metadata": {"name": "x"}})
    http.create(CONFIGMAPS, {"metadata": {"name": "y"}})
    assert names(list(http.watch(CONFIGMAPS, timeoutSeconds=0.3))) == [("ADDED", "y")]
    assert len(list(http.watch("/api/v1/configmaps", timeoutSeconds=0.3))) == 2


@pytest.fixture
def closing_api() -> Iterator[EmulatorThread]:
    api = EmulatorThread().start()
    yield api
    api.stop()


def test_stopping_the_server_ends_open_watches(closing_api: EmulatorThread) -> None:
    http = Client(closing_api.url, closing_api.admin_token)
    done = threading.Event()

    def follow() -> None:
        with contextlib.suppress(Exception):  # a reset connection also ends the watch
            list(http.watch(CONFIGMAPS))
        done.set()

    threading.Thread(target=follow, daemon=True).start()
    time.sleep(0.3)
    closing_api.stop()
    assert done.wait(5)
