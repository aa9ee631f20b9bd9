"""kopf wiring for EdgePublication: body in, status patch and Events out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from horizon_publisher import GROUP, VERSION
from horizon_publisher.clients.exchange import ExchangeError
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
from horizon_publisher.kinds import PUBLICATION
from horizon_publisher.reconcile import publication


def _reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo) -> None:
    context: OperatorContext = memo["context"]
    with reconciling(memo, body, PUBLICATION.kind):
        outcome = publication.reconcile(
            fresh(memo, body),
            now=datetime.now(UTC),
            kube=context.kube,
            exchange_factory=context.exchange_factory,
            registry_factory=context.registry_factory,
        )
        apply_outcome(outcome, body, patch, memo)


@kopf.on.resume(GROUP, VERSION, PUBLICATION.plural)
@kopf.on.create(GROUP, VERSION, PUBLICATION.plural)
@kopf.on.update(GROUP, VERSION, PUBLICATION.plural, field="spec")
def reconcile_publication(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    _reconcile(body, patch, memo)


@kopf.timer(GROUP, VERSION, PUBLICATION.plural, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
def resync_publication(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Moved tags, rotated tokens, a new key, drift in the Exchange: the same reconcile, level-triggered."""
    resync(PUBLICATION, body, patch, memo, _reconcile)


@kopf.on.delete(GROUP, VERSION, PUBLICATION.plural)
def finalize_publication(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    context: OperatorContext = memo["context"]
    with object_lock(memo, body):
        try:
            post_events(body, publication.finalize(body, context.kube, context.exchange_factory))
        except ExchangeError as error:
            # Keep the finalizer: nothing published is orphaned silently.
            raise kopf.TemporaryError(f"{error.reason}: {error.message}", delay=30) from error
    forget(memo, body)
