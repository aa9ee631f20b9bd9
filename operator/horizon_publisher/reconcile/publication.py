"""Reconcile of an EdgePublication (the Exchange side)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from horizon_publisher.clients.exchange import ExchangeEndpoint
from horizon_publisher.clients.kube import CONFIG_MAPS, SECRETS, Kube
from horizon_publisher.conditions import READY
from horizon_publisher.desired.kube_objects import Owner
from horizon_publisher.reconcile.exchange_memory import ExchangeMemory
from horizon_publisher.reconcile.first_look import first_look, spec_of, suspended
from horizon_publisher.reconcile.openshift_image import RegistryFactory
from horizon_publisher.reconcile.outcome import EventNote, Outcome
from horizon_publisher.reconcile.publication_steps import ExchangeFactory, PublicationContext, run_publication
from horizon_publisher.reconcile.steps import Progress, failed
from horizon_publisher.validation import check_publication

CREDENTIALS_NOT_FOUND = "ExchangeCredentialsNotFound"
TLS_ERROR = "ExchangeTLSError"


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


@dataclass(frozen=True)
class EndpointProblem:
    """Why the Exchange endpoint cannot be built: a ServicePublished reason and a message naming the object."""

    reason: str
    message: str


def exchange_endpoint(spec: Mapping[str, Any], namespace: str, kube: Kube) -> ExchangeEndpoint | EndpointProblem:
    """The Exchange endpoint with its credentials (and CA) from the referenced objects, or why it cannot be built."""
    exchange = spec.get("exchange") or {}
    ref = exchange.get("credentialsSecretRef") or {}
    name = ref.get("name")
    secret = kube.get(SECRETS, namespace, str(ref.get("name")))
    if secret is None:
        return EndpointProblem(CREDENTIALS_NOT_FOUND, f"secret {name} (Exchange credentials) does not exist")
    data = secret.get("data") or {}
    user_key, password_key = str(ref.get("usernameKey") or "username"), str(ref.get("passwordKey") or "password")
    if user_key not in data or password_key not in data:
        return EndpointProblem(CREDENTIALS_NOT_FOUND, f"secret {name} lacks key {user_key} or {password_key}")
    username, password = _text(data[user_key]), _text(data[password_key])
    if username is None or password is None:
        problem = f"secret {name} key {user_key} or {password_key} is not UTF-8 text"
        return EndpointProblem(CREDENTIALS_NOT_FOUND, problem)
    tls = exchange.get("tls") or {}
    ca_pem = _ca(tls.get("caRef"), namespace, kube)
    if isinstance(ca_pem, EndpointProblem):
        return ca_pem
    return ExchangeEndpoint(
        url=str(exchange.get("url")),
        org=str(exchange.get("org")),
        username=username,
        password=password,
        ca_pem=ca_pem,
        insecure_skip_verify=bool(tls.get("insecureSkipTLSVerify", False)),
    )


def _text(encoded: Any) -> str | None:
    """A Secret value as text; None when it is not base64 of UTF-8 (binary or hostile data)."""
    try:
        return base64.b64decode(str(encoded)).decode()
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None


def _ca(ref: Mapping[str, Any] | None, namespace: str, kube: Kube) -> str | EndpointProblem | None:
    """The CA bundle ``caRef`` names; a missing or unreadable one is a TLS problem, never the system trust."""
    if not ref:
        return None
    key = str(ref.get("key") or "ca.crt")
    where = f"{str(ref.get('kind') or 'ConfigMap').lower()} {ref.get('name')} (spec.exchange.tls.caRef)"
    if ref.get("kind") == "Secret":
        secret = kube.get(SECRETS, namespace, str(ref.get("name")))
        raw = ((secret or {}).get("data") or {}).get(key)
        value = _text(raw) if raw else None
        if raw and value is None:
            return EndpointProblem(TLS_ERROR, f"{where} key {key} is not UTF-8 text")
        found = secret is not None
    else:
        config_map = kube.get(CONFIG_MAPS, namespace, str(ref.get("name")))
        value = ((config_map or {}).get("data") or {}).get(key)
        found = config_map is not None
    if not found:
        return EndpointProblem(TLS_ERROR, f"{where} does not exist")
    if not value:
        return EndpointProblem(TLS_ERROR, f"{where} has no key {key}")
    return str(value)


def reconcile(
    body: Mapping[str, Any],
    *,
    now: datetime,
    kube: Kube | None = None,
    exchange_factory: ExchangeFactory | None = None,
    registry_factory: RegistryFactory | None = None,
    memory: ExchangeMemory | None = None,
) -> Outcome:
    """``memory``: what earlier passes of this process confirmed on the Exchange (see exchange_memory);
    without one every pass reads every key and dockauth list."""
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
    if isinstance(endpoint, EndpointProblem):
        progress.add(failed("ServicePublished", endpoint.reason, endpoint.message, 30.0))
        return progress.outcome(body, now=now)
    with exchange_factory(endpoint) as exchange:
        context = PublicationContext(
            kube, exchange, registry_factory, owner, spec, body.get("status") or {}, now, progress, memory=memory
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
    if isinstance(endpoint, EndpointProblem):
        return [EventNote("Warning", endpoint.reason, f"nothing removed from the Exchange: {endpoint.message}")]
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
