"""What this process last confirmed on the Exchange for each service it publishes: its public keys and
dockauths. Lets a resync skip the two reads (``GET .../keys``, ``GET .../dockauths``) that would only
confirm what it wrote itself, so a steady publication costs one Exchange read per resync (the services,
all arches in one ``GET .../services?url=&version=``) instead of three per service.

Why this is safe: only the service's owner, an org admin or root may change a service's keys and
dockauths, and whatever we wrote we know. What we would miss between audits is someone else removing
or adding one by hand; every record expires after :data:`AUDIT_SECONDS` (default 600 s, at least one
resync), and then the next pass reads both lists again and heals. A process starts with no records, so
the resume pass after a restart audits everything; a failed write records nothing. Tokens are kept only
as SHA-256 fingerprints. Thread-safe.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable

AUDIT_SECONDS = float(os.environ.get("HORIZON_PUBLISHER_EXCHANGE_AUDIT_SECONDS", "600"))
DockAuthRecord = tuple[str, str, str]  # registry, username, sha256 of the token


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


ServiceKey = tuple[str, str, str, str]  # exchange URL, org, identity, service id


class ExchangeMemory:
    def __init__(self, audit_seconds: float = AUDIT_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._audit_seconds = audit_seconds
        self._clock = clock
        self._keys: dict[ServiceKey, tuple[float, frozenset[str]]] = {}
        self._dockauths: dict[ServiceKey, tuple[float, dict[int, DockAuthRecord]]] = {}
        self._lock = threading.Lock()

    def _fresh(self, stamp: float) -> bool:
        return self._clock() - stamp < self._audit_seconds

    def key_ids(self, service: ServiceKey) -> frozenset[str] | None:
        """The key ids last confirmed on the service, or None when an audit is due."""
        with self._lock:
            entry = self._keys.get(service)
        return entry[1] if entry is not None and self._fresh(entry[0]) else None

    def confirm_keys(self, service: ServiceKey, key_ids: Iterable[str]) -> None:
        with self._lock:
            self._keys[service] = (self._clock(), frozenset(key_ids))

    def dockauths(self, service: ServiceKey) -> dict[int, DockAuthRecord] | None:
        """The dockauths last confirmed on the service, or None when an audit is due."""
        with self._lock:
            entry = self._dockauths.get(service)
        return dict(entry[1]) if entry is not None and self._fresh(entry[0]) else None

    def confirm_dockauths(self, service: ServiceKey, rows: dict[int, DockAuthRecord]) -> None:
        with self._lock:
            self._dockauths[service] = (self._clock(), dict(rows))

    def forget_keys(self, service: ServiceKey) -> None:
        """Before a key is removed (or a write may fail half way): the next pass reads the keys afresh."""
        with self._lock:
            self._keys.pop(service, None)

    def forget_dockauths(self, service: ServiceKey) -> None:
        """Before dockauths are written: until the pass confirms them, the next one reads them afresh."""
        with self._lock:
            self._dockauths.pop(service, None)
