"""Watch plumbing: a bounded event log per stored type and one asyncio queue per watcher.

Committing a change appends to the log and offers the event to each watcher of that type: O(watchers),
independent of how many objects or requests came before.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from .api import JSON, WatchEvent
from .errors import expired

Matcher = Callable[[JSON], bool]
# What a watcher's queue carries: (event type, object), or None when the watch must end.
Delivery = tuple[str, JSON] | None


class Watcher:
    """One open watch: a namespace filter, a selector and a queue the HTTP handler drains."""

    def __init__(self, namespace: str | None, matches: Matcher) -> None:
        self.namespace = namespace
        self.matches = matches
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()

    def offer(self, event: WatchEvent) -> None:
        """Queue ``event`` as this watcher sees it: leaving the selector is DELETED, entering it ADDED."""
        obj = event.object
        if self.namespace is not None and (obj.get("metadata") or {}).get("namespace") != self.namespace:
            return
        now = self.matches(obj)
        if event.type == "MODIFIED":
            before = event.old is not None and self.matches(event.old)
            if before and not now:
                self.queue.put_nowait(("DELETED", obj))
            elif now:
                self.queue.put_nowait(("MODIFIED" if before else "ADDED", obj))
        elif now:
            self.queue.put_nowait((event.type, obj))

    def close(self) -> None:
        self.queue.put_nowait(None)


class EventLog:
    """The last ``window`` events of one stored type, for watches that resume from a resourceVersion."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.events: deque[tuple[int, WatchEvent]] = deque()
        self.compacted_rv = 0  # every event with a resourceVersion <= this may be gone
        self.watchers: set[Watcher] = set()

    def append(self, rv: int, event: WatchEvent) -> None:
        self.events.append((rv, event))
        while len(self.events) > self.window:
            self.compacted_rv = self.events.popleft()[0]
        for watcher in list(self.watchers):
            watcher.offer(event)

    def since(self, rv: int) -> list[WatchEvent]:
        """The retained events after ``rv``; 410 Expired when some of them were already dropped."""
        if rv < self.compacted_rv:
            oldest = self.events[0][0] if self.events else self.compacted_rv + 1
            raise expired(rv, oldest)
        if not self.events or self.events[-1][0] <= rv:
            return []
        # Events are in resourceVersion order: skip the old ones from the left.
        return [event for event_rv, event in self.events if event_rv > rv]

    def close_all(self) -> None:
        for watcher in list(self.watchers):
            watcher.close()
        self.watchers.clear()
