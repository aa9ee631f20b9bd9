"""Trust bundles: ``kube-root-ca.crt`` in every namespace, and OpenShift's ``default-ingress-cert``.

- KCM's root-ca-cert-publisher keeps ConfigMap ``kube-root-ca.crt`` (key ``ca.crt``) in every live
  namespace, recreating it when deleted and resetting it when edited. On OpenShift the bundle is the
  ``serviceaccount-ca``: API server CA plus the ingress CA.
- The ingress operator's certificate publisher keeps ``openshift-config-managed/default-ingress-cert``
  (key ``ca-bundle.crt``) equal to the default ingress certificate chain.
"""

from __future__ import annotations

from horizon_publisher.sandbox.kubeapi.api import JSON, ApiError, Cluster, WatchEvent
from horizon_publisher.sandbox.openshift.config import SandboxClusterConfig
from horizon_publisher.sandbox.openshift.runtime import is_terminating

CONFIG_MAPS, NAMESPACES = "v1/configmaps", "v1/namespaces"
ROOT_CA_NAME = "kube-root-ca.crt"
INGRESS_CERT_NAMESPACE, INGRESS_CERT_NAME = "openshift-config-managed", "default-ingress-cert"
ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)


class TrustBundlePublisher:
    def __init__(self, cluster: Cluster, config: SandboxClusterConfig) -> None:
        self._cluster = cluster
        self._config = config

    def _wanted(self, namespace: str, name: str) -> JSON | None:
        if name == ROOT_CA_NAME:
            return {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": ROOT_CA_NAME,
                    "namespace": namespace,
                    "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION},
                },
                "data": {"ca.crt": self._config.root_ca_bundle},
            }
        if self._config.is_openshift and (namespace, name) == (INGRESS_CERT_NAMESPACE, INGRESS_CERT_NAME):
            return {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": INGRESS_CERT_NAME, "namespace": INGRESS_CERT_NAMESPACE},
                "data": {"ca-bundle.crt": self._config.ingress_ca_pem},
            }
        return None

    def install(self) -> None:
        self._cluster.on_change(NAMESPACES, self._on_namespace)
        self._cluster.on_change(CONFIG_MAPS, self._on_config_map)

    def sync_all(self) -> None:
        for namespace in self._cluster.list(NAMESPACES):
            self._ensure_namespace(namespace)

    def _on_namespace(self, event: WatchEvent) -> None:
        if event.type != "DELETED":
            self._ensure_namespace(event.object)

    def _ensure_namespace(self, namespace: JSON) -> None:
        if is_terminating(namespace):
            return
        name = namespace["metadata"]["name"]
        self._ensure(name, ROOT_CA_NAME)
        if name == INGRESS_CERT_NAMESPACE:
            self._ensure(name, INGRESS_CERT_NAME)

    def _on_config_map(self, event: WatchEvent) -> None:
        meta = event.object["metadata"]
        self._ensure(meta["namespace"], meta["name"])

    def _ensure(self, namespace: str, name: str) -> None:
        wanted = self._wanted(namespace, name)
        if wanted is None or is_terminating(self._cluster.get(NAMESPACES, None, namespace)):
            return
        current = self._cluster.get(CONFIG_MAPS, namespace, name)
        try:
            if current is None:
                self._cluster.create(CONFIG_MAPS, wanted, namespace=namespace)
            elif current.get("data") != wanted["data"] or current.get("binaryData"):
                current["data"] = wanted["data"]
                current.pop("binaryData", None)
                self._cluster.update(CONFIG_MAPS, current)
        except ApiError as exc:
            if exc.code not in (404, 409):  # raced with a namespace deletion or another writer
                raise
