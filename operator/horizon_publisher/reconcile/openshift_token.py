"""The OpenShift provider's registry token: issued, renewed, and rotated on request.

Rotating mode asks the TokenRequest API for a bound token and renews it at two thirds of its life.
LongLived mode has the token controller fill a ``kubernetes.io/service-account-token`` Secret.

A rotation request (the resource's ``edge.horizon.dev/rotate-credentials-requested-at`` annotation with a
value not in ``status.credentials.lastHandledRotationRequest``) gets a new token now:

- Rotating: a new TokenRequest, as a renewal does. The old bound token stays valid until it expires:
  Kubernetes cannot revoke one bound token, only every token of the service account.
- LongLived: a legacy token is a deterministic function of the service account's uid and the Secret's
  name (no issue time, an RSA PKCS#1 v1.5 signature), so a Secret deleted and made again under the same
  name gets the very same token back. The service account is therefore made anew (a new uid, which also
  revokes every token of the old one), marked with the request it answers, and a Secret for that uid is
  made. State lives in the cluster, not in memory or status: after a crash between any two of those
  calls the next pass sees what is done (the mark, the Secret's uid) and does the rest, and a token is
  taken only from a Secret of the marked account's uid, never the old one. An account the operator did
  not make (an adopted project) is never deleted: the request is answered with a Warning Event instead.

The request is recorded (``lastHandledRotationRequest``) by the caller once the output Secret holds the
new token (:attr:`Context.rotated_for`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from horizon_publisher.clients.kube import SECRETS, SERVICE_ACCOUNTS
from horizon_publisher.conditions import timestamp
from horizon_publisher.desired import kube_objects as desired
from horizon_publisher.reconcile.outcome import EventNote
from horizon_publisher.reconcile.steps import StepResult, ok, waiting

if TYPE_CHECKING:  # openshift_image imports this module: the type only, to keep the import one-way
    from horizon_publisher.reconcile.openshift_image import Context

TOKEN_POLL = 1.0
RENEW_AT = 2 / 3  # of a rotating token's lifetime


def token_step(ctx: Context) -> StepResult:
    token = ctx.openshift.get("token") or {}
    if token.get("mode") == "LongLived":
        return _long_lived_token(ctx)
    return _rotating_token(ctx, int(token.get("expirationSeconds") or 86400))


def _section(ctx: Context, name: str) -> dict[str, Any]:
    return ctx.progress.status.setdefault(name, {})  # type: ignore[no-any-return]


def _metadata(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (obj or {}).get("metadata") or {}


def _rotated(ctx: Context, message: str) -> EventNote:
    """The new token's Event; also records when the credentials changed."""
    _section(ctx, "credentials")["lastRotationTime"] = timestamp(ctx.now)
    why = " (rotation requested)" if ctx.rotated_for else ""
    return EventNote("Normal", "TokenRotated", f"{message}{why}")


def _long_lived_token(ctx: Context) -> StepResult:
    account_uid = str(_metadata(ctx.service_account).get("uid") or "")
    want = desired.token_secret(ctx.project, ctx.account, ctx.owner, account_uid)
    name = want["metadata"]["name"]
    _section(ctx, "registry")["tokenSecretName"] = name
    _retire_renamed_secret(ctx, name)
    previous = ctx.status.get("credentials") or {}
    if previous.get("lastRotationTime"):
        _section(ctx, "credentials")["lastRotationTime"] = previous["lastRotationTime"]
    request = ctx.pending_rotation
    answered = (_metadata(ctx.service_account).get("annotations") or {}).get(desired.ROTATION_ANSWERED_ANNOTATION)
    foreign = bool(request) and not ctx.owner.owns(ctx.service_account)
    if request and answered != request and not foreign:
        return _renew_service_account(ctx, request, name)
    existing = ctx.kube.get(SECRETS, ctx.project, name)
    if existing is not None and not _fits(existing, want):
        ctx.kube.delete(SECRETS, ctx.project, name)
        existing = None
    if existing is None:
        ctx.kube.create(SECRETS, ctx.project, want)
        return waiting("TokenReady", "WaitingForTokenController", f"secret {ctx.project}/{name} created", TOKEN_POLL)
    encoded = (existing.get("data") or {}).get("token")
    if not encoded:
        return waiting(
            "TokenReady", "WaitingForTokenController", f"secret {ctx.project}/{name} has no token yet", TOKEN_POLL
        )
    ctx.token = base64.b64decode(encoded).decode()
    message = f"long-lived token in secret {ctx.project}/{name}"
    if not request:
        return ok("TokenReady", "TokenIssued", message)
    ctx.rotated_for = request  # answered: the account was made for this request (its token is new), or not ours
    if foreign:
        return ok("TokenReady", "TokenIssued", message, _not_ours(ctx))
    return ok("TokenReady", "TokenIssued", message, _rotated(ctx, f"new long-lived token in {ctx.project}/{name}"))


