"""Publications follow their images at once, not at their next resync.

A publication reads its EdgeServiceImages (digests, credentials Secret, Ready) when it reconciles; without
a nudge it would learn of a new digest or a rotated token only at its next resync tick (60 s by default),
and a publication created together with its image would wait out its "image not Ready" retry. So:

- a map from (namespace, image name) to the publications that refer to it, kept from the publications'
  watch events (:class:`Dependents`; no extra API call). Not a kopf index: kopf holds every handler until its
  indices are complete, and with a bounded worker pool (runner.py) workers waiting for the index starve the
  index of workers (a restart with more objects than workers never started);
- every EdgeServiceImage watch event is reduced to what publications read from it (:func:`image_fingerprint`);
  when that changes, each dependent publication is read once and reconciled right away, its status written
  by the operator's own writer, as a resync tick does;
- a publication whose reconcile is running is marked (:class:`Kicks`); that reconcile runs once more
  before it lets go (see ``publication._reconcile``), so a change that lands mid-pass is never lost.

The first sight of an image (start-up listing, creation) kicks nothing: the resume and create handlers run.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

import kopf

from horizon_publisher import GROUP, VERSION
from horizon_publisher.clients.kube import PUBLICATIONS, KubeError
from horizon_publisher.kinds import PUBLICATION, SERVICE_IMAGE

log = logging.getLogger(__name__)


class Dependents:
    """Which publications refer to which image: (namespace, image) -> publication names. Thread-safe."""

    def __init__(self) -> None:
        self._refs: dict[tuple[str, str], set[str]] = {}  # image -> publications
        self._of: dict[tuple[str, str], set[str]] = {}  # publication -> its images (to drop stale refs)
        self._lock = threading.Lock()

    def set(self, namespace: str, publication: str, images: set[str]) -> None:
        with self._lock:
            for image in self._of.pop((namespace, publication), set()) - images:
                self._refs.get((namespace, image), set()).discard(publication)
            for image in images:
                self._refs.setdefault((namespace, image), set()).add(publication)
            if images:
                self._of[(namespace, publication)] = set(images)

    def of(self, namespace: str, image: str) -> list[str]:
        with self._lock:
            return sorted(self._refs.get((namespace, image), ()))


class Kicks:
    """Publications (by uid) told to look again while their reconcile was running. Thread-safe."""

    def __init__(self) -> None:
        self._pending: set[str] = set()
        self._lock = threading.Lock()

    def add(self, uid: str) -> None:
        with self._lock:
            self._pending.add(uid)

    def take(self, uid: str) -> bool:
        """Whether ``uid`` was kicked since the last take (and clear it)."""
        with self._lock:
            if uid in self._pending:
                self._pending.discard(uid)
                return True
            return False


def image_fingerprint(body: Mapping[str, Any]) -> str:
    """What a publication reads from an EdgeServiceImage: resolved images, credentials, readiness."""
    status = body.get("status") or {}
    ready: Mapping[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    seen = {
        "images": status.get("images"),
        "credentials": status.get("credentials"),
        "ready": [ready.get("status"), ready.get("reason")],
        "generation": status.get("observedGeneration"),
    }
    return json.dumps(seen, sort_keys=True, default=str)


def image_refs(spec: Mapping[str, Any]) -> set[str]:
    return {str(ref["name"]) for ref in spec.get("imageRefs") or [] if isinstance(ref, Mapping) and ref.get("name")}


@kopf.on.event(GROUP, VERSION, PUBLICATION.plural)
def publication_seen(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    deleted = event.get("type") == "DELETED"
    images = set() if deleted else image_refs(body.get("spec") or {})
    memo["context"].dependents.set(str(body.metadata.namespace), str(body.metadata.name), images)


@kopf.on.event(GROUP, VERSION, SERVICE_IMAGE.plural)
def image_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    context = memo["context"]
    uid = str(body.metadata.get("uid"))
    fingerprint = None if event.get("type") == "DELETED" else image_fingerprint(body)
    with context.locks_guard:
        previous = context.image_fingerprints.get(uid)
        if fingerprint is None:
            context.image_fingerprints.pop(uid, None)
        else:
            context.image_fingerprints[uid] = fingerprint
    if previous is None or previous == fingerprint:
        return
    namespace, image = str(body.metadata.namespace), str(body.metadata.name)
    for name in context.dependents.of(namespace, image):
        kick(memo, namespace, name)


def kick(memo: kopf.Memo, namespace: str, name: str) -> None:
    """Reconcile one publication now (fresh from the API), or mark it if a reconcile of it is running."""
    from horizon_publisher.handlers.publication import reconcile_now  # the publication handlers import us

    try:
        raw = memo["context"].kube.get(PUBLICATIONS, namespace, name)
    except KubeError as error:  # the resync tick will reconcile it anyway
        log.warning("could not read EdgePublication %s/%s after its image changed: HTTP %s %s",
                    namespace, name, error.status, error.reason)  # fmt: skip
        return
    if raw is None or (raw.get("metadata") or {}).get("deletionTimestamp"):
        return
    body = kopf.Body(raw)
    if not reconcile_now(body, memo):
        memo["context"].kicks.add(str(body.metadata.get("uid")))

