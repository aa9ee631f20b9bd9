"""Reads of the same object by many reconciles at once, answered once.

Many resources read the same objects: every EdgeServiceImage the registry route and the ingress CA
ConfigMap, every publication of a team the team's Exchange credentials, CA and signing key. When a thousand
of them reconcile within seconds (an install, a restart, a resync wave), those reads are identical. A GET is
therefore answered from an earlier identical GET of this process for :data:`TTL_SECONDS` (default 1 s;
``HORIZON_PUBLISHER_READ_CACHE_SECONDS``, 0 turns it off), as a client-go informer would answer from its
cache, only much younger. Our own writes invalidate the object at once; a change made by someone else is
seen within the TTL, well inside a resync interval. Answers are copied out, so callers may modify them.
Bounded (:data:`MAX_ENTRIES`, expired ones dropped first). Thread-safe. Secrets stay in memory no longer
than the TTL.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable
from typing import Any

TTL_SECONDS = float(os.environ.get("HORIZON_PUBLISHER_READ_CACHE_SECONDS", "1"))
MAX_ENTRIES = 4096
Answer = dict[str, Any] | None


class ReadCache:
    def __init__(self, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._answers: dict[str, tuple[float, Answer]] = {}  # path -> (read at, answer)
        self._lock = threading.Lock()

    def get(self, path: str, read: Callable[[], Answer]) -> Answer:
        """The answer for ``path``: a fresh enough earlier one (copied), else ``read()`` (remembered)."""
        if self._ttl <= 0:
            return read()
        now = self._clock()
        with self._lock:
            entry = self._answers.get(path)
        if entry is not None and now - entry[0] < self._ttl:
            return copy.deepcopy(entry[1])
        answer = read()
        with self._lock:
            if len(self._answers) >= MAX_ENTRIES:
                self._answers = {p: e for p, e in self._answers.items() if now - e[0] < self._ttl}
                if len(self._answers) >= MAX_ENTRIES:
                    self._answers.clear()
            self._answers[path] = (now, copy.deepcopy(answer))
        return answer

    def forget(self, path: str) -> None:
        """``path`` was written (or its subresource): the next read goes to the server."""
        with self._lock:
            self._answers.pop(path, None)
