"""project.openshift.io/v1: ProjectRequest (``oc new-project``) and Project, a view of Namespaces.

Follows openshift-apiserver ``pkg/project/apiserver/registry/projectrequest/delegated`` with the
built-in project template: validation (422), forbidden names/prefixes (403), AlreadyExists (409),
then the Namespace with the requester annotations and RoleBinding ``admin`` for the requester.
"""

from __future__ import annotations

from horizon_publisher.sandbox.kubeapi.api import JSON, ApiError, Cluster, ResourceType, SpecialRequest
from horizon_publisher.sandbox.kubeapi.errors import (
    already_exists,
    field_error,
    forbidden,
    invalid,
    not_found,
)
from horizon_publisher.sandbox.kubeapi.meta import name_problems
from horizon_publisher.sandbox.openshift.rbac import ResourceAttributes
from horizon_publisher.sandbox.openshift.rbac_cluster import RbacAuthorizer
from horizon_publisher.sandbox.openshift.rbac_roles import binding, user
from horizon_publisher.sandbox.openshift.runtime import ensure_registered

GROUP = "project.openshift.io"
NAMESPACES = "v1/namespaces"
ROLE_BINDINGS = "rbac.authorization.k8s.io/v1/rolebindings"
FORBIDDEN_NAMES = ("openshift", "kubernetes", "kube")
FORBIDDEN_PREFIXES = ("openshift-", "kubernetes-", "kube-")
REQUESTER = "openshift.io/requester"
DISPLAY_NAME = "openshift.io/display-name"
DESCRIPTION = "openshift.io/description"

PROJECTS = ResourceType(
    GROUP,
    "v1",
    "projects",
    "Project",
    False,
    "project",
    ("delete", "get", "list"),
    printer_columns=(
        {"name": "Display Name", "type": "string", "jsonPath": ".metadata.annotations['openshift.io/display-name']"},
        {"name": "Status", "type": "string", "jsonPath": ".status.phase"},
    ),
)
PROJECT_REQUESTS = ResourceType(
    GROUP, "v1", "projectrequests", "ProjectRequest", False, "projectrequest", ("create", "list")
)
# The ``project`` resource (singular!) is how openshift-apiserver's errors name it.
_PROJECT_ERRORS = ResourceType(GROUP, "v1", "project", "Project", False)


def _name_problems(name: str) -> list[str]:
    """``ValidateProjectName``: path-segment rules, at least 2 characters, then a DNS-1123 label."""
    if name in (".", ".."):
        return [f"Invalid value: \"{name}\": may not be '{name}'"]
    for bad in ("/", "%"):
        if bad in name:
            return [f"Invalid value: \"{name}\": may not contain '{bad}'"]
    if len(name) < 2:
        return [f'Invalid value: "{name}": must be at least 2 characters long']
    return name_problems(name, "label")


def validated_request_name(body: JSON) -> str:
    """422 for a bad name or display name, then 403 for reserved names, as the real strategy orders them."""
    name = str((body.get("metadata") or {}).get("name") or "")
    if not name:
        cause = field_error("metadata.name", "Required value: name or generateName is required", "FieldValueRequired")
        raise invalid(GROUP, "ProjectRequest", name, [cause])
    causes = [field_error("metadata.name", p) for p in _name_problems(name)]
    display_name = body.get("displayName", "")
    if isinstance(display_name, str) and ("\n" in display_name or "\t" in display_name):
        causes.append(field_error("displayName", f'Invalid value: "{display_name}": may not contain a new line or tab'))
    if causes:
        raise invalid(GROUP, "ProjectRequest", name, causes)
    if name in FORBIDDEN_NAMES:
        raise forbidden(_PROJECT_ERRORS, name, f'cannot request a project with the name "{name}"')
    for prefix in FORBIDDEN_PREFIXES:
        if name.startswith(prefix):
            raise forbidden(_PROJECT_ERRORS, name, f'cannot request a project starting with "{prefix}"')
    return name


