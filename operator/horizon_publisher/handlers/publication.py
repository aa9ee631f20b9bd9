"""kopf wiring for EdgePublication: body in, status patch and Events out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from horizon_publisher import GROUP, VERSION
from horizon_publisher.handlers.common import apply_outcome
from horizon_publisher.kinds import PUBLICATION
from horizon_publisher.reconcile import publication


@kopf.on.resume(GROUP, VERSION, PUBLICATION.plural)
@kopf.on.create(GROUP, VERSION, PUBLICATION.plural)
@kopf.on.update(GROUP, VERSION, PUBLICATION.plural, field="spec")
def reconcile_publication(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    apply_outcome(publication.reconcile(body, now=datetime.now(UTC)), body, patch)
