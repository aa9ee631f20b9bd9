"""Reconcile of an EdgeServiceImage (the registry side)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from horizon_publisher.conditions import READY
from horizon_publisher.reconcile.first_look import first_look
from horizon_publisher.reconcile.outcome import Outcome
from horizon_publisher.validation import check_service_image

# Which conditions each registry provider reports, in reconcile order.
_PROVIDER_CONDITIONS: dict[str, tuple[str, ...]] = {
    "openshift": (
        "RegistryRouteReady",
        "ProjectReady",
        "ServiceAccountReady",
        "RoleBindingReady",
        "TokenReady",
        "CATrusted",
        "CredentialsReady",
        "ImageResolved",
    ),
    "ibmCloud": ("TokenReady", "CredentialsReady", "ImageResolved"),
    "generic": ("CATrusted", "CredentialsReady", "ImageResolved"),
}


def provider(spec: Mapping[str, Any]) -> str | None:
    registry = spec.get("registry")
    if not isinstance(registry, Mapping):
        return None
    return next((name for name in _PROVIDER_CONDITIONS if registry.get(name) is not None), None)


def condition_types(spec: Mapping[str, Any]) -> tuple[str, ...]:
    return (READY, *_PROVIDER_CONDITIONS.get(provider(spec) or "", ()))


def reconcile(body: Mapping[str, Any], *, now: datetime) -> Outcome:
    spec = body.get("spec") if isinstance(body.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    return first_look(
        body,
        condition_types=condition_types(spec),
        problems=check_service_image(spec),
        pending_message="spec accepted; the registry reconcile is not part of this release yet",
        now=now,
    )
