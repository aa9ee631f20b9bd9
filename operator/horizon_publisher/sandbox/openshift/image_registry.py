"""The image registry operator's visible behaviour: ``configs.imageregistry.operator.openshift.io/cluster``.

- ``Managed`` (or ``Force``): ``spec.defaultRoute: true`` -> after ``route_delay_seconds`` Route
  ``openshift-image-registry/default-route`` (to Service ``image-registry`` port ``5000-tcp``, tls
  ``reencrypt``, annotation ``imageregistry.openshift.io: "true"``, no host: the API server
  allocates it); ``false`` -> that Route is deleted.
- ``Removed``: the operator-owned route is deleted; ``Unmanaged``: nothing is touched.
- Every sync writes operator conditions (Available/Progressing/Degraded/Removed) to ``status``.
- ImageStreams (``image.openshift.io/v1``) are stored; their ``status.dockerImageRepository`` and
  ``publicDockerImageRepository`` (when the default route exists) are filled in.
"""

from __future__ import annotations

import re

from horizon_publisher.sandbox.kubeapi.api import JSON, ApiError, Cluster, ResourceType, UserInfo, WatchEvent
from horizon_publisher.sandbox.kubeapi.errors import field_error, invalid
from horizon_publisher.sandbox.openshift.config import Clock, SandboxClusterConfig
from horizon_publisher.sandbox.openshift.routes import ROUTES
from horizon_publisher.sandbox.openshift.runtime import (
    condition,
    create_if_missing,
    ensure_registered,
    merge_conditions,
    now_rfc3339,
    schedule,
)

GROUP = "imageregistry.operator.openshift.io"
NAMESPACE = "openshift-image-registry"
ROUTE_NAME = "default-route"
OWNED_ANNOTATION = "imageregistry.openshift.io"
INTERNAL_HOST = "image-registry.openshift-image-registry.svc:5000"
# openshift-apiserver RepositoryNameComponentRegexp: the registry path is exactly <project>/<stream>.
IMAGE_STREAM_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_PRESERVE: JSON = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

CONFIG_SCHEMA: JSON = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {
                "managementState": {"type": "string", "pattern": "^(Managed|Unmanaged|Force|Removed)$"},
                "defaultRoute": {"type": "boolean"},
                "replicas": {"type": "integer", "format": "int32"},
                "storage": _PRESERVE,
                "routes": {"type": "array", "items": _PRESERVE},
            },
        },
        "status": _PRESERVE,
    },
}

CONFIGS = ResourceType(
    GROUP, "v1", "configs", "Config", False, "config", subresources=("status",), schema=CONFIG_SCHEMA
)
IMAGE_STREAMS = ResourceType(
    "image.openshift.io",
    "v1",
    "imagestreams",
    "ImageStream",
    True,
    "imagestream",
    short_names=("is",),
    categories=("all",),
    subresources=("status",),
)


def default_route() -> JSON:
    """No ``spec.host``: the API server allocates it, exactly as for the real operator."""
    return {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": ROUTE_NAME, "namespace": NAMESPACE, "annotations": {OWNED_ANNOTATION: "true"}},
        "spec": {
            "to": {"kind": "Service", "name": "image-registry"},
            "port": {"targetPort": "5000-tcp"},
            "tls": {"termination": "reencrypt"},
        },
    }


def _conditions(state: str, when: str) -> list[JSON]:
    if state == "Removed":
        return [
            condition("Available", "True", "Removed", "The registry is removed", when),
            condition("Progressing", "False", "Removed", "All registry resources are removed", when),
            condition("Degraded", "False", "Removed", "The registry is removed", when),
            condition("Removed", "True", "Removed", "The image registry is removed", when),
        ]
    if state == "Unmanaged":
        message = "The registry configuration is set to unmanaged mode"
        return [
            condition("Available", "True", "Unmanaged", message, when),
            condition("Progressing", "False", "Unmanaged", message, when),
            condition("Degraded", "False", "Unmanaged", message, when),
            condition("Removed", "False", "Unmanaged", message, when),
        ]
    return [
        condition("Available", "True", "Ready", "The registry is ready", when),
        condition("Progressing", "False", "Ready", "The registry is ready", when),
        condition("Degraded", "False", "AsExpected", "", when),
        condition("Removed", "False", "AsExpected", "", when),
    ]


