"""Bootstrap ClusterRoles/ClusterRoleBindings (Kubernetes' and OpenShift's, trimmed to what matters here).

Rules follow ``plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`` (Kubernetes) and
openshift-apiserver ``pkg/bootstrappolicy/policy.go``; resources this sandbox never serves (builds,
deploymentconfigs, templates, ...) are left out. ``admin``/``edit``/``view`` are aggregated exactly as in
the real clusters, by :func:`aggregate_cluster_roles`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from horizon_publisher.sandbox.openshift.rbac import RBAC_GROUP, rule, url_rule

JSON = dict[str, Any]

READ = ("get", "list", "watch")
WRITE = ("create", "delete", "deletecollection", "patch", "update")
READ_WRITE = READ + WRITE
AGG_ADMIN = "rbac.authorization.k8s.io/aggregate-to-admin"
AGG_EDIT = "rbac.authorization.k8s.io/aggregate-to-edit"
AGG_VIEW = "rbac.authorization.k8s.io/aggregate-to-view"
IMAGE = "image.openshift.io"
ROUTE = "route.openshift.io"
PROJECT = "project.openshift.io"
BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def cluster_role(
    name: str,
    rules: Iterable[JSON] = (),
    *,
    labels: Mapping[str, str] | None = None,
    aggregate_from: Iterable[str] = (),
) -> JSON:
    role: JSON = {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": {**BOOTSTRAP_LABELS, **(labels or {})},
            "annotations": dict(AUTOUPDATE),
        },
        "rules": list(rules),
    }
    selectors = [{"matchLabels": {label: "true"}} for label in aggregate_from]
    if selectors:
        role["aggregationRule"] = {"clusterRoleSelectors": selectors}
    return role


def binding(kind: str, name: str, role: str, subjects: Iterable[JSON], namespace: str = "") -> JSON:
    """A ClusterRoleBinding (``kind='ClusterRoleBinding'``) or RoleBinding to a ClusterRole."""
    metadata: JSON = {"name": name}
    if kind == "ClusterRoleBinding":
        metadata |= {"labels": dict(BOOTSTRAP_LABELS), "annotations": dict(AUTOUPDATE)}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": list(subjects),
    }


def group(name: str) -> JSON:
    return {"apiGroup": RBAC_GROUP, "kind": "Group", "name": name}


def user(name: str) -> JSON:
    return {"apiGroup": RBAC_GROUP, "kind": "User", "name": name}


def service_account(namespace: str, name: str) -> JSON:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


_APPS = ("apps",)
_WORKLOADS = (
    "daemonsets",
    "deployments",
    "deployments/scale",
    "replicasets",
    "replicasets/scale",
    "statefulsets",
    "statefulsets/scale",
)

KUBERNETES_CLUSTER_ROLES: tuple[JSON, ...] = (
    cluster_role("cluster-admin", [rule(["*"], ["*"], ["*"]), url_rule(["*"], ["*"])]),
    cluster_role("admin", aggregate_from=[AGG_ADMIN]),
    cluster_role("edit", labels={AGG_ADMIN: "true"}, aggregate_from=[AGG_EDIT]),
    cluster_role("view", labels={AGG_EDIT: "true"}, aggregate_from=[AGG_VIEW]),
    cluster_role(
        "system:aggregate-to-admin",
        [
            rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
            rule(READ_WRITE, [RBAC_GROUP], ["rolebindings", "roles"]),
        ],
        labels={AGG_ADMIN: "true"},
    ),
    cluster_role(
        "system:aggregate-to-edit",
        [
            rule(
                READ,
                [""],
                ["pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"],
            ),
            rule(["impersonate"], [""], ["serviceaccounts"]),
            rule(WRITE, [""], ["pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"]),
            rule(["create"], [""], ["pods/eviction"]),
            rule(
                WRITE,
                [""],
                [
                    "replicationcontrollers",
                    "replicationcontrollers/scale",
                    "serviceaccounts",
                    "services",
                    "services/proxy",
                    "persistentvolumeclaims",
                    "configmaps",
                    "secrets",
                    "events",
                ],
            ),
            rule(["create"], [""], ["serviceaccounts/token"]),
            rule(WRITE, _APPS, _WORKLOADS),
            rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
            rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
            rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
            rule(WRITE, ["networking.k8s.io"], ["networkpolicies", "ingresses"]),
            rule(WRITE, ["coordination.k8s.io"], ["leases"]),
        ],
        labels={AGG_EDIT: "true"},
    ),
    cluster_role(
        "system:aggregate-to-view",
        [
            rule(
                READ,
                [""],
                [
                    "pods",
                    "replicationcontrollers",
                    "replicationcontrollers/scale",
                    "serviceaccounts",
                    "services",
                    "services/status",
                    "endpoints",
                    "persistentvolumeclaims",
                    "persistentvolumeclaims/status",
                    "configmaps",
                ],
            ),
            rule(
                READ,
                [""],
                [
                    "limitranges",
                    "resourcequotas",
                    "bindings",
                    "events",
                    "pods/status",
                    "resourcequotas/status",
                    "namespaces/status",
                    "replicationcontrollers/status",
                    "pods/log",
                ],
            ),
            rule(READ, [""], ["namespaces"]),
            rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
            rule(READ, _APPS, ("controllerrevisions", *_WORKLOADS)),
            rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
            rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
            rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            rule(READ, ["networking.k8s.io"], ["networkpolicies", "ingresses", "ingresses/status"]),
        ],
        labels={AGG_VIEW: "true"},
    ),
    cluster_role(
        "system:basic-user",
        [
            rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
        ],
    ),
    cluster_role(
        "system:discovery",
        [
            url_rule(
                ["get"],
                [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )
        ],
    ),
    cluster_role(
        "system:public-info-viewer",
        [url_rule(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"])],
    ),
    cluster_role(
        "system:auth-delegator",
        [
            rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        ],
    ),
)

KUBERNETES_CLUSTER_ROLE_BINDINGS: tuple[JSON, ...] = (
    binding("ClusterRoleBinding", "cluster-admin", "cluster-admin", [group("system:masters")]),
    binding("ClusterRoleBinding", "system:basic-user", "system:basic-user", [group("system:authenticated")]),
    binding("ClusterRoleBinding", "system:discovery", "system:discovery", [group("system:authenticated")]),
    binding(
        "ClusterRoleBinding",
        "system:public-info-viewer",
        "system:public-info-viewer",
        [group("system:authenticated"), group("system:unauthenticated")],
    ),
)

_IMAGE_STREAM_FAMILY = [
    "imagestreams",
    "imagestreammappings",
    "imagestreamtags",
    "imagetags",
    "imagestreamimages",
]

OPENSHIFT_CLUSTER_ROLES: tuple[JSON, ...] = (
    cluster_role(
        "system:openshift:aggregate-to-admin",
        [
            rule(READ_WRITE, [IMAGE, ""], [*_IMAGE_STREAM_FAMILY, "imagestreams/secrets"]),
            rule(READ, [IMAGE, ""], ["imagestreams/status"]),
            rule(["get", "update"], [IMAGE, ""], ["imagestreams/layers"]),
            rule(["create"], [IMAGE, ""], ["imagestreamimports"]),
            rule(["get", "patch", "update", "delete"], [PROJECT, ""], ["projects"]),
            rule(READ_WRITE, [ROUTE, ""], ["routes"]),
            rule(["create"], [ROUTE, ""], ["routes/custom-host"]),
            rule(READ, [ROUTE, ""], ["routes/status"]),
            rule(["update"], [ROUTE, ""], ["routes/status"]),
        ],
        labels={AGG_ADMIN: "true"},
    ),
    cluster_role(
        "system:openshift:aggregate-to-edit",
        [
            rule(READ_WRITE, [IMAGE, ""], [*_IMAGE_STREAM_FAMILY, "imagestreams/secrets"]),
            rule(READ, [IMAGE, ""], ["imagestreams/status"]),
            rule(["get", "update"], [IMAGE, ""], ["imagestreams/layers"]),
            rule(["create"], [IMAGE, ""], ["imagestreamimports"]),
            rule(["get"], [PROJECT, ""], ["projects"]),
            rule(READ_WRITE, [ROUTE, ""], ["routes"]),
            rule(["create"], [ROUTE, ""], ["routes/custom-host"]),
            rule(READ, [ROUTE, ""], ["routes/status"]),
        ],
        labels={AGG_EDIT: "true"},
    ),
    cluster_role(
        "system:openshift:aggregate-to-view",
        [
            rule(READ, [IMAGE, ""], _IMAGE_STREAM_FAMILY),
            rule(READ, [IMAGE, ""], ["imagestreams/status"]),
            rule(["get"], [PROJECT, ""], ["projects"]),
            rule(READ, [ROUTE, ""], ["routes", "routes/status"]),
        ],
        labels={AGG_VIEW: "true"},
    ),
    cluster_role(
        "basic-user",
        [
            rule(["get"], ["user.openshift.io", ""], ["users"], names=["~"]),
            rule(["list"], [PROJECT, ""], ["projectrequests"]),
            rule(READ, [RBAC_GROUP], ["clusterroles"]),
            rule(["list", "watch"], [PROJECT, ""], ["projects"]),
            rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews"]),
        ],
    ),
    cluster_role("self-provisioner", [rule(["create"], [PROJECT, ""], ["projectrequests"])]),
    cluster_role("system:image-puller", [rule(["get"], [IMAGE, ""], ["imagestreams/layers"])]),
    cluster_role("system:image-pusher", [rule(["get", "update"], [IMAGE, ""], ["imagestreams/layers"])]),
    cluster_role(
        "system:image-builder",
        [
            rule(["get", "update"], [IMAGE, ""], ["imagestreams/layers"]),
            rule(["create"], [IMAGE, ""], ["imagestreams"]),
            rule(["update"], ["build.openshift.io", ""], ["builds/details"]),
            rule(["get"], ["build.openshift.io", ""], ["builds"]),
        ],
        labels={AGG_ADMIN: "true", AGG_EDIT: "true"},
    ),
    cluster_role(
        "system:deployer",
        [
            rule(["get", "list", "watch", "update", "patch", "delete"], [""], ["replicationcontrollers"]),
            rule(["get", "list", "watch", "create"], [""], ["pods"]),
            rule(["get"], [""], ["pods/log"]),
            rule(["create", "list"], [""], ["events"]),
            rule(["get", "update"], [IMAGE, ""], ["imagestreamtags", "imagetags"]),
        ],
    ),
)

OPENSHIFT_CLUSTER_ROLE_BINDINGS: tuple[JSON, ...] = (
    binding("ClusterRoleBinding", "basic-users", "basic-user", [group("system:authenticated")]),
    binding("ClusterRoleBinding", "self-provisioners", "self-provisioner", [group("system:authenticated:oauth")]),
    binding(
        "ClusterRoleBinding",
        "cluster-admins",
        "cluster-admin",
        [group("system:cluster-admins"), user("system:admin")],
    ),
)


def openshift_namespace_role_bindings(namespace: str) -> list[JSON]:
    """openshift-controller-manager's default RoleBindings, created in every namespace."""
    return [
        binding(
            "RoleBinding",
            "system:image-pullers",
            "system:image-puller",
            [group(f"system:serviceaccounts:{namespace}")],
            namespace,
        ),
        binding(
            "RoleBinding",
            "system:image-builders",
            "system:image-builder",
            [service_account(namespace, "builder")],
            namespace,
        ),
        binding(
            "RoleBinding",
            "system:deployers",
            "system:deployer",
            [service_account(namespace, "deployer")],
            namespace,
        ),
    ]


