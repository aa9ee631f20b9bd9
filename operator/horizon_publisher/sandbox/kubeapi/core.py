"""The store and hook registry under :class:`~.cluster.InMemoryCluster`: registration, reads, commits."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections import defaultdict
from dataclasses import dataclass

from .api import (
    JSON,
    AdmissionHook,
    ApiError,
    Authenticator,
    Authorizer,
    ChangeCallback,
    EventType,
    ResourceType,
    SpecialHandler,
    UserInfo,
    WatchEvent,
)
from .builtin import BUILTIN_TYPES, CUSTOM_RULES, DEFAULT_RULES, KIND_RULES
from .errors import bad_request
from .meta import clone, in_kubernetes_order
from .selectors import FieldSelector, LabelSelector, parse_label_selector
from .store import Served, Storage, storage_id, storage_id_of_key

log = logging.getLogger(__name__)

DEFAULT_EVENT_WINDOW = 5000
Objects = list[JSON]
Events = list[WatchEvent]  # (the method named ``list`` shadows the builtin inside the class)


@dataclass(frozen=True)
class Page:
    items: list[JSON]  # stored objects: read-only, never handed to callers without a copy
    resource_version: str
    continue_token: str | None
    remaining: int | None


class ClusterCore:
    """Registration, storage, reads and the commit primitive; writes live in :mod:`.writes`."""

    def __init__(self, *, event_window: int = DEFAULT_EVENT_WINDOW, builtins: bool = True) -> None:
        self.event_window = event_window
        self._rv = 0
        self._served: dict[str, Served] = {}
        self._storages: dict[str, Storage] = {}
        self._callbacks: dict[str, list[tuple[str, ChangeCallback]]] = defaultdict(list)
        self._admission: dict[str, list[AdmissionHook]] = defaultdict(list)
        self._specials: dict[tuple[str, str | None, str], SpecialHandler] = {}
        self._authenticators: list[Authenticator] = []
        self._authorizer: Authorizer | None = None
        self._owners: dict[str, set[tuple[str, str, str]]] = defaultdict(set)  # owner uid -> dependents
        self._uids: dict[str, tuple[str, str, str]] = {}  # uid -> (storage id, namespace, name)
        if builtins:
            for resource in BUILTIN_TYPES:
                self.register(resource)

    # --- registration ---------------------------------------------------------------------------

    def register(self, resource: ResourceType) -> None:
        self._register(resource, custom=False)

    def _register(self, resource: ResourceType, *, custom: bool) -> None:
        ident = storage_id(resource.group, resource.plural)
        storage = self._storages.get(ident)
        if storage is None:
            storage = self._storages[ident] = Storage(ident, self.event_window)
        rules = CUSTOM_RULES if custom else KIND_RULES.get((resource.group, resource.plural), DEFAULT_RULES)
        self._served[resource.key] = Served(resource, storage, rules, custom)

    def unregister(self, key: str) -> None:
        """Stop serving ``key``; the storage (and its objects) goes with its last served version."""
        served = self._served.pop(key, None)
        if served is None or any(s.storage is served.storage for s in self._served.values()):
            return
        self._storages.pop(served.storage.id, None)
        served.storage.log.close_all()

    def resource(self, key: str) -> ResourceType:
        return self.served(key).resource

    def served(self, key: str) -> Served:
        served = self._served.get(key)
        if served is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return served

    def served_types(self) -> list[Served]:
        return list(self._served.values())

    def versions_of(self, served: Served) -> list[Served]:
        return [s for s in self._served.values() if s.storage is served.storage]

    @property
    def resource_version(self) -> int:
        return self._rv

    # --- hooks ----------------------------------------------------------------------------------

    def on_change(self, key: str, callback: ChangeCallback) -> None:
        self._callbacks[storage_id_of_key(key)].append((key, callback))

    def add_admission(self, key: str, hook: AdmissionHook) -> None:
        self._admission[storage_id_of_key(key)].append(hook)

    def add_special(self, key: str, subresource: str | None, verb: str, handler: SpecialHandler) -> None:
        self._specials[(key, subresource, verb)] = handler

    def special(self, key: str, subresource: str | None, verb: str) -> SpecialHandler | None:
        return self._specials.get((key, subresource, verb))

    def special_subresources(self, key: str) -> dict[str, list[str]]:
        """Subresources served by special handlers: name -> verbs (for discovery)."""
        found: dict[str, list[str]] = defaultdict(list)
        for special_key, subresource, verb in self._specials:
            if special_key == key and subresource:
                found[subresource].append(verb)
        return dict(found)

    def add_authenticator(self, authenticator: Authenticator) -> None:
        self._authenticators.append(authenticator)

    def set_authorizer(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer

    def authenticate(self, token: str) -> UserInfo | None:
        for authenticator in self._authenticators:
            user = authenticator(token)
            if user is not None:
                return user
        return None

    def authorize(
        self,
        user: UserInfo,
        verb: str,
        *,
        group: str,
        resource: str,
        subresource: str,
        namespace: str,
        name: str,
    ) -> bool:
        if "system:masters" in user.groups or self._authorizer is None:
            return True
        return self._authorizer(user, verb, group, resource, subresource, namespace, name)

    # --- reads ----------------------------------------------------------------------------------

    def get(self, key: str, namespace: str | None, name: str) -> JSON | None:
        served = self.served(key)
        obj = served.storage.get(namespace if served.resource.namespaced else None, name)
        return None if obj is None else clone(served.present(obj))

    def list(self, key: str, namespace: str | None = None, label_selector: str | None = None) -> Objects:
        served = self.served(key)
        selector = parse_label_selector(label_selector)
        return [
            clone(served.present(obj))
            for obj in served.storage.iterate(namespace if served.resource.namespaced else None)
            if selector.matches(obj)
        ]

    def list_page(
        self,
        served: Served,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Page:
        """One page of a LIST; the token carries the first page's resourceVersion, like the real one."""
        rv, start = str(self._rv), None
        if continue_token:
            rv, start = _decode_continue(continue_token)
        namespace = namespace if served.resource.namespaced else None
        pinned = fields.exact_name()
        if pinned is not None and namespace is not None:
            candidate = served.storage.get(namespace, pinned)
            source = [candidate] if candidate is not None else []
        else:
            source = list(served.storage.iterate(namespace))
        items: list[JSON] = []
        remaining = 0
        last: str | None = None
        for obj in source:
            meta = obj["metadata"]
            position = f"{meta.get('namespace', '')}/{meta['name']}"
            if start is not None and position <= start:
                continue
            if not (labels.matches(obj) and fields.matches(obj)):
                continue
            if limit and len(items) >= limit:
                remaining += 1
                continue
            items.append(obj)
            last = position
        token = _encode_continue(rv, last) if remaining and last is not None else None
        return Page(items, rv, token, remaining if remaining else None)

    def events_since(self, served: Served, rv: int) -> Events:
        if rv > self._rv:
            return []
        return served.storage.log.since(rv)

    # --- the commit primitive -------------------------------------------------------------------

    def _commit(self, served: Served, event_type: EventType, obj: JSON, old: JSON | None) -> JSON:
        """Store (or remove) ``obj`` under a new resourceVersion and tell watchers, callbacks, controllers."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        ordered = in_kubernetes_order(obj)
        obj.clear()
        obj.update(ordered)  # in place: callers hold on to ``obj``
        meta = obj["metadata"]
        storage = served.storage
        location = (storage.id, meta.get("namespace") or "", meta["name"])
        if event_type == "DELETED":
            storage.remove(meta.get("namespace"), meta["name"])
            self._uids.pop(meta.get("uid", ""), None)
        else:
            storage.put(obj)
            self._uids[meta["uid"]] = location
        self._index_owners(location, old, None if event_type == "DELETED" else obj)
        event = WatchEvent(event_type, served.resource, obj, old)
        storage.log.append(self._rv, event)
        self._dispatch(storage.id, event)
        self._react(served, event)
        return obj

    def _index_owners(self, location: tuple[str, str, str], old: JSON | None, new: JSON | None) -> None:
        before, after = _owner_uids(old), _owner_uids(new)
        for uid in before - after:
            self._owners[uid].discard(location)
            if not self._owners[uid]:
                del self._owners[uid]
        for uid in after - before:
            self._owners[uid].add(location)

    def _dispatch(self, ident: str, event: WatchEvent) -> None:
        for key, callback in list(self._callbacks.get(ident, ())):
            served = self._served.get(key)
            if served is None:
                continue
            copy = WatchEvent(
                event.type,
                served.resource,
                clone(served.present(event.object)),
                None if event.old is None else clone(served.present(event.old)),
            )
            try:
                callback(copy)
            except ApiError as error:
                log.warning("on_change callback for %s failed: %s", key, error.message)
            except Exception:
                log.exception("on_change callback for %s failed", key)

    def _react(self, served: Served, event: WatchEvent) -> None:
        """Built-in controllers (garbage collection, namespaces, CRDs): see :mod:`.lifecycle`."""


def _owner_uids(obj: JSON | None) -> set[str]:
    if obj is None:
        return set()
    refs = obj["metadata"].get("ownerReferences") or []
    return {ref["uid"] for ref in refs if isinstance(ref, dict) and ref.get("uid")}


def _encode_continue(rv: str, last: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": last}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise bad_request("continue key is not valid: illegal base64 data") from None
