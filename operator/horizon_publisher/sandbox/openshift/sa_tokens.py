"""Service-account tokens against the store: authenticator, TokenRequest, tokens controller.

- :class:`TokenAuthenticator`: a token is accepted only while signature, expiry, audience, the
  ServiceAccount (same uid) and the bound object (same uid), or for a legacy token the Secret that
  holds it, all still hold (Kubernetes ``pkg/serviceaccount/claims.go`` / ``legacy.go``).
- :func:`token_request_handler`: ``POST .../serviceaccounts/NAME/token``.
- :class:`TokensController`: kube-controller-manager's tokens controller for
  ``kubernetes.io/service-account-token`` Secrets.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass

from horizon_publisher.sandbox.kubeapi.api import (
    JSON,
    ApiError,
    Cluster,
    SpecialHandler,
    SpecialRequest,
    UserInfo,
    WatchEvent,
)
from horizon_publisher.sandbox.kubeapi.errors import (
    bad_request,
    conflict,
    field_error,
    invalid,
    invalid_value,
    not_found,
)
from horizon_publisher.sandbox.openshift.runtime import is_terminating, rfc3339, schedule
from horizon_publisher.sandbox.openshift.tokens import (
    BOUND_KINDS,
    BoundObject,
    ServiceAccountClaims,
    ServiceAccountTokens,
    TokenInvalid,
)

SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"
SECRETS, SERVICE_ACCOUNTS, PODS = "v1/secrets", "v1/serviceaccounts", "v1/pods"
MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 1 << 32
DEFAULT_EXPIRATION_SECONDS = 3600


def service_account_user(claims: ServiceAccountClaims) -> UserInfo:
    extra: dict[str, tuple[str, ...]] = {}
    if claims.token_id:
        extra["authentication.kubernetes.io/credential-id"] = (f"JTI={claims.token_id}",)
    if claims.bound is not None and claims.bound.kind == "Pod":
        extra["authentication.kubernetes.io/pod-name"] = (claims.bound.name,)
        extra["authentication.kubernetes.io/pod-uid"] = (claims.bound.uid,)
    return UserInfo(
        username=claims.username,
        uid=claims.uid,
        groups=(
            "system:serviceaccounts",
            f"system:serviceaccounts:{claims.namespace}",
            "system:authenticated",
        ),
        extra=extra,
    )


@dataclass(frozen=True)
class ReviewOutcome:
    user: UserInfo | None
    audiences: tuple[str, ...] = ()
    error: str = ""


class TokenAuthenticator:
    """``api.Authenticator`` for service-account tokens, plus the detail TokenReview reports."""

    def __init__(self, cluster: Cluster, tokens: ServiceAccountTokens) -> None:
        self._cluster = cluster
        self._tokens = tokens

    def __call__(self, token: str) -> UserInfo | None:
        return self.review(token).user

    def review(self, token: str, audiences: tuple[str, ...] = ()) -> ReviewOutcome:
        try:
            claims = self._tokens.check(token, audiences or None)
            if claims.legacy_secret_name:
                self._check_legacy_secret(claims, token)
            else:
                self._check_bound_object(claims)
            self._check_service_account(claims)
        except TokenInvalid as exc:
            return ReviewOutcome(None, error=str(exc))
        accepted = claims.audiences or (audiences or self._tokens.api_audiences)
        return ReviewOutcome(service_account_user(claims), tuple(accepted))

    def _check_service_account(self, claims: ServiceAccountClaims) -> None:
        account = self._cluster.get(SERVICE_ACCOUNTS, claims.namespace, claims.name)
        if is_terminating(account):
            raise TokenInvalid("service account token has been invalidated")
        assert account is not None
        actual = account["metadata"].get("uid", "")
        if actual != claims.uid:
            raise TokenInvalid(f"service account UID ({actual}) does not match claim ({claims.uid})")

    def _check_bound_object(self, claims: ServiceAccountClaims) -> None:
        bound = claims.bound
        if bound is None:
            return
        key = SECRETS if bound.kind == "Secret" else PODS
        try:
            obj = self._cluster.get(key, claims.namespace, bound.name)
        except ApiError:
            obj = None
        if is_terminating(obj):
            raise TokenInvalid("service account token has been invalidated")
        assert obj is not None
        actual = obj["metadata"].get("uid", "")
        if actual != bound.uid:
            kind = bound.kind.lower()
            raise TokenInvalid(f"{kind} UID ({actual}) does not match service account {kind} ref claim ({bound.uid})")

    def _check_legacy_secret(self, claims: ServiceAccountClaims, token: str) -> None:
        secret = self._cluster.get(SECRETS, claims.namespace, claims.legacy_secret_name)
        if is_terminating(secret):
            raise TokenInvalid("service account token has been invalidated")
        assert secret is not None
        stored = base64.b64decode((secret.get("data") or {}).get("token", "")).decode(errors="replace")
        if not hmac.compare_digest(stored.encode(), token.encode()):
            raise TokenInvalid("service account token does not match the token Secret")


def _token_request_error(name: str, field: str, why: str, value: object) -> ApiError:
    return invalid("authentication.k8s.io", "TokenRequest", name, [field_error(field, invalid_value(value, why))])


def _bound_object(cluster: Cluster, namespace: str, account: str, ref: JSON) -> BoundObject:
    kind = str(ref.get("kind", ""))
    api_version = str(ref.get("apiVersion") or "v1")
    if kind not in BOUND_KINDS or api_version != "v1":
        group, _, version = api_version.rpartition("/")
        raise bad_request(f"cannot bind token to object of type {group}/{version}, Kind={kind}")
    key = SECRETS if kind == "Secret" else PODS
    resource = cluster.resource(key)
    obj = cluster.get(key, namespace, str(ref.get("name", "")))
    if obj is None:
        raise not_found(resource, str(ref.get("name", "")))
    if kind == "Pod" and (obj.get("spec") or {}).get("serviceAccountName", "default") != account:
        raise bad_request(
            f'cannot bind token for serviceaccount "{account}" to pod running with different serviceaccount name.'
        )
    uid = obj["metadata"].get("uid", "")
    if ref.get("uid") and ref["uid"] != uid:
        raise conflict(
            resource,
            obj["metadata"]["name"],
            f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. "
            "The object might have been deleted and then recreated",
        )
    return BoundObject(kind, obj["metadata"]["name"], uid)


def token_request_handler(cluster: Cluster, tokens: ServiceAccountTokens, max_expiration: int | None) -> SpecialHandler:
    """The ``create`` handler of the ``serviceaccounts/token`` subresource."""

    def handle(request: SpecialRequest) -> tuple[int, JSON]:
        namespace, name = request.namespace or "", request.name or ""
        account = cluster.get(SERVICE_ACCOUNTS, namespace, name)
        if account is None:
            raise not_found(cluster.resource(SERVICE_ACCOUNTS), name)
        spec = dict((request.body or {}).get("spec") or {})
        seconds = spec.get("expirationSeconds")
        seconds = DEFAULT_EXPIRATION_SECONDS if seconds is None else seconds
        if not isinstance(seconds, int):
            raise bad_request("json: cannot unmarshal spec.expirationSeconds into Go value of type int64")
        if seconds < MIN_EXPIRATION_SECONDS:
            raise _token_request_error(
                name, "spec.expirationSeconds", "may not specify a duration less than 10 minutes", seconds
            )
        if seconds > MAX_EXPIRATION_SECONDS:
            raise _token_request_error(
                name, "spec.expirationSeconds", "may not specify a duration larger than 2^32 seconds", seconds
            )
        if max_expiration is not None:
            seconds = min(seconds, max_expiration)
        audiences = list(spec.get("audiences") or tokens.api_audiences)
        ref = spec.get("boundObjectRef")
        bound = _bound_object(cluster, namespace, name, ref) if ref else None
        token, expires = "", tokens.now() + seconds
        if not request.dry_run:
            token, expires = tokens.mint_bound(
                namespace=namespace,
                name=name,
                uid=account["metadata"].get("uid", ""),
                audiences=audiences,
                expiration_seconds=seconds,
                bound=bound,
            )
        body: JSON = {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": ref or None},
            "status": {"token": token, "expirationTimestamp": rfc3339(expires)},
        }
        return 201, body

    return handle


class TokensController:
    """Fills legacy token Secrets asynchronously and deletes the ones whose ServiceAccount is gone."""

    def __init__(self, cluster: Cluster, tokens: ServiceAccountTokens, ca_bundle: str, delay_seconds: float) -> None:
        self._cluster = cluster
        self._tokens = tokens
        self._ca_bundle = ca_bundle
        self._delay = delay_seconds

    def install(self) -> None:
        self._cluster.on_change(SECRETS, self._on_secret)
        self._cluster.on_change(SERVICE_ACCOUNTS, self._on_service_account)

    def _on_secret(self, event: WatchEvent) -> None:
        secret = event.object
        if event.type == "DELETED" or secret.get("type") != SA_TOKEN_TYPE or is_terminating(secret):
            return
        data = secret.get("data") or {}
        if all(data.get(k) for k in ("token", "ca.crt", "namespace")):
            return
        namespace, name = secret["metadata"]["namespace"], secret["metadata"]["name"]
        schedule(self._delay, f"tokens controller {namespace}/{name}", lambda: self._sync_secret(namespace, name))

    def _sync_secret(self, namespace: str, name: str) -> None:
        secret = self._cluster.get(SECRETS, namespace, name)
        if is_terminating(secret) or secret is None:
            return
        annotations = dict(secret["metadata"].get("annotations") or {})
        account = self._cluster.get(SERVICE_ACCOUNTS, namespace, annotations.get(SA_NAME_ANNOTATION, ""))
        account_uid = (account or {}).get("metadata", {}).get("uid", "")
        wanted_uid = annotations.get(SA_UID_ANNOTATION)
        if account is None or is_terminating(account) or (wanted_uid and wanted_uid != account_uid):
            # "Service account does not exist, deleting token"
            self._cluster.delete(SECRETS, namespace, name)
            return
        data = dict(secret.get("data") or {})
        if not data.get("token"):
            token = self._tokens.mint_legacy(
                namespace=namespace, name=account["metadata"]["name"], uid=account_uid, secret_name=name
            )
            data["token"] = _b64(token)
        data.setdefault("ca.crt", _b64(self._ca_bundle))
        data.setdefault("namespace", _b64(namespace))
        annotations[SA_UID_ANNOTATION] = account_uid
        secret["data"] = data
        secret["metadata"]["annotations"] = annotations
        try:
            self._cluster.update(SECRETS, secret)
        except ApiError as exc:
            if exc.code != 409:
                raise
            schedule(
                self._delay,
                f"tokens controller retry {namespace}/{name}",
                lambda: self._sync_secret(namespace, name),
            )

    def _on_service_account(self, event: WatchEvent) -> None:
        if event.type != "DELETED":
            return
        meta = event.object["metadata"]
        for secret in self._cluster.list(SECRETS, meta["namespace"]):
            annotations = secret["metadata"].get("annotations") or {}
            if (
                secret.get("type") == SA_TOKEN_TYPE
                and annotations.get(SA_NAME_ANNOTATION) == meta["name"]
                and annotations.get(SA_UID_ANNOTATION, meta.get("uid")) == meta.get("uid")
            ):
                try:
                    self._cluster.delete(SECRETS, meta["namespace"], secret["metadata"]["name"])
                except ApiError as exc:
                    if exc.code != 404:
                        raise


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
