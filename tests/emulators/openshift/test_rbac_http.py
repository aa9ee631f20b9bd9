"""RBAC over HTTP: what a RoleBinding grants, the real 403 text, the reviews the registry's token endpoint makes,
kubectl auth can-i, and the escalation check on RoleBinding creation."""

from __future__ import annotations

import json
from typing import Any

import kubernetes.client as k8s
import pytest
import requests
from kubernetes.client.exceptions import ApiException
from openshift_sandbox import Sandbox, bind, create_service_account, token_for

IMAGE = "image.openshift.io"


def test_edit_binding_allows_secrets_in_its_project_only_with_the_real_403(sandbox: Sandbox) -> None:
    create_service_account(sandbox, "p", "robot")
    k8s.CoreV1Api(sandbox.client()).create_namespace({"metadata": {"name": "other"}})
    bind(sandbox, "p", "edit", "p", "robot")
    token = token_for(sandbox, "p", "robot")
    core = k8s.CoreV1Api(sandbox.client(token))
    secret = {"metadata": {"name": "s"}, "stringData": {"k": "v"}}
    assert core.create_namespaced_secret("p", secret).metadata.name == "s"
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_secret("other", secret)
    assert caught.value.status == 403
    status = json.loads(caught.value.body)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        'secrets is forbidden: User "system:serviceaccount:p:robot" cannot create resource "secrets" in API group "" '
        'in the namespace "other"'
    )


def _review(box: Sandbox, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """As the registry does it: plain HTTPS with the caller's bearer token."""
    response = requests.post(
        f"{box.url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        verify=str(box.api.ca_file),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _can(box: Sandbox, token: str, verb: str, resource: str, *, sub: str = "", name: str = "app_amd64") -> bool:
    attributes = {
        "namespace": "p",
        "verb": verb,
        "group": IMAGE,
        "resource": resource,
        "subresource": sub,
        "name": name,
    }
    review = _review(
        box,
        token,
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        },
    )
    assert review["kind"] == "SelfSubjectAccessReview"
    return bool(review["status"]["allowed"])


@pytest.mark.parametrize(
    ("role", "pull", "push", "create_stream"),
    [
        ("edit", True, True, True),
        ("system:image-builder", True, True, True),
        ("system:image-pusher", True, True, False),
        ("system:image-puller", True, False, False),
        (None, False, False, False),
    ],
)
def test_registry_token_endpoint_reviews(
    sandbox: Sandbox, role: str | None, pull: bool, push: bool, create_stream: bool
) -> None:
    create_service_account(sandbox, "p", "robot")
    create_service_account(sandbox, "q", "stranger")
    if role:
        bind(sandbox, "p", role, "p", "robot")
    # "nobody" is a ServiceAccount of another project: every SA of P itself pulls via system:image-pullers.
    token = token_for(sandbox, "p", "robot") if role else token_for(sandbox, "q", "stranger")
    who = _review(
        sandbox,
        token,
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    expected_user = "system:serviceaccount:p:robot" if role else "system:serviceaccount:q:stranger"
    assert who["status"]["userInfo"]["username"] == expected_user
    assert "system:authenticated" in who["status"]["userInfo"]["groups"]
    assert _can(sandbox, token, "get", "imagestreams", sub="layers") is pull
    assert _can(sandbox, token, "update", "imagestreams", sub="layers") is push
    assert _can(sandbox, token, "create", "imagestreams") is create_stream


def test_every_account_of_a_project_pulls_from_it(sandbox: Sandbox) -> None:
    create_service_account(sandbox, "p", "robot")
    token = token_for(sandbox, "p", "robot")
    assert _can(sandbox, token, "get", "imagestreams", sub="layers")  # via the default system:image-pullers binding
    assert not _can(sandbox, token, "update", "imagestreams", sub="layers")


def test_review_with_an_invalid_token_is_401(sandbox: Sandbox) -> None:
    response = requests.post(
        f"{sandbox.url}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        headers={"Authorization": "Bearer not-a-token"},
        verify=str(sandbox.api.ca_file),
        timeout=10,
    )
    assert response.status_code == 401


def test_subject_access_review_by_an_admin_names_the_binding(sandbox: Sandbox) -> None:
    create_service_account(sandbox, "p", "robot")
    bind(sandbox, "p", "edit", "p", "robot")
    api = k8s.AuthorizationV1Api(sandbox.client())
    spec = {
        "user": "system:serviceaccount:p:robot",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:p", "system:authenticated"],
        "resourceAttributes": {
            "namespace": "p",
            "verb": "update",
            "group": IMAGE,
            "resource": "imagestreams",
            "subresource": "layers",
            "name": "app",
        },
    }
    status = api.create_subject_access_review({"spec": spec}).status
    assert status.allowed is True
    assert (
        status.reason
        == 'RBAC: allowed by RoleBinding "p-robot-edit/p" of ClusterRole "edit" to ServiceAccount "robot/p"'
    )
    with pytest.raises(ApiException) as caught:
        api.create_subject_access_review({"spec": {"resourceAttributes": spec["resourceAttributes"]}})
    assert caught.value.status == 422
    assert "at least one of user or group must be specified" in json.loads(caught.value.body)["message"]


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        (("create", "secrets", "-n", "p"), "yes"),
        (("create", "secrets", "-n", "other"), "no"),
        (("update", "imagestreams.image.openshift.io", "--subresource=layers", "-n", "p"), "yes"),
        (("delete", "namespaces"), "no"),
    ],
)
def test_kubectl_auth_can_i(sandbox: Sandbox, args: tuple[str, ...], answer: str) -> None:
    create_service_account(sandbox, "p", "robot")
    k8s.CoreV1Api(sandbox.client()).create_namespace({"metadata": {"name": "other"}})
    bind(sandbox, "p", "edit", "p", "robot")
    result = sandbox.kubectl("auth", "can-i", *args, token=token_for(sandbox, "p", "robot"))
    assert result.stdout.strip() == answer, result.stderr
    assert result.returncode == (0 if answer == "yes" else 1)


