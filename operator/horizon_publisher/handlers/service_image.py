"""kopf wiring for EdgeServiceImage: body in, status patch and Events out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from horizon_publisher import GROUP, VERSION
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


def _reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo) -> None:
    context: OperatorContext = memo["context"]
    with reconciling(memo, body, SERVICE_IMAGE.kind):
        outcome = service_image.reconcile(
            fresh(memo, body),
            now=datetime.now(UTC),
            kube=context.kube,
            registry_factory=context.registry_factory,
            ibmcloud=context.ibmcloud,
        )
        apply_outcome(outcome, body, patch, memo)


@kopf.on.resume(GROUP, VERSION, SERVICE_IMAGE.plural)
@kopf.on.create(GROUP, VERSION, SERVICE_IMAGE.plural)
@kopf.on.update(GROUP, VERSION, SERVICE_IMAGE.plural, field="spec")
def reconcile_service_image(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    _reconcile(body, patch, memo)


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
