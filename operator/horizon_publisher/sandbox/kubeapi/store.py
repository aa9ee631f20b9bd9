"""Storage of one resource type: objects indexed by namespace and name, plus its event log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .api import JSON, ResourceType
from .builtin import KindRules
from .watch import EventLog


def storage_id(group: str, plural: str) -> str:
    """Every version of a resource shares one storage, as in etcd."""
    return f"{group}/{plural}"


def storage_id_of_key(key: str) -> str:
    """``v1/secrets`` -> ``/secrets``; ``g/v1/things`` -> ``g/things``."""
    parts = key.split("/")
    return storage_id("" if len(parts) == 2 else parts[0], parts[-1])


class Storage:
    def __init__(self, ident: str, window: int) -> None:
        self.id = ident
        self.objects: dict[str, dict[str, JSON]] = {}  # namespace ("" when cluster-scoped) -> name -> object
        self.log = EventLog(window)

    def get(self, namespace: str | None, name: str) -> JSON | None:
        return self.objects.get(namespace or "", {}).get(name)

    def put(self, obj: JSON) -> None:
        meta = obj["metadata"]
        self.objects.setdefault(meta.get("namespace") or "", {})[meta["name"]] = obj

    def remove(self, namespace: str | None, name: str) -> None:
        bucket = self.objects.get(namespace or "", {})
        bucket.pop(name, None)
        if not bucket:
            self.objects.pop(namespace or "", None)

    def iterate(self, namespace: str | None = None) -> Iterator[JSON]:
        """Objects in (namespace, name) order, which is also the order of paged lists."""
        namespaces = [namespace or ""] if namespace is not None else sorted(self.objects)
        for ns in namespaces:
            bucket = self.objects.get(ns, {})
            for name in sorted(bucket):
                yield bucket[name]

    def has_namespace(self, namespace: str) -> bool:
        return bool(self.objects.get(namespace))

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self.objects.values())


@dataclass
class Served:
    """A served resource type bound to its storage and rules."""

    resource: ResourceType
    storage: Storage
    rules: KindRules
    custom: bool  # served because of a CRD

    def present(self, obj: JSON) -> JSON:
        """A shallow view of a stored object in this version (no conversion beyond apiVersion)."""
        if obj.get("apiVersion") == self.resource.group_version:
            return obj
        return {**obj, "apiVersion": self.resource.group_version}
