"""Service-account JWTs with the real claims: minting and the cluster-independent half of validation.

Bound tokens (TokenRequest) carry ``aud``/``exp``/``iat``/``nbf``/``jti`` and the private
``kubernetes.io`` claim; legacy Secret tokens carry the ``kubernetes.io/serviceaccount/*`` claims
and never expire. Checking that the ServiceAccount and the bound object still exist with the same
uid needs the store and lives in ``sa_tokens.py``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from horizon_publisher.sandbox.openshift import jwt
from horizon_publisher.sandbox.openshift.config import Clock

JSON = dict[str, Any]
LEGACY_ISSUER = "kubernetes/serviceaccount"
LEEWAY_SECONDS = 60  # go-jose's DefaultLeeway, applied by the real validator to exp and nbf
BOUND_KINDS = ("Secret", "Pod")
_LEGACY = "kubernetes.io/serviceaccount/"


class TokenInvalid(Exception):
    """Why a token was rejected; the message never contains the token."""


@dataclass(frozen=True)
class BoundObject:
    kind: str  # "Secret" | "Pod"
    name: str
    uid: str


@dataclass(frozen=True)
class ServiceAccountClaims:
    """What a structurally valid token asserts (existence checks still pending)."""

    namespace: str
    name: str
    uid: str
    legacy_secret_name: str = ""  # legacy tokens only
    bound: BoundObject | None = None
    audiences: tuple[str, ...] = ()  # the accepted ones (intersection with the target audiences)
    token_id: str = ""  # jti
    expires_at: int | None = None

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


class ServiceAccountTokens:
    """Signs and checks service-account JWTs with one RSA key (``--service-account-signing-key-file``)."""

    def __init__(
        self,
        signing_key_pem: str,
        *,
        issuer: str,
        api_audiences: Sequence[str],
        clock: Clock = time.time,
    ) -> None:
        self._private_key = jwt.load_private_key(signing_key_pem)
        self._public_key = self._private_key.public_key()
        self.issuer = issuer
        self.api_audiences = tuple(api_audiences)
        self._clock = clock

    def now(self) -> int:
        return int(self._clock())

    def mint_bound(
        self,
        *,
        namespace: str,
        name: str,
        uid: str,
        audiences: Sequence[str],
        expiration_seconds: int,
        bound: BoundObject | None = None,
    ) -> tuple[str, int]:
        """Return (token, exp) for a TokenRequest."""
        now = self.now()
        expires = now + expiration_seconds
        private: JSON = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
        if bound is not None:
            private[bound.kind.lower()] = {"name": bound.name, "uid": bound.uid}
        claims: JSON = {
            "aud": list(audiences),
            "exp": expires,
            "iat": now,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": now,
            "sub": f"system:serviceaccount:{namespace}:{name}",
        }
        return jwt.sign(claims, self._private_key), expires

    def mint_legacy(self, *, namespace: str, name: str, uid: str, secret_name: str) -> str:
        """The token the tokens controller writes into a ``kubernetes.io/service-account-token`` Secret."""
        claims: JSON = {
            "iss": LEGACY_ISSUER,
            f"{_LEGACY}namespace": namespace,
            f"{_LEGACY}secret.name": secret_name,
            f"{_LEGACY}service-account.name": name,
            f"{_LEGACY}service-account.uid": uid,
            "sub": f"system:serviceaccount:{namespace}:{name}",
        }
        return jwt.sign(claims, self._private_key)

    def check(self, token: str, audiences: Sequence[str] | None = None) -> ServiceAccountClaims:
        """Signature, issuer, time and audience checks; raise :class:`TokenInvalid`."""
        if not jwt.looks_like_jwt(token):
            raise TokenInvalid("not a service account token")
        try:
            claims = jwt.verify(token, self._public_key)
        except jwt.JwtError as exc:
            raise TokenInvalid(str(exc)) from exc
        if claims.get("iss") == LEGACY_ISSUER:
            return self._legacy_claims(claims)
        if claims.get("iss") != self.issuer:
            raise TokenInvalid("token issuer is not accepted")
        return self._bound_claims(claims, tuple(audiences) if audiences else self.api_audiences)

    def _legacy_claims(self, claims: JSON) -> ServiceAccountClaims:
        fields = [claims.get(f"{_LEGACY}{k}") for k in ("namespace", "service-account.name", "service-account.uid")]
        secret_name = claims.get(f"{_LEGACY}secret.name")
        if not all(isinstance(f, str) and f for f in fields) or not isinstance(secret_name, str):
            raise TokenInvalid("token is missing legacy service account claims")
        namespace, name, uid = (str(f) for f in fields)
        return ServiceAccountClaims(namespace, name, uid, legacy_secret_name=secret_name)

    def _bound_claims(self, claims: JSON, target_audiences: tuple[str, ...]) -> ServiceAccountClaims:
        now = self.now()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int) or now > exp + LEEWAY_SECONDS:
            raise TokenInvalid("service account token has expired")
        if isinstance(nbf, int) and now < nbf - LEEWAY_SECONDS:
            raise TokenInvalid("service account token is not valid yet")
        token_audiences = claims.get("aud")
        if isinstance(token_audiences, str):
            token_audiences = [token_audiences]
        accepted = tuple(a for a in target_audiences if a in (token_audiences or ()))
        if not accepted:
            raise TokenInvalid(
                f"token audiences {jwt_quote(token_audiences or [])} is invalid for the target audiences "
                f"{jwt_quote(target_audiences)}"
            )
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict) or not isinstance(private.get("serviceaccount"), dict):
            raise TokenInvalid("token is missing the kubernetes.io claim")
        account = private["serviceaccount"]
        bound = None
        for kind in BOUND_KINDS:
            ref = private.get(kind.lower())
            if isinstance(ref, dict):
                bound = BoundObject(kind, str(ref.get("name", "")), str(ref.get("uid", "")))
        return ServiceAccountClaims(
            namespace=str(private.get("namespace", "")),
            name=str(account.get("name", "")),
            uid=str(account.get("uid", "")),
            bound=bound,
            audiences=accepted,
            token_id=str(claims.get("jti", "")),
            expires_at=exp,
        )


def jwt_quote(values: Sequence[str]) -> str:
    return "[" + " ".join(f'"{v}"' for v in values) + "]"
