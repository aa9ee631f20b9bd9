"""Exposing the internal registry, as the manual procedure does it (``oc patch configs.imageregistry...``)."""

from __future__ import annotations

import time

import kubernetes.client as k8s
import pytest
from kubernetes.client.exceptions import ApiException
from openshift_sandbox import Sandbox, wait_for

GROUP, VERSION = "imageregistry.operator.openshift.io", "v1"
HOST = "default-route-openshift-image-registry.apps.sandbox.horizon.test"


def _route(box: Sandbox) -> dict | None:
    try:
        return k8s.CustomObjectsApi(box.client()).get_namespaced_custom_object(
            "route.openshift.io", "v1", "openshift-image-registry", "routes", "default-route"
        )
    except ApiException as error:
        if error.status != 404:
            raise
        return None


def _set_default_route(box: Sandbox, value: bool) -> None:
    k8s.CustomObjectsApi(box.client()).patch_cluster_custom_object(
        GROUP, VERSION, "configs", "cluster", {"spec": {"defaultRoute": value}}
    )


def test_default_route_appears_only_after_the_delay_with_the_real_shape(sandbox: Sandbox) -> None:
    config = k8s.CustomObjectsApi(sandbox.client()).get_cluster_custom_object(GROUP, VERSION, "configs", "cluster")
    assert config["spec"]["managementState"] == "Managed"
    assert config["spec"]["defaultRoute"] is False
    started = time.monotonic()
    _set_default_route(sandbox, True)
    assert _route(sandbox) is None  # the operator has not synced yet
    route = wait_for(lambda: _route(sandbox))
    assert time.monotonic() - started >= sandbox.config.route_delay_seconds * 0.9
    assert route["spec"]["host"] == HOST
    assert route["spec"]["to"] == {"kind": "Service", "name": "image-registry", "weight": 100}
    assert route["spec"]["port"] == {"targetPort": "5000-tcp"}
    assert route["spec"]["tls"] == {"termination": "reencrypt"}
    assert route["metadata"]["annotations"] == {"imageregistry.openshift.io": "true"}
    admitted = wait_for(lambda: (_route(sandbox) or {}).get("status", {}).get("ingress"))
    assert admitted[0]["host"] == HOST
    assert admitted[0]["routerName"] == "default"
    assert admitted[0]["routerCanonicalHostname"] == "router-default.apps.sandbox.horizon.test"
    assert admitted[0]["wildcardPolicy"] == "None"
    condition = admitted[0]["conditions"][0]
    assert (condition["type"], condition["status"]) == ("Admitted", "True")
    assert condition["lastTransitionTime"]

    # The procedure's step 3 with kubectl, and the table kubectl prints.
    host = sandbox.kubectl(
        "get", "route", "default-route", "-n", "openshift-image-registry", "-o", "jsonpath={.spec.host}"
    )
    assert (host.returncode, host.stdout) == (0, HOST), host.stderr
    table = sandbox.kubectl("get", "route", "-n", "openshift-image-registry")
    assert table.returncode == 0, table.stderr
    assert "default-route" in table.stdout
    assert HOST in table.stdout
    assert "reencrypt" in table.stdout

    _set_default_route(sandbox, False)
    wait_for(lambda: _route(sandbox) is None)


@pytest.mark.parametrize("state", ["Removed", "Unmanaged"])
def test_no_route_unless_managed(sandbox_factory, state: str) -> None:
    box = sandbox_factory(registry_management_state=state, route_delay_seconds=0.05)
    _set_default_route(box, True)
    time.sleep(0.4)
    assert _route(box) is None
    config = k8s.CustomObjectsApi(box.client()).get_cluster_custom_object(GROUP, VERSION, "configs", "cluster")
    conditions = {c["type"]: c for c in config["status"]["conditions"]}
    assert conditions["Available"]["reason"] == state
    assert conditions["Removed"]["status"] == ("True" if state == "Removed" else "False")


def test_config_schema_rejects_bad_values(sandbox: Sandbox) -> None:
    api = k8s.CustomObjectsApi(sandbox.client())
    with pytest.raises(ApiException) as caught:
        api.patch_cluster_custom_object(
            GROUP, VERSION, "configs", "cluster", {"spec": {"managementState": "Sometimes"}}
        )
    assert caught.value.status == 422


def test_user_routes_get_generated_hosts_and_are_admitted(sandbox: Sandbox) -> None:
    k8s.CoreV1Api(sandbox.client()).create_namespace({"metadata": {"name": "web"}})
    api = k8s.CustomObjectsApi(sandbox.client())
    created = api.create_namespaced_custom_object(
        "route.openshift.io",
        "v1",
        "web",
        "routes",
        {
            "apiVersion": "route.openshift.io/v1",
            "kind": "Route",
            "metadata": {"name": "front"},
            "spec": {"to": {"kind": "Service", "name": "front"}},
        },
    )
    assert created["spec"]["host"] == "front-web.apps.sandbox.horizon.test"

    def admitted() -> bool:
        route = api.get_namespaced_custom_object("route.openshift.io", "v1", "web", "routes", "front")
        ingress = route.get("status", {}).get("ingress") or []
        return bool(ingress) and ingress[0]["conditions"][0]["status"] == "True"

    wait_for(admitted)
