"""Reconcile of an EdgeServiceImage (the registry side)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from horizon_publisher.conditions import READY
from horizon_publisher.reconcile.first_look import first_look, spec_of
from horizon_publisher.reconcile.outcome import Outcome
from horizon_publisher.validation import check_service_image

# Which conditions each registry provider reports, in reconcile order (docs/crd-reference.md).
_PROVIDER_CONDITIONS: dict[str, tuple[str, ...]] = {
    "openshift": (
        "RegistryRouteReady",
        "ProjectReady",
        "ServiceAccountReady",
        "RoleBindingReady",
        "TokenReady",
        "CATrusted",
        "CredentialsReady",
        "ImageCopied",
        "ImageResolved",
    ),
    "ibmCloud": ("TokenReady", "ProjectReady", "CATrusted", "CredentialsReady", "ImageCopied", "ImageResolved"),
    "generic": ("CATrusted", "CredentialsReady", "ImageCopied", "ImageResolved"),
}


def provider(spec: Mapping[str, Any]) -> str | None:
    registry = spec.get("registry")
    if not isinstance(registry, Mapping):
        return None
    return next((name for name in _PROVIDER_CONDITIONS if registry.get(name) is not None), None)


def _applies(condition: str, name: str, settings: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    if condition == "CATrusted" and name != "openshift":
        tls = settings.get("tls")
        return isinstance(tls, Mapping) and tls.get("caRef") is not None
    if condition == "ImageCopied":
        image = spec.get("image")
        return isinstance(image, Mapping) and image.get("source") is not None
    return True


def condition_types(spec: Mapping[str, Any]) -> tuple[str, ...]:
    name = provider(spec)
    if name is None:
        return (READY,)
    registry = spec["registry"]
    settings = registry[name] if isinstance(registry[name], Mapping) else {}
    return (READY, *(c for c in _PROVIDER_CONDITIONS[name] if _applies(c, name, settings, spec)))


def reconcile(body: Mapping[str, Any], *, now: datetime) -> Outcome:
    spec = spec_of(body)
    return first_look(
        body,
        condition_types=condition_types(spec),
        problems=check_service_image(spec),
        pending_message="spec accepted; the registry reconcile is not part of this release yet",
        now=now,
    )
