"""IBM Cloud IAM emulator: ``POST /identity/token`` with the API-key grant (see ``ibmcloud.py`` for gaps)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from horizon_publisher.sandbox.openshift import jwt

APIKEY_GRANT_TYPE = "urn:ibm:params:oauth:grant-type:apikey"
IAM_ISSUER = "https://iam.cloud.ibm.com/identity"
TOKEN_SCOPE = "ibm openid"  # as in real token responses (e.g. terraform-provider-ibm issue 4286 debug log)
DEFAULT_EXPIRES_IN = 3600


@dataclass(frozen=True)
class ApiKeyIdentity:
    """Who an API key belongs to. ``ims_user_id`` is set for user keys only (service-ID keys have none)."""

    account_id: str
    iam_id: str
    ims_user_id: int | None = None


class InvalidAccessToken(Exception):
    """The bearer token is malformed, not signed by this IAM, or expired (message is safe to log)."""


def iam_error(status: int, code: str, message: str) -> web.Response:
    """IAM's error body: ``errorCode``/``errorMessage`` plus a ``context`` with a request id."""
    body = {
        "errorCode": code,
        "errorMessage": message,
        "context": {"requestId": uuid.uuid4().hex, "requestType": "incoming.Identity_Token"},
    }
    return web.json_response(body, status=status)


class IamTokenService:
    """Issues and verifies RS256 access tokens for a fixed table of API keys."""

    def __init__(
        self,
        api_keys: Mapping[str, ApiKeyIdentity],
        signing_key: rsa.RSAPrivateKey,
        clock: Callable[[], float],
        expires_in: int = DEFAULT_EXPIRES_IN,
    ) -> None:
        self._api_keys = api_keys
        self._signing_key = signing_key
        self._clock = clock
        self._expires_in = expires_in

    def identity_for_api_key(self, api_key: str) -> ApiKeyIdentity | None:
        """Constant-time lookup, so the sandbox registry's ``iamapikey`` login can share the table."""
        found: ApiKeyIdentity | None = None
        for candidate, identity in self._api_keys.items():
            if secrets.compare_digest(candidate.encode(), api_key.encode()):
                found = identity
        return found

    def issue(self, identity: ApiKeyIdentity) -> dict[str, Any]:
        """The token response body for ``identity``; ``expiration`` and the JWT ``exp`` agree."""
        now = int(self._clock())
        expiration = now + self._expires_in
        claims: dict[str, Any] = {
            "iam_id": identity.iam_id,
            "id": identity.iam_id,
            "realmid": "iam",
            "jti": uuid.uuid4().hex,
            "identifier": identity.iam_id.removeprefix("iam-"),
            "sub": identity.iam_id,
            "sub_type": "ServiceId" if identity.ims_user_id is None else "User",
            "account": {"valid": True, "bss": identity.account_id},
            "iat": now,
            "exp": expiration,
            "iss": IAM_ISSUER,
            "grant_type": APIKEY_GRANT_TYPE,
            "scope": TOKEN_SCOPE,
            "client_id": "default",
        }
        body: dict[str, Any] = {
            "access_token": jwt.sign(claims, self._signing_key),
            "refresh_token": "not_supported",  # the reference: unusable without a client id
            "token_type": "Bearer",
            "expires_in": self._expires_in,
            "expiration": expiration,
            "scope": TOKEN_SCOPE,
        }
        if identity.ims_user_id is not None:
            body["ims_user_id"] = identity.ims_user_id
        return body

    def verify(self, access_token: str) -> dict[str, Any]:
        """Claims of a token this IAM issued and that has not expired by the injected clock."""
        try:
            claims = jwt.verify(access_token, self._signing_key.public_key())
        except jwt.JwtError as exc:
            raise InvalidAccessToken(str(exc)) from exc
        expiry = claims.get("exp")
        if not isinstance(expiry, int) or expiry <= self._clock():
            raise InvalidAccessToken("the access token has expired")
        account = claims.get("account")
        if not isinstance(account, dict) or not isinstance(account.get("bss"), str):
            raise InvalidAccessToken("the access token names no account")
        return claims

    async def handle_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant_type = form.get("grant_type")
        if not isinstance(grant_type, str) or not grant_type:
            return iam_error(400, "BXNIM0109E", "Property missing or empty. Property name: 'grant_type'.")
        if grant_type != APIKEY_GRANT_TYPE:
            return iam_error(400, "BXNIM0103E", "Unsupported grant type.")
        api_key = form.get("apikey")
        if not isinstance(api_key, str) or not api_key:
            return iam_error(400, "BXNIM0109E", "Property missing or empty. Property name: 'apikey'.")
        identity = self.identity_for_api_key(api_key)
        if identity is None:
            return iam_error(400, "BXNIM0415E", "Provided API key could not be found.")
        return web.json_response(self.issue(identity), headers={"Cache-Control": "no-store"})
