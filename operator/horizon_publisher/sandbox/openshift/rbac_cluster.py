"""RBAC wired into the emulator: the authorizer, the escalation checks, the aggregation controller."""

from __future__ import annotations

from horizon_publisher.sandbox.kubeapi.api import JSON, AdmissionHook, Cluster, UserInfo, WatchEvent
from horizon_publisher.sandbox.kubeapi.errors import forbidden, not_found
from horizon_publisher.sandbox.openshift.rbac import (
    MASTERS_GROUP,
    RBAC_GROUP,
    Attributes,
    Decision,
    PolicyRule,
    ResourceAttributes,
    authorize,
    escalation_message,
    missing_rules,
    rules_for,
)
from horizon_publisher.sandbox.openshift.rbac_roles import aggregate_cluster_roles

ROLES = f"{RBAC_GROUP}/v1/roles"
CLUSTER_ROLES = f"{RBAC_GROUP}/v1/clusterroles"
ROLE_BINDINGS = f"{RBAC_GROUP}/v1/rolebindings"
CLUSTER_ROLE_BINDINGS = f"{RBAC_GROUP}/v1/clusterrolebindings"
FULL_AUTHORITY = (
    PolicyRule(("*",), ("*",), ("*",)),
    PolicyRule(("*",), non_resource_urls=("*",)),
)


class ClusterRbacSource:
    """:class:`rbac.RbacSource` over the live store."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    def cluster_role_bindings(self) -> list[JSON]:
        return self._cluster.list(CLUSTER_ROLE_BINDINGS)

    def role_bindings(self, namespace: str) -> list[JSON]:
        return self._cluster.list(ROLE_BINDINGS, namespace)

    def cluster_role(self, name: str) -> JSON | None:
        return self._cluster.get(CLUSTER_ROLES, None, name)

    def role(self, namespace: str, name: str) -> JSON | None:
        return self._cluster.get(ROLES, namespace, name)


class RbacAuthorizer:
    """``api.Authorizer`` plus the richer calls the reviews need."""

    def __init__(self, cluster: Cluster, *, openshift: bool) -> None:
        self.source = ClusterRbacSource(cluster)
        self._openshift = openshift

    def decide(self, user: UserInfo, attrs: Attributes) -> Decision:
        return authorize(self.source, user, attrs)

    def __call__(  # noqa: PLR0917 - the positional signature is api.Authorizer's
        self,
        user: UserInfo,
        verb: str,
        group: str,
        resource: str,
        subresource: str,
        namespace: str,
        name: str,
    ) -> bool:
        if self._openshift and group == "project.openshift.io" and resource == "projects" and name:
            # OpenShift's request-info resolver treats a project as its own namespace, so a
            # RoleBinding in P grants "get projects/P".
            namespace = namespace or name
        attrs = ResourceAttributes(verb, group, resource, subresource, namespace, name)
        return self.decide(user, attrs).allowed

    def rules(self, user: UserInfo, namespace: str) -> list[PolicyRule]:
        return rules_for(self.source, user, namespace)


class EscalationCheck:
    """Kubernetes' RBAC storage guards: no granting of rights you do not hold.

    Unless the writer has ``bind`` on the referenced role (bindings) or ``escalate`` (roles).
    """

    def __init__(self, cluster: Cluster, authorizer: RbacAuthorizer) -> None:
        self._cluster = cluster
        self._authz = authorizer

    def install(self) -> None:
        self._cluster.add_admission(ROLE_BINDINGS, self._check_binding(ROLE_BINDINGS))
        self._cluster.add_admission(CLUSTER_ROLE_BINDINGS, self._check_binding(CLUSTER_ROLE_BINDINGS))
        self._cluster.add_admission(ROLES, self._check_role(ROLES))
        self._cluster.add_admission(CLUSTER_ROLES, self._check_role(CLUSTER_ROLES))

    def _check_binding(self, key: str) -> AdmissionHook:
        def hook(operation: str, new: JSON | None, old: JSON | None, user: UserInfo) -> None:
            del old
            if operation == "DELETE" or new is None or MASTERS_GROUP in user.groups:
                return
            namespace = new["metadata"].get("namespace", "") if key == ROLE_BINDINGS else ""
            role_ref = new.get("roleRef") or {}
            role_resource = "clusterroles" if role_ref.get("kind") == "ClusterRole" else "roles"
            bind = ResourceAttributes("bind", RBAC_GROUP, role_resource, "", namespace, role_ref.get("name", ""))
            if self._authz.decide(user, bind).allowed:
                return
            role = (
                self._cluster.get(CLUSTER_ROLES, None, role_ref.get("name", ""))
                if role_resource == "clusterroles"
                else self._cluster.get(ROLES, namespace, role_ref.get("name", ""))
            )
            if role is None:
                role_key = CLUSTER_ROLES if role_resource == "clusterroles" else ROLES
                raise not_found(self._cluster.resource(role_key), role_ref.get("name", ""))
            wanted = [PolicyRule.from_json(r) for r in role.get("rules") or ()]
            missing = missing_rules(self._authz.rules(user, namespace), wanted)
            if missing:
                resource = self._cluster.resource(key)
                raise forbidden(resource, new["metadata"]["name"], escalation_message(user, missing))

        return hook

    def _check_role(self, key: str) -> AdmissionHook:
        def hook(operation: str, new: JSON | None, old: JSON | None, user: UserInfo) -> None:
            del old
            if operation == "DELETE" or new is None or MASTERS_GROUP in user.groups:
                return
            namespace = new["metadata"].get("namespace", "") if key == ROLES else ""
            name = new["metadata"]["name"]
            resource = self._cluster.resource(key)
            escalate = ResourceAttributes("escalate", RBAC_GROUP, resource.plural, "", namespace, name)
            if self._authz.decide(user, escalate).allowed:
                return
            held = self._authz.rules(user, namespace)
            if new.get("aggregationRule") and missing_rules(held, FULL_AUTHORITY):
                raise forbidden(resource, name, "must have cluster-admin privileges to use the aggregationRule")
            missing = missing_rules(held, [PolicyRule.from_json(r) for r in new.get("rules") or ()])
            if missing:
                raise forbidden(resource, name, escalation_message(user, missing))

        return hook


class AggregationController:
    """kube-controller-manager's clusterrole-aggregation controller."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    def install(self) -> None:
        self._cluster.on_change(CLUSTER_ROLES, self._on_change)

    def _on_change(self, event: WatchEvent) -> None:
        del event
        self.sync()

    def sync(self) -> None:
        roles = self._cluster.list(CLUSTER_ROLES)
        current = {r["metadata"]["name"]: r.get("rules") or [] for r in roles}
        for name, rules in aggregate_cluster_roles(roles).items():
            if rules != current.get(name):
                self._cluster.merge_patch(CLUSTER_ROLES, None, name, {"rules": rules})
