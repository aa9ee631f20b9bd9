"""The write path: create, replace, patch and delete, in the real server's order.

Per write: type meta and namespace checks, system metadata, strategy normalisation, schema (prune,
default, validate), admission hooks, then the commit (skipped for ``dryRun``).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from .api import JSON, SYSTEM_ADMIN, ApiError, UserInfo
from .core import ClusterCore
from .crds import check_custom_object
from .errors import (
    already_exists,
    bad_request,
    conflict,
    field_error,
    forbidden,
    invalid,
    invalid_value,
    namespace_not_found,
    not_found,
    unsupported_media_type,
)
from .meta import MAX_GENERATE_NAME_PREFIX, clone, generate_suffix, metadata_causes, now_rfc3339
from .patching import JsonPatchError, json_patch, json_patch_failed, merge_patch, strategic_merge_patch
from .store import Served

PatchType = Literal["json", "merge", "strategic", "apply"]
PATCH_MEDIA_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
Propagation = Literal["Background", "Foreground", "Orphan"]
_SYSTEM_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


def _ready_to_remove(obj: JSON) -> bool:
    """Deleting, and nothing left to wait for (namespaces also wait for ``spec.finalizers``)."""
    meta = obj["metadata"]
    if not meta.get("deletionTimestamp") or meta.get("finalizers"):
        return False
    return not (obj.get("kind") == "Namespace" and (obj.get("spec") or {}).get("finalizers"))


def _split_status(served: Served, old: JSON, new: JSON, subresource: str | None) -> JSON:
    """With a status subresource, /status writes change only status and other writes never change it."""
    resource = served.resource
    new["kind"], new["apiVersion"] = resource.kind, resource.group_version
    if subresource == "status":
        status = new.get("status")
        new = clone(served.present(old))
        new.pop("status", None)
        if status is not None:
            new["status"] = status
    elif "status" in resource.subresources:
        new.pop("status", None)
        if "status" in old:
            new["status"] = clone(old["status"])
    return new


def _carry_system_metadata(meta: JSON, old_meta: JSON) -> list[JSON]:
    """Keep the server-owned metadata of the stored object; causes for forbidden changes."""
    causes = []
    if meta.get("uid") and meta["uid"] != old_meta["uid"]:
        causes.append(field_error("metadata.uid", invalid_value(meta["uid"], "field is immutable")))
    for system_field in _SYSTEM_FIELDS:
        meta.pop(system_field, None)
        if system_field in old_meta:
            meta[system_field] = old_meta[system_field]
    meta.pop("managedFields", None)
    meta["resourceVersion"] = old_meta["resourceVersion"]
    if old_meta.get("deletionTimestamp"):
        added = [f for f in meta.get("finalizers") or [] if f not in (old_meta.get("finalizers") or [])]
        if added:
            quoted = ", ".join(f'"{f}"' for f in added)
            message = (
                "Forbidden: no new finalizers can be added if the object is being deleted, "
                f"found new finalizers []string{{{quoted}}}"
            )
            causes.append(field_error("metadata.finalizers", message, "FieldValueForbidden"))
    return causes


def _without_volatile(obj: JSON) -> JSON:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class WritingCluster(ClusterCore):
    # --- create ---------------------------------------------------------------------------------

    def create(
        self,
        key: str,
        obj: JSON,
        *,
        namespace: str | None = None,
        user: UserInfo = SYSTEM_ADMIN,
        dry_run: bool = False,
        strict: bool = False,
    ) -> JSON:
        served = self.served(key)
        obj = clone(obj)
        meta = self._type_meta(served, obj)
        namespace = self._namespace_of(served, meta, namespace)
        if namespace is not None:
            self._require_live_namespace(served, namespace, meta.get("name") or meta.get("generateName") or "")
        if meta.get("resourceVersion"):
            raise ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generated_name(served, namespace, str(meta["generateName"]))
        for system_field in _SYSTEM_FIELDS:
            meta.pop(system_field, None)
        meta.pop("managedFields", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if "status" in served.resource.subresources:
            obj.pop("status", None)  # status is the controller's, written through /status
        if served.rules.generation_tracked(obj):
            meta["generation"] = 1
        self._validate(served, obj, None, strict)
        self._admit(served, "CREATE", obj, None, user)
        if served.storage.get(namespace, meta["name"]) is not None:
            raise already_exists(served.resource, meta["name"])
        if not dry_run:
            self._commit(served, "ADDED", obj, None)
        return clone(served.present(obj))

    def _generated_name(self, served: Served, namespace: str | None, prefix: str) -> str:
        prefix = prefix[:MAX_GENERATE_NAME_PREFIX]
        for _ in range(8):  # 27**5 names: a clash is rare, several in a row practically impossible
            name = prefix + generate_suffix()
            if served.storage.get(namespace, name) is None:
                return name
        return name

    def _type_meta(self, served: Served, obj: JSON) -> JSON:
        resource = served.resource
        if not isinstance(obj, dict):
            raise bad_request("the body of the request is not a JSON object")
        if obj.get("kind", resource.kind) != resource.kind:
            raise bad_request(
                f"the kind in the body ({obj['kind']}) does not match the resource kind ({resource.kind})"
            )
        if obj.get("apiVersion", resource.group_version) != resource.group_version:
            raise bad_request(
                f"the API version in the data ({obj['apiVersion']}) does not match the expected API version "
                f"({resource.group_version})"
            )
        obj["kind"], obj["apiVersion"] = resource.kind, resource.group_version
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        return meta

    def _namespace_of(self, served: Served, meta: JSON, namespace: str | None) -> str | None:
        if not served.resource.namespaced:
            meta.pop("namespace", None)
            return None
        given = meta.get("namespace")
        if namespace and given and given != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        namespace = namespace or given
        if not namespace:
            raise bad_request("the namespace of the object is required")  # the server always has one from the URL
        meta["namespace"] = namespace
        return str(namespace)

    def _require_live_namespace(self, served: Served, namespace: str, name: str) -> None:
        namespaces = self._storages.get("/namespaces")
        if namespaces is None:  # a cluster built without the built-in kinds does not model namespaces
            return
        ns = namespaces.get(None, namespace)
        if ns is None:
            raise namespace_not_found(namespace)
        if ns["metadata"].get("deletionTimestamp"):
            why = f"unable to create new content in namespace {namespace} because it is being terminated"
            cause = {
                "reason": "NamespaceTerminating",
                "message": f"namespace {namespace} is being terminated",
                "field": "metadata.namespace",
            }
            raise forbidden(served.resource, name, why, [cause])

    # --- validation and admission ---------------------------------------------------------------

    def _validate(self, served: Served, obj: JSON, old: JSON | None, strict: bool = False) -> None:
        resource = served.resource
        causes = metadata_causes(obj["metadata"], served.rules.name_rule, resource.namespaced)
        if served.rules.prepare is not None:
            causes += served.rules.prepare(obj, old)
        if resource.schema is not None or served.custom:
            check_custom_object(resource, obj, old, causes, strict=strict)
        elif causes:
            raise invalid(resource.group, resource.kind, obj["metadata"].get("name", ""), causes)

    def _admit(self, served: Served, operation: str, obj: JSON | None, old: JSON | None, user: UserInfo) -> None:
        hooks = self._admission.get(served.storage.id)
        if not hooks:
            return
        old_copy = None if old is None else clone(served.present(old))
        for hook in hooks:
            hook(operation, obj, old_copy, user)

    # --- replace and patch ----------------------------------------------------------------------

    def update(
        self,
        key: str,
        obj: JSON,
        *,
        subresource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        user: UserInfo = SYSTEM_ADMIN,
        dry_run: bool = False,
        strict: bool = False,
    ) -> JSON:
        served = self.served(key)
        new = clone(obj)
        meta = self._type_meta(served, new)
        if name and meta.get("name") and meta["name"] != name:
            raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        name = name or meta.get("name")
        if not name:
            raise bad_request("resource name may not be empty")
        meta["name"] = name
        namespace = self._namespace_of(served, meta, namespace)
        old = served.storage.get(namespace, name)
        if old is None:
            raise not_found(served.resource, name)
        given = meta.get("resourceVersion")
        if given and given != old["metadata"]["resourceVersion"]:
            raise conflict(served.resource, name)
        if not given and served.custom:
            raise invalid(
                served.resource.group,
                served.resource.kind,
                name,
                [field_error("metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")],
            )
        return self._replace(served, old, new, subresource, user, dry_run, strict)

    def merge_patch(
        self,
        key: str,
        namespace: str | None,
        name: str,
        patch: JSON,
        *,
        subresource: str | None = None,
        user: UserInfo = SYSTEM_ADMIN,
        dry_run: bool = False,
        strict: bool = False,
    ) -> JSON:
        return self.patch(key, namespace, name, "merge", patch, subresource=subresource, user=user, dry_run=dry_run)

    def patch(
        self,
        key: str,
        namespace: str | None,
        name: str,
        patch_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        user: UserInfo = SYSTEM_ADMIN,
        dry_run: bool = False,
        strict: bool = False,
    ) -> JSON:
        served = self.served(key)
        namespace = namespace if served.resource.namespaced else None
        old = served.storage.get(namespace, name)
        if old is None:
            raise not_found(served.resource, name)
        base = clone(served.present(old))
        if patch_type == "merge":
            if not isinstance(patch, dict):
                raise bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
            new = merge_patch(base, patch)
        elif patch_type == "json":
            try:
                new = json_patch(base, patch)
            except JsonPatchError as error:
                raise json_patch_failed(error) from None
        elif patch_type == "strategic" and not served.custom:
            new = strategic_merge_patch(base, patch, served.rules.merge_keys)
        else:
            accepted = tuple(t for t, kind in PATCH_MEDIA_TYPES.items() if kind in ("json", "merge"))
            raise unsupported_media_type(patch_type, accepted)
        meta = new.get("metadata")
        if not isinstance(meta, dict) or meta.get("name") != name:
            raise bad_request(
                f"the name of the object ({(meta or {}).get('name')}) does not match the name on the URL ({name})"
            )
        if served.resource.namespaced and meta.get("namespace") != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        given = meta.get("resourceVersion")
        if given and given != old["metadata"]["resourceVersion"]:
            raise conflict(served.resource, name)
        return self._replace(served, old, new, subresource, user, dry_run, strict)

    def _replace(  # noqa: PLR0917 - the write's context, passed along from update/patch
        self,
        served: Served,
        old: JSON,
        new: JSON,
        subresource: str | None,
        user: UserInfo,
        dry_run: bool,
        strict: bool = False,
    ) -> JSON:
        resource, old_meta = served.resource, old["metadata"]
        if subresource not in (None, "status") or (subresource == "status" and "status" not in resource.subresources):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        new = _split_status(served, old, new, subresource)
        meta = new["metadata"]
        causes = _carry_system_metadata(meta, old_meta)
        if causes:
            raise invalid(resource.group, resource.kind, meta.get("name", ""), causes)
        self._validate(served, new, old, strict)
        if "generation" in old_meta and _without_volatile(new) != _without_volatile(old):
            meta["generation"] = old_meta["generation"] + 1
        if new == served.present(old):
            return clone(new)  # a no-op write: no new resourceVersion, no event
        self._admit(served, "UPDATE", new, old, user)
        if dry_run:
            return clone(new)
        if _ready_to_remove(new):
            return clone(served.present(self._commit(served, "DELETED", clone(old), old)))
        return clone(served.present(self._commit(served, "MODIFIED", new, old)))
