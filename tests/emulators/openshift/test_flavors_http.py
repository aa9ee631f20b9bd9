"""What each flavor serves: OpenShift groups only on OpenShift; tokens, reviews, RBAC and kube-root-ca.crt on both."""

from __future__ import annotations

import kubernetes.client as k8s
import pytest
from kubernetes.client.exceptions import ApiException
from openshift_sandbox import MATERIAL, create_service_account, token_for, wait_for

OPENSHIFT_GROUPS = {
    "route.openshift.io",
    "project.openshift.io",
    "imageregistry.operator.openshift.io",
    "image.openshift.io",
}
REVIEW_GROUPS = {"authentication.k8s.io", "authorization.k8s.io", "rbac.authorization.k8s.io"}


@pytest.mark.parametrize("flavor", ["openshift", "kubernetes"])
def test_discovery_per_flavor(sandbox_factory, flavor: str) -> None:
    box = sandbox_factory(flavor=flavor)
    groups = {g.name for g in k8s.ApisApi(box.client()).get_api_versions().groups}
    assert groups >= REVIEW_GROUPS
    assert (groups >= OPENSHIFT_GROUPS) is (flavor == "openshift")
    assert not (OPENSHIFT_GROUPS & groups) or flavor == "openshift"
    namespaces = {n.metadata.name for n in k8s.CoreV1Api(box.client()).list_namespace().items}
    assert ("openshift-image-registry" in namespaces) is (flavor == "openshift")
    roles = {r.metadata.name for r in k8s.RbacAuthorizationV1Api(box.client()).list_cluster_role().items}
    assert {"cluster-admin", "admin", "edit", "view"} <= roles
    assert ("self-provisioner" in roles) is (flavor == "openshift")
    routes = box.kubectl("get", "routes", "-A")
    if flavor == "openshift":
        assert routes.returncode == 0, routes.stderr
    else:
        assert routes.returncode != 0
        assert 'the server doesn\'t have a resource type "routes"' in routes.stderr


def test_kubernetes_flavor_still_does_tokens_reviews_rbac_and_root_ca(sandbox_factory) -> None:
    box = sandbox_factory(flavor="kubernetes")
    create_service_account(box, "p", "robot")
    accounts = {a.metadata.name for a in k8s.CoreV1Api(box.client()).list_namespaced_service_account("p").items}
    assert accounts == {"default", "robot"}  # no builder/deployer outside OpenShift
    bundle = k8s.CoreV1Api(box.client()).read_namespaced_config_map("kube-root-ca.crt", "p").data["ca.crt"]
    assert bundle == MATERIAL["api_server_ca_pem"]  # no ingress CA outside OpenShift
    token = token_for(box, "p", "robot")
    assert k8s.AuthenticationV1Api(box.client(token)).create_self_subject_review({}).status.user_info.username == (
        "system:serviceaccount:p:robot"
    )
    review = k8s.AuthorizationV1Api(box.client(token)).create_self_subject_access_review(
        {"spec": {"resourceAttributes": {"namespace": "p", "verb": "create", "resource": "secrets"}}}
    )
    assert review.status.allowed is False
    with pytest.raises(ApiException) as caught:
        k8s.CustomObjectsApi(box.client()).create_cluster_custom_object(
            "project.openshift.io", "v1", "projectrequests", {"metadata": {"name": "x"}}
        )
    assert caught.value.status == 404


def test_openshift_trust_bundles(sandbox_factory) -> None:
    box = sandbox_factory()
    core = k8s.CoreV1Api(box.client())
    ingress = core.read_namespaced_config_map("default-ingress-cert", "openshift-config-managed").data
    assert ingress == {"ca-bundle.crt": MATERIAL["ingress_ca_pem"]}
    core.create_namespace({"metadata": {"name": "fresh"}})
    bundle = core.read_namespaced_config_map("kube-root-ca.crt", "fresh").data["ca.crt"]
    assert bundle == MATERIAL["api_server_ca_pem"] + MATERIAL["ingress_ca_pem"]
    core.delete_namespaced_config_map("default-ingress-cert", "openshift-config-managed")
    wait_for(
        lambda: core.read_namespaced_config_map("default-ingress-cert", "openshift-config-managed").data == ingress
    )
