"""An aiohttp Kubernetes API server over :class:`.cluster.InMemoryCluster`, for kubectl, the ``kubernetes``
client and kopf, unmodified.

Serves: /version, /healthz, /readyz, /livez, discovery (/api, /api/v1, /apis, /apis/{g}, /apis/{g}/{v}),
a minimal /openapi/v3 (/openapi/v2 is a 404, which kubectl tolerates), and the resource verbs get, list,
watch, create, update (PUT), patch (JSON, merge, strategic), delete, deletecollection, with status
subresources, Tables (``as=Table``), PartialObjectMetadata, dryRun and selectors.
Sandbox-only extensions (admin token only; other users get 403): ``/_sandbox/faults`` arms fault rules, see
:mod:`.faults`; ``GET``/``DELETE /_sandbox/requests`` reports/clears request counters
(``{"requests": [{"user", "method", "target", "count"}]}``, see :mod:`..request_counts`). Every authenticated
request is counted (also the ones the fault injector answers) by user name, verb (get, list, watch, create,
update, patch, delete, deletecollection; the lowercase HTTP method outside resource paths) and target
(``<group or core>/<resource>[/<subresource>]``, or ``discovery``, ``openapi``, ``other``); 401s, health,
/version and /_sandbox/* are not.

Gaps against a real kube-apiserver 1.32:
- Server-side apply (``application/apply-patch+yaml``) answers 415; no managedFields are kept.
- Strategic merge patch knows the merge keys of the kinds served here (ownerReferences, finalizers,
  ServiceAccount secrets/imagePullSecrets); ``$setElementOrder`` puts items it does not name last instead
  of interleaving them; kinds registered by other modules get atomic lists.
- ``fieldValidation=Strict`` catches unknown fields of custom resources (pruned by the schema) only;
  built-in kinds have no schema here. Duplicate JSON keys are not detected.
- Garbage collection runs synchronously right after the owner goes (the real one is a background
  controller); ``blockOwnerDeletion`` is ignored; dependents whose owner never existed stay. Namespace and
  CRD termination are asynchronous (``cleanup_delay``, 0.2 s) but report no progress conditions.
- No graceful deletion (gracePeriodSeconds is accepted and ignored), no TTLs, no admission webhooks,
  no aggregated discovery (clients fall back to the legacy documents). Responses are JSON (or YAML) only:
  an Accept of protobuf alone is 406; protobuf request bodies decode only for the kinds
  :mod:`.protobuf` knows (kubectl's typed-client kinds), others are 415.
- The emulator adds no implicit objects (no default ServiceAccount or kube-root-ca.crt ConfigMap per
  namespace); ``EmulatorThread`` creates the default, kube-system and kube-public namespaces.
- Error messages for JSON patches that do not apply, malformed bodies and bad selectors are close to, not
  byte-identical with, the Go wording; the 422 for a failed JSON-patch ``test`` has the real reason/code.
- Conversion between versions of a CRD is "None" only (apiVersion rewritten); core/v1 and
  events.k8s.io/v1 Events are stored separately (no field mapping between them).
- Paged lists are not snapshots: later pages show the current state (the real server serves pages from
  the first page's resourceVersion while it is not compacted).
- Watches with ``as=Table`` (``kubectl get -w``) get plain JSON events; ``sendInitialEvents`` is ignored;
  a resourceVersion newer than the current one starts the watch "now" instead of waiting.
- OpenAPI v3 documents carry the schemas of CRD-served kinds (``kubectl explain`` works for them) but none
  for built-in kinds; /openapi/v2 is a 404; built-in kinds are not schema-validated.
- Deployments (apps/v1) and Services are stored only: no controllers make ReplicaSets, Pods, Endpoints or
  status; a Service gets no clusterIP.
- Authorization sees every authenticated user as allowed to read discovery and /openapi (system:discovery).
- Field selectors: metadata.name/namespace for all kinds plus a few per built-in kind; no CRD
  ``selectableFields``.
- A DELETE answers 200 with the object (never 202); CR replace (PUT) without resourceVersion is 422 as in
  the real server, built-ins allow it.
"""

from __future__ import annotations

import logging

from aiohttp import web

from .. import request_counts
from ..request_counts import RequestCounts
from . import discovery, faults, openapi
from .api import JSON, SYSTEM_ADMIN, ApiError, UserInfo
from .cluster import InMemoryCluster
from .errors import unauthorized
from .handlers import ResourceHandler, json_response
from .routing import Route, parse_resource_path
from .watchstream import WatchStreamer

log = logging.getLogger(__name__)

DEFAULT_BOOKMARK_INTERVAL = 30.0
_HEALTH = ("/healthz", "/readyz", "/livez")
_PUBLIC = (*_HEALTH, "/version", "/version/")
_INTERNAL = ApiError(500, "InternalError", "Internal error occurred: see the emulator log")
_NOT_FOUND = ApiError(404, "NotFound", "the server could not find the requested resource")
_SANDBOX = "/_sandbox/"


