"""Small helpers every controller here shares: delayed work, timestamps, idempotent writes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from horizon_publisher.sandbox.kubeapi.api import JSON, ApiError, Cluster, ResourceType
from horizon_publisher.sandbox.openshift.config import Clock

log = logging.getLogger("horizon_publisher.sandbox.openshift")


def rfc3339(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339(clock: Clock) -> str:
    return rfc3339(clock())


def run_guarded(what: str, work: Callable[[], None]) -> None:
    """Run controller work; a failure is logged (like a requeue would be), never raised into the loop."""
    try:
        work()
    except ApiError as exc:
        log.info("%s: %s (%s)", what, exc.reason, exc.message)
    except Exception:
        log.exception("%s failed", what)


def schedule(delay_seconds: float, what: str, work: Callable[[], None]) -> None:
    """Run ``work`` after ``delay_seconds`` on the emulator's loop, as an asynchronous controller would.

    Outside a running loop (seeding before the server starts) the work runs at once.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        run_guarded(what, work)
        return
    loop.call_later(max(delay_seconds, 0.0), run_guarded, what, work)


def ensure_registered(cluster: Cluster, resource: ResourceType) -> None:
    try:
        cluster.resource(resource.key)
    except ApiError as exc:
        if exc.code != 404:
            raise
        cluster.register(resource)


def create_if_missing(cluster: Cluster, key: str, obj: JSON) -> JSON | None:
    """Create ``obj`` unless one with its name exists; returns the created object or None."""
    meta = obj["metadata"]
    if cluster.get(key, meta.get("namespace"), meta["name"]) is not None:
        return None
    try:
        return cluster.create(key, obj, namespace=meta.get("namespace"))
    except ApiError as exc:
        if exc.code == 409:
            return None
        raise


def is_terminating(obj: JSON | None) -> bool:
    return obj is None or bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def condition(kind: str, status: str, reason: str, message: str, when: str) -> JSON:
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": when}


def merge_conditions(old: list[JSON], new: list[JSON]) -> list[JSON]:
    """Keep ``lastTransitionTime`` of conditions whose status did not change."""
    previous = {c.get("type"): c for c in old}
    merged = []
    for cond in new:
        before = previous.get(cond["type"])
        unchanged = before is not None and before.get("status") == cond["status"]
        if unchanged and before is not None and before.get("lastTransitionTime"):
            merged.append({**cond, "lastTransitionTime": before["lastTransitionTime"]})
        else:
            merged.append(cond)
    return merged