def _selected(role: JSON, selector: JSON) -> bool:
    labels: Mapping[str, str] = role["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or ():
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if (
            (operator == "In" and labels.get(key) not in values)
            or (operator == "NotIn" and labels.get(key) in values)
            or (operator == "Exists" and key not in labels)
            or (operator == "DoesNotExist" and key in labels)
        ):
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def aggregate_cluster_roles(roles: Iterable[JSON]) -> dict[str, list[JSON]]:
    """The ``rules`` each aggregated ClusterRole should have (the clusterrole-aggregation controller).

    Runs to a fixpoint, because aggregated roles feed other aggregated roles (view -> edit -> admin).
    """
    by_name = {r["metadata"]["name"]: r for r in roles}
    current = {name: list(r.get("rules") or []) for name, r in by_name.items()}
    aggregated = {n: r for n, r in by_name.items() if (r.get("aggregationRule") or {}).get("clusterRoleSelectors")}
    for _ in range(len(by_name) + 1):
        changed = False
        for name, role in aggregated.items():
            rules: list[JSON] = []
            for source_name in sorted(by_name):
                if source_name == name:
                    continue
                selectors = role["aggregationRule"]["clusterRoleSelectors"]
                if any(_selected(by_name[source_name], s) for s in selectors):
                    rules.extend(r for r in current[source_name] if r not in rules)
            if rules != current[name]:
                current[name] = rules
                changed = True
        if not changed:
            break
    return {name: current[name] for name in aggregated}
