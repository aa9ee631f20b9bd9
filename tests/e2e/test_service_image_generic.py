"""EdgeServiceImage with the generic provider against a second real registry (htpasswd Basic auth, TLS)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from horizon_publisher.sandbox.images import push_image, resolve_digest
from horizon_publisher.sandbox.pki import ensure_pki
from horizon_publisher.sandbox.registry import RegistryProcess, start_registry, stop_process
from tests.e2e.conftest import RunningOperator, Sandbox, wait_for

NAMESPACE = "operator-e2e"  # the namespace the session's operator watches
USER, PASSWORD = "ci-pusher", "generic-registry-password"


@pytest.fixture(scope="module")
def registry(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    directory = tmp_path_factory.mktemp("generic-registry")
    pki = ensure_pki(Path(sandbox.endpoints["registry"]["caFile"]).parent)
    running = start_registry(directory, pki, auth="htpasswd", htpasswd_users={USER: PASSWORD})
    try:
        yield running
    finally:
        stop_process(running.pid)


def _docker_config(host: str) -> str:
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return json.dumps({"auths": {host: {"username": USER, "password": PASSWORD, "auth": auth}}})


def _image(name: str, host: str, **generic: Any) -> dict[str, Any]:
    return {
        "apiVersion": "edge.horizon.dev/v1alpha1",
        "kind": "EdgeServiceImage",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "registry": {"generic": {"host": host, "repositoryPrefix": "team", **generic}},
            "image": {"name": name, "tag": "2.0", "arches": ["amd64", "arm64"]},
        },
    }


def _status(sandbox: Sandbox, name: str) -> dict[str, Any]:
    obj = sandbox.custom_objects().get_namespaced_custom_object(
        "edge.horizon.dev", "v1alpha1", NAMESPACE, "edgeserviceimages", name
    )
    return dict(obj.get("status") or {})


def _ready(status: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})


def test_generic_registry_with_basic_auth_and_a_ca(
    sandbox: Sandbox, operator: RunningOperator, registry: RegistryProcess
) -> None:
    host = f"127.0.0.1:{registry.port}"
    ca = sandbox.endpoints["registry"]["caFile"]
    sandbox.ensure_namespace(NAMESPACE)
    core = sandbox.core()
    core.create_namespaced_secret(
        NAMESPACE,
        {
            "metadata": {"name": "generic-pull"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": _docker_config(host)},
        },
    )
    core.create_namespaced_config_map(
        NAMESPACE, {"metadata": {"name": "generic-ca"}, "data": {"ca.crt": Path(ca).read_text()}}
    )
    manifest = _image(
        "widget",
        host,
        credentialsSecretRef={"name": "generic-pull"},
        tls={"caRef": {"kind": "ConfigMap", "name": "generic-ca", "key": "ca.crt"}},
    )
    sandbox.kubectl("apply", "-f", "-", input_text=json.dumps(manifest))
    waiting = wait_for(
        lambda: _ready(_status(sandbox, "widget")).get("reason") == "ImageNotFound" and _status(sandbox, "widget")
    )
    assert f"{host}/team/widget_amd64:2.0" in _ready(waiting)["message"]
    digests = {
        arch: push_image(
            f"https://{host}", f"team/widget_{arch}", "2.0", arch=arch, credentials=(USER, PASSWORD), verify=ca
        )
        for arch in ("amd64", "arm64")
    }
    ready = wait_for(
        lambda: _ready(_status(sandbox, "widget")).get("status") == "True" and _status(sandbox, "widget"), timeout=40
    )
    assert {i["arch"]: i["digest"] for i in ready["images"]} == digests
    assert digests["amd64"] == resolve_digest(
        f"https://{host}", "team/widget_amd64", "2.0", credentials=(USER, PASSWORD), verify=ca
    )
    assert [c["type"] for c in ready["conditions"]] == ["Ready", "CATrusted", "CredentialsReady", "ImageResolved"]
    assert (ready["provider"], ready["registry"]["host"]) == ("Generic", host)
    # The same outputs as the OpenShift provider writes: a publication reads every provider alike.
    output = core.read_namespaced_secret("widget-registry", NAMESPACE)
    assert json.loads(base64.b64decode(output.data[".dockerconfigjson"]))["auths"][host]["username"] == USER
    assert core.read_namespaced_config_map("widget-registry-ca", NAMESPACE).data["ca.crt"] == Path(ca).read_text()
    assert PASSWORD not in json.dumps(ready)


@pytest.mark.parametrize(
    ("name", "generic", "reason"),
    [
        ("nosecret", {"credentialsSecretRef": {"name": "absent"}}, "SecretNotFound"),
        ("unreachable-source", {}, "RegistryUnreachable"),
    ],
)
@pytest.mark.usefixtures("operator")
def test_generic_registry_bad_input(
    sandbox: Sandbox,
    registry: RegistryProcess,
    name: str,
    generic: dict[str, Any],
    reason: str,
) -> None:
    sandbox.ensure_namespace(NAMESPACE)
    manifest = _image(name, f"127.0.0.1:{registry.port}", **generic)
    if name == "unreachable-source":  # nothing listens on port 9: the copy cannot start, nothing is written
        manifest["spec"]["image"]["source"] = {"reference": "127.0.0.1:9/example/widget:2.0"}
    sandbox.kubectl("apply", "-f", "-", input_text=json.dumps(manifest))
    status = wait_for(lambda: _ready(_status(sandbox, name)).get("reason") == reason and _status(sandbox, name))
    assert _ready(status)["status"] == "False"


def test_generic_provider_follows_a_bearer_token_challenge(sandbox: Sandbox, operator: RunningOperator) -> None:
    """The sandbox's OpenShift-like registry as a plain registry: Bearer challenge, token from its realm."""
    del operator
    api, core = sandbox.custom_objects(), sandbox.core()
    project = "generic-token-images"
    api.create_cluster_custom_object(
        "project.openshift.io",
        "v1",
        "projectrequests",
        {"apiVersion": "project.openshift.io/v1", "kind": "ProjectRequest", "metadata": {"name": project}},
    )
    core.create_namespaced_service_account(project, {"metadata": {"name": "builder-bot"}})
    from kubernetes import client

    client.RbacAuthorizationV1Api(sandbox.api_client()).create_namespaced_role_binding(
        project,
        {
            "metadata": {"name": "builder-bot-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "builder-bot", "namespace": project}],
        },
    )
    token = core.create_namespaced_service_account_token(
        "builder-bot", project, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    registry = sandbox.endpoints["registry"]
    host, ca = registry["address"], registry["caFile"]
    digest = push_image(f"https://{host}", f"{project}/gadget_amd64", "1", credentials=("bot", token), verify=ca)
    sandbox.ensure_namespace(NAMESPACE)
    auth = base64.b64encode(f"bot:{token}".encode()).decode()
    config = json.dumps({"auths": {host: {"username": "bot", "password": token, "auth": auth}}})
    core.create_namespaced_secret(
        NAMESPACE,
        {
            "metadata": {"name": "gadget-pull"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": config},
        },
    )
    core.create_namespaced_config_map(
        NAMESPACE, {"metadata": {"name": "gadget-ca"}, "data": {"ca.crt": Path(ca).read_text()}}
    )
    manifest = _image(
        "gadget",
        host,
        credentialsSecretRef={"name": "gadget-pull"},
        tls={"caRef": {"kind": "ConfigMap", "name": "gadget-ca"}},
    )
    manifest["spec"]["registry"]["generic"]["repositoryPrefix"] = project
    manifest["spec"]["image"].update(tag="1", arches=["amd64"])
    sandbox.kubectl("apply", "-f", "-", input_text=json.dumps(manifest))
    ready = wait_for(
        lambda: _ready(_status(sandbox, "gadget")).get("status") == "True" and _status(sandbox, "gadget"), timeout=40
    )
    assert ready["images"][0]["digest"] == digest
    assert ready["images"][0]["pinnedReference"] == f"{host}/{project}/gadget_amd64@{digest}"
    assert token not in json.dumps(ready)
