"""EdgeServiceImage on any registry: trust its CA, take its credentials, resolve the digests.

The user brings the registry, its credentials (a ``kubernetes.io/dockerconfigjson`` Secret) and its CA
(a ConfigMap or Secret); the operator copies both into the same output objects the OpenShift provider
writes, so an EdgePublication reads every provider the same way.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from horizon_publisher.clients.kube import CONFIG_MAPS, SECRETS
from horizon_publisher.clients.registry_auth_client import check_ca_pem
from horizon_publisher.desired import kube_objects as desired
from horizon_publisher.reconcile.openshift_image import (
    Context,
    RegistryFactory,
    image_step,
    registry_status,
    run_steps,
    write_ca,
    write_credentials,
)
from horizon_publisher.reconcile.steps import StepResult, failed, ok

DOCKER_CONFIG = "kubernetes.io/dockerconfigjson"


def run_generic(ctx: Context, registry_factory: RegistryFactory, copy: Callable[[Context], StepResult]) -> None:
    settings: Mapping[str, Any] = ctx.spec["registry"]["generic"]
    ctx.host = str(settings["host"])
    ctx.prefix = str(settings.get("repositoryPrefix") or "")
    ctx.username = ""
    tls = settings.get("tls") or {}
    ctx.insecure_skip_verify = bool(tls.get("insecureSkipTLSVerify"))
    ctx.progress.status["provider"] = "Generic"
    registry_status(ctx)["host"] = ctx.host
    steps: list[tuple[str, Callable[[Context], StepResult]]] = []
    if tls.get("caRef"):
        steps.append(("CATrusted", lambda c: ca_step(c, tls["caRef"])))
    steps.append(("CredentialsReady", lambda c: credentials_step(c, settings.get("credentialsSecretRef"))))
    if (ctx.spec.get("image") or {}).get("source"):
        steps.append(("ImageCopied", copy))
    steps.append(("ImageResolved", lambda c: image_step(c, registry_factory)))
    run_steps(ctx, steps)


def ca_step(ctx: Context, ref: Mapping[str, Any]) -> StepResult:
    bundle = read_ca(ctx, ref, "CATrusted")
    if isinstance(bundle, StepResult):
        return bundle
    return write_ca(ctx, bundle, f"{ref.get('kind') or 'ConfigMap'} {ref.get('name')}")


def read_ca(ctx: Context, ref: Mapping[str, Any], condition_type: str) -> str | StepResult:
    """The PEM bundle a ``caRef`` points at, or the failure that names what is missing."""
    kind, name, key = str(ref.get("kind") or "ConfigMap"), str(ref.get("name")), str(ref.get("key") or "ca.crt")
    source = ctx.kube.get(SECRETS if kind == "Secret" else CONFIG_MAPS, ctx.owner.namespace, name)
    data = (source or {}).get("data") or {}
    raw = data.get(key)
    if kind == "Secret" and raw:
        raw = base64.b64decode(raw).decode(errors="replace")
    if not raw:
        return failed(condition_type, "CANotFound", f"{kind} {name} has no key {key}", 30.0)
    if "-----BEGIN CERTIFICATE-----" not in raw:
        return failed(condition_type, "CAInvalid", f"{kind} {name} key {key} holds no PEM certificate", 30.0)
    try:
        check_ca_pem(str(raw))  # the markers alone prove nothing: the certificates must load
    except ValueError as error:
        message = f"{kind} {name} key {key} holds no usable certificate: {error}"
        return failed(condition_type, "CAInvalid", message, 30.0)
    return str(raw)


def credentials_step(ctx: Context, ref: Mapping[str, Any] | None) -> StepResult:
    if not ref:
        return ok("CredentialsReady", "Anonymous", f"no credentials: {ctx.host} is read anonymously")
    credentials = read_docker_credentials(ctx, str(ref.get("name")), ctx.host, "CredentialsReady")
    if isinstance(credentials, StepResult):
        return credentials
    ctx.username, ctx.token = credentials
    registry_status(ctx)["username"] = ctx.username
    return write_credentials(ctx, ctx.username, ctx.token)


def read_docker_credentials(ctx: Context, name: str, host: str, condition_type: str) -> tuple[str, str] | StepResult:
    """(username, password) for ``host`` from a dockerconfigjson Secret of the resource's namespace."""
    secret = ctx.kube.get(SECRETS, ctx.owner.namespace, name)
    if secret is None:
        return failed(condition_type, "SecretNotFound", f"secret {name} does not exist", 30.0)
    if secret.get("type") != DOCKER_CONFIG:
        return failed(condition_type, "InvalidDockerConfig", f"secret {name} is not of type {DOCKER_CONFIG}")
    credentials = desired.read_docker_config(secret, host)
    if credentials is None:
        return failed(condition_type, "InvalidDockerConfig", f"secret {name} has no auths entry for {host}")
    return credentials
