"""Reconcile of an EdgePublication (the Exchange side)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from horizon_publisher.clients.exchange import ExchangeEndpoint
from horizon_publisher.clients.kube import CONFIG_MAPS, SECRETS, Kube
from horizon_publisher.conditions import READY
from horizon_publisher.desired.kube_objects import Owner
from horizon_publisher.reconcile.first_look import first_look, spec_of, suspended
from horizon_publisher.reconcile.openshift_image import RegistryFactory
from horizon_publisher.reconcile.outcome import EventNote, Outcome
from horizon_publisher.reconcile.publication_steps import ExchangeFactory, PublicationContext, run_publication
from horizon_publisher.reconcile.steps import Progress, failed
from horizon_publisher.validation import check_publication


def condition_types(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """Optional parts of a publication report conditions only when the spec asks for them."""
    credentials = spec.get("registryCredentials")
    credentials = credentials if isinstance(credentials, Mapping) else {}
    publish = bool(credentials.get("publish", True))
    optional = (
        ("CredentialsPublished", publish),
        ("CredentialsValid", publish and bool(credentials.get("verify", True))),
        ("PolicyPublished", spec.get("servicePolicy") is not None or spec.get("deploymentPolicy") is not None),
        ("PatternPublished", spec.get("pattern") is not None),
    )
    return (
        READY,
        "ImageReady",
        "Signed",
        "ServicePublished",
        "KeyPublished",
        *(name for name, wanted in optional if wanted),
    )


def _owner(body: Mapping[str, Any]) -> Owner:
    metadata = body.get("metadata") or {}
    return Owner(str(metadata.get("namespace")), str(metadata.get("name")), str(metadata.get("uid")))


def exchange_endpoint(spec: Mapping[str, Any], namespace: str, kube: Kube) -> ExchangeEndpoint | str:
    """The Exchange endpoint with its credentials from the referenced Secret, or why it cannot be built."""
    exchange = spec.get("exchange") or {}
    ref = exchange.get("credentialsSecretRef") or {}
    secret = kube.get(SECRETS, namespace, str(ref.get("name")))
    if secret is None:
        return f"secret {ref.get('name')} (Exchange credentials) does not exist"
    data = secret.get("data") or {}
    user_key, password_key = str(ref.get("usernameKey") or "username"), str(ref.get("passwordKey") or "password")
    if user_key not in data or password_key not in data:
        return f"secret {ref.get('name')} lacks key {user_key} or {password_key}"
    tls = exchange.get("tls") or {}
    ca_pem = _ca(tls.get("caRef"), namespace, kube)
    return ExchangeEndpoint(
        url=str(exchange.get("url")),
        org=str(exchange.get("org")),
        username=base64.b64decode(data[user_key]).decode(),
        password=base64.b64decode(data[password_key]).decode(),
        ca_pem=ca_pem,
        insecure_skip_verify=bool(tls.get("insecureSkipTLSVerify", False)),
    )


def _ca(ref: Mapping[str, Any] | None, namespace: str, kube: Kube) -> str | None:
    if not ref:
        return None
    key = str(ref.get("key") or "ca.crt")
    if ref.get("kind") == "Secret":
        secret = kube.get(SECRETS, namespace, str(ref.get("name"))) or {}
        raw = (secret.get("data") or {}).get(key)
        return base64.b64decode(raw).decode() if raw else None
    config_map = kube.get(CONFIG_MAPS, namespace, str(ref.get("name"))) or {}
    value = (config_map.get("data") or {}).get(key)
    return str(value) if value else None


def reconcile(
    body: Mapping[str, Any],
    *,
    now: datetime,
    kube: Kube | None = None,
    exchange_factory: ExchangeFactory | None = None,
    registry_factory: RegistryFactory | None = None,
) -> Outcome:
    spec = spec_of(body)
    types = condition_types(spec)
    problems = check_publication(spec)
    if spec.get("suspend") and not problems:
        return suspended(body, condition_types=types, now=now)
    if problems or kube is None or exchange_factory is None or registry_factory is None:
        return first_look(body, condition_types=types, problems=problems, pending_message="not reconciled", now=now)
    progress = Progress(types)
    owner = _owner(body)
    endpoint = exchange_endpoint(spec, owner.namespace, kube)
    if isinstance(endpoint, str):
        progress.add(failed("ServicePublished", "ExchangeCredentialsNotFound", endpoint, 30.0))
        return progress.outcome(body, now=now)
    with exchange_factory(endpoint) as exchange:
        context = PublicationContext(
            kube, exchange, registry_factory, owner, spec, body.get("status") or {}, now, progress
        )
        run_publication(context)
    return progress.outcome(body, now=now)


def finalize(body: Mapping[str, Any], kube: Kube, exchange_factory: ExchangeFactory) -> list[EventNote]:
    """Delete: remove what this resource published (services with their keys and dockauths, pattern,
    deployment policy) and nothing else. Orphan: leave it all."""
    spec = spec_of(body)
    if spec.get("deletionPolicy") == "Orphan":
        return [EventNote("Normal", "Orphaned", "deletionPolicy Orphan: the Exchange keeps what was published")]
    status = body.get("status") or {}
    endpoint = exchange_endpoint(spec, _owner(body).namespace, kube)
    if isinstance(endpoint, str):
        return [EventNote("Warning", "ExchangeCredentialsNotFound", f"nothing removed from the Exchange: {endpoint}")]
    removed = []
    with exchange_factory(endpoint) as exchange:
        for section, delete in (
            ("pattern", exchange.delete_pattern),
            ("deploymentPolicy", exchange.delete_business_policy),
        ):
            ident = str((status.get(section) or {}).get("id") or "")
            if ident:
                delete(ident.split("/", 1)[1])
                removed.append(ident)
        for service in status.get("services") or []:
            exchange.delete_service(str(service["id"]))
            removed.append(str(service["id"]))
    return [EventNote("Normal", "Unpublished", f"removed from the Exchange: {', '.join(removed) or 'nothing'}")]
