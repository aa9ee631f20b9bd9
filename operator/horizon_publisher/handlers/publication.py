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

MAX_PASSES = 3  # a pass, plus re-runs for images that changed while it ran (follow_images)
# Waiting for an image is answered by follow_images when the image changes (and by the resync tick in any
# case): a kopf retry on top would only re-run a finished reconcile and write its bookkeeping twice.
FOLLOWED_WAITS = ("ImageReady: WaitingForImage",)


def _reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo) -> None:
    context: OperatorContext = memo["context"]
    uid = str(body.metadata.get("uid"))
    with reconciling(memo, body, PUBLICATION.kind):
        for remaining in reversed(range(MAX_PASSES)):
            context.kicks.take(uid)  # this pass reads the images afresh: earlier kicks are answered
            outcome = publication.reconcile(
                fresh(memo, body),
                now=datetime.now(UTC),
                kube=context.kube.for_one_pass(),
                exchange_factory=context.exchange_factory,
                registry_factory=context.registry_factory,
                memory=context.exchange_memory,
            )
            again = remaining > 0 and context.kicks.take(uid)
            followed = outcome.retry_reason in FOLLOWED_WAITS
            apply_outcome(outcome, body, patch, memo, retry=not again and not followed)
            if not again:
                return


def reconcile_now(body: kopf.Body, memo: kopf.Memo) -> bool:
    """A reconcile outside kopf's handlers (an image changed), status written as a resync tick writes it;
    False if one is already running."""
    return resync(PUBLICATION, body, kopf.Patch(), memo, _reconcile)


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
