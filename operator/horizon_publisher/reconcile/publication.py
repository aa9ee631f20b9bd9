"""Reconcile of an EdgePublication (the Exchange side)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from horizon_publisher.conditions import READY
from horizon_publisher.reconcile.first_look import first_look, spec_of
from horizon_publisher.reconcile.outcome import Outcome
from horizon_publisher.validation import check_publication


def condition_types(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """Optional parts of a publication report conditions only when the spec asks for them."""
    credentials = spec.get("registryCredentials")
    credentials = credentials if isinstance(credentials, Mapping) else {}
    publish = bool(credentials.get("publish", True))
    optional = (
        ("CredentialsPublished", publish),
        ("CredentialsValid", publish and bool(credentials.get("verify", True))),
        ("PatternPublished", spec.get("pattern") is not None),
        ("PolicyPublished", spec.get("servicePolicy") is not None or spec.get("deploymentPolicy") is not None),
    )
    return (
        READY,
        "ImageReady",
        "Signed",
        "ServicePublished",
        "KeyPublished",
        *(name for name, wanted in optional if wanted),
    )


def reconcile(body: Mapping[str, Any], *, now: datetime) -> Outcome:
    spec = spec_of(body)
    return first_look(
        body,
        condition_types=condition_types(spec),
        problems=check_publication(spec),
        pending_message="spec accepted; the Exchange publish is not part of this release yet",
        now=now,
    )
