"""The manual OpenShift procedure, by hand against the sandbox: it is what the operator will automate.

Project via ProjectRequest, a service account bound to ``edit``, a TokenRequest token, then a push to
the real registry under the route's host name (connect-to mapping, TLS verified against the route
host) and a pull with skopeo. The registry's token endpoint decides through the emulator's RBAC.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from horizon_publisher.clients.connect_to import parse_connect_to_list, session_with_connect_to
from horizon_publisher.sandbox.images import RegistryError, push_image, resolve_digest
from tests.e2e.conftest import Sandbox, wait_for

PROJECT = "flow-images"


def _token(sandbox: Sandbox, account: str) -> str:
    response = sandbox.core().create_namespaced_service_account_token(
        account, PROJECT, {"spec": {"expirationSeconds": 3600}}
    )
    token: str = response.status.token
    return token


@pytest.fixture(scope="module")
def project(sandbox: Sandbox) -> dict[str, Any]:
    api = sandbox.custom_objects()
    api.create_cluster_custom_object(
        "project.openshift.io",
        "v1",
        "projectrequests",
        {"apiVersion": "project.openshift.io/v1", "kind": "ProjectRequest", "metadata": {"name": PROJECT}},
    )
    core = sandbox.core()
    for account in ("pusher", "reader"):
        core.create_namespaced_service_account(PROJECT, {"metadata": {"name": account}})
    rbac = sandbox.api_client()
    from kubernetes import client

    client.RbacAuthorizationV1Api(rbac).create_namespaced_role_binding(
        PROJECT,
        {
            "metadata": {"name": "pusher-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "pusher", "namespace": PROJECT}],
        },
    )
    # The registry operator exposes the registry once asked (oc patch configs.imageregistry ... defaultRoute).
    api.patch_cluster_custom_object(
        "imageregistry.operator.openshift.io", "v1", "configs", "cluster", {"spec": {"defaultRoute": True}}
    )
    route = wait_for(
        lambda: next(
            iter(
                api.list_namespaced_custom_object("route.openshift.io", "v1", "openshift-image-registry", "routes")[
                    "items"
                ]
            ),
            None,
        ),
        what="the default route",
    )
    return {"host": route["spec"]["host"], "route": route}


def test_route_matches_the_sandbox_registry(sandbox: Sandbox, project: dict[str, Any]) -> None:
    assert project["host"] == sandbox.endpoints["registry"]["host"]
    ingress = project["route"].get("status", {}).get("ingress") or wait_for(
        lambda: (
            sandbox.custom_objects()
            .get_namespaced_custom_object(
                "route.openshift.io", "v1", "openshift-image-registry", "routes", "default-route"
            )["status"]
            .get("ingress")
        ),
        what="admission",
    )
    assert ingress[0]["conditions"][0]["type"] == "Admitted"


def test_push_with_edit_token_through_the_route_host(sandbox: Sandbox, project: dict[str, Any]) -> None:
    session = session_with_connect_to(parse_connect_to_list(sandbox.endpoints["registry"]["connectTo"]))
    url = f"https://{project['host']}"
    ca = sandbox.endpoints["registry"]["caFile"]
    token = _token(sandbox, "pusher")
    digest = push_image(
        url, f"{PROJECT}/hello_amd64", "1.0.0", credentials=("anyone", token), verify=ca, session=session
    )
    assert digest.startswith("sha256:")
    assert (
        resolve_digest(url, f"{PROJECT}/hello_amd64", "1.0.0", credentials=("x", token), verify=ca, session=session)
        == digest
    )

    # Every service account in the project may pull (OpenShift's system:image-pullers binding) ...
    reader = _token(sandbox, "reader")
    assert (
        resolve_digest(url, f"{PROJECT}/hello_amd64", "1.0.0", credentials=("x", reader), verify=ca, session=session)
        == digest
    )
    # ... but not push.
    with pytest.raises(RegistryError) as denied:
        push_image(url, f"{PROJECT}/hello_amd64", "1.0.1", credentials=("x", reader), verify=ca, session=session)
    assert denied.value.status in (401, 403)
    # A token the API server does not accept is refused at the token endpoint.
    with pytest.raises(RegistryError):
        resolve_digest(
            url, f"{PROJECT}/hello_amd64", "1.0.0", credentials=("x", "not-a-token"), verify=ca, session=session
        )


def test_skopeo_pulls_what_was_pushed(sandbox: Sandbox, project: dict[str, Any], tmp_path: Path) -> None:
    skopeo = shutil.which("skopeo")
    assert skopeo, "skopeo is required (scripts/setup.sh installs it)"
    registry = sandbox.endpoints["registry"]
    token = _token(sandbox, "pusher")
    push_image(registry["url"], f"{PROJECT}/skopeo_amd64", "2.0", credentials=("x", token), verify=registry["caFile"])
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    shutil.copy(registry["caFile"], cert_dir / "ca.crt")
    inspected = subprocess.run(
        [
            skopeo,
            "inspect",
            "--cert-dir",
            str(cert_dir),
            "--creds",
            f"x:{token}",
            f"docker://{registry['address']}/{PROJECT}/skopeo_amd64:2.0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert inspected.returncode == 0, inspected.stderr.replace(token, "***")
    expected = resolve_digest(
        registry["url"], f"{PROJECT}/skopeo_amd64", "2.0", credentials=("x", token), verify=registry["caFile"]
    )
    assert json.loads(inspected.stdout)["Digest"] == expected
