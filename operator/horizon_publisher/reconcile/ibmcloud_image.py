"""EdgeServiceImage on IBM Cloud Container Registry: the manual procedure's second half, idempotent.

API key (a Secret) -> IAM token (cached) -> the account's registry namespace (``ibmcloud cr
namespace-add``) -> push/pull credentials ``iamapikey`` + key (``docker login -u iamapikey``) -> digests
through the registry's own token flow. The key itself is the registry password the Exchange gets, so a
new key in the Secret flows to the output Secret and from there to every publication's dockauth.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from horizon_publisher.clients.ibmcloud import IamToken, IbmCloud, IbmCloudEndpoints, IbmCloudError
from horizon_publisher.clients.kube import SECRETS
from horizon_publisher.reconcile.generic_image import ca_step
from horizon_publisher.reconcile.openshift_image import (
    Context,
    RegistryFactory,
    image_step,
    registry_status,
    run_steps,
    write_credentials,
)
from horizon_publisher.reconcile.steps import StepResult, failed, ok

IAM_URL = "https://iam.cloud.ibm.com"
USERNAME = "iamapikey"  # tells the registry the password is an IAM API key
SLOW_RETRY = 300.0  # only the user can fix it, but a Secret or an account may change without a spec change
CopyStep = Callable[[Context], StepResult]


@dataclass
class _IbmState:
    """What the IBM steps hand each other within one pass (never stored: the key and token are secret)."""

    endpoints: IbmCloudEndpoints | None = None  # known once the CA step ran
    api_key: str = ""
    token: IamToken | None = None


def run_ibmcloud(ctx: Context, registry_factory: RegistryFactory, ibmcloud: IbmCloud, copy_step: CopyStep) -> None:
    settings: Mapping[str, Any] = ctx.spec["registry"]["ibmCloud"]
    ctx.host = str(settings["host"])
    ctx.prefix = str(settings["namespace"])
    ctx.username = USERNAME
    tls = settings.get("tls") or {}
    ctx.insecure_skip_verify = bool(tls.get("insecureSkipTLSVerify"))
    overrides = settings.get("endpoints") or {}
    ctx.registry_url = overrides.get("registryURL")
    ctx.progress.status["provider"] = "IBMCloud"
    registry_status(ctx).update(host=ctx.host, namespace=ctx.prefix, username=USERNAME)
    state = _IbmState()

    def token(c: Context) -> StepResult:
        state.endpoints = IbmCloudEndpoints(
            iam_url=str(overrides.get("iamURL") or IAM_URL),
            registry_api_url=str(overrides.get("registryAPIURL") or f"https://{c.host}"),
            ca_pem=c.ca_bundle or None,
            insecure_skip_verify=c.insecure_skip_verify,
        )
        return token_step(c, state, ibmcloud, settings)

    steps: list[tuple[str, CopyStep]] = []
    if tls.get("caRef"):  # IAM and the registry API need the CA before anything else
        steps.append(("CATrusted", lambda c: ca_step(c, tls["caRef"])))
    steps += [
        ("TokenReady", token),
        ("ProjectReady", lambda c: namespace_step(c, state, ibmcloud, settings)),
        ("CredentialsReady", lambda c: write_credentials(c, USERNAME, state.api_key)),
    ]
    if (ctx.spec.get("image") or {}).get("source"):
        steps.append(("ImageCopied", copy_step))
    steps.append(("ImageResolved", lambda c: image_step(c, registry_factory)))
    run_steps(ctx, steps)


def read_api_key(ctx: Context, ref: Mapping[str, Any]) -> str | StepResult:
    name, key = str(ref.get("name")), str(ref.get("key") or "apikey")
    secret = ctx.kube.get(SECRETS, ctx.owner.namespace, name)
    if secret is None:
        return failed("TokenReady", "SecretNotFound", f"secret {name} does not exist", 30.0)
    encoded = (secret.get("data") or {}).get(key)
    if not encoded:
        return failed("TokenReady", "APIKeyMissing", f"secret {name} has no key {key}", 30.0)
    try:
        api_key = base64.b64decode(encoded, validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        return failed("TokenReady", "APIKeyMissing", f"secret {name} key {key} is not base64 UTF-8 text", 30.0)
    if not api_key or any(ch.isspace() or not ch.isprintable() for ch in api_key):
        return failed("TokenReady", "APIKeyMissing", f"secret {name} key {key} holds no usable API key", 30.0)
    return api_key


def token_step(ctx: Context, state: _IbmState, ibmcloud: IbmCloud, settings: Mapping[str, Any]) -> StepResult:
    api_key = read_api_key(ctx, settings.get("apiKeySecretRef") or {})
    if isinstance(api_key, StepResult):
        return api_key
    state.api_key = api_key
    ctx.token = api_key  # run_steps masks it in any API error message
    assert state.endpoints is not None
    try:
        state.token = ibmcloud.token(state.endpoints, api_key)
    except IbmCloudError as error:
        return _failure("TokenReady", error)
    registry_status(ctx)["accountId"] = state.token.account_id
    return ok("TokenReady", "TokenIssued", f"IAM token for account {state.token.account_id}")


def namespace_step(ctx: Context, state: _IbmState, ibmcloud: IbmCloud, settings: Mapping[str, Any]) -> StepResult:
    assert state.token is not None
    assert state.endpoints is not None
    namespace = str(settings["namespace"])
    try:
        if settings.get("ensureNamespace", True):
            created = ibmcloud.ensure_namespace(
                state.endpoints, state.token, namespace, settings.get("resourceGroupId")
            )
            ours = created or bool((ctx.status.get("registry") or {}).get("namespaceCreated"))
            registry_status(ctx)["namespaceCreated"] = ours
            # The same condition on every pass (no status write after the first): what is, not what a pass did.
            if ours:
                return ok("ProjectReady", "Created", f"registry namespace {namespace} created for this resource")
            return ok("ProjectReady", "Exists", f"registry namespace {namespace} exists")
        if namespace not in ibmcloud.namespaces(state.endpoints, state.token):
            return failed(
                "ProjectReady",
                "NamespaceMissing",
                f"registry namespace {namespace} does not exist in account {state.token.account_id} and "
                "ensureNamespace is false",
                SLOW_RETRY,
            )
    except IbmCloudError as error:
        return _failure("ProjectReady", error)
    return ok("ProjectReady", "Exists", f"registry namespace {namespace} exists")


def _failure(condition_type: str, error: IbmCloudError) -> StepResult:
    return failed(condition_type, error.reason, error.message, 30.0 if error.retry else SLOW_RETRY)
