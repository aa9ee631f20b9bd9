"""``Retry-After``, honoured by the whole process: when a server answers 429 or 5xx with it, every client of
that server (any reconcile, not only the one told) waits until then before its next request.

:data:`GATES` holds, per origin (``scheme://host:port``, or the Exchange's base URL), the moment the server
said it will take requests again; a waiter clears it once waited out, unless a later Retry-After replaced
it. Waits are capped (:data:`MAX_WAIT`) so a hostile or broken header cannot park a worker thread for long.
Thread-safe.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

MAX_WAIT = 30.0  # seconds


def retry_after_seconds(header: str) -> float | None:
    """``Retry-After``: delta-seconds or an HTTP date; None when unreadable."""
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - datetime.now(UTC)).total_seconds()


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()


class RetryAfterGates:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def hold(self, key: str, seconds: float) -> None:
        seconds = min(max(seconds, 0.0), MAX_WAIT)
        with self._lock:
            self._until[key] = max(self._until.get(key, 0.0), self._clock() + seconds)

    def hold_for(self, key: str, status: int, header: str | None) -> None:
        """Hold ``key`` if ``status`` (429 or 5xx) came with a usable ``Retry-After``."""
        if header and (status == 429 or status >= 500):
            seconds = retry_after_seconds(header)
            if seconds is not None:
                self.hold(key, seconds)

    def remaining(self, key: str) -> tuple[float, float]:
        """(seconds left, the moment); (0, 0) when free."""
        with self._lock:
            until = self._until.get(key, 0.0)
        return max(0.0, until - self._clock()), until

    def wait(self, key: str, sleep: Callable[[float], None]) -> float:
        """Sleep until ``key`` is free (clearing it); the seconds waited."""
        remaining, until = self.remaining(key)
        if remaining <= 0:
            return 0.0
        sleep(remaining)
        with self._lock:
            if self._until.get(key) == until:
                del self._until[key]
        return remaining

    def clear(self) -> None:
        with self._lock:
            self._until.clear()


GATES = RetryAfterGates()
