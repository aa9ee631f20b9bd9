"""Reconcile of an EdgeServiceImage (the registry side)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from horizon_publisher.clients.ibmcloud import IbmCloud
from horizon_publisher.clients.kube import (
    CONFIG_MAPS,
    NAMESPACES,
    ROLE_BINDINGS,
    SECRETS,
    SERVICE_ACCOUNTS,
    Kube,
    KubeError,
)
from horizon_publisher.conditions import READY
from horizon_publisher.desired import kube_objects as desired
from horizon_publisher.reconcile.first_look import first_look, spec_of, suspended
from horizon_publisher.reconcile.generic_image import run_generic
from horizon_publisher.reconcile.ibmcloud_image import run_ibmcloud
from horizon_publisher.reconcile.image_copy import copy_step
from horizon_publisher.reconcile.openshift_image import HANDLED_ROTATION, Context, RegistryFactory, run_openshift
from horizon_publisher.reconcile.outcome import EventNote, Outcome
from horizon_publisher.reconcile.steps import Progress, StepResult
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
    # The CA comes first: IAM and the registry API are reached with it.
    "ibmCloud": ("CATrusted", "TokenReady", "ProjectReady", "CredentialsReady", "ImageCopied", "ImageResolved"),
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


def owner_of(body: Mapping[str, Any]) -> desired.Owner:
    metadata = body.get("metadata") or {}
    return desired.Owner(str(metadata.get("namespace")), str(metadata.get("name")), str(metadata.get("uid")))


def reconcile(
    body: Mapping[str, Any],
    *,
    now: datetime,
    kube: Kube | None = None,
    registry_factory: RegistryFactory | None = None,
    ibmcloud: IbmCloud | None = None,
) -> Outcome:
    spec = spec_of(body)
    types = condition_types(spec)
    problems = check_service_image(spec)
    if spec.get("suspend") and not problems:
        return suspended(body, condition_types=types, now=now)
    name = provider(spec)
    if problems or kube is None or registry_factory is None or (name == "ibmCloud" and ibmcloud is None):
        return first_look(
            body,
            condition_types=types,
            problems=problems,
            pending_message="not reconciled: the operator has no API clients for this provider",
            now=now,
        )
    progress = Progress(types)
    status = body.get("status") or {}
    context = Context(kube, owner_of(body), spec, status, now, progress)
    context.rotation_request = desired.rotation_request(body)
    factory = registry_factory

    def copy(c: Context) -> StepResult:
        return copy_step(c, factory)

    if name == "generic":
        run_generic(context, registry_factory, copy)
    elif name == "ibmCloud":
        assert ibmcloud is not None
        run_ibmcloud(context, registry_factory, ibmcloud, copy)
    else:
        run_openshift(context, registry_factory, copy)
    outcome = progress.outcome(body, now=now)
    answered = settle_rotation_request(context, name)
    return dataclasses.replace(outcome, events=[*outcome.events, *answered]) if answered else outcome


def settle_rotation_request(ctx: Context, provider_name: str | None) -> list[EventNote]:
    """Record a rotation request as handled once answered, and keep the record in every later status.

    OpenShift answers with a new token, recorded only once the output Secret holds it (a pass that stops
    before leaves the request pending, so the next one tries again). The other providers copy credentials
    the user owns: the answer is to say where to rotate them.
    """
    previous = str((ctx.status.get("credentials") or {}).get(HANDLED_ROTATION) or "")
    request = ctx.pending_rotation
    handled, events = previous, []
    if request and provider_name != "openshift":
        handled = request
        events.append(EventNote("Normal", "RotationNotApplicable", _rotate_it_yourself(ctx.spec, provider_name)))
    elif ctx.rotated_for and any(
        r.condition.type == "CredentialsReady" and r.condition.status == "True" for r in ctx.progress.results
    ):
        handled = ctx.rotated_for
    # Written when it changes, and carried in every credentials section after (a missing key would look
    # like a change to the status comparison and rewrite it on every pass).
    if handled and (handled != previous or "credentials" in ctx.progress.status):
        ctx.progress.status.setdefault("credentials", {})[HANDLED_ROTATION] = handled
    return events


def _rotate_it_yourself(spec: Mapping[str, Any], provider_name: str | None) -> str:
    settings = (spec.get("registry") or {}).get(provider_name or "") or {}
    if provider_name == "ibmCloud":
        secret = (settings.get("apiKeySecretRef") or {}).get("name")
        return (
            f"the IAM API key in secret {secret} is the credential: create a new key in IBM Cloud, put it in "
            "that Secret (the operator copies it to the output Secret), then delete the old key"
        )
    secret = (settings.get("credentialsSecretRef") or {}).get("name")
    if not secret:
        return "the registry is read anonymously: there are no credentials to rotate"
    return (
        f"the registry credentials are yours, in secret {secret}: change the password or token at the registry "
        "and in that Secret (the operator copies it to the output Secret)"
    )


def finalize(body: Mapping[str, Any], kube: Kube) -> list[EventNote]:
    """On deletion: remove (Delete) or release (Orphan) what we made; the project itself always stays."""
    spec = spec_of(body)
    owner = owner_of(body)
    openshift = (spec.get("registry") or {}).get("openshift")
    outputs = [
        (SECRETS, desired.credentials_secret_name(owner.name, spec)),
        (CONFIG_MAPS, desired.ca_config_map_name(owner.name, spec)),
    ]
    if spec.get("deletionPolicy") == "Orphan":
        for resource, name in outputs:  # owner references would let the garbage collector take them
            if kube.get(resource, owner.namespace, name) is not None:
                kube.merge_patch(resource, owner.namespace, name, {"metadata": {"ownerReferences": None}})
        return [EventNote("Normal", "Orphaned", "deletionPolicy Orphan: everything made for this image is kept")]
    for resource, name in outputs:
        if owner.owns(kube.get(resource, owner.namespace, name)):
            kube.delete(resource, owner.namespace, name)
    recorded = (body.get("status") or {}).get("registry") or {}
    if not isinstance(openshift, Mapping) or not recorded.get("serviceAccount"):
        return []  # nothing was made in a project (e.g. an OpenShift image on plain Kubernetes)
    project = str(openshift.get("project"))
    account = str(recorded.get("serviceAccount"))
    try:
        for resource, name in (
            (ROLE_BINDINGS, desired.role_binding_name(account)),
            (SECRETS, desired.token_secret_name(account)),
            (SERVICE_ACCOUNTS, account),
        ):
            if owner.owns(kube.get(resource, project, name)):
                kube.delete(resource, project, name)
    except KubeError as error:
        if error.status != 403:
            raise  # kopf retries the deletion handler
        # Waiting forever cannot help: the operator lost the right. Say what stays behind and let go.
        return [
            EventNote(
                "Warning",
                "CleanupForbidden",
                f"could not remove the service account, role binding and token Secret in {project}: {error.message}",
            )
        ]
    kept = f"project {project} is kept (it may hold pushed images)"
    if not owner.owns(kube.get(NAMESPACES, None, project)):
        kept = f"namespace {project} was not ours and is untouched"
    return [EventNote("Normal", "Deleted", f"removed the service account, role binding and secrets; {kept}")]
