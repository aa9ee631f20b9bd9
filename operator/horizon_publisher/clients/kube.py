"""The Kubernetes API, as the reconcile needs it: get / create / patch / delete by resource, plus
discovery and TokenRequest. One face over the official client, dict in and dict out.

Errors become :class:`KubeError` with the API's reason (``NotFound``, ``Forbidden``, ``Conflict``,
``Invalid``...) and its message; request bodies are never part of an error (they may hold tokens).
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config

from horizon_publisher.clients.kube_reads import ReadCache

JSON = dict[str, Any]
TIMEOUT = (5.0, 30.0)
# urllib3 connections kept to the API server. The client's default is cpu_count * 5 (10 on 2 cores),
# fewer than the reconcile workers (16) plus kopf's own calls: the surplus connections were dropped after
# each use ("Connection pool is full, discarding connection") and made again, handshake included.
POOL_MAXSIZE = 32


@dataclass(frozen=True)
class Resource:
    group: str  # "" for core
    version: str
    plural: str
    namespaced: bool = True

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name is not None else base


NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts")
SECRETS = Resource("", "v1", "secrets")
CONFIG_MAPS = Resource("", "v1", "configmaps")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings")
ROUTES = Resource("route.openshift.io", "v1", "routes")
PROJECT_REQUESTS = Resource("project.openshift.io", "v1", "projectrequests", namespaced=False)
REGISTRY_CONFIGS = Resource("imageregistry.operator.openshift.io", "v1", "configs", namespaced=False)
SERVICE_IMAGES = Resource("edge.horizon.dev", "v1alpha1", "edgeserviceimages")
PUBLICATIONS = Resource("edge.horizon.dev", "v1alpha1", "edgepublications")

# What many resources read alike (kube_reads.py): the route, the CA ConfigMaps, the Exchange and signing
# Secrets. Never our custom resources: a publication reconciled because its image changed must see the change.
SHARED_READS = frozenset({SECRETS, CONFIG_MAPS, ROUTES, REGISTRY_CONFIGS})


class KubeError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class Kube:
    def __init__(self, api: client.ApiClient, reads: ReadCache | None = None) -> None:
        self._api = api
        self._served: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()
        self._reads = reads if reads is not None else ReadCache(ttl=0)  # off unless given (the operator gives one)

    @classmethod
    def from_environment(cls) -> Kube:
        """In a pod: the service account; elsewhere: the current kubeconfig context."""
        return cls(api_client_from_environment(), ReadCache())

    def _call(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        serialized = self._api.param_serialize(
            method=method, resource_path=path, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        response = self._api.call_api(*serialized, _request_timeout=TIMEOUT)
        response.read()  # type: ignore[no-untyped-call]
        data = json.loads(response.data) if response.data else None
        return response.status, data

    def _checked(self, method: str, path: str, body: Any = None, **kwargs: Any) -> JSON:
        status, data = self._call(method, path, body, **kwargs)
        if status >= 400:
            raise _error(status, data)
        return data if isinstance(data, dict) else {}

    def get(self, resource: Resource, namespace: str | None, name: str) -> JSON | None:
        path = resource.path(namespace, name)
        if resource not in SHARED_READS:
            return self._read(path)
        return self._reads.get(path, lambda: self._read(path))

    def _read(self, path: str) -> JSON | None:
        status, data = self._call("GET", path)
        if status == 404:
            return None
        if status >= 400:
            raise _error(status, data)
        return data if isinstance(data, dict) else None

    def create(self, resource: Resource, namespace: str | None, body: JSON) -> JSON:
        name = (body.get("metadata") or {}).get("name")
        try:
            return self._checked("POST", resource.path(namespace), body)
        finally:
            if name:
                self._reads.forget(resource.path(namespace, str(name)))

    def for_one_pass(self) -> Kube:
        """A face for one reconcile: an object read twice in the pass is fetched once (see :class:`OnePassKube`)."""
        return OnePassKube(self)

    def merge_patch(self, resource: Resource, namespace: str | None, name: str, patch: JSON) -> JSON:
        path = resource.path(namespace, name)
        try:
            return self._checked("PATCH", path, patch, content_type="application/merge-patch+json")
        finally:
            self._reads.forget(path)

    def replace(self, resource: Resource, namespace: str | None, name: str, body: JSON) -> JSON:
        path = resource.path(namespace, name)
        try:
            return self._checked("PUT", path, body)
        finally:
            self._reads.forget(path)

    def delete(self, resource: Resource, namespace: str | None, name: str) -> bool:
        """True if something was deleted; a missing object is not an error."""
        path = resource.path(namespace, name)
        try:
            status, data = self._call("DELETE", path, {"propagationPolicy": "Background"})
        finally:
            self._reads.forget(path)
        if status == 404:
            return False
        if status >= 400:
            raise _error(status, data)
        return True

    def serves(self, resource: Resource) -> bool:
        """Discovery, cached per group/version: is this resource served by the cluster?"""
        with self._lock:
            known = self._served.get(resource.group_version)
        if known is None:
            path = f"/apis/{resource.group_version}" if resource.group else f"/api/{resource.version}"
            status, data = self._call("GET", path)
            if status == 404:
                known = frozenset()
            elif status >= 400:
                raise _error(status, data)
            else:
                known = frozenset(r.get("name", "") for r in (data or {}).get("resources", []))
            with self._lock:
                self._served[resource.group_version] = known
        return resource.plural in known

    def request_token(self, namespace: str, service_account: str, expiration_seconds: int) -> tuple[str, str]:
        """TokenRequest for the API server's own audience; returns (token, expirationTimestamp)."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": expiration_seconds},
        }
        account = SERVICE_ACCOUNTS.path(namespace, service_account)
        try:
            answer = self._checked("POST", account + "/token", body)
        finally:
            self._reads.forget(account)
        status = answer.get("status") or {}
        return str(status.get("token", "")), str(status.get("expirationTimestamp", ""))


class OnePassKube(Kube):
    """One reconcile's view of the API: steps that read the same object (the output Secret is read by the token,
    credentials and write steps) get the first answer again, as a copy, instead of another GET. Any write
    through this face forgets every answer, so nothing read after a write is stale from this pass's own
    doing; what other writers change in between is seen at the next pass, as with any read. Shares the
    parent's connection pool and discovery cache; used by one thread."""

    def __init__(self, parent: Kube) -> None:
        super().__init__(parent._api, parent._reads)
        self._served = parent._served
        self._lock = parent._lock
        self._answers: dict[str, JSON | None] = {}

    def get(self, resource: Resource, namespace: str | None, name: str) -> JSON | None:
        path = resource.path(namespace, name)
        if path not in self._answers:
            self._answers[path] = super().get(resource, namespace, name)
        answer = self._answers[path]
        return copy.deepcopy(answer) if answer is not None else None

    def _call(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        if method != "GET":
            self._answers.clear()
        return super()._call(method, path, body, content_type=content_type)


def api_client_from_environment(pool_maxsize: int = POOL_MAXSIZE) -> client.ApiClient:
    """An ``ApiClient`` for the service account in a pod, else the current kubeconfig context, keeping up to
    ``pool_maxsize`` connections to the API server (the pool is sized when the ApiClient is made)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = pool_maxsize
    return client.ApiClient(configuration)


def _error(status: int, data: Any) -> KubeError:
    if isinstance(data, dict) and data.get("kind") == "Status":
        return KubeError(status, str(data.get("reason") or status), str(data.get("message") or ""))
    return KubeError(status, str(status), "unexpected answer from the Kubernetes API")
