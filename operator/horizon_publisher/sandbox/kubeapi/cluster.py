"""The emulator's in-memory cluster: :class:`InMemoryCluster` implements :class:`.api.Cluster`.

Layers (each in its own module): :mod:`.core` (registration, storage, reads, commit, hooks),
:mod:`.writes` (create / replace / patch with validation and admission), :mod:`.lifecycle` (delete,
finalizers, garbage collection, namespace and CRD termination).

Threading: the cluster is not thread-safe and its watch queues belong to one event loop. Use it on the
loop that runs the HTTP server (``EmulatorThread.call`` in :mod:`.runner` does that from other threads).

Beyond :class:`.api.Cluster`, the write methods take keyword arguments ``user=`` (for admission hooks)
and ``dry_run=``; ``patch()`` takes a patch type (``"merge"``, ``"json"``, ``"strategic"``);
``delete_object()`` takes ``propagation=`` and ``preconditions=`` and returns the object.
"""

from __future__ import annotations

from .api import JSON
from .core import DEFAULT_EVENT_WINDOW
from .lifecycle import DEFAULT_CLEANUP_DELAY, LifecycleCluster


class InMemoryCluster(LifecycleCluster):
    """A Kubernetes API's storage and semantics, without HTTP (see :func:`.server.create_app`)."""

    def __init__(
        self,
        *,
        event_window: int = DEFAULT_EVENT_WINDOW,
        builtins: bool = True,
        cleanup_delay: float | None = DEFAULT_CLEANUP_DELAY,
    ) -> None:
        """``event_window``: events kept per resource type for watches resuming from a resourceVersion.

        ``cleanup_delay``: seconds a Terminating namespace or CRD keeps its contents (None: none).
        """
        super().__init__(event_window=event_window, builtins=builtins)
        self.cleanup_delay = cleanup_delay

    def ensure_namespace(self, name: str) -> JSON:
        """Create namespace ``name`` unless it exists; returns it."""
        existing = self.get("v1/namespaces", None, name)
        if existing is not None:
            return existing
        return self.create("v1/namespaces", {"metadata": {"name": name}})
