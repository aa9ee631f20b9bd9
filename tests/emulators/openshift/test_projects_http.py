"""``oc new-project`` as the operator does it: ProjectRequest with a ServiceAccount token; Projects as a view."""

from __future__ import annotations

import json

import kubernetes.client as k8s
import pytest
from kubernetes.client.exceptions import ApiException
from openshift_sandbox import Sandbox, bind, create_service_account, token_for, wait_for

GROUP, VERSION = "project.openshift.io", "v1"
OPERATOR = "system:serviceaccount:ops:operator"


def _provisioner(box: Sandbox) -> str:
    """The operator's SA with its own ClusterRoleBinding to self-provisioner (SAs are not oauth users)."""
    create_service_account(box, "ops", "operator")
    bind(box, "", "self-provisioner", "ops", "operator", cluster_wide=True)
    return token_for(box, "ops", "operator")


def _request(box: Sandbox, token: str, name: str, **extra: str) -> dict:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ProjectRequest", "metadata": {"name": name}, **extra}
    return k8s.CustomObjectsApi(box.client(token)).create_cluster_custom_object(GROUP, VERSION, "projectrequests", body)


def test_project_request_creates_namespace_and_admin_binding(sandbox: Sandbox) -> None:
    token = _provisioner(sandbox)
    project = _request(sandbox, token, "edge", displayName="Edge services", description="images")
    assert project["kind"] == "Project"
    assert project["apiVersion"] == "project.openshift.io/v1"
    assert project["metadata"]["name"] == "edge"
    assert project["status"]["phase"] == "Active"
    namespace = k8s.CoreV1Api(sandbox.client()).read_namespace("edge")
    assert namespace.metadata.annotations == {
        "openshift.io/requester": OPERATOR,
        "openshift.io/display-name": "Edge services",
        "openshift.io/description": "images",
    }
    admin = k8s.RbacAuthorizationV1Api(sandbox.client()).read_namespaced_role_binding("admin", "edge")
    assert admin.role_ref.kind == "ClusterRole"
    assert admin.role_ref.name == "admin"
    assert [(s.kind, s.name) for s in admin.subjects] == [("User", OPERATOR)]
    # The requester is now the project's admin: it can do step 5-6 of the procedure in it.
    core = k8s.CoreV1Api(sandbox.client(token))
    core.create_namespaced_service_account("edge", {"metadata": {"name": "pusher"}})
    k8s.RbacAuthorizationV1Api(sandbox.client(token)).create_namespaced_role_binding(
        "edge",
        {
            "metadata": {"name": "edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "pusher", "namespace": "edge"}],
        },
    )
    # ... and the new namespace got the cluster's defaults.
    accounts = {a.metadata.name for a in core.list_namespaced_service_account("edge").items}
    assert {"default", "builder", "deployer", "pusher"} <= accounts
    assert core.read_namespaced_config_map("kube-root-ca.crt", "edge").data["ca.crt"] == sandbox.config.root_ca_bundle


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        (
            "openshift-edge",
            403,
            'project.project.openshift.io "openshift-edge" is forbidden: cannot request a project '
            'starting with "openshift-"',
        ),
        (
            "kube-x",
            403,
            'project.project.openshift.io "kube-x" is forbidden: cannot request a project starting with "kube-"',
        ),
        (
            "openshift",
            403,
            'project.project.openshift.io "openshift" is forbidden: cannot request a project with the name "openshift"',
        ),
        ("default", 409, 'project.project.openshift.io "default" already exists'),
        (
            "e",
            422,
            'ProjectRequest.project.openshift.io "e" is invalid: metadata.name: Invalid value: "e": must be at '
            "least 2 characters long",
        ),
        (
            "Edge_1",
            422,
            'ProjectRequest.project.openshift.io "Edge_1" is invalid: metadata.name: Invalid value: '
            '"Edge_1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters',
        ),
    ],
)
def test_project_request_refusals(sandbox: Sandbox, name: str, code: int, message: str) -> None:
    token = _provisioner(sandbox)
    with pytest.raises(ApiException) as caught:
        _request(sandbox, token, name)
    assert caught.value.status == code
    assert json.loads(caught.value.body)["message"].startswith(message)


def test_duplicate_request_is_409_and_unprivileged_accounts_are_403(sandbox: Sandbox) -> None:
    token = _provisioner(sandbox)
    _request(sandbox, token, "edge")
    with pytest.raises(ApiException) as caught:
        _request(sandbox, token, "edge")
    assert caught.value.status == 409
    create_service_account(sandbox, "ops", "plain")
    with pytest.raises(ApiException) as caught:
        _request(sandbox, token_for(sandbox, "ops", "plain"), "another")
    assert caught.value.status == 403
    assert json.loads(caught.value.body)["message"] == (
        'projectrequests.project.openshift.io is forbidden: User "system:serviceaccount:ops:plain" cannot create '
        'resource "projectrequests" in API group "project.openshift.io" at the cluster scope'
    )


def test_projects_list_get_and_delete_follow_access(sandbox: Sandbox) -> None:
    token = _provisioner(sandbox)
    _request(sandbox, token, "mine")
    k8s.CoreV1Api(sandbox.client()).create_namespace({"metadata": {"name": "theirs"}})
    api = k8s.CustomObjectsApi(sandbox.client(token))
    listed = api.list_cluster_custom_object(GROUP, VERSION, "projects")
    assert listed["kind"] == "ProjectList"
    assert [p["metadata"]["name"] for p in listed["items"]] == ["mine"]
    everything = k8s.CustomObjectsApi(sandbox.client()).list_cluster_custom_object(GROUP, VERSION, "projects")
    assert {"mine", "theirs", "default"} <= {p["metadata"]["name"] for p in everything["items"]}
    assert (
        api.get_cluster_custom_object(GROUP, VERSION, "projects", "mine")["metadata"]["annotations"][
            "openshift.io/requester"
        ]
        == OPERATOR
    )
    with pytest.raises(ApiException) as caught:
        api.get_cluster_custom_object(GROUP, VERSION, "projects", "theirs")
    assert caught.value.status == 403
    api.delete_cluster_custom_object(GROUP, VERSION, "projects", "mine")

    def namespace_gone() -> bool:
        try:
            namespace = k8s.CoreV1Api(sandbox.client()).read_namespace("mine")
        except ApiException as error:
            return error.status == 404
        assert namespace.status.phase == "Terminating"
        return False

    wait_for(namespace_gone)
