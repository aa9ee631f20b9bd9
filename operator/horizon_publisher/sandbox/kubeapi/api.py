"""The in-process face of the Kubernetes API emulator.

The HTTP server (``server.py``) and the built-in controllers (``sandbox/openshift/``) both go
through :class:`Cluster`; nothing else touches the store. Calls are synchronous and in-memory:
they run on the emulator's event loop, never block, and every object handed in or out is a copy,
so a caller can never alias the stored state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

JSON = dict[str, Any]

ALL_VERBS: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served resource, as discovery describes it."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    verbs: tuple[str, ...] = ALL_VERBS
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # e.g. ("status",), ("token",)
    schema: JSON | None = None  # openAPIV3Schema, validated on write (custom resources)
    printer_columns: tuple[JSON, ...] = ()  # CRD additionalPrinterColumns

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """``v1/secrets`` or ``route.openshift.io/v1/routes``: how everything else names it."""
        return f"{self.group_version}/{self.plural}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated caller, as TokenReview reports it."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


SYSTEM_ADMIN = UserInfo(username="system:admin", groups=("system:masters", "system:authenticated"))


class ApiError(Exception):
    """An error answered as a ``Status`` object, as the real API server does."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: JSON | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JSON:
        body: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    resource: ResourceType
    object: JSON  # the object after the change (for DELETED: its last state)
    old: JSON | None  # the object before the change (None for ADDED)


@dataclass(frozen=True)
class SpecialRequest:
    """A request to an endpoint that is not plain storage (ProjectRequest, TokenRequest, reviews)."""

    verb: str  # "create" | "get" | "list"
    resource: ResourceType
    namespace: str | None
    name: str | None  # the parent object's name for subresources
    subresource: str | None
    body: JSON | None
    user: UserInfo
    dry_run: bool


# A special endpoint returns (HTTP status code, body).
SpecialHandler = Callable[[SpecialRequest], tuple[int, JSON]]
Authenticator = Callable[[str], UserInfo | None]
# (user, verb, group, resource, subresource, namespace, name) -> allowed?
Authorizer = Callable[[UserInfo, str, str, str, str, str, str], bool]
# (operation "CREATE"|"UPDATE"|"DELETE", new object (mutable) or None, old object or None, user)
AdmissionHook = Callable[[str, JSON | None, JSON | None, UserInfo], None]
ChangeCallback = Callable[[WatchEvent], None]


class Cluster(Protocol):
    """The emulator's object store and hooks. All methods raise :class:`ApiError` on failure."""

    def register(self, resource: ResourceType) -> None:
        """Serve a resource type (discovery, storage, watch)."""

    def resource(self, key: str) -> ResourceType:
        """Look a served resource up by its key (``v1/secrets``); 404 ApiError if unknown."""

    def get(self, key: str, namespace: str | None, name: str) -> JSON | None: ...

    def list(self, key: str, namespace: str | None = None, label_selector: str | None = None) -> list[JSON]: ...

    def create(self, key: str, obj: JSON, *, namespace: str | None = None) -> JSON:
        """Create as the system (admission hooks run, authorization does not)."""

    def update(self, key: str, obj: JSON, *, subresource: str | None = None) -> JSON:
        """Replace; a ``metadata.resourceVersion`` in ``obj`` must match (409 otherwise)."""

    def merge_patch(
        self,
        key: str,
        namespace: str | None,
        name: str,
        patch: JSON,
        *,
        subresource: str | None = None,
    ) -> JSON: ...

    def delete(self, key: str, namespace: str | None, name: str) -> None:
        """Delete (finalizers honoured: sets deletionTimestamp while any remain)."""

    def on_change(self, key: str, callback: ChangeCallback) -> None:
        """Call ``callback`` after every committed change to resources of ``key``.

        Callbacks run synchronously after the commit, in registration order; they may call back
        into the cluster (the nested change is committed and dispatched in turn) and may schedule
        delayed work with ``asyncio.get_running_loop().call_later``.
        """

    def add_authenticator(self, authenticator: Authenticator) -> None:
        """Try ``authenticator`` (bearer token -> user) after the built-in admin token."""

    def set_authorizer(self, authorizer: Authorizer) -> None:
        """Decide every request of a caller outside ``system:masters`` (default: allow)."""

    def add_admission(self, key: str, hook: AdmissionHook) -> None:
        """Run ``hook`` before a write of ``key`` is stored; it may mutate the new object or raise."""

    def add_special(self, key: str, subresource: str | None, verb: str, handler: SpecialHandler) -> None:
        """Serve ``verb`` on ``key`` (or its ``subresource``) with ``handler`` instead of storage."""