def _fits(secret: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    """The token Secret is for our service account, and (once the controller says) for its current uid."""
    have, wanted = _metadata(secret).get("annotations") or {}, want["metadata"]["annotations"]
    uid = have.get(desired.SA_UID_ANNOTATION)
    return (
        secret.get("type") == want["type"]
        and have.get(desired.SA_NAME_ANNOTATION) == wanted[desired.SA_NAME_ANNOTATION]
        and (not uid or not wanted.get(desired.SA_UID_ANNOTATION) or uid == wanted[desired.SA_UID_ANNOTATION])
    )


def _retire_renamed_secret(ctx: Context, name: str) -> None:
    """A new service account name means a new Secret name: delete the old Secret, if ours."""
    previous = (ctx.status.get("registry") or {}).get("tokenSecretName")
    if previous and previous != name and ctx.owner.owns(ctx.kube.get(SECRETS, ctx.project, previous)):
        ctx.kube.delete(SECRETS, ctx.project, previous)


def _renew_service_account(ctx: Context, request: str, secret_name: str) -> StepResult:
    """Revoke the long-lived token and start a new one: the Secret goes, the account is made anew."""
    ctx.kube.delete(SECRETS, ctx.project, secret_name)  # the old token stops working now
    ctx.kube.delete(SERVICE_ACCOUNTS, ctx.project, ctx.account)
    account = desired.service_account(ctx.project, ctx.account, ctx.owner, request)
    ctx.service_account = ctx.kube.create(SERVICE_ACCOUNTS, ctx.project, account)
    uid = str(_metadata(ctx.service_account).get("uid") or "")
    ctx.kube.create(SECRETS, ctx.project, desired.token_secret(ctx.project, ctx.account, ctx.owner, uid))
    return waiting(
        "TokenReady",
        "WaitingForTokenController",
        f"service account {ctx.project}/{ctx.account} and secret {ctx.project}/{secret_name} made anew to "
        "rotate the token",
        TOKEN_POLL,
    )


def _not_ours(ctx: Context) -> EventNote:
    """Someone else's account (an adopted project) is never deleted: the request is answered with why."""
    return EventNote(
        "Warning",
        "RotationNotPossible",
        f"service account {ctx.project}/{ctx.account} was not made by horizon-publisher, so it is not replaced "
        "to rotate its long-lived token and the token is unchanged; delete the service account yourself and "
        "the operator makes a new one with a new token",
    )


def _rotating_token(ctx: Context, lifetime: int) -> StepResult:
    previous = ctx.status.get("credentials") or {}
    secret = ctx.kube.get(SECRETS, ctx.owner.namespace, desired.credentials_secret_name(ctx.owner.name, ctx.spec))
    current = desired.read_docker_config(secret, ctx.host)
    renew_at = _parse_time(previous.get("tokenRenewalTime"))
    status = _section(ctx, "credentials")
    for key in ("tokenExpirationTime", "tokenRenewalTime", "lastRotationTime"):
        if previous.get(key):
            status[key] = previous[key]
    request = ctx.pending_rotation
    fresh = current is not None and current[0] == ctx.account and renew_at is not None and ctx.now < renew_at
    if fresh and not ctx.account_recreated and not request:
        assert current is not None
        ctx.token = current[1]
        return ok("TokenReady", "TokenIssued", f"token valid until {status.get('tokenExpirationTime')}")
    ctx.token, expires = ctx.kube.request_token(ctx.project, ctx.account, lifetime)
    ctx.rotated_for = request
    expiry = _parse_time(expires) or ctx.now + timedelta(seconds=lifetime)
    status["tokenExpirationTime"] = timestamp(expiry)
    status["tokenRenewalTime"] = timestamp(ctx.now + (expiry - ctx.now) * RENEW_AT)
    message = f"token valid until {status['tokenExpirationTime']}"
    if current is None and not request:
        return ok("TokenReady", "TokenIssued", message)  # the first token: nothing rotated
    event = _rotated(ctx, f"new token for {ctx.project}/{ctx.account}, valid until {status['tokenExpirationTime']}")
    return ok("TokenReady", "TokenIssued", message, event)


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