def project_from_namespace(namespace: JSON) -> JSON:
    meta = {k: v for k, v in namespace["metadata"].items() if k not in ("managedFields",)}
    return {
        "kind": "Project",
        "apiVersion": f"{GROUP}/v1",
        "metadata": meta,
        "spec": {"finalizers": list((namespace.get("spec") or {}).get("finalizers") or [])},
        "status": dict(namespace.get("status") or {"phase": "Active"}),
    }


class Projects:
    def __init__(self, cluster: Cluster, authorizer: RbacAuthorizer) -> None:
        self._cluster = cluster
        self._authz = authorizer

    def install(self) -> None:
        ensure_registered(self._cluster, PROJECTS)
        ensure_registered(self._cluster, PROJECT_REQUESTS)
        self._cluster.add_special(PROJECT_REQUESTS.key, None, "create", self.request_project)
        self._cluster.add_special(PROJECT_REQUESTS.key, None, "list", self.may_request)
        self._cluster.add_special(PROJECTS.key, None, "get", self.get_project)
        self._cluster.add_special(PROJECTS.key, None, "list", self.list_projects)
        self._cluster.add_special(PROJECTS.key, None, "delete", self.delete_project)

    def request_project(self, request: SpecialRequest) -> tuple[int, JSON]:
        body = request.body or {}
        name = validated_request_name(body)
        if self._cluster.get(NAMESPACES, None, name) is not None:
            raise already_exists(_PROJECT_ERRORS, name)
        namespace: JSON = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "annotations": {
                    DESCRIPTION: str(body.get("description") or ""),
                    DISPLAY_NAME: str(body.get("displayName") or ""),
                    REQUESTER: request.user.username,
                },
            },
        }
        if request.dry_run:
            return 201, project_from_namespace(namespace)
        try:
            created = self._cluster.create(NAMESPACES, namespace)
        except ApiError as exc:
            if exc.code == 409:
                raise already_exists(_PROJECT_ERRORS, name) from None
            raise
        admin = binding("RoleBinding", "admin", "admin", [user(request.user.username)], name)
        try:
            self._cluster.create(ROLE_BINDINGS, admin, namespace=name)
        except ApiError as exc:
            if exc.code != 409:
                self._cluster.delete(NAMESPACES, None, name)  # a failed template deletes the project again
                raise
        current = self._cluster.get(NAMESPACES, None, name) or created
        return 201, project_from_namespace(current)

    def may_request(self, request: SpecialRequest) -> tuple[int, JSON]:
        attrs = ResourceAttributes("create", GROUP, "projectrequests")
        if not self._authz.decide(request.user, attrs).allowed:
            raise ApiError(
                403,
                "Forbidden",
                "You may not request a new project via this API.",
                {"group": GROUP, "kind": "projectrequest"},
            )
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}

    def get_project(self, request: SpecialRequest) -> tuple[int, JSON]:
        name = request.name or ""
        namespace = self._cluster.get(NAMESPACES, None, name)
        if namespace is None:
            raise not_found(PROJECTS, name)
        return 200, project_from_namespace(namespace)

    def list_projects(self, request: SpecialRequest) -> tuple[int, JSON]:
        """Only the projects where the caller may ``get namespaces`` (OpenShift's project auth cache)."""
        visible = [
            project_from_namespace(ns)
            for ns in self._cluster.list(NAMESPACES)
            if self._authz.decide(
                request.user,
                ResourceAttributes("get", "", "namespaces", "", ns["metadata"]["name"], ns["metadata"]["name"]),
            ).allowed
        ]
        return 200, {"kind": "ProjectList", "apiVersion": f"{GROUP}/v1", "metadata": {}, "items": visible}

    def delete_project(self, request: SpecialRequest) -> tuple[int, JSON]:
        name = request.name or ""
        if self._cluster.get(NAMESPACES, None, name) is None:
            raise not_found(PROJECTS, name)
        if not request.dry_run:
            self._cluster.delete(NAMESPACES, None, name)
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