def _operator_owned(route: JSON) -> bool:
    return (route["metadata"].get("annotations") or {}).get(OWNED_ANNOTATION) == "true"


class ImageRegistryOperator:
    def __init__(self, cluster: Cluster, config: SandboxClusterConfig, clock: Clock) -> None:
        self._cluster = cluster
        self._config = config
        self._clock = clock

    def install(self) -> None:
        ensure_registered(self._cluster, CONFIGS)
        ensure_registered(self._cluster, IMAGE_STREAMS)
        self._cluster.on_change(CONFIGS.key, self._on_config)
        self._cluster.add_admission(IMAGE_STREAMS.key, self._admit_image_stream)

    def seed(self) -> None:
        seeded = create_if_missing(
            self._cluster,
            CONFIGS.key,
            {
                "apiVersion": f"{GROUP}/v1",
                "kind": "Config",
                "metadata": {"name": "cluster"},
                "spec": {
                    "managementState": self._config.registry_management_state,
                    "defaultRoute": False,
                    "replicas": 1,
                    "storage": {"emptyDir": {}},
                    "logLevel": "Normal",
                    "operatorLogLevel": "Normal",
                    "rolloutStrategy": "RollingUpdate",
                },
            },
        )
        if seeded is not None:
            self.sync()

    def _on_config(self, event: WatchEvent) -> None:
        if event.type == "DELETED" or event.object["metadata"]["name"] != "cluster":
            return
        if event.old is not None and event.old.get("spec") == event.object.get("spec"):
            return  # our own status write, or metadata only
        schedule(self._config.route_delay_seconds, "image registry operator sync", self.sync)

    def sync(self) -> None:
        config = self._cluster.get(CONFIGS.key, None, "cluster")
        if config is None:
            return
        spec = config.get("spec") or {}
        state = spec.get("managementState") or "Managed"
        if state in ("Managed", "Force"):
            self._apply_route(bool(spec.get("defaultRoute")))
        elif state == "Removed":
            self._apply_route(False)
        status = config.get("status") or {}
        conditions = merge_conditions(status.get("conditions") or [], _conditions(state, now_rfc3339(self._clock)))
        patch: JSON = {
            "conditions": conditions,
            "observedGeneration": config["metadata"].get("generation", 1),
        }
        if state in ("Managed", "Force"):
            patch |= {"storageManaged": False, "storage": spec.get("storage") or {}, "readyReplicas": 1}
        if conditions != status.get("conditions") or state in ("Managed", "Force"):
            self._cluster.merge_patch(CONFIGS.key, None, "cluster", {"status": patch}, subresource="status")

    def _apply_route(self, wanted: bool) -> None:
        existing = self._cluster.get(ROUTES.key, NAMESPACE, ROUTE_NAME)
        if wanted and existing is None:
            create_if_missing(self._cluster, ROUTES.key, default_route())
        elif not wanted and existing is not None and _operator_owned(existing):
            try:
                self._cluster.delete(ROUTES.key, NAMESPACE, ROUTE_NAME)
            except ApiError as exc:
                if exc.code != 404:
                    raise

    def _admit_image_stream(self, operation: str, new: JSON | None, old: JSON | None, user: UserInfo) -> None:
        del old, user
        if new is None or operation == "DELETE":
            return
        meta = new["metadata"]
        name = str(meta.get("name", ""))
        if operation == "CREATE" and not IMAGE_STREAM_NAME.fullmatch(name):
            why = f'Invalid value: "{name}": must match "{IMAGE_STREAM_NAME.pattern}"'
            raise invalid("image.openshift.io", "ImageStream", name, [field_error("metadata.name", why)])
        repository = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        status = new.setdefault("status", {})
        status["dockerImageRepository"] = f"{INTERNAL_HOST}/{repository}"
        route = self._cluster.get(ROUTES.key, NAMESPACE, ROUTE_NAME)
        host = ((route or {}).get("spec") or {}).get("host")
        if host:
            status["publicDockerImageRepository"] = f"{host}/{repository}"
        else:
            status.pop("publicDockerImageRepository", None)