def test_kubectl_auth_whoami(sandbox: Sandbox) -> None:
    create_service_account(sandbox, "p", "robot")
    result = sandbox.kubectl(
        "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", token=token_for(sandbox, "p", "robot")
    )
    assert (result.returncode, result.stdout) == (0, "system:serviceaccount:p:robot"), result.stderr


def test_role_binding_escalation_over_http(sandbox: Sandbox) -> None:
    create_service_account(sandbox, "p", "binder")
    create_service_account(sandbox, "p", "robot")
    rbac = k8s.RbacAuthorizationV1Api(sandbox.client())
    rbac.create_namespaced_role(
        "p",
        {
            "metadata": {"name": "binding-writer"},
            "rules": [{"verbs": ["create"], "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        "p",
        {
            "metadata": {"name": "binder"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "binding-writer"},
            "subjects": [{"kind": "ServiceAccount", "name": "binder", "namespace": "p"}],
        },
    )
    edit_for_robot = {
        "metadata": {"name": "robot-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "p"}],
    }
    binder = k8s.RbacAuthorizationV1Api(sandbox.client(token_for(sandbox, "p", "binder")))
    with pytest.raises(ApiException) as caught:
        binder.create_namespaced_role_binding("p", edit_for_robot)
    assert caught.value.status == 403
    message = json.loads(caught.value.body)["message"]
    assert message.startswith(
        'rolebindings.rbac.authorization.k8s.io "robot-edit" is forbidden: user "system:serviceaccount:p:binder"'
    )
    assert "is attempting to grant RBAC permissions not currently held:" in message
    # Holding edit itself (admin covers it) makes the same binding legal.
    bind(sandbox, "p", "admin", "p", "binder")
    binder.create_namespaced_role_binding("p", edit_for_robot)
