"""kubectl 1.32, unmodified, against the emulator over TLS."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubeapi_harness import widget_crd

from horizon_publisher.sandbox.kubeapi.runner import EmulatorThread

Kubectl = Callable[..., Any]
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "labels": {"app": "demo"}},
          "spec": {"size": 3}}  # fmt: skip


def write(tmp_path: Path, name: str, *documents: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(documents))
    return str(path)


def test_apply_crd_then_objects_twice_exercises_create_and_patch(kubectl: Kubectl, tmp_path: Path) -> None:
    assert "created" in kubectl("apply", "-f", write(tmp_path, "crd.yaml", widget_crd())).stdout
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"user": "a"}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}, "data": {"k": "1"}}
    first = kubectl("apply", "-f", write(tmp_path, "a.yaml", WIDGET, secret, config)).stdout
    assert first.count("created") == 3
    changed = [
        {**WIDGET, "spec": {"size": 4}},
        {**secret, "stringData": {"user": "b"}},
        {**config, "data": {"k": "2"}},
    ]
    second = kubectl("apply", "-f", write(tmp_path, "b.yaml", *changed)).stdout
    assert second.count("configured") == 3, second
    widget = json.loads(kubectl("get", "widget", "w1", "-o", "json").stdout)
    assert widget["spec"] == {"size": 4, "color": "blue"}
    assert widget["metadata"]["generation"] == 2
    assert json.loads(kubectl("get", "secret", "creds", "-o", "json").stdout)["data"] == {"user": "Yg=="}
    assert yaml.safe_load(kubectl("get", "cm", "conf", "-o", "yaml").stdout)["data"] == {"k": "2"}
    unchanged = kubectl("apply", "-f", write(tmp_path, "b.yaml", *changed)).stdout
    # stringData never survives a write, so kubectl re-sends it: "configured", as with a real server
    assert unchanged.count("unchanged") == 2, unchanged
    assert "secret/creds configured" in unchanged, unchanged


def test_apply_rejects_unknown_fields_like_the_real_server(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", write(tmp_path, "crd.yaml", widget_crd()))
    result = kubectl("apply", "-f", write(tmp_path, "w.yaml", {**WIDGET, "spec": {"size": 1, "bogus": 1}}), check=False)
    assert result.returncode != 0
    assert 'unknown field "spec.bogus"' in result.stderr


def test_get_prints_printer_columns_and_label_selectors_filter(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", write(tmp_path, "crd.yaml", widget_crd()))
    other = {**WIDGET, "metadata": {"name": "w2", "labels": {"app": "other"}}, "spec": {"size": 7}}
    kubectl("apply", "-f", write(tmp_path, "w.yaml", WIDGET, other))
    lines = kubectl("get", "widgets").stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "READY", "AGE"]
    assert lines[1].split()[:2] == ["w1", "3"]
    assert lines[2].split()[:2] == ["w2", "7"]
    assert kubectl("get", "wd", "-l", "app=demo", "-o", "name").stdout.split() == ["widget.example.com/w1"]
    assert kubectl("get", "wd", "-l", "app!=demo", "-o", "name").stdout.split() == ["widget.example.com/w2"]
    namespaces = kubectl("get", "namespaces").stdout
    assert "default" in namespaces
    assert "Active" in namespaces


def test_wait_for_condition_sees_a_background_status_update(
    kubectl: Kubectl, tmp_path: Path, tls_api: EmulatorThread
) -> None:
    kubectl("apply", "-f", write(tmp_path, "crd.yaml", widget_crd()))
    kubectl("apply", "-f", write(tmp_path, "w.yaml", WIDGET))

    def become_ready() -> None:
        time.sleep(0.5)
        status = {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Done"}]}}
        tls_api.call(tls_api.cluster.merge_patch, "example.com/v1/widgets", "default", "w1", status,
                     subresource="status")  # fmt: skip

    thread = threading.Thread(target=become_ready)
    thread.start()
    result = kubectl("wait", "--for=condition=Ready", "widget/w1", "--timeout=10s")
    thread.join()
    assert "condition met" in result.stdout
    assert kubectl("get", "widgets").stdout.splitlines()[1].split()[:3] == ["w1", "3", "True"]


def test_delete_waits_for_a_finalizer_removed_later(kubectl: Kubectl, tmp_path: Path, tls_api: EmulatorThread) -> None:
    kubectl("apply", "-f", write(tmp_path, "crd.yaml", widget_crd()))
    kubectl("apply", "-f", write(tmp_path, "w.yaml", {**WIDGET, "metadata": {"name": "w1", "finalizers": ["x/y"]}}))

    def release() -> None:
        time.sleep(0.7)
        tls_api.call(tls_api.cluster.merge_patch, "example.com/v1/widgets", "default", "w1",
                     {"metadata": {"finalizers": None}})  # fmt: skip

    thread = threading.Thread(target=release)
    thread.start()
    started = time.monotonic()
    result = kubectl("delete", "widget", "w1", "--timeout=10s")
    thread.join()
    assert 'widget.example.com "w1" deleted' in result.stdout
    assert time.monotonic() - started >= 0.6
    assert kubectl("get", "widget", "w1", check=False).returncode != 0


def test_errors_read_like_the_real_server(kubectl: Kubectl) -> None:
    missing = kubectl("get", "secret", "nope", check=False)
    assert missing.returncode != 0
    assert 'secrets "nope" not found' in missing.stderr
    kubectl("create", "configmap", "dup", "--from-literal=a=b")  # typed client: a protobuf body
    duplicate = kubectl("create", "configmap", "dup", check=False)
    assert 'configmaps "dup" already exists' in duplicate.stderr


def test_create_generators_send_protobuf_bodies_that_are_understood(kubectl: Kubectl) -> None:
    kubectl("create", "secret", "generic", "s", "--from-literal=user=me", "--type=example.com/custom")
    kubectl("create", "serviceaccount", "robot")
    kubectl("create", "role", "reader", "--verb=get", "--resource=secrets", "--resource-name=s")
    kubectl("create", "rolebinding", "rb", "--role=reader", "--serviceaccount=default:robot")
    secret = json.loads(kubectl("get", "secret", "s", "-o", "json").stdout)
    assert secret["data"] == {"user": "bWU="}
    assert secret["type"] == "example.com/custom"
    assert "generateName" not in secret["metadata"]
    role = json.loads(kubectl("get", "role", "reader", "-o", "json").stdout)
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s"], "verbs": ["get"]}]
    binding = json.loads(kubectl("get", "rolebinding", "rb", "-o", "json").stdout)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "robot", "namespace": "default"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}
