"""Controllers and admission against an InMemoryCluster directly (no HTTP): seeding, defaults, trust bundles,
tokens controller, escalation checks, route host allocation, registry operator states."""

from __future__ import annotations

import asyncio
import base64

import pytest

from horizon_publisher.sandbox.kubeapi.api import ApiError, UserInfo
from horizon_publisher.sandbox.kubeapi.cluster import InMemoryCluster
from horizon_publisher.sandbox.openshift import SandboxClusterConfig, install
from horizon_publisher.sandbox.openshift.config import generate_ca_pem, generate_rsa_key_pem

RBAC = "rbac.authorization.k8s.io/v1"
ROUTES = "route.openshift.io/v1/routes"
CONFIGS = "imageregistry.operator.openshift.io/v1/configs"
MATERIAL = {
    "sa_signing_key_pem": generate_rsa_key_pem(),
    "api_server_ca_pem": generate_ca_pem("api"),
    "ingress_ca_pem": generate_ca_pem("ingress"),
}
FAST = {"route_delay_seconds": 0.05, "router_admit_delay_seconds": 0.01, "token_controller_delay_seconds": 0.01}


def make_cluster(flavor: str = "openshift", **overrides: object) -> InMemoryCluster:
    cluster = InMemoryCluster()
    install(cluster, SandboxClusterConfig(flavor=flavor, **{**MATERIAL, **FAST, **overrides}))  # type: ignore[arg-type]
    return cluster


def robot(namespace: str = "p", name: str = "robot") -> UserInfo:
    return UserInfo(
        f"system:serviceaccount:{namespace}:{name}",
        groups=("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
    )


async def until(predicate, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("flavor", "present", "absent"),
    [
        ("openshift", ["openshift-image-registry", "openshift-config-managed", "default"], []),
        ("kubernetes", ["default", "kube-system", "kube-public"], ["openshift-image-registry", "openshift"]),
    ],
)
def test_seeded_namespaces_accounts_and_bundles(flavor: str, present: list[str], absent: list[str]) -> None:
    cluster = make_cluster(flavor)
    names = {n["metadata"]["name"] for n in cluster.list("v1/namespaces")}
    assert set(present) <= names
    assert not set(absent) & names
    accounts = {a["metadata"]["name"] for a in cluster.list("v1/serviceaccounts", "default")}
    assert accounts == ({"default", "builder", "deployer"} if flavor == "openshift" else {"default"})
    bundle = cluster.get("v1/configmaps", "kube-public", "kube-root-ca.crt")
    assert bundle is not None
    expected = MATERIAL["api_server_ca_pem"] + (MATERIAL["ingress_ca_pem"] if flavor == "openshift" else "")
    assert bundle["data"]["ca.crt"] == expected
    has_ingress_cert = cluster.get("v1/namespaces", None, "openshift-config-managed") is not None
    assert has_ingress_cert is (flavor == "openshift")


def test_new_namespace_gets_defaults_and_bundle_is_restored() -> None:
    cluster = make_cluster()
    cluster.create("v1/namespaces", {"metadata": {"name": "p"}})
    bindings = {b["metadata"]["name"]: b for b in cluster.list(f"{RBAC}/rolebindings", "p")}
    assert bindings["system:image-pullers"]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:serviceaccounts:p"}
    ]
    assert bindings["system:image-builders"]["roleRef"]["name"] == "system:image-builder"
    assert bindings["system:deployers"]["subjects"][0]["name"] == "deployer"
    cluster.delete("v1/configmaps", "p", "kube-root-ca.crt")
    assert cluster.get("v1/configmaps", "p", "kube-root-ca.crt") is not None
    cluster.merge_patch("v1/configmaps", "p", "kube-root-ca.crt", {"data": {"ca.crt": "tampered"}})
    assert cluster.get("v1/configmaps", "p", "kube-root-ca.crt")["data"]["ca.crt"].startswith("-----BEGIN")
    cluster.delete("v1/serviceaccounts", "p", "default")
    assert cluster.get("v1/serviceaccounts", "p", "default") is not None