class ApiServer:
    """Routes one request: health and version (no auth), then authentication, resources, discovery."""

    def __init__(self, cluster: InMemoryCluster, admin_token: str, bookmark_interval: float) -> None:
        self.cluster = cluster
        self._admin_token = admin_token
        self.watches = WatchStreamer(cluster, bookmark_interval)
        self.resources = ResourceHandler(cluster, self.watches)
        self.faults = faults.FaultInjector(lambda: cluster.resource_version)
        self.requests = RequestCounts()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._route(request)
        except ApiError as error:
            return json_response(error.status(), error.code)
        except Exception:
            log.exception("internal error serving %s %s", request.method, request.path)
            return json_response(_INTERNAL.status(), 500)

    def _authenticate(self, request: web.Request) -> UserInfo:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise unauthorized()
        token = token.strip()
        if token == self._admin_token:
            return SYSTEM_ADMIN
        user = self.cluster.authenticate(token)
        if user is None:
            raise unauthorized()
        return user

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in _HEALTH or path.startswith(tuple(f"{h}/" for h in _HEALTH)):
            return web.Response(text="ok")
        if path == "/version":
            return json_response(discovery.version_info())
        user = self._authenticate(request)
        if path.startswith(_SANDBOX):
            return await self._sandbox(request, path, user)
        route = parse_resource_path(path)
        self.requests.add(user.username, *_verb_and_target(request, path, route))
        if route is not None:
            return await self.faults.serve(request, route, lambda: self.resources.handle(request, route, user))
        if request.method != "GET":
            raise _NOT_FOUND
        body = self._document(request, path)
        if body is None:
            raise _NOT_FOUND
        return json_response(body)

    async def _sandbox(self, request: web.Request, path: str, user: UserInfo) -> web.StreamResponse:
        if path == faults.PATH or path.startswith(f"{faults.PATH}/"):
            return json_response(await self.faults.admin(request, path, user))
        if path != request_counts.PATH:
            raise _NOT_FOUND
        if user is not SYSTEM_ADMIN:  # as faults.FaultInjector.admin
            raise ApiError(403, "Forbidden", f'User "{user.username}" cannot use the sandbox requests endpoint')
        if request.method not in ("GET", "DELETE"):
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method: {request.method}")
        return request_counts.endpoint_answer(self.requests, request.method)

    def _document(self, request: web.Request, path: str) -> JSON | None:
        """Discovery and OpenAPI documents; None for any other path."""
        served = self.cluster.served_types()
        parts = path.strip("/").split("/")
        if path == "/api":
            return discovery.core_versions(request.host)
        if path in ("/apis", "/openapi/v3"):
            return discovery.group_list(served) if path == "/apis" else openapi.root_document(served)
        if parts[0] == "apis" and len(parts) == 2:
            return discovery.group(served, parts[1])
        if parts[0] in ("api", "apis") and len(parts) == (2 if parts[0] == "api" else 3):
            return discovery.resource_list(served, "/".join(parts[1:]), self._specials())
        if parts[:2] == ["openapi", "v3"] and len(parts) in (4, 5):
            return openapi.group_version_document(served, "/".join(parts[3:]))
        return None

    def _specials(self) -> dict[str, dict[str, list[str]]]:
        return {s.resource.key: self.cluster.special_subresources(s.resource.key) for s in self.cluster.served_types()}

    async def shutdown(self, app: web.Application) -> None:
        del app
        self.faults.close()
        self.watches.close_all()


def _verb_and_target(request: web.Request, path: str, route: Route | None) -> tuple[str, str]:
    """The counted (verb, target) of an authenticated request: ``("patch", "edge.horizon.dev/x/status")``."""
    if route is None:
        head = path.lstrip("/").partition("/")[0]
        kind = "discovery" if head in ("api", "apis") else "openapi" if head == "openapi" else "other"
        return request.method.lower(), kind
    group = route.group_version.rpartition("/")[0] or "core"
    resource = route.plural if route.subresource is None else f"{route.plural}/{route.subresource}"
    return faults.request_verb(request, route), f"{group}/{resource}"


SERVER_KEY: web.AppKey[ApiServer] = web.AppKey("kubeapi.server", ApiServer)


def create_app(
    cluster: InMemoryCluster, *, admin_token: str, bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL
) -> web.Application:
    """The HTTP face of ``cluster``; ``Authorization: Bearer <admin_token>`` is system:admin."""
    server = ApiServer(cluster, admin_token, bookmark_interval)
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", server.handle)
    app.on_shutdown.append(server.shutdown)
    app[SERVER_KEY] = server
    return app
