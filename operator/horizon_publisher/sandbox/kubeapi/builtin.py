"""The built-in resource types and the per-kind rules the real server's strategies apply."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .api import JSON, ResourceType
from .crds import prepare_crd
from .errors import bad_request, field_error, invalid_value
from .patching import MergeKeys

NO_DELETECOLLECTION = ("create", "delete", "get", "list", "patch", "update", "watch")

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", False, "namespace", NO_DELETECOLLECTION, ("ns",),
                 subresources=("status",)),
    ResourceType("", "v1", "secrets", "Secret", True, "secret"),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, "configmap", short_names=("cm",)),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, "serviceaccount", short_names=("sa",)),
    ResourceType("", "v1", "events", "Event", True, "event", short_names=("ev",)),
    ResourceType("events.k8s.io", "v1", "events", "Event", True, "event", short_names=("ev",)),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True, "role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, "rolebinding"),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, "clusterrole"),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False,
                 "clusterrolebinding"),
    ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
                 "customresourcedefinition", short_names=("crd", "crds"), categories=("api-extensions",),
                 subresources=("status",)),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, "lease"),
    # Stored only (no controllers: no ReplicaSets, Pods or Endpoints): enough to apply an install manifest.
    ResourceType("apps", "v1", "deployments", "Deployment", True, "deployment", short_names=("deploy",),
                 categories=("all",), subresources=("status",)),
    ResourceType("", "v1", "services", "Service", True, "service", short_names=("svc",), categories=("all",),
                 subresources=("status",)),
)  # fmt: skip

# (operation-independent) normalisation + validation: (new object, old object or None) -> Status causes.
Prepare = Callable[[JSON, JSON | None], list[JSON]]


@dataclass(frozen=True)
class KindRules:
    name_rule: str = "subdomain"  # subdomain | label | path
    merge_keys: MergeKeys = field(default_factory=dict)
    prepare: Prepare | None = None
    tracks_generation: bool | None = None  # None: only when the object has a spec

    def generation_tracked(self, obj: JSON) -> bool:
        return "spec" in obj if self.tracks_generation is None else self.tracks_generation


_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_CONFIG_KEY_HELP = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
    "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)


def _key_causes(section: str, data: object) -> list[JSON]:
    if data is None:
        return []
    if not isinstance(data, dict):
        raise bad_request(f"json: cannot unmarshal into Go struct field .{section} of type map")
    return [
        field_error(f"{section}[{key}]", invalid_value(key, _CONFIG_KEY_HELP))
        for key in data
        if not _CONFIG_KEY.fullmatch(key) or key in (".", "..")
    ]


def _check_base64(kind: str, section: str, data: JSON) -> None:
    for value in data.values():
        try:
            if not isinstance(value, str):
                raise binascii.Error("not a string")
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(
                f'{kind} in version "v1" cannot be handled as a {kind}: illegal base64 data at input byte 0'
            ) from None
    del section


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}


def prepare_secret(obj: JSON, old: JSON | None) -> list[JSON]:
    """stringData is folded into data (base64), type defaults to Opaque and is immutable."""
    obj.setdefault("type", "Opaque")
    data = obj.get("data") or {}
    if isinstance(data, dict):
        _check_base64("Secret", "data", data)
    causes = _key_causes("data", obj.get("data")) + _key_causes("stringData", obj.get("stringData"))
    string_data = obj.pop("stringData", None) or {}
    if isinstance(string_data, dict) and string_data:
        data = dict(data)
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data
    secret_type = obj["type"]
    for key in _SECRET_REQUIRED_KEYS.get(secret_type, ()):
        if key not in (obj.get("data") or {}):
            causes.append(field_error(f"data[{key}]", "Required value", "FieldValueRequired"))
    if secret_type == "kubernetes.io/service-account-token":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            causes.append(
                field_error(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "Required value",
                    "FieldValueRequired",
                )
            )
    if old is not None:
        if old.get("type") != secret_type:
            causes.append(field_error("type", invalid_value(secret_type, "field is immutable")))
        causes += _immutable_data(obj, old)
    return causes


def _immutable_data(obj: JSON, old: JSON) -> list[JSON]:
    if not old.get("immutable"):
        return []
    causes = []
    for section in ("data", "binaryData"):
        if obj.get(section) != old.get(section):
            causes.append(
                field_error(section, "Forbidden: field is immutable when `immutable` is set", "FieldValueForbidden")
            )
    if not obj.get("immutable"):
        causes.append(
            field_error("immutable", "Forbidden: field is immutable when `immutable` is set", "FieldValueForbidden")
        )
    return causes


def prepare_configmap(obj: JSON, old: JSON | None) -> list[JSON]:
    causes = _key_causes("data", obj.get("data")) + _key_causes("binaryData", obj.get("binaryData"))
    data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
    if isinstance(binary, dict):
        _check_base64("ConfigMap", "binaryData", binary)
    if isinstance(data, dict) and any(not isinstance(v, str) for v in data.values()):
        raise bad_request('ConfigMap in version "v1" cannot be handled as a ConfigMap: data values must be strings')
    for key in set(data) & set(binary):
        causes.append(field_error(f"data[{key}]", invalid_value(key, "duplicate of key present in binaryData")))
    if old is not None:
        causes += _immutable_data(obj, old)
    return causes


def prepare_namespace(obj: JSON, old: JSON | None) -> list[JSON]:
    spec = obj.setdefault("spec", {})
    status = obj.setdefault("status", {})
    if old is None:
        spec.setdefault("finalizers", ["kubernetes"])
        status["phase"] = "Active"
    return []


def prepare_role_binding(obj: JSON, old: JSON | None) -> list[JSON]:
    role_ref = obj.get("roleRef")
    causes: list[JSON] = []
    if not isinstance(role_ref, dict) or not role_ref.get("name") or not role_ref.get("kind"):
        causes.append(field_error("roleRef", "Required value", "FieldValueRequired"))
    elif old is not None and old.get("roleRef") != role_ref:
        causes.append(field_error("roleRef", invalid_value(str(role_ref), "cannot change roleRef")))
    for index, subject in enumerate(obj.get("subjects") or []):
        if not isinstance(subject, dict) or subject.get("kind") not in ("User", "Group", "ServiceAccount"):
            causes.append(
                field_error(
                    f"subjects[{index}].kind",
                    'Unsupported value: ... supported values: "Group", "ServiceAccount", "User"',
                    "FieldValueNotSupported",
                )
            )
        elif not subject.get("name"):
            causes.append(field_error(f"subjects[{index}].name", "Required value", "FieldValueRequired"))
    return causes


_RBAC = "rbac.authorization.k8s.io"
KIND_RULES: dict[tuple[str, str], KindRules] = {
    ("", "namespaces"): KindRules("label", prepare=prepare_namespace, tracks_generation=False),
    ("", "secrets"): KindRules(prepare=prepare_secret, tracks_generation=False),
    ("", "configmaps"): KindRules(prepare=prepare_configmap, tracks_generation=False),
    ("", "serviceaccounts"): KindRules(
        merge_keys={"secrets": "name", "imagePullSecrets": "name"}, tracks_generation=False
    ),
    ("", "events"): KindRules(tracks_generation=False),
    ("events.k8s.io", "events"): KindRules(tracks_generation=False),
    (_RBAC, "roles"): KindRules("path", tracks_generation=False),
    (_RBAC, "clusterroles"): KindRules("path", tracks_generation=False),
    (_RBAC, "rolebindings"): KindRules("path", prepare=prepare_role_binding, tracks_generation=False),
    (_RBAC, "clusterrolebindings"): KindRules("path", prepare=prepare_role_binding, tracks_generation=False),
    ("apiextensions.k8s.io", "customresourcedefinitions"): KindRules(prepare=prepare_crd, tracks_generation=True),
    ("coordination.k8s.io", "leases"): KindRules(tracks_generation=False),
    ("apps", "deployments"): KindRules(tracks_generation=True),
    ("", "services"): KindRules("label", tracks_generation=False),
    # OpenShift kinds registered by sandbox/openshift: image stream names may contain "_" (checked there).
    ("image.openshift.io", "imagestreams"): KindRules("path", tracks_generation=True),
}
DEFAULT_RULES = KindRules()
CUSTOM_RULES = KindRules(tracks_generation=True)
