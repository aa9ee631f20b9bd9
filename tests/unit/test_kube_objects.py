"""Desired objects: what the manual procedure makes, labelled as ours, and nothing secret misplaced."""

from __future__ import annotations

import base64
import json

import pytest

from horizon_publisher.desired import kube_objects as desired

OWNER = desired.Owner(namespace="team", name="hello", uid="u-1")


def test_role_binding_matches_oc_policy_add_role_to_user() -> None:
    binding = desired.role_binding("p1", "pusher", "edit", OWNER)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pusher", "namespace": "p1"}]
    assert binding["metadata"]["name"] == "horizon-publisher-pusher"
    assert OWNER.owns(binding)


@pytest.mark.parametrize(
    ("spec", "secret", "configmap"),
    [
        ({}, "hello-registry", "hello-registry-ca"),
        ({"output": {"credentialsSecretName": "push", "caConfigMapName": "trust"}}, "push", "trust"),
    ],
)
def test_output_names(spec: dict[str, object], secret: str, configmap: str) -> None:
    assert desired.credentials_secret_name("hello", spec) == secret
    assert desired.ca_config_map_name("hello", spec) == configmap


def test_credentials_secret_is_a_docker_config_for_the_host_and_owned() -> None:
    secret = desired.credentials_secret("hello-registry", OWNER, "reg.apps.example.com", "pusher", "TOKEN")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    entry = config["auths"]["reg.apps.example.com"]
    assert (entry["username"], entry["password"]) == ("pusher", "TOKEN")
    assert base64.b64decode(entry["auth"]) == b"pusher:TOKEN"
    assert desired.read_docker_config(secret, "reg.apps.example.com") == ("pusher", "TOKEN")
    assert "TOKEN" not in json.dumps(secret["metadata"])


@pytest.mark.parametrize(
    "secret",
    [None, {}, {"data": {}}, {"data": {".dockerconfigjson": "bm90LWpzb24="}}, {"data": {".dockerconfigjson": 5}}],
)
def test_read_docker_config_tolerates_garbage(secret: dict[str, object] | None) -> None:
    assert desired.read_docker_config(secret, "host") is None


def test_token_secret_is_what_the_token_controller_fills() -> None:
    secret = desired.token_secret("p1", "pusher", OWNER)
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "pusher"}
    assert "data" not in secret


@pytest.mark.parametrize(
    ("labels", "owned"),
    [
        ({"edge.horizon.dev/owner-namespace": "team", "edge.horizon.dev/owner-name": "hello"}, True),
        ({"edge.horizon.dev/owner-namespace": "team", "edge.horizon.dev/owner-name": "other"}, False),
        ({}, False),
    ],
)
def test_ownership_is_read_from_labels(labels: dict[str, str], owned: bool) -> None:
    assert OWNER.owns({"metadata": {"labels": labels}}) is owned


def _docker_config(entry: object) -> dict[str, object]:
    config = json.dumps({"auths": {"r.example:5000": entry}}).encode()
    return {"data": {".dockerconfigjson": base64.b64encode(config).decode()}}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"auth": base64.b64encode(b"robot$ci:pa:ss").decode()}, ("robot$ci", "pa:ss")),  # docker login's format
        ({"username": "u", "password": "p", "auth": base64.b64encode(b"x:y").decode()}, ("u", "p")),
        ({"auth": base64.b64encode(b"no-separator").decode()}, None),
        ({"auth": base64.b64encode(b":only-password").decode()}, None),
        ({"auth": "!!not base64!!"}, None),
        ({"auth": 7}, None),
        ({"username": "u"}, None),
        ("not an object", None),
    ],
)
def test_read_docker_config_takes_auth_only_entries(entry: object, expected: tuple[str, str] | None) -> None:
    assert desired.read_docker_config(_docker_config(entry), "r.example:5000") == expected