def test_namespace_deletion_is_not_undone_by_the_publishers() -> None:
    cluster = make_cluster()
    cluster.create("v1/namespaces", {"metadata": {"name": "gone"}})
    cluster.delete("v1/namespaces", None, "gone")
    assert cluster.get("v1/namespaces", None, "gone") is None
    assert cluster.list("v1/configmaps", "gone") == []


async def test_tokens_controller_fills_and_deletes_orphans() -> None:
    cluster = make_cluster()
    cluster.create("v1/namespaces", {"metadata": {"name": "p"}})
    account = cluster.create("v1/serviceaccounts", {"metadata": {"name": "robot", "namespace": "p"}})
    secret = {
        "metadata": {
            "name": "robot-token",
            "namespace": "p",
            "annotations": {"kubernetes.io/service-account.name": "robot"},
        },
        "type": "kubernetes.io/service-account-token",
    }
    cluster.create("v1/secrets", secret)
    assert not (cluster.get("v1/secrets", "p", "robot-token").get("data") or {}).get("token")  # asynchronous
    await until(lambda: bool((cluster.get("v1/secrets", "p", "robot-token").get("data") or {}).get("token")))
    filled = cluster.get("v1/secrets", "p", "robot-token")
    assert base64.b64decode(filled["data"]["namespace"]) == b"p"
    assert base64.b64decode(filled["data"]["ca.crt"]).decode().count("BEGIN CERTIFICATE") == 2
    assert filled["metadata"]["annotations"]["kubernetes.io/service-account.uid"] == account["metadata"]["uid"]
    orphan = {
        **secret,
        "metadata": {
            **secret["metadata"],
            "name": "orphan",
            "annotations": {"kubernetes.io/service-account.name": "nobody"},
        },
    }
    cluster.create("v1/secrets", orphan)
    await until(lambda: cluster.get("v1/secrets", "p", "orphan") is None)
    cluster.delete("v1/serviceaccounts", "p", "robot")
    assert cluster.get("v1/secrets", "p", "robot-token") is None


def test_role_binding_escalation_is_refused_unless_held_or_bind() -> None:
    cluster = make_cluster()
    cluster.create("v1/namespaces", {"metadata": {"name": "p"}})
    edit_binding = {
        "metadata": {"name": "robot-edit", "namespace": "p"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "other", "namespace": "p"}],
    }
    with pytest.raises(ApiError) as caught:
        cluster.create(f"{RBAC}/rolebindings", edit_binding, user=robot())
    assert caught.value.code == 403
    assert caught.value.message.startswith(
        'rolebindings.rbac.authorization.k8s.io "robot-edit" is forbidden: user "system:serviceaccount:p:robot" '
        '(groups=["system:serviceaccounts" "system:serviceaccounts:p" "system:authenticated"]) is attempting to '
        "grant RBAC permissions not currently held:\n{APIGroups:["
    )
    # As the project's admin (what ProjectRequest grants), the same binding is allowed.
    admin = {
        **edit_binding,
        "metadata": {"name": "robot-admin", "namespace": "p"},
        "roleRef": {**edit_binding["roleRef"], "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "p"}],
    }
    cluster.create(f"{RBAC}/rolebindings", admin)
    cluster.create(f"{RBAC}/rolebindings", edit_binding, user=robot())
    # ... but not in another namespace, and not a ClusterRoleBinding.
    cluster.create("v1/namespaces", {"metadata": {"name": "q"}})
    with pytest.raises(ApiError, match="attempting to grant RBAC permissions"):
        cluster.create(
            f"{RBAC}/rolebindings", {**edit_binding, "metadata": {"name": "x", "namespace": "q"}}, user=robot()
        )
    crb = {k: v for k, v in edit_binding.items() if k != "metadata"} | {"metadata": {"name": "x"}}
    with pytest.raises(ApiError, match="attempting to grant RBAC permissions"):
        cluster.create(f"{RBAC}/clusterrolebindings", crb, user=robot())


def test_bind_verb_allows_binding_a_role_not_held() -> None:
    cluster = make_cluster()
    cluster.create("v1/namespaces", {"metadata": {"name": "p"}})
    cluster.create(
        f"{RBAC}/roles",
        {
            "metadata": {"name": "binder", "namespace": "p"},
            "rules": [
                {
                    "verbs": ["bind"],
                    "apiGroups": ["rbac.authorization.k8s.io"],
                    "resources": ["clusterroles"],
                    "resourceNames": ["system:image-builder"],
                }
            ],
        },
    )
    cluster.create(
        f"{RBAC}/rolebindings",
        {
            "metadata": {"name": "binder", "namespace": "p"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "binder"},
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "p"}],
        },
    )
    builder = {
        "metadata": {"name": "b", "namespace": "p"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:image-builder"},
        "subjects": [{"kind": "User", "name": "bob"}],
    }
    cluster.create(f"{RBAC}/rolebindings", builder, user=robot())
    with pytest.raises(ApiError, match="forbidden"):
        cluster.create(
            f"{RBAC}/rolebindings",
            {**builder, "metadata": {"name": "c", "namespace": "p"}, "roleRef": {**builder["roleRef"], "name": "edit"}},
            user=robot(),
        )


def test_role_creation_escalation_and_aggregation_rule_need_authority() -> None:
    cluster = make_cluster()
    cluster.create("v1/namespaces", {"metadata": {"name": "p"}})
    cluster.create(
        f"{RBAC}/rolebindings",
        {
            "metadata": {"name": "a", "namespace": "p"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "p"}],
        },
    )
    held = {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}
    cluster.create(f"{RBAC}/roles", {"metadata": {"name": "ok", "namespace": "p"}, "rules": [held]}, user=robot())
    not_held = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
    with pytest.raises(ApiError, match="attempting to grant RBAC permissions"):
        cluster.create(
            f"{RBAC}/roles", {"metadata": {"name": "no", "namespace": "p"}, "rules": [not_held]}, user=robot()
        )


