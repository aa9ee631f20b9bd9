"""Start kopf with our handlers and settings (``horizon-publisher run``)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

import kopf

from horizon_publisher import GROUP, metrics
from horizon_publisher.logging_setup import configure_logging
from horizon_publisher.metrics import MetricsServer

OPERATOR_NAME = "horizon-publisher"
WATCH_INACTIVITY_SECONDS = float(os.environ.get("HORIZON_PUBLISHER_WATCH_INACTIVITY_SECONDS", "70"))
EVENT_POSTERS = 16  # objects whose Events are posted at once


def configure(settings: kopf.OperatorSettings) -> None:
    """Settings every deployment needs; see docs/architecture.md for why each one."""
    # Our own prefix, so another kopf operator on the cluster never reads or fights over our state.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # Events come only from our explicit, deduplicated posts, never from log lines.
    settings.posting.loggers = False
    settings.posting.reporting_component = OPERATOR_NAME
    # No CRD or namespace scanning: fewer cluster-wide permissions, nothing to wait for at start-up.
    settings.scanning.disabled = True
    # Our handlers use the blocking kubernetes/requests clients; give them threads, but bounded.
    settings.execution.max_workers = 16
    # kopf posts Events with one poster per object, unbounded, each idling 1 s: bounded, and quick to go.
    # kopf's object workers stay unbounded: a worker sleeping out a retry delay keeps its slot, so a bound
    # would let a few dozen failing objects stall every other one (measured; see docs/benchmarks.md).
    settings.posting.worker_limit = EVENT_POSTERS
    settings.posting.idle_timeout = 0.1
    # Bounded waits on the API server (kopf's defaults: 300 s for a connect or a request). A watch stream
    # that stays silent (not even a bookmark: the API server sends one about every minute) is abandoned
    # and resumed from its last resourceVersion after WATCH_INACTIVITY_SECONDS.
    settings.networking.connect_timeout = 10.0
    settings.networking.request_timeout = 60.0
    settings.watching.connect_timeout = 10.0
    settings.watching.inactivity_timeout = WATCH_INACTIVITY_SECONDS
    # A deletion waits for a running (thread-based) timer to finish; kopf re-checks every 60 s by default.
    settings.background.cancellation_polling = 1.0


def start_metrics(address: str) -> MetricsServer | None:
    """The /metrics endpoint; a port that cannot be bound is logged, not fatal: publishing goes on."""
    try:
        server = metrics.serve(address)
    except OSError as error:
        logging.getLogger(__name__).error("metrics disabled: cannot listen on %s (%s)", address, error.strerror)
        return None
    if server is not None:
        logging.getLogger(__name__).info("metrics on %s", server.url)
    return server


def run_operator(*, namespaces: Sequence[str], liveness: str, verbose: bool, metrics_address: str = "") -> int:
    configure_logging(verbose=verbose)
    # Importing the package registers the handlers in kopf's default registry.
    import horizon_publisher.handlers  # noqa: F401
    from horizon_publisher.clients.kube import Kube
    from horizon_publisher.handlers.context import OperatorContext
    from horizon_publisher.handlers.status_writer import ApiStatusWriter

    settings = kopf.OperatorSettings()
    configure(settings)
    context = OperatorContext(kube=Kube.from_environment(), status_writer=ApiStatusWriter.from_environment())
    memo = kopf.Memo(context=context)
    logging.getLogger(__name__).info(
        "starting %s for %s", OPERATOR_NAME, ", ".join(namespaces) if namespaces else "all namespaces"
    )
    server = start_metrics(metrics_address)
    try:
        asyncio.run(
            kopf.operator(
                settings=settings,
                standalone=True,
                clusterwide=not namespaces,
                namespaces=list(namespaces),
                liveness_endpoint=liveness or None,
                memo=memo,
            )
        )
    finally:
        if server is not None:
            server.close()
    return 0
