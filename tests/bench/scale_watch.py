"""Following the benchmark's objects from outside: a watch per kind, a progress bar, and Events by reason.

:class:`ReadyWatch` keeps the Ready state of every EdgeServiceImage and EdgePublication whose namespace
starts with a prefix (one watch stream per kind, so following costs the emulator almost nothing), and
:class:`EventWatch` records when each object first got an Event of a given reason after a moment.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from kubernetes import client, watch
from tests.bench.scale_world import EPUB, ESI, GROUP, VERSION


def is_ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    if status.get("observedGeneration") != generation:
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


class ReadyWatch:
    """Which objects (kind, namespace, name) under ``prefix`` are Ready, kept current by two watches."""

    def __init__(self, api: Any, prefix: str, accept: Callable[[dict[str, Any]], bool] = is_ready) -> None:
        self._custom = client.CustomObjectsApi(api)
        self._prefix = prefix
        self._accept = accept
        self._state: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.first_ready: dict[tuple[str, str, str], float] = {}  # monotonic time each key was first accepted
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._follow, args=(plural,), daemon=True) for plural in (ESI, EPUB)]
        for thread in self._threads:
            thread.start()

    def _follow(self, plural: str) -> None:
        while not self._stop.is_set():
            stream = watch.Watch().stream(
                self._custom.list_cluster_custom_object, GROUP, VERSION, plural, timeout_seconds=30
            )
            for event in stream:
                obj = event["object"]
                meta = obj.get("metadata") or {}
                if not str(meta.get("namespace", "")).startswith(self._prefix):
                    continue
                key = (plural, str(meta["namespace"]), str(meta["name"]))
                with self._lock:
                    if event["type"] == "DELETED":
                        self._state.pop(key, None)
                    else:
                        self._state[key] = obj
                        if key not in self.first_ready and self._accept(obj):
                            self.first_ready[key] = time.monotonic()
                if self._stop.is_set():
                    return

    def last_ready(self, plural: str, since: float) -> float | None:
        """Seconds from ``since`` until the last object of ``plural`` was first Ready."""
        with self._lock:
            times = [t for key, t in self.first_ready.items() if key[0] == plural]
        return round(max(times) - since, 2) if times else None

    def set_accept(self, accept: Callable[[dict[str, Any]], bool]) -> None:
        self._accept = accept

    def ready(self) -> int:
        with self._lock:
            return sum(1 for obj in self._state.values() if self._accept(obj))

    def objects(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._state.values())

    def wait(self, total: int, timeout: float, label: str) -> float | None:
        """Seconds until ``total`` objects are accepted (None on timeout), drawing a progress bar."""
        start = time.monotonic()
        while True:
            done = self.ready()
            elapsed = time.monotonic() - start
            progress(label, done, total, elapsed)
            if done >= total:
                sys.stderr.write("\n")
                return elapsed
            if elapsed > timeout:
                sys.stderr.write("  (timed out)\n")
                return None
            time.sleep(0.2)

    def close(self) -> None:
        self._stop.set()


def progress(label: str, done: int, total: int, elapsed: float) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r  {label:<28} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {elapsed:6.1f} s")
    sys.stderr.flush()


class EventWatch:
    """First arrival time (monotonic) of an Event with one of ``reasons`` for each involved object."""

    def __init__(self, api: Any, prefix: str, reasons: Iterable[str]) -> None:
        self._core = client.CoreV1Api(api)
        self._prefix = prefix
        self._reasons = set(reasons)
        self.seen: dict[tuple[str, str, str, str], float] = {}  # (reason, kind, namespace, name) -> time
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        resource_version = self._core.list_event_for_all_namespaces().metadata.resource_version
        while not self._stop.is_set():
            stream = watch.Watch().stream(
                self._core.list_event_for_all_namespaces, resource_version=resource_version, timeout_seconds=30
            )
            for event in stream:
                obj = event["object"]
                resource_version = obj.metadata.resource_version
                involved = obj.involved_object
                if obj.reason not in self._reasons or not str(involved.namespace or "").startswith(self._prefix):
                    continue
                key = (str(obj.reason), str(involved.kind), str(involved.namespace), str(involved.name))
                with self._lock:
                    self.seen.setdefault(key, time.monotonic())
                if self._stop.is_set():
                    return

    def count(self, reasons: Iterable[str], kind: str) -> int:
        wanted = set(reasons)
        with self._lock:
            return len({(k[2], k[3]) for k in self.seen if k[0] in wanted and k[1] == kind})

    def close(self) -> None:
        self._stop.set()
