"""What a fresh cluster already has, and the controllers that give every new namespace its defaults.

- Namespaces ``default``, ``kube-system``, ``kube-public`` (+ ``kube-node-lease``); on OpenShift also
  ``openshift``, ``openshift-config``, ``openshift-config-managed``, ``openshift-image-registry``,
  ``openshift-ingress``.
- KCM's serviceaccounts controller: ServiceAccount ``default`` in every namespace (recreated when
  deleted); OpenShift adds ``builder`` and ``deployer`` and openshift-controller-manager's default
  RoleBindings ``system:image-pullers``/``system:image-builders``/``system:deployers``.
- Bootstrap ClusterRoles/ClusterRoleBindings (``rbac_roles``).
"""

from __future__ import annotations

from horizon_publisher.sandbox.kubeapi.api import JSON, Cluster, WatchEvent
from horizon_publisher.sandbox.openshift.config import SandboxClusterConfig
from horizon_publisher.sandbox.openshift.rbac_cluster import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    ROLE_BINDINGS,
)
from horizon_publisher.sandbox.openshift.rbac_roles import (
    KUBERNETES_CLUSTER_ROLE_BINDINGS,
    KUBERNETES_CLUSTER_ROLES,
    OPENSHIFT_CLUSTER_ROLE_BINDINGS,
    OPENSHIFT_CLUSTER_ROLES,
    openshift_namespace_role_bindings,
)
from horizon_publisher.sandbox.openshift.runtime import create_if_missing, is_terminating

NAMESPACES, SERVICE_ACCOUNTS = "v1/namespaces", "v1/serviceaccounts"
KUBERNETES_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
OPENSHIFT_NAMESPACES = (
    "openshift",
    "openshift-config",
    "openshift-config-managed",
    "openshift-image-registry",
    "openshift-ingress",
)


def namespace_object(name: str) -> JSON:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


class NamespaceDefaults:
    """Default ServiceAccounts (and, on OpenShift, default RoleBindings) in every namespace."""

    def __init__(self, cluster: Cluster, config: SandboxClusterConfig) -> None:
        self._cluster = cluster
        self._accounts = ("default", "builder", "deployer") if config.is_openshift else ("default",)
        self._openshift = config.is_openshift

    def install(self) -> None:
        self._cluster.on_change(NAMESPACES, self._on_namespace)
        self._cluster.on_change(SERVICE_ACCOUNTS, self._on_service_account)

    def sync_all(self) -> None:
        for namespace in self._cluster.list(NAMESPACES):
            self._ensure(namespace)

    def _on_namespace(self, event: WatchEvent) -> None:
        if event.type == "ADDED":
            self._ensure(event.object)

    def _on_service_account(self, event: WatchEvent) -> None:
        meta = event.object["metadata"]
        if event.type == "DELETED" and meta["name"] in self._accounts:
            namespace = self._cluster.get(NAMESPACES, None, meta["namespace"])
            if not is_terminating(namespace):
                self._ensure_account(meta["namespace"], meta["name"])

    def _ensure(self, namespace: JSON) -> None:
        if is_terminating(namespace):
            return
        name = namespace["metadata"]["name"]
        for account in self._accounts:
            self._ensure_account(name, account)
        if self._openshift:
            for role_binding in openshift_namespace_role_bindings(name):
                create_if_missing(self._cluster, ROLE_BINDINGS, role_binding)

    def _ensure_account(self, namespace: str, name: str) -> None:
        create_if_missing(
            self._cluster,
            SERVICE_ACCOUNTS,
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": namespace},
            },
        )


def seed_rbac(cluster: Cluster, config: SandboxClusterConfig) -> None:
    roles = KUBERNETES_CLUSTER_ROLES + (OPENSHIFT_CLUSTER_ROLES if config.is_openshift else ())
    bindings = KUBERNETES_CLUSTER_ROLE_BINDINGS + (OPENSHIFT_CLUSTER_ROLE_BINDINGS if config.is_openshift else ())
    for role in roles:
        create_if_missing(cluster, CLUSTER_ROLES, role)
    for cluster_binding in bindings:
        create_if_missing(cluster, CLUSTER_ROLE_BINDINGS, cluster_binding)


def seed_namespaces(cluster: Cluster, config: SandboxClusterConfig) -> None:
    names = KUBERNETES_NAMESPACES + (OPENSHIFT_NAMESPACES if config.is_openshift else ())
    for name in names:
        create_if_missing(cluster, NAMESPACES, namespace_object(name))
