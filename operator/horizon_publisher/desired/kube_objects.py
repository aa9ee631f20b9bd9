"""The Kubernetes objects an EdgeServiceImage wants, as pure functions of its spec and observed facts."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from horizon_publisher import GROUP, VERSION

JSON = dict[str, Any]
MANAGED_BY = "app.kubernetes.io/managed-by"
OPERATOR = "horizon-publisher"
OWNER_NAMESPACE = f"{GROUP}/owner-namespace"
OWNER_NAME = f"{GROUP}/owner-name"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"  # the token controller refuses a Secret for another uid
# On an EdgeServiceImage: any new value asks for new credentials now (Flux's reconcile.fluxcd.io/requestedAt).
ROTATION_REQUEST_ANNOTATION = f"{GROUP}/rotate-credentials-requested-at"
# On a service account we made: the rotation request pending when it was created (its tokens are newer).
ROTATION_ANSWERED_ANNOTATION = f"{GROUP}/rotation-request"
# Set only on namespaces the operator created (not on adopted ones): status.registry.namespaceCreated.
CREATED_LABEL = f"{GROUP}/created"
# Set by whoever controls an existing namespace to let EdgeServiceImages of one namespace adopt it.
ADOPTABLE_BY_LABEL = f"{GROUP}/adoptable-by"


@dataclass(frozen=True)
class Owner:
    """The EdgeServiceImage the objects belong to."""

    namespace: str
    name: str
    uid: str

    def labels(self) -> dict[str, str]:
        return {MANAGED_BY: OPERATOR, OWNER_NAMESPACE: self.namespace, OWNER_NAME: self.name}

    def reference(self) -> JSON:
        # Same-namespace children only: owner references cannot cross namespaces.
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "EdgeServiceImage",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def owns(self, obj: Mapping[str, Any] | None) -> bool:
        labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
        return bool(labels.get(OWNER_NAMESPACE) == self.namespace and labels.get(OWNER_NAME) == self.name)


def role_binding_name(service_account: str) -> str:
    return f"{OPERATOR}-{service_account}"


def token_secret_name(service_account: str) -> str:
    return f"{service_account}-horizon-token"


def credentials_secret_name(name: str, spec: Mapping[str, Any]) -> str:
    return str((spec.get("output") or {}).get("credentialsSecretName") or f"{name}-registry")


def ca_config_map_name(name: str, spec: Mapping[str, Any]) -> str:
    return str((spec.get("output") or {}).get("caConfigMapName") or f"{name}-registry-ca")


def project_request(project: str, owner: Owner) -> JSON:
    return {
        "apiVersion": "project.openshift.io/v1",
        "kind": "ProjectRequest",
        "metadata": {"name": project},
        "displayName": project,
        # The uid makes the request recognisable after a crash between the request and its label patch.
        "description": f"Edge service images of {owner.namespace}/{owner.name} (horizon-publisher, {owner.uid})",
    }


def namespace(project: str, owner: Owner) -> JSON:
    labels = {**owner.labels(), CREATED_LABEL: "true"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": project, "labels": labels}}


def created_by_us(namespace_object: Mapping[str, Any] | None) -> bool:
    labels = ((namespace_object or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(CREATED_LABEL) == "true"


def service_account(project: str, name: str, owner: Owner, rotation_request: str = "") -> JSON:
    metadata: JSON = {"name": name, "namespace": project, "labels": owner.labels()}
    if rotation_request:
        metadata["annotations"] = {ROTATION_ANSWERED_ANNOTATION: rotation_request}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def rotation_request(obj: Mapping[str, Any] | None) -> str:
    """The ``rotate-credentials-requested-at`` value of an EdgeServiceImage ("" when absent)."""
    return str((((obj or {}).get("metadata") or {}).get("annotations") or {}).get(ROTATION_REQUEST_ANNOTATION) or "")


def role_binding(project: str, service_account_name: str, role: str, owner: Owner) -> JSON:
    """What ``oc policy add-role-to-user ROLE system:serviceaccount:P:U`` makes, under our own name."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": role_binding_name(service_account_name), "namespace": project, "labels": owner.labels()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": service_account_name, "namespace": project}],
    }


def token_secret(project: str, service_account_name: str, owner: Owner, account_uid: str = "") -> JSON:
    """A long-lived token Secret; the token controller fills ``data.token``.

    With ``account_uid`` the Secret is for that incarnation of the service account only: the controller
    deletes it rather than fill it for another, and a token left from an older one is recognised.
    """
    annotations = {SA_NAME_ANNOTATION: service_account_name}
    if account_uid:
        annotations[SA_UID_ANNOTATION] = account_uid
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": token_secret_name(service_account_name),
            "namespace": project,
            "labels": owner.labels(),
            "annotations": annotations,
        },
    }


def docker_config(host: str, username: str, password: str) -> str:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"username": username, "password": password, "auth": auth}}}, sort_keys=True)


def credentials_secret(name: str, owner: Owner, host: str, username: str, password: str) -> JSON:
    encoded = base64.b64encode(docker_config(host, username, password).encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": owner.labels(),
            "ownerReferences": [owner.reference()],
        },
        "data": {".dockerconfigjson": encoded},
    }


def ca_config_map(name: str, owner: Owner, bundle: str) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": owner.labels(),
            "ownerReferences": [owner.reference()],
        },
        "data": {"ca.crt": bundle},
    }


def read_docker_config(secret: Mapping[str, Any] | None, host: str) -> tuple[str, str] | None:
    """(username, password) for ``host`` from a dockerconfigjson Secret, or None.

    An entry may give ``username`` and ``password``, or only ``auth`` (base64 of ``user:password``), which is
    what ``docker login`` and ``kubectl create secret docker-registry`` write.
    """
    try:
        raw = base64.b64decode(((secret or {}).get("data") or {}).get(".dockerconfigjson", ""))
        entry = json.loads(raw)["auths"][host]
        if "username" in entry and "password" in entry:
            return str(entry["username"]), str(entry["password"])
        username, separator, password = base64.b64decode(str(entry["auth"]), validate=True).decode().partition(":")
        return (username, password) if separator and username else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
