"""A minimal OpenAPI v3 (per group/version) that tells kubectl what it asks it.

kubectl 1.32 reads /openapi/v3 for two questions only: does PATCH of a kind accept the
``fieldValidation`` query parameter (then it validates server-side instead of downloading /openapi/v2),
and does it accept a strategic merge patch (we say no, so kubectl falls back to its compiled-in types
for built-ins and to a JSON merge patch for custom resources, exactly as with a real CRD). Schemas are
not published: ``kubectl explain`` does not work.
"""

from __future__ import annotations

import hashlib
import json

from .api import JSON
from .discovery import KUBERNETES_VERSION
from .store import Served


def _path_prefix(group_version: str) -> str:
    return f"api/{group_version}" if "/" not in group_version else f"apis/{group_version}"


def group_version_document(served: list[Served], group_version: str) -> JSON | None:
    paths: JSON = {}
    for entry in served:
        resource = entry.resource
        if resource.group_version != group_version:
            continue
        scope = "namespaces/{namespace}/" if resource.namespaced else ""
        gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
        patch_bodies = ["application/json-patch+json", "application/merge-patch+json"]
        paths[f"/{_path_prefix(group_version)}/{scope}{resource.plural}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{resource.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                ],
                "requestBody": {"content": {media: {"schema": {"type": "object"}} for media in patch_bodies}},
                "responses": {"200": {"description": "OK"}},
            }
        }
    if not paths:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {"schemas": {}},
    }


def root_document(served: list[Served]) -> JSON:
    """``{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."}}}``."""
    group_versions = sorted({entry.resource.group_version for entry in served})
    paths: JSON = {}
    for group_version in group_versions:
        document = group_version_document(served, group_version)
        digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest().upper()
        prefix = _path_prefix(group_version)
        paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={digest}"}
    return {"paths": paths}
