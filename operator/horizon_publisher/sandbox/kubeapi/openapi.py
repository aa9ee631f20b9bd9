"""OpenAPI v3 per group/version: what kubectl 1.32 asks of it, and the schemas of custom resources.

kubectl reads /openapi/v3 for three things:

- does PATCH of a kind accept the ``fieldValidation`` query parameter (then apply/create/patch validate
  server-side instead of downloading /openapi/v2);
- does PATCH accept a strategic merge patch: we say no, so kubectl falls back to its compiled-in types for
  built-ins and to a JSON merge patch for custom resources, exactly as with a real CRD;
- ``kubectl explain``: it finds the kind's GVK on a path operation, then the ``components.schemas`` entry
  carrying that GVK in ``x-kubernetes-group-version-kind``, and follows ``$ref``s inside the document.

Every kind with a schema (each CRD-served version, and kinds other modules register with one) is
published as apiextensions-apiserver's builder publishes a CRD version: the structural schema
(kube-openapi fields only, ``x-kubernetes-int-or-string`` unfolded into ``anyOf``), ``metadata`` as an
``allOf`` reference to ObjectMeta, ``apiVersion``/``kind`` with TypeMeta's descriptions, the same three in
every ``x-kubernetes-embedded-resource`` object, plus the ``<Kind>List`` schema, named
``dev.horizon.edge.v1alpha1.EdgeServiceImage`` (group reversed). ObjectMeta, ListMeta and what they refer
to come from :mod:`.openapi_meta`.

Gaps against a real kube-apiserver 1.32:
- Built-in kinds (Secret, Namespace, ...) have no schema: ``kubectl explain secret`` says "GVK ... not
  found in OpenAPI schema" (kubectl apply/patch do not need them: they use compiled-in types).
- Paths carry only each kind's PATCH operation (with its GVK and query parameters); no get/list/create/
  delete/status operations, no response schemas, no Status/DeleteOptions/Patch components.
- /openapi/v2 is a 404. kubectl reads v2 only as gnostic protobuf, for ``kubectl explain
  --output=plaintext-openapiv2`` (which therefore fails) and as a fallback when v3 is missing; the
  default ``kubectl explain`` output comes from v3 alone.
- ObjectMeta and friends have shortened descriptions (see :mod:`.openapi_meta`); ``x-kubernetes-selectable-
  fields`` is not published (the emulator has no CRD selectableFields); the document has no ETag or
  Cache-Control headers (clients re-download it; the hash in the index URL still changes with the content).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .api import JSON, ResourceType
from .discovery import KUBERNETES_VERSION
from .openapi_meta import (
    LIST_META,
    LIST_METADATA_DESCRIPTION,
    OBJECT_META,
    OBJECT_METADATA_DESCRIPTION,
    SCHEMA_PREFIX,
    meta_schemas,
    ref_to,
    type_meta_properties,
)
from .store import Served

GVK_EXTENSION = "x-kubernetes-group-version-kind"

# What survives the structural-schema round trip (apiextensions' Structural.ToKubeOpenAPI): Go drops
# zero values, so "kept when truthy" fields vanish when false/empty, "kept when set" ones only when absent.
_KEPT_WHEN_TRUTHY = (
    "type", "description", "title", "nullable", "format", "exclusiveMaximum", "exclusiveMinimum", "pattern",
    "uniqueItems", "enum", "required", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string", "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type",
)  # fmt: skip
_KEPT_WHEN_SET = (
    "default", "maximum", "minimum", "maxLength", "minLength", "maxItems", "minItems", "multipleOf",
    "maxProperties", "minProperties",
)  # fmt: skip
_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


def _path_prefix(group_version: str) -> str:
    return f"api/{group_version}" if "/" not in group_version else f"apis/{group_version}"


def definition_name(group: str, version: str, kind: str) -> str:
    """``edge.horizon.dev``, ``v1alpha1``, ``EdgeServiceImage`` -> ``dev.horizon.edge.v1alpha1.EdgeServiceImage``."""
    return ".".join([*reversed(group.split(".")), version, kind]) if group else f"{version}.{kind}"


def _kube_openapi(schema: Any) -> JSON:
    """A CRD schema node as the server re-serializes it from its structural form."""
    if not isinstance(schema, dict):
        return {}
    out: JSON = {key: schema[key] for key in _KEPT_WHEN_TRUTHY if schema.get(key)}
    out.update({key: schema[key] for key in _KEPT_WHEN_SET if schema.get(key) is not None})
    rules = [
        {k: v for k, v in rule.items() if v not in ("", None)} for rule in schema.get("x-kubernetes-validations") or []
    ]
    if rules:
        out["x-kubernetes-validations"] = rules
    properties = {name: _kube_openapi(value) for name, value in (schema.get("properties") or {}).items()}
    if properties:
        out["properties"] = properties
    if "items" in schema:
        out["items"] = _kube_openapi(schema["items"])
    additional = schema.get("additionalProperties")
    if isinstance(additional, bool):
        out["additionalProperties"] = additional
    elif additional is not None:
        out["additionalProperties"] = _kube_openapi(additional)
    for combinator in ("allOf", "anyOf", "oneOf"):
        alternatives = [_kube_openapi(alternative) for alternative in schema.get(combinator) or []]
        if alternatives:
            out[combinator] = alternatives
    if isinstance(schema.get("not"), dict):
        out["not"] = _kube_openapi(schema["not"])
    return out


def _structural_children(node: JSON) -> list[JSON]:
    """Sub-schemas that are structural nodes (not value validations under allOf/anyOf/oneOf/not)."""
    children = list((node.get("properties") or {}).values())
    children += [node[key] for key in ("items", "additionalProperties") if isinstance(node.get(key), dict)]
    return children


def _unfold_int_or_string(node: JSON) -> None:
    """``x-kubernetes-int-or-string`` gains ``anyOf: [integer, string]`` (first in allOf when anyOf is taken)."""
    if node.get("x-kubernetes-int-or-string"):
        all_of = node.get("allOf") or []
        already = node.get("anyOf") == _INT_OR_STRING or (all_of and all_of[0].get("anyOf") == _INT_OR_STRING)
        if not already and "anyOf" not in node:
            node["anyOf"] = [dict(alternative) for alternative in _INT_OR_STRING]
        elif not already:
            node["allOf"] = [{"anyOf": [dict(alternative) for alternative in _INT_OR_STRING]}, *all_of]
    for child in _structural_children(node):
        _unfold_int_or_string(child)


def _add_embedded_meta(node: JSON) -> None:
    """Objects marked ``x-kubernetes-embedded-resource`` are objects: apiVersion, kind and metadata too."""
    for child in _structural_children(node):
        _add_embedded_meta(child)
    if node.get("x-kubernetes-embedded-resource"):
        properties = node.setdefault("properties", {})
        properties.update(type_meta_properties(embedded=True))
        properties["metadata"] = ref_to(OBJECT_META, OBJECT_METADATA_DESCRIPTION)
        required = node.setdefault("required", [])
        required += [name for name in ("kind", "apiVersion") if name not in required]


def kind_schema(resource: ResourceType) -> JSON:
    """The ``components.schemas`` entry of one kind (a CRD version), GVK extension included."""
    gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
    if resource.schema is None:
        return {"type": "object", GVK_EXTENSION: [gvk]}
    schema = _kube_openapi(copy.deepcopy(resource.schema))
    _unfold_int_or_string(schema)
    properties = schema.setdefault("properties", {})
    properties["metadata"] = ref_to(OBJECT_META, OBJECT_METADATA_DESCRIPTION)
    properties.update(type_meta_properties())
    _add_embedded_meta(schema)
    schema[GVK_EXTENSION] = [gvk]
    return schema


def list_schema(resource: ResourceType) -> JSON:
    items_description = (
        f"List of {resource.plural}. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
    )
    item_ref = SCHEMA_PREFIX + definition_name(resource.group, resource.version, resource.kind)
    return {
        "type": "object",
        "description": f"{resource.list_kind} is a list of {resource.kind}",
        "required": ["items"],
        "properties": {
            **type_meta_properties(),
            "items": {"type": "array", "items": {"$ref": item_ref}, "description": items_description},
            "metadata": ref_to(LIST_META, LIST_METADATA_DESCRIPTION),
        },
        GVK_EXTENSION: [{"group": resource.group, "version": resource.version, "kind": resource.list_kind}],
    }


def _patch_path(resource: ResourceType) -> JSON:
    patch_bodies = ["application/json-patch+json", "application/merge-patch+json"]
    return {
        "patch": {
            "operationId": f"patch{resource.kind}",
            "x-kubernetes-action": "patch",
            GVK_EXTENSION: {"group": resource.group, "version": resource.version, "kind": resource.kind},
            "parameters": [
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            ],
            "requestBody": {"content": {media: {"schema": {"type": "object"}} for media in patch_bodies}},
            "responses": {"200": {"description": "OK"}},
        }
    }


def group_version_document(served: list[Served], group_version: str) -> JSON | None:
    paths: JSON = {}
    schemas: dict[str, JSON] = {}
    for entry in served:
        resource = entry.resource
        if resource.group_version != group_version:
            continue
        scope = "namespaces/{namespace}/" if resource.namespaced else ""
        paths[f"/{_path_prefix(group_version)}/{scope}{resource.plural}/{{name}}"] = _patch_path(resource)
        if entry.custom or resource.schema is not None:
            name = definition_name(resource.group, resource.version, resource.kind)
            schemas[name] = kind_schema(resource)
            schemas[name + "List"] = list_schema(resource)
    if not paths:
        return None
    if schemas:
        schemas.update(meta_schemas())
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
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
