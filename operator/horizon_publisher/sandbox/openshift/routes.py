"""route.openshift.io/v1 Routes: the API server's host allocation and the default router's admission.

- On create, a Route without ``spec.host`` gets ``<name>-<namespace>.<apps domain>`` (library-go
  ``route/hostassignment``: dots in the name become dashes); defaults ``wildcardPolicy: None`` and
  ``to.weight: 100``; client-written status is dropped.
- The ``default`` router admits every route shortly after it appears or its host changes:
  ``status.ingress[{host, routerName, routerCanonicalHostname, wildcardPolicy, conditions[Admitted]}]``;
  a host already claimed by an older route in another namespace is refused (``HostAlreadyClaimed``).
"""

from __future__ import annotations

from horizon_publisher.sandbox.kubeapi.api import JSON, Cluster, ResourceType, UserInfo, WatchEvent
from horizon_publisher.sandbox.kubeapi.errors import field_error, invalid
from horizon_publisher.sandbox.openshift.config import Clock, SandboxClusterConfig
from horizon_publisher.sandbox.openshift.runtime import (
    ensure_registered,
    is_terminating,
    now_rfc3339,
    schedule,
)

GROUP = "route.openshift.io"
ROUTER_NAME = "default"

ROUTES = ResourceType(
    GROUP,
    "v1",
    "routes",
    "Route",
    True,
    "route",
    categories=("all",),
    subresources=("status",),
    printer_columns=(
        {"name": "Host/Port", "type": "string", "jsonPath": ".status.ingress[0].host"},
        {"name": "Path", "type": "string", "jsonPath": ".spec.path"},
        {"name": "Services", "type": "string", "jsonPath": ".spec.to.name"},
        {"name": "Port", "type": "string", "jsonPath": ".spec.port.targetPort"},
        {"name": "Termination", "type": "string", "jsonPath": ".spec.tls.termination"},
        {"name": "Wildcard", "type": "string", "jsonPath": ".spec.wildcardPolicy"},
    ),
)


def generated_host(name: str, namespace: str, apps_domain: str) -> str:
    return f"{name.replace('.', '-')}-{namespace}.{apps_domain}"


class Routes:
    def __init__(self, cluster: Cluster, config: SandboxClusterConfig, clock: Clock) -> None:
        self._cluster = cluster
        self._config = config
        self._clock = clock

    def install(self) -> None:
        ensure_registered(self._cluster, ROUTES)
        self._cluster.add_admission(ROUTES.key, self._admit_write)
        self._cluster.on_change(ROUTES.key, self._on_change)

    # --- API server strategy ------------------------------------------------------------------

    def _admit_write(self, operation: str, new: JSON | None, old: JSON | None, user: UserInfo) -> None:
        del user
        if new is None or operation == "DELETE":
            return
        meta = new["metadata"]
        spec = new.setdefault("spec", {})
        to = spec.get("to")
        if not isinstance(to, dict) or not to.get("name"):
            raise invalid(
                GROUP,
                "Route",
                meta.get("name", ""),
                [field_error("spec.to.name", "Required value", "FieldValueRequired")],
            )
        to.setdefault("kind", "Service")
        to.setdefault("weight", 100)
        spec.setdefault("wildcardPolicy", "None")
        if not spec.get("host"):
            previous = ((old or {}).get("spec") or {}).get("host")
            spec["host"] = previous or generated_host(
                meta.get("name", ""), meta.get("namespace", ""), self._config.apps_domain
            )
        if operation == "CREATE":
            new["status"] = {}

    # --- the default router -------------------------------------------------------------------

    def _on_change(self, event: WatchEvent) -> None:
        if event.type == "DELETED":
            self._readmit_contenders(event.object)
            return
        if self._admitted_entry(event.object) is not None:
            return
        meta = event.object["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        schedule(
            self._config.router_admit_delay_seconds,
            f"router {namespace}/{name}",
            lambda: self.admit(namespace, name),
        )

    @staticmethod
    def _admitted_entry(route: JSON) -> JSON | None:
        """The router's status entry, if it is current for the route's host."""
        host = (route.get("spec") or {}).get("host")
        for entry in (route.get("status") or {}).get("ingress") or ():
            if entry.get("routerName") == ROUTER_NAME and entry.get("host") == host:
                return dict(entry)
        return None

    def _older_claimant(self, route: JSON) -> JSON | None:
        meta, host = route["metadata"], route["spec"]["host"]
        path = route["spec"].get("path", "")
        mine = (meta.get("creationTimestamp", ""), meta["namespace"], meta["name"])
        for other in self._cluster.list(ROUTES.key):
            other_meta = other["metadata"]
            if other_meta["namespace"] == meta["namespace"] or is_terminating(other):
                continue
            if (other.get("spec") or {}).get("host") != host or (other.get("spec") or {}).get("path", "") != path:
                continue
            if (other_meta.get("creationTimestamp", ""), other_meta["namespace"], other_meta["name"]) < mine:
                return other
        return None

    def admit(self, namespace: str, name: str) -> None:
        route = self._cluster.get(ROUTES.key, namespace, name)
        if route is None or is_terminating(route) or self._admitted_entry(route) is not None:
            return
        host = route["spec"]["host"]
        when = now_rfc3339(self._clock)
        claimant = self._older_claimant(route)
        admitted: JSON = {"type": "Admitted", "status": "True", "lastTransitionTime": when}
        if claimant is not None:
            claimant_meta = claimant["metadata"]
            admitted = {
                "type": "Admitted",
                "status": "False",
                "reason": "HostAlreadyClaimed",
                "message": f"route {claimant_meta['name']} already exposes {host} and is older",
                "lastTransitionTime": when,
            }
        entry = {
            "host": host,
            "routerName": ROUTER_NAME,
            "routerCanonicalHostname": f"router-{ROUTER_NAME}.{self._config.apps_domain}",
            "wildcardPolicy": route["spec"].get("wildcardPolicy", "None"),
            "conditions": [admitted],
        }
        others = [e for e in (route.get("status") or {}).get("ingress") or () if e.get("routerName") != ROUTER_NAME]
        self._cluster.merge_patch(
            ROUTES.key, namespace, name, {"status": {"ingress": [*others, entry]}}, subresource="status"
        )

    def _readmit_contenders(self, deleted: JSON) -> None:
        """A freed host goes to the routes the router refused for it."""
        host = (deleted.get("spec") or {}).get("host")
        for other in self._cluster.list(ROUTES.key):
            entry = self._admitted_entry(other)
            if (other.get("spec") or {}).get("host") != host or entry is None:
                continue
            if any(c.get("reason") == "HostAlreadyClaimed" for c in entry.get("conditions") or ()):
                meta = other["metadata"]
                patch: JSON = {"status": {"ingress": []}}
                self._cluster.merge_patch(ROUTES.key, meta["namespace"], meta["name"], patch, subresource="status")
