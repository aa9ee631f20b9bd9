"""The HTTP side of a watch: newline-delimited JSON events, bookmarks, timeouts, 410 Expired."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from .api import JSON, ApiError
from .core import ClusterCore
from .errors import bad_request
from .selectors import FieldSelector, LabelSelector
from .store import Served
from .watch import Delivery, Watcher

# How often an idle watch checks whether its client went away (aiohttp does not tell us otherwise).
_LIVENESS_SLICE = 1.0


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


class WatchStreamer:
    def __init__(self, cluster: ClusterCore, bookmark_interval: float) -> None:
        self.cluster = cluster
        self.bookmark_interval = bookmark_interval
        self.open: set[Watcher] = set()

    def close_all(self) -> None:
        for watcher in list(self.open):
            watcher.close()

    def _start(
        self, served: Served, namespace: str | None, labels: LabelSelector, fields: FieldSelector, rv: str | None
    ) -> Watcher:
        """Register a watcher and queue what it must see first; synchronous, so no event slips between."""
        watcher = Watcher(namespace, lambda obj: labels.matches(obj) and fields.matches(obj))
        if rv in (None, "", "0"):
            pinned = fields.exact_name()
            if pinned is not None and namespace is not None:
                found = served.storage.get(namespace, pinned)
                current = [found] if found is not None else []
            else:
                current = list(served.storage.iterate(namespace))
            for obj in current:
                if watcher.matches(obj):
                    watcher.queue.put_nowait(("ADDED", obj))
        else:
            try:
                since = int(str(rv))
            except ValueError:
                raise bad_request(f'resourceVersion: Invalid value: "{rv}": must be an integer') from None
            for event in self.cluster.events_since(served, since):
                watcher.offer(event)
        served.storage.log.watchers.add(watcher)
        return watcher

    async def serve(
        self,
        request: web.Request,
        served: Served,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> web.StreamResponse:
        query = request.query
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            watcher = self._start(served, namespace, labels, fields, query.get("resourceVersion"))
        except ApiError as error:
            if error.code != 410:
                raise
            await response.prepare(request)
            await response.write(_dumps({"type": "ERROR", "object": error.status()}))
            await response.write_eof()
            return response
        timeout = _timeout(query.get("timeoutSeconds"))
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        self.open.add(watcher)
        try:
            await response.prepare(request)
            await self._pump(request, response, served, watcher, timeout=timeout, bookmarks=bookmarks)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            served.storage.log.watchers.discard(watcher)
            self.open.discard(watcher)
        return response

    async def _pump(
        self,
        request: web.Request,
        response: web.StreamResponse,
        served: Served,
        watcher: Watcher,
        *,
        timeout: float | None,
        bookmarks: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        next_bookmark = loop.time() + self.bookmark_interval
        while True:
            now = loop.time()
            if deadline is not None and now >= deadline:
                if not watcher.queue.empty():  # flush first: a bookmark promises nothing older is pending
                    chunk, finished = self._drain(served, watcher, watcher.queue.get_nowait())
                    await response.write(chunk)
                    if finished:
                        break
                if bookmarks:
                    await response.write(self._bookmark(served))
                break
            if bookmarks and now >= next_bookmark and watcher.queue.empty():
                await response.write(self._bookmark(served))
                next_bookmark = now + self.bookmark_interval
            wait = min(_LIVENESS_SLICE, next_bookmark - now, (deadline - now) if deadline is not None else 1e9)
            item: Delivery
            try:
                item = await asyncio.wait_for(watcher.queue.get(), max(wait, 0.0))
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    return
                continue
            chunk, finished = self._drain(served, watcher, item)
            if chunk:
                await response.write(chunk)
            if finished:
                break
        await response.write_eof()

    def _drain(self, served: Served, watcher: Watcher, first: Delivery) -> tuple[bytes, bool]:
        """Serialize ``first`` and whatever else is queued already, in one write."""
        parts: list[bytes] = []
        item = first
        while True:
            if item is None:
                return b"".join(parts), True
            event_type, obj = item
            parts.append(_dumps({"type": event_type, "object": served.present(obj)}))
            if watcher.queue.empty():
                return b"".join(parts), False
            item = watcher.queue.get_nowait()

    def _bookmark(self, served: Served) -> bytes:
        resource = served.resource
        body: JSON = {
            "kind": resource.kind,
            "apiVersion": resource.group_version,
            "metadata": {"resourceVersion": str(self.cluster.resource_version)},
        }
        return _dumps({"type": "BOOKMARK", "object": body})


def _timeout(text: str | None) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise bad_request(f"invalid timeoutSeconds: {text}") from None
    return value if value > 0 else None
