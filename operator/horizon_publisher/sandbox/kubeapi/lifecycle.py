"""Deletion and the controllers that finish it: finalizers, garbage collection, namespaces, CRDs.

Namespace and CRD termination are asynchronous as in the real cluster: the DELETE marks the object
Terminating, and its contents are deleted ``cleanup_delay`` seconds later on the running loop (at once when
the cluster is used without a loop). Garbage collection of dependents runs synchronously right after the
owner goes (the real one is asynchronous but quick).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from .api import JSON, SYSTEM_ADMIN, UserInfo, WatchEvent
from .crds import CLEANUP_FINALIZER, CRD_GROUP, crd_types
from .errors import bad_request, conflict, not_found
from .meta import clone, now_rfc3339
from .selectors import FieldSelector, LabelSelector
from .store import Served, Storage, storage_id
from .writes import Propagation, WritingCluster

log = logging.getLogger(__name__)

DEFAULT_CLEANUP_DELAY = 0.2
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
CRD_KEY = f"{CRD_GROUP}/v1/customresourcedefinitions"
NAMESPACES_KEY = "v1/namespaces"


class LifecycleCluster(WritingCluster):
    # Seconds between a namespace or CRD turning Terminating and its contents being deleted (None: at once).
    cleanup_delay: float | None = DEFAULT_CLEANUP_DELAY
    # --- the DELETE verbs -----------------------------------------------------------------------

    def delete(self, key: str, namespace: str | None, name: str) -> None:
        self.delete_object(key, namespace, name)

    def delete_object(
        self,
        key: str,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: JSON | None = None,
        user: UserInfo = SYSTEM_ADMIN,
        dry_run: bool = False,
    ) -> JSON:
        served = self.served(key)
        namespace = namespace if served.resource.namespaced else None
        old = served.storage.get(namespace, name)
        if old is None:
            raise not_found(served.resource, name)
        for field in ("uid", "resourceVersion"):
            wanted = (preconditions or {}).get(field)
            if wanted and wanted != old["metadata"].get(field):
                label = "UID" if field == "uid" else "ResourceVersion"
                why = (
                    f"Precondition failed: {label} in precondition: {wanted}, "
                    f"{label} in object meta: {old['metadata'].get(field)}"
                )
                raise conflict(served.resource, name, why)
        policy = propagation or "Background"
        if policy not in ("Background", "Foreground", "Orphan"):
            raise bad_request(f'propagationPolicy: Unsupported value: "{policy}"')
        self._admit(served, "DELETE", None, old, user)
        if dry_run:
            return clone(served.present(old))
        return clone(served.present(self._delete_stored(served, old, cast(Propagation, policy))))

    def delete_collection(
        self,
        key: str,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        propagation: str | None = None,
        user: UserInfo = SYSTEM_ADMIN,
        dry_run: bool = False,
    ) -> list[JSON]:
        served = self.served(key)
        page = self.list_page(served, namespace, labels, fields)
        return [
            self.delete_object(
                key,
                obj["metadata"].get("namespace"),
                obj["metadata"]["name"],
                propagation=propagation,
                user=user,
                dry_run=dry_run,
            )
            for obj in page.items
        ]

    def _delete_stored(self, served: Served, old: JSON, policy: Propagation) -> JSON:
        """Start deleting a stored object: mark it while finalizers remain, else remove it."""
        meta = old["metadata"]
        if served.resource.key == NAMESPACES_KEY:
            return self._terminate_namespace(served, old)
        if meta.get("deletionTimestamp"):
            return old
        if policy == "Orphan":
            self._orphan_dependents(meta["uid"])
        finalizers = list(meta.get("finalizers") or [])
        if policy == "Foreground" and self._owners.get(meta["uid"]) and FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
        if served.resource.key == CRD_KEY and CLEANUP_FINALIZER not in finalizers:
            finalizers.append(CLEANUP_FINALIZER)
        if not finalizers:
            return self._commit(served, "DELETED", clone(old), old)
        new = clone(old)
        new["metadata"].update(deletionTimestamp=now_rfc3339(), deletionGracePeriodSeconds=0, finalizers=finalizers)
        if "generation" in meta:
            new["metadata"]["generation"] = meta["generation"] + 1
        if served.resource.key == CRD_KEY:
            _set_condition(new, "Terminating", "InstanceDeletionInProgress", "CustomResource deletion is in progress")
        return self._commit(served, "MODIFIED", new, old)

    def _remove_finalizer(self, served: Served, obj: JSON, finalizer: str) -> None:
        current = served.storage.get(obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if current is None or finalizer not in (current["metadata"].get("finalizers") or []):
            return
        new = clone(current)
        new["metadata"]["finalizers"] = [f for f in new["metadata"]["finalizers"] if f != finalizer]
        if not new["metadata"]["finalizers"]:
            self._commit(served, "DELETED", clone(current), current)
        else:
            self._commit(served, "MODIFIED", new, current)

    # --- controllers ----------------------------------------------------------------------------

    def _defer(self, work: Callable[[], None]) -> None:
        """Run ``work`` after ``cleanup_delay`` on the running loop (at once when there is none)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self.cleanup_delay is None:
            work()
        else:
            loop.call_later(self.cleanup_delay, self._run_deferred, work)

    @staticmethod
    def _run_deferred(work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:
            log.exception("deferred cleanup failed")

    def _react(self, served: Served, event: WatchEvent) -> None:
        obj, meta = event.object, event.object["metadata"]
        key = served.resource.key
        if key == CRD_KEY:
            self._react_to_crd(event)
        deleting = bool(meta.get("deletionTimestamp"))
        if event.type == "DELETED":
            self._collect_dependents(meta["uid"])
            self._release_owners(obj)
            if meta.get("namespace"):
                self._finish_namespace(meta["namespace"])
            if served.custom:
                self._finish_crd(served)
        elif (
            deleting
            and not (event.old or {}).get("metadata", {}).get("deletionTimestamp")
            and FOREGROUND in (meta.get("finalizers") or [])
        ):
            self._collect_dependents(meta["uid"], foreground_owner=(served, obj))

    def _served_for(self, storage: Storage) -> Served | None:
        return next((s for s in self._served.values() if s.storage is storage), None)

    def _location_object(self, location: tuple[str, str, str]) -> tuple[Served, JSON] | None:
        storage = self._storages.get(location[0])
        served = None if storage is None else self._served_for(storage)
        if storage is None or served is None:
            return None
        obj = storage.get(location[1] or None, location[2])
        return None if obj is None else (served, obj)

    def _collect_dependents(self, owner_uid: str, foreground_owner: tuple[Served, JSON] | None = None) -> None:
        """Garbage-collect the dependents of ``owner_uid`` (gone, or being deleted in the foreground)."""
        for location in sorted(self._owners.get(owner_uid, set())):
            found = self._location_object(location)
            if found is None:
                continue
            served, dependent = found
            refs = dependent["metadata"].get("ownerReferences") or []
            others = [r for r in refs if r.get("uid") != owner_uid and r.get("uid") in self._uids]
            if others and foreground_owner is None:
                self._set_owner_refs(served, dependent, others)
            else:
                self._delete_stored(served, dependent, "Foreground" if foreground_owner else "Background")
        if foreground_owner is not None and not self._owners.get(owner_uid):
            self._remove_finalizer(*foreground_owner, FOREGROUND)

    def _release_owners(self, obj: JSON) -> None:
        """A dependent went away: an owner waiting for it in foreground deletion may now go too."""
        for ref in obj["metadata"].get("ownerReferences") or []:
            location = self._uids.get(ref.get("uid", ""))
            found = None if location is None else self._location_object(location)
            if found is None:
                continue
            served, owner = found
            if FOREGROUND in (owner["metadata"].get("finalizers") or []) and not self._owners.get(ref["uid"]):
                self._remove_finalizer(served, owner, FOREGROUND)

    def _orphan_dependents(self, owner_uid: str) -> None:
        for location in sorted(self._owners.get(owner_uid, set())):
            found = self._location_object(location)
            if found is not None:
                served, dependent = found
                refs = dependent["metadata"].get("ownerReferences") or []
                self._set_owner_refs(served, dependent, [r for r in refs if r.get("uid") != owner_uid])

    def _set_owner_refs(self, served: Served, obj: JSON, refs: list[JSON]) -> None:
        new = clone(obj)
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            new["metadata"].pop("ownerReferences", None)
        self._commit(served, "MODIFIED", new, obj)

    # --- namespaces -----------------------------------------------------------------------------

    def _terminate_namespace(self, served: Served, old: JSON) -> JSON:
        """Mark the namespace Terminating now; its contents go a little later, as the namespace controller does."""
        if old["metadata"].get("deletionTimestamp"):
            return old
        name = old["metadata"]["name"]
        new = clone(old)
        new["metadata"]["deletionTimestamp"] = now_rfc3339()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new.setdefault("status", {})["phase"] = "Terminating"
        current = self._commit(served, "MODIFIED", new, old)
        self._defer(lambda: self._sweep_namespace(name))
        return current

    def _sweep_namespace(self, name: str) -> None:
        for storage in list(self._storages.values()):
            storage_served = self._served_for(storage)
            if storage_served is None or not storage_served.resource.namespaced:
                continue
            for obj in list(storage.iterate(name)):
                latest = storage.get(name, obj["metadata"]["name"])
                if latest is not None and not latest["metadata"].get("deletionTimestamp"):
                    self._delete_stored(storage_served, latest, "Background")
        self._finish_namespace(name)

    def _finish_namespace(self, name: str) -> None:
        namespaces = self._served.get(NAMESPACES_KEY)
        ns = None if namespaces is None else namespaces.storage.get(None, name)
        if namespaces is None or ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        if any(storage.has_namespace(name) for storage in self._storages.values()):
            return
        new = clone(ns)
        new.setdefault("spec", {})["finalizers"] = []
        if not new["metadata"].get("finalizers"):
            self._commit(namespaces, "DELETED", new, ns)
        elif ns.get("spec", {}).get("finalizers"):
            self._commit(namespaces, "MODIFIED", new, ns)  # now waits only for metadata.finalizers

    # --- CRDs -----------------------------------------------------------------------------------

    def _react_to_crd(self, event: WatchEvent) -> None:
        crd, old = event.object, event.old
        old_keys = {t.key for t in crd_types(old)} if old is not None else set()
        if event.type == "DELETED":
            for key in old_keys | {t.key for t in crd_types(crd)}:
                self.unregister(key)
            return
        new_types = crd_types(crd)
        for resource in new_types:
            self._register(resource, custom=True)
        for key in old_keys - {t.key for t in new_types}:
            self.unregister(key)
        if crd["metadata"].get("deletionTimestamp") and not (old or {}).get("metadata", {}).get("deletionTimestamp"):
            name = crd["metadata"]["name"]
            self._defer(lambda: self._sweep_crd(name))

    def _sweep_crd(self, name: str) -> None:
        """Delete every object of a terminating CRD (the real server's CRD finalizer controller)."""
        crd = self._served[CRD_KEY].storage.get(None, name)
        if crd is None:
            return
        spec = crd["spec"]
        storage = self._storages.get(storage_id(spec["group"], spec["names"]["plural"]))
        served = None if storage is None else self._served_for(storage)
        if storage is not None and served is not None:
            for obj in list(storage.iterate()):
                latest = storage.get(obj["metadata"].get("namespace"), obj["metadata"]["name"])
                if latest is not None and not latest["metadata"].get("deletionTimestamp"):
                    self._delete_stored(served, latest, "Background")
        if storage is None or not len(storage):
            self._remove_finalizer(self._served[CRD_KEY], crd, CLEANUP_FINALIZER)

    def _finish_crd(self, served: Served) -> None:
        if len(served.storage):
            return
        name = f"{served.resource.plural}.{served.resource.group}"
        crd = self._served[CRD_KEY].storage.get(None, name)
        if crd is not None and crd["metadata"].get("deletionTimestamp"):
            self._remove_finalizer(self._served[CRD_KEY], crd, CLEANUP_FINALIZER)


def _set_condition(obj: JSON, kind: str, reason: str, message: str) -> None:
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    conditions[:] = [c for c in conditions if c.get("type") != kind]
    conditions.append(
        {
            "type": kind,
            "status": "True",
            "lastTransitionTime": now_rfc3339(),
            "reason": reason,
            "message": message,
        }
    )
