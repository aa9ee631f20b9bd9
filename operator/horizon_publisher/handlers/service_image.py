"""kopf wiring for EdgeServiceImage: body in, status patch and Events out."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from horizon_publisher import GROUP, VERSION
from horizon_publisher.desired.kube_objects import rotation_request
from horizon_publisher.handlers.common import (
    apply_outcome,
    forget,
    fresh,
    object_lock,
    post_events,
    reconciling,
    resync,
)
from horizon_publisher.handlers.context import RESYNC_SECONDS, OperatorContext
from horizon_publisher.kinds import SERVICE_IMAGE
from horizon_publisher.reconcile import service_image
from horizon_publisher.reconcile.openshift_image import HANDLED_ROTATION

log = logging.getLogger(__name__)
# How long the rotation trigger keeps reconciling a request in flight (a token controller to wait for);
# what is left after that is the resync timer's, as for any step that waits.
ROTATION_FOLLOW_UP_SECONDS = 10.0


def _reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo) -> None:
    context: OperatorContext = memo["context"]
    with reconciling(memo, body, SERVICE_IMAGE.kind):
        outcome = service_image.reconcile(
            fresh(memo, body),
            now=datetime.now(UTC),
            kube=context.kube.for_one_pass(),
            registry_factory=context.registry_factory,
            ibmcloud=context.ibmcloud,
        )
        apply_outcome(outcome, body, patch, memo)


@kopf.on.resume(GROUP, VERSION, SERVICE_IMAGE.plural)
@kopf.on.create(GROUP, VERSION, SERVICE_IMAGE.plural)
@kopf.on.update(GROUP, VERSION, SERVICE_IMAGE.plural, field="spec")
def reconcile_service_image(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    _reconcile(body, patch, memo)


def _unanswered_request(memo: kopf.Memo, body: kopf.Body) -> str:
    """The rotation request this resource carries and its status has not recorded as handled ("" if none)."""
    request = rotation_request(body)
    status: Mapping[str, Any] = fresh(memo, body).get("status") or {}
    return request if request and request != (status.get("credentials") or {}).get(HANDLED_ROTATION) else ""


def _new_rotation_request(body: kopf.Body, memo: kopf.Memo, **_: Any) -> bool:
    """A request this process has not started on yet, for a resource reconciled before (a new resource's
    first reconcile answers it anyway)."""
    request = _unanswered_request(memo, body)
    started: dict[str, str] = memo.setdefault("rotations_started", {})
    reconciled_before = bool((fresh(memo, body).get("status") or {}).get("conditions"))
    return bool(request) and reconciled_before and started.get(str(body.metadata.uid)) != request


# kopf's diff cannot see this annotation: with the state stored under our own prefix (runner.py), kopf
# drops every edge.horizon.dev/ annotation from the essence it compares, extra `field=` paths included,
# so @kopf.on.update(field=(..., "annotations", ...)) would never fire. Every watch event reaches
# on.event; the filter lets through the first event that shows a new request, once per value.
@kopf.on.event(GROUP, VERSION, SERVICE_IMAGE.plural, when=_new_rotation_request)
def rotate_credentials_on_request(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, event: kopf.RawEvent, **_: Any
) -> None:
    """Rotate credentials now (edge.horizon.dev/rotate-credentials-requested-at), not at the next resync.

    The same reconcile under the same object lock, repeated while it waits briefly (the token controller)
    and the request is unanswered. Each pass writes its status with the operator's writer, as a resync
    tick does (an on.event handler gets no retries from kopf; without a writer, in unit tests, one pass
    goes through kopf's patch).
    """
    if event.get("type") == "DELETED" or body.metadata.get("deletionTimestamp"):
        return
    memo.setdefault("rotations_started", {})[str(body.metadata.uid)] = rotation_request(body)
    meta = body.metadata
    log.info("EdgeServiceImage %s/%s: credentials rotation requested, reconciling now", meta.namespace, meta.name)
    writer = memo["context"].status_writer
    deadline = time.monotonic() + ROTATION_FOLLOW_UP_SECONDS
    while True:
        own = kopf.Patch() if writer is not None else patch
        retry: float | None = None
        try:
            _reconcile(body, own, memo)
        except kopf.TemporaryError as error:
            retry = error.delay
        if writer is None:
            return
        if own.get("status"):
            writer.write(SERVICE_IMAGE, str(meta.namespace), str(meta.name), dict(own["status"]))
        if retry is None or not _unanswered_request(memo, body) or time.monotonic() + retry > deadline:
            return
        time.sleep(retry)


@kopf.timer(GROUP, VERSION, SERVICE_IMAGE.plural, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
def resync_service_image(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Drift, token renewal and moved tags: the same reconcile, level-triggered."""
    resync(SERVICE_IMAGE, body, patch, memo, _reconcile)


@kopf.on.delete(GROUP, VERSION, SERVICE_IMAGE.plural)
def finalize_service_image(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    context: OperatorContext = memo["context"]
    with object_lock(memo, body):
        post_events(body, service_image.finalize(body, context.kube))
    forget(memo, body)