def test_clusterrole_aggregation_follows_new_labelled_roles() -> None:
    cluster = make_cluster("kubernetes")
    extra = {"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}
    cluster.create(
        f"{RBAC}/clusterroles",
        {
            "metadata": {"name": "widgets-view", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
            "rules": [extra],
        },
    )
    for role in ("view", "edit", "admin"):
        assert extra in cluster.get(f"{RBAC}/clusterroles", None, role)["rules"]


def test_route_host_allocation_and_defaults() -> None:
    cluster = make_cluster(apps_domain="apps.example.test")
    cluster.create("v1/namespaces", {"metadata": {"name": "p"}})
    made = cluster.create(ROUTES, {"metadata": {"name": "web.v2", "namespace": "p"}, "spec": {"to": {"name": "svc"}}})
    assert made["spec"]["host"] == "web-v2-p.apps.example.test"
    assert made["spec"]["to"] == {"name": "svc", "kind": "Service", "weight": 100}
    assert made["spec"]["wildcardPolicy"] == "None"
    custom = cluster.create(
        ROUTES,
        {"metadata": {"name": "c", "namespace": "p"}, "spec": {"host": "mine.example.test", "to": {"name": "svc"}}},
    )
    assert custom["spec"]["host"] == "mine.example.test"
    with pytest.raises(ApiError) as caught:
        cluster.create(ROUTES, {"metadata": {"name": "bad", "namespace": "p"}, "spec": {}})
    assert caught.value.code == 422
    assert caught.value.message == 'Route.route.openshift.io "bad" is invalid: spec.to.name: Required value'


async def test_router_refuses_a_host_claimed_by_an_older_route_then_admits_when_freed() -> None:
    cluster = make_cluster()
    for ns in ("a", "b"):
        cluster.create("v1/namespaces", {"metadata": {"name": ns}})
    spec = {"host": "shared.example.test", "to": {"name": "svc"}}
    cluster.create(ROUTES, {"metadata": {"name": "first", "namespace": "a"}, "spec": spec})
    await asyncio.sleep(1.1)  # creationTimestamp has one-second resolution
    cluster.create(ROUTES, {"metadata": {"name": "second", "namespace": "b"}, "spec": spec})

    def admitted(ns: str, name: str) -> str | None:
        ingress = (cluster.get(ROUTES, ns, name).get("status") or {}).get("ingress") or []
        return ingress[0]["conditions"][0]["status"] if ingress else None

    await until(lambda: admitted("a", "first") == "True" and admitted("b", "second") is not None)
    second = cluster.get(ROUTES, "b", "second")["status"]["ingress"][0]["conditions"][0]
    assert (second["status"], second["reason"]) == ("False", "HostAlreadyClaimed")
    cluster.delete(ROUTES, "a", "first")
    await until(lambda: admitted("b", "second") == "True")


@pytest.mark.parametrize(
    ("state", "route_expected", "removed_status"),
    [("Managed", True, "False"), ("Force", True, "False"), ("Unmanaged", False, "False"), ("Removed", False, "True")],
)
async def test_registry_operator_states(state: str, route_expected: bool, removed_status: str) -> None:
    cluster = make_cluster(registry_management_state=state)
    cluster.merge_patch(CONFIGS, None, "cluster", {"spec": {"defaultRoute": True}})
    await asyncio.sleep(0.2)
    assert (cluster.get(ROUTES, "openshift-image-registry", "default-route") is not None) is route_expected
    conditions = {c["type"]: c for c in cluster.get(CONFIGS, None, "cluster")["status"]["conditions"]}
    assert conditions["Removed"]["status"] == removed_status
    if state == "Unmanaged":
        assert conditions["Available"]["message"] == "The registry configuration is set to unmanaged mode"


async def test_switching_to_removed_deletes_the_operator_route() -> None:
    cluster = make_cluster()
    cluster.merge_patch(CONFIGS, None, "cluster", {"spec": {"defaultRoute": True}})
    await until(lambda: cluster.get(ROUTES, "openshift-image-registry", "default-route") is not None)
    cluster.merge_patch(CONFIGS, None, "cluster", {"spec": {"managementState": "Removed"}})
    await until(lambda: cluster.get(ROUTES, "openshift-image-registry", "default-route") is None)


async def test_image_stream_repositories_follow_the_default_route() -> None:
    cluster = make_cluster()
    cluster.create("v1/namespaces", {"metadata": {"name": "p"}})
    streams = "image.openshift.io/v1/imagestreams"
    first = cluster.create(streams, {"metadata": {"name": "app_amd64", "namespace": "p"}})
    assert first["status"] == {"dockerImageRepository": "image-registry.openshift-image-registry.svc:5000/p/app_amd64"}
    cluster.merge_patch(CONFIGS, None, "cluster", {"spec": {"defaultRoute": True}})
    await until(lambda: cluster.get(ROUTES, "openshift-image-registry", "default-route") is not None)
    second = cluster.create(streams, {"metadata": {"name": "app_arm64", "namespace": "p"}})
    assert second["status"]["publicDockerImageRepository"] == (
        "default-route-openshift-image-registry.apps.sandbox.horizon.test/p/app_arm64"
    )


@pytest.mark.parametrize(("name", "ok"), [("app_amd64", True), ("app.v2-x", True), ("App", False), ("a__b", False)])
def test_image_stream_names_follow_the_repository_component_rule(name: str, ok: bool) -> None:
    cluster = make_cluster()
    cluster.create("v1/namespaces", {"metadata": {"name": "p"}})
    stream = {"metadata": {"name": name, "namespace": "p"}}
    if ok:
        cluster.create("image.openshift.io/v1/imagestreams", stream)
        return
    with pytest.raises(ApiError) as caught:
        cluster.create("image.openshift.io/v1/imagestreams", stream)
    assert caught.value.code == 422
    assert caught.value.message == (
        f'ImageStream.image.openshift.io "{name}" is invalid: metadata.name: Invalid value: "{name}": '
        'must match "[a-z0-9]+(?:[._-][a-z0-9]+)*"'
    )
