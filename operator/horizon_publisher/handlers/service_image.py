"""kopf wiring for EdgeServiceImage: body in, status patch and Events out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from horizon_publisher import GROUP, VERSION
from horizon_publisher.handlers.common import apply_outcome
from horizon_publisher.kinds import SERVICE_IMAGE
from horizon_publisher.reconcile import service_image


@kopf.on.resume(GROUP, VERSION, SERVICE_IMAGE.plural)
@kopf.on.create(GROUP, VERSION, SERVICE_IMAGE.plural)
@kopf.on.update(GROUP, VERSION, SERVICE_IMAGE.plural, field="spec")
def reconcile_service_image(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    apply_outcome(service_image.reconcile(body, now=datetime.now(UTC)), body, patch)
