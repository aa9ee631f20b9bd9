"""The apimachinery meta/v1 schemas a custom resource's OpenAPI v3 document refers to.

A real server's per-group document carries ObjectMeta, ListMeta and the types they reference
(OwnerReference, ManagedFieldsEntry, Time, FieldsV1) as ``components.schemas`` so that every ``$ref``
resolves: ``kubectl explain KIND.metadata`` and ``--recursive`` walk into them. Fields, types, formats
and list/map extensions are those of Kubernetes 1.32.

Gaps: descriptions are the first sentence of the real ones; Status, DeleteOptions, Patch and the other
types only the real document's path operations refer to are not published.
"""

from __future__ import annotations

from .api import JSON

SCHEMA_PREFIX = "#/components/schemas/"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META = META + "ObjectMeta"
LIST_META = META + "ListMeta"

# TypeMeta's descriptions: every kind's apiVersion and kind properties carry them.
API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
# The lower-case variants the server puts into x-kubernetes-embedded-resource objects.
EMBEDDED_API_VERSION_DESCRIPTION = (
    "apiVersion defines the versioned schema of this representation of an object. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
EMBEDDED_KIND_DESCRIPTION = (
    "kind is a string value representing the type of this object. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
OBJECT_METADATA_DESCRIPTION = (
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
LIST_METADATA_DESCRIPTION = (
    "Standard list metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)


_SELF_LINK = "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."


def ref_to(name: str, description: str | None = None) -> JSON:
    """A reference with siblings, as builder3 writes it (OpenAPI 3.0 ignores siblings of a bare $ref)."""
    schema: JSON = {"allOf": [{"$ref": SCHEMA_PREFIX + name}]}
    if description is not None:
        schema["description"] = description
    return schema


def _string(description: str) -> JSON:
    return {"type": "string", "description": description}


def _int64(description: str) -> JSON:
    return {"type": "integer", "format": "int64", "description": description}


def _string_map(description: str) -> JSON:
    return {"type": "object", "additionalProperties": {"type": "string", "default": ""}, "description": description}


def _object_meta() -> JSON:
    properties: JSON = {
        "annotations": _string_map(
            "Annotations is an unstructured key value map stored with a resource that may be set by external "
            "tools to store and retrieve arbitrary metadata."
        ),
        "creationTimestamp": ref_to(
            META + "Time",
            "CreationTimestamp is a timestamp representing the server time when this object was created.",
        ),
        "deletionGracePeriodSeconds": _int64(
            "Number of seconds allowed for this object to gracefully terminate before it will be removed from "
            "the system."
        ),
        "deletionTimestamp": ref_to(
            META + "Time", "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted."
        ),
        "finalizers": {
            "type": "array",
            "items": {"type": "string", "default": ""},
            "description": "Must be empty before the object is deleted from the registry.",
            "x-kubernetes-list-type": "set",
            "x-kubernetes-patch-strategy": "merge",
        },
        "generateName": _string(
            "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name "
            "field has not been provided."
        ),
        "generation": _int64("A sequence number representing a specific generation of the desired state."),
        "labels": _string_map(
            "Map of string keys and values that can be used to organize and categorize (scope and select) objects."
        ),
        "managedFields": {
            "type": "array",
            "items": {**ref_to(META + "ManagedFieldsEntry"), "default": {}},
            "description": "ManagedFields maps workflow-id and version to the set of fields that are managed by "
            "that workflow.",
            "x-kubernetes-list-type": "atomic",
        },
        "name": _string("Name must be unique within a namespace."),
        "namespace": _string("Namespace defines the space within which each name must be unique."),
        "ownerReferences": {
            "type": "array",
            "items": {**ref_to(META + "OwnerReference"), "default": {}},
            "description": "List of objects depended by this object.",
            "x-kubernetes-list-map-keys": ["uid"],
            "x-kubernetes-list-type": "map",
            "x-kubernetes-patch-merge-key": "uid",
            "x-kubernetes-patch-strategy": "merge",
        },
        "resourceVersion": _string(
            "An opaque value that represents the internal version of this object that can be used by clients "
            "to determine when objects have changed."
        ),
        "selfLink": _string(_SELF_LINK),
        "uid": _string("UID is the unique in time and space value for this object."),
    }
    return {
        "type": "object",
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all "
        "objects users must create.",
        "properties": properties,
    }


def _owner_reference() -> JSON:
    return {
        "type": "object",
        "description": "OwnerReference contains enough information to let you identify an owning object.",
        "required": ["apiVersion", "kind", "name", "uid"],
        "properties": {
            "apiVersion": {**_string("API version of the referent."), "default": ""},
            "blockOwnerDeletion": {
                "type": "boolean",
                "description": 'If true, AND if the owner has the "foregroundDeletion" finalizer, then the owner '
                "cannot be deleted from the key-value store until this reference is removed.",
            },
            "controller": {
                "type": "boolean",
                "description": "If true, this reference points to the managing controller.",
            },
            "kind": {**_string("Kind of the referent."), "default": ""},
            "name": {**_string("Name of the referent."), "default": ""},
            "uid": {**_string("UID of the referent."), "default": ""},
        },
        "x-kubernetes-map-type": "atomic",
    }


def _managed_fields_entry() -> JSON:
    return {
        "type": "object",
        "description": "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource "
        "that the fieldset applies to.",
        "properties": {
            "apiVersion": _string("APIVersion defines the version of this resource that this field set applies to."),
            "fieldsType": _string("FieldsType is the discriminator for the different fields format and version."),
            "fieldsV1": ref_to(
                META + "FieldsV1", 'FieldsV1 holds the first JSON version format as described in the "FieldsV1" type.'
            ),
            "manager": _string("Manager is an identifier of the workflow managing these fields."),
            "operation": _string(
                "Operation is the type of operation which lead to this ManagedFieldsEntry being created."
            ),
            "subresource": _string(
                "Subresource is the name of the subresource used to update that object, or empty string if the "
                "object was updated through the main resource."
            ),
            "time": ref_to(META + "Time", "Time is the timestamp of when the ManagedFields entry was added."),
        },
    }


def _list_meta() -> JSON:
    return {
        "type": "object",
        "description": "ListMeta describes metadata that synthetic resources must have, including lists and "
        "various status objects.",
        "properties": {
            "continue": _string(
                "continue may be set if the user set a limit on the number of items returned, and indicates that "
                "the server has more data available."
            ),
            "remainingItemCount": _int64(
                "remainingItemCount is the number of subsequent items in the list which are not included in this "
                "list response."
            ),
            "resourceVersion": _string(
                "String that identifies the server's internal version of this object that can be used by clients "
                "to determine when objects have changed."
            ),
            "selfLink": _string(_SELF_LINK),
        },
    }


def meta_schemas() -> dict[str, JSON]:
    """``components.schemas`` entries for ObjectMeta, ListMeta and everything they refer to (fresh copies)."""
    return {
        META + "FieldsV1": {
            "type": "object",
            "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.",
        },
        LIST_META: _list_meta(),
        META + "ManagedFieldsEntry": _managed_fields_entry(),
        OBJECT_META: _object_meta(),
        META + "OwnerReference": _owner_reference(),
        META + "Time": {
            "type": "string",
            "format": "date-time",
            "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.",
        },
    }


def type_meta_properties(*, embedded: bool = False) -> dict[str, JSON]:
    """apiVersion and kind as the server publishes them (top level, or inside an embedded resource)."""
    if embedded:
        return {"apiVersion": _string(EMBEDDED_API_VERSION_DESCRIPTION), "kind": _string(EMBEDDED_KIND_DESCRIPTION)}
    return {"apiVersion": _string(API_VERSION_DESCRIPTION), "kind": _string(KIND_DESCRIPTION)}
