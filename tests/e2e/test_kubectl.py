"""kubectl 1.32 against the sandbox: apply the samples, get, wait, delete."""

from __future__ import annotations

import base64
import threading
import time

import yaml

from tests.e2e.conftest import SAMPLES, Sandbox, wait_for


def test_apply_samples_twice_then_get(sandbox: Sandbox) -> None:
    first = sandbox.kubectl("apply", "-f", str(SAMPLES))
    assert "edgeserviceimage.edge.horizon.dev/hello created" in first.stdout
    assert "edgepublication.edge.horizon.dev/hello created" in first.stdout
    second = sandbox.kubectl("apply", "-f", str(SAMPLES))
    assert "edgeserviceimage.edge.horizon.dev/hello unchanged" in second.stdout
    assert "configmap/weather-horizon-files unchanged" in second.stdout
    # stringData never comes back from the server, so apply re-sends it: "configured", as on a real cluster.
    assert "secret/exchange-credentials configured" in second.stdout
    secret = yaml.safe_load(
        sandbox.kubectl("get", "secret", "exchange-credentials", "-n", "horizon-demo", "-o", "yaml").stdout
    )
    assert "stringData" not in secret
    assert base64.b64decode(secret["data"]["username"]) == b"publisher"

    listing = sandbox.kubectl("get", "esi", "-n", "horizon-demo").stdout
    header = listing.splitlines()[0].split()
    assert header[:3] == ["NAME", "READY", "REASON"] or {"NAME", "READY", "REASON", "AGE"} <= set(header)
    assert "hello" in listing

    obj = yaml.safe_load(sandbox.kubectl("get", "edgeserviceimage", "hello", "-n", "horizon-demo", "-o", "yaml").stdout)
    assert obj["spec"]["image"]["name"] == "hello"
    assert obj["metadata"]["generation"] == 1
    assert obj["metadata"]["uid"]
    assert obj["metadata"]["resourceVersion"]
    # Defaults from the CRD schema were applied by the server.
    assert obj["spec"]["registry"]["openshift"]["adoptExistingNamespace"] is False

    categories = sandbox.kubectl("get", "horizon", "-n", "horizon-demo", "-o", "name").stdout.split()
    assert "edgeserviceimage.edge.horizon.dev/hello" in categories
    assert "edgepublication.edge.horizon.dev/hello" in categories

    # Deleting the namespace takes its contents with it, and kubectl waits until it is gone.
    deleted = sandbox.kubectl("delete", "-f", str(SAMPLES), "--timeout=30s")
    assert 'namespace "horizon-demo" deleted' in deleted.stdout
    assert sandbox.kubectl("get", "esi", "hello", "-n", "horizon-demo", check=False).returncode != 0


def test_apply_change_bumps_generation(sandbox: Sandbox) -> None:
    manifest = """
apiVersion: edge.horizon.dev/v1alpha1
kind: EdgeServiceImage
metadata: {name: gen, namespace: kubectl-gen}
spec:
  registry: {openshift: {project: kubectl-gen-images}}
  image: {name: gen, tag: "TAG", arches: [amd64]}
"""
    sandbox.ensure_namespace("kubectl-gen")
    sandbox.kubectl("apply", "-f", "-", input_text=manifest.replace("TAG", "1.0"))
    sandbox.kubectl("apply", "-f", "-", input_text=manifest.replace("TAG", "1.1"))
    obj = yaml.safe_load(sandbox.kubectl("get", "esi", "gen", "-n", "kubectl-gen", "-o", "yaml").stdout)
    assert (obj["spec"]["image"]["tag"], obj["metadata"]["generation"]) == ("1.1", 2)
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]


def test_cel_rules_reach_kubectl(sandbox: Sandbox) -> None:
    manifest = """
apiVersion: edge.horizon.dev/v1alpha1
kind: EdgeServiceImage
metadata: {name: two-providers, namespace: default}
spec:
  registry:
    openshift: {project: p-two}
    generic: {host: registry.example.com}
  image: {name: x, tag: "1", arches: [amd64]}
"""
    result = sandbox.kubectl("apply", "-f", "-", input_text=manifest, check=False)
    assert result.returncode != 0
    assert "exactly one registry provider" in result.stderr
    assert "is invalid" in result.stderr


def test_wait_for_ready_and_delete(sandbox: Sandbox) -> None:
    sandbox.ensure_namespace("kubectl-wait")
    sandbox.kubectl(
        "apply",
        "-f",
        "-",
        input_text="""
apiVersion: edge.horizon.dev/v1alpha1
kind: EdgeServiceImage
metadata: {name: waited, namespace: kubectl-wait, finalizers: [example.com/hold]}
spec:
  registry: {generic: {host: registry.example.com}}
  image: {name: waited, tag: "1", arches: [amd64]}
""",
    )
    api = sandbox.custom_objects()

    def become_ready() -> None:
        time.sleep(1.0)
        condition = {
            "type": "Ready",
            "status": "True",
            "reason": "Published",
            "message": "",
            "lastTransitionTime": "2026-11-27T12:00:00Z",
        }
        api.patch_namespaced_custom_object_status(
            "edge.horizon.dev",
            "v1alpha1",
            "kubectl-wait",
            "edgeserviceimages",
            "waited",
            {"status": {"conditions": [condition]}},
        )

    threading.Thread(target=become_ready, daemon=True).start()
    waited = sandbox.kubectl("wait", "--for=condition=Ready", "esi/waited", "-n", "kubectl-wait", "--timeout=20s")
    assert "condition met" in waited.stdout

    # A finalizer holds the object; delete returns, the object lingers with a deletionTimestamp.
    sandbox.kubectl("delete", "esi", "waited", "-n", "kubectl-wait", "--wait=false")
    held = yaml.safe_load(sandbox.kubectl("get", "esi", "waited", "-n", "kubectl-wait", "-o", "yaml").stdout)
    assert held["metadata"]["deletionTimestamp"]
    sandbox.kubectl(
        "patch", "esi", "waited", "-n", "kubectl-wait", "--type=merge", "-p", '{"metadata":{"finalizers":null}}'
    )
    wait_for(
        lambda: sandbox.kubectl("get", "esi", "waited", "-n", "kubectl-wait", check=False).returncode != 0,
        what="the object to be gone",
    )
