"""The official ``kubernetes`` Python client against the emulator: CRUD, 409, 422, watch with RV, 410."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubeapi_harness import widget, widget_crd
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from horizon_publisher.sandbox.kubeapi.cluster import InMemoryCluster
from horizon_publisher.sandbox.kubeapi.runner import EmulatorThread


def api_client(api: EmulatorThread) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = api.url
    configuration.api_key = {"authorization": f"Bearer {api.admin_token}"}
    return client.ApiClient(configuration)


@pytest.fixture
def core(api: EmulatorThread) -> Iterator[client.CoreV1Api]:
    with api_client(api) as connection:
        yield client.CoreV1Api(connection)


def test_secret_crud_and_typed_errors(core: client.CoreV1Api) -> None:
    body = client.V1Secret(metadata=client.V1ObjectMeta(name="s", labels={"a": "b"}), string_data={"k": "v"})
    created = core.create_namespaced_secret("default", body)
    assert created.data == {"k": "dg=="}
    assert created.metadata.uid
    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_secret("default", body)
    assert duplicate.value.status == 409
    assert duplicate.value.reason == "Conflict"
    created.data["k2"] = "dzI="
    replaced = core.replace_namespaced_secret("s", "default", created)
    assert replaced.data == {"k": "dg==", "k2": "dzI="}
    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_secret("s", "default", created)  # created.metadata.resource_version is old now
    assert stale.value.status == 409
    patched = core.patch_namespaced_secret("s", "default", {"metadata": {"labels": {"c": "d"}}})
    assert patched.metadata.labels == {"a": "b", "c": "d"}  # the client sends strategic merge for dicts
    assert [s.metadata.name for s in core.list_namespaced_secret("default", label_selector="c=d").items] == ["s"]
    core.delete_namespaced_secret("s", "default")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_secret("s", "default")
    assert missing.value.status == 404


def test_invalid_name_is_422(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Bad_Name")))
    assert invalid.value.status == 422


def test_custom_objects_crud_and_status(api: EmulatorThread) -> None:
    with api_client(api) as connection:
        extensions = client.ApiextensionsV1Api(connection)
        extensions.create_custom_resource_definition(widget_crd())
        objects = client.CustomObjectsApi(connection)
        created = objects.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget("w"))
        assert created["metadata"]["generation"] == 1
        with pytest.raises(ApiException) as invalid:
            objects.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget("bad", 0))
        assert invalid.value.status == 422
        status = {"status": {"phase": "Ready"}}
        objects.patch_namespaced_custom_object_status("example.com", "v1", "default", "widgets", "w", status)
        fetched = objects.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")
        assert fetched["status"] == {"phase": "Ready"}
        assert fetched["spec"] == {"size": 1, "color": "blue"}


def test_watch_resumes_from_a_resource_version(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a")))
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="b")))
    core.delete_namespaced_config_map("a", "default")
    stream = watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1)
    seen = [(event["type"], event["object"].metadata.name) for event in stream]
    assert seen == [("ADDED", "b"), ("DELETED", "a")]


def test_watch_with_a_compacted_resource_version_raises_410() -> None:
    with EmulatorThread(InMemoryCluster(event_window=2)) as api, api_client(api) as connection:
        core = client.CoreV1Api(connection)
        for name in ("a", "b", "c", "d"):
            core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name)))
        with pytest.raises(ApiException) as expired:
            list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version="1",
                                      timeout_seconds=1))  # fmt: skip
        assert expired.value.status == 410
