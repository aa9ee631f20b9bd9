"""IBM Cloud IAM and Container Registry management API, with ``requests``.

IAM (reference openshift-registry.md §7): ``POST {iam}/identity/token`` with the form
``grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=KEY``; the answer's ``access_token`` is a JWT
whose claim ``account.bss`` is the account id the registry API wants in its ``Account`` header. Tokens are
cached per (IAM URL, API key) and exchanged again at 80 % of their lifetime, as IBM's SDK does; a new API
key is a new cache entry, so a rotated key is used at once.

Container Registry (``{api}/api/v1/...``): ``PUT /namespaces/NS`` (201 created, 200 already ours) and
``GET /images?namespace=NS``, each with ``Authorization: Bearer`` and ``Account``.

Errors are :class:`IbmCloudError` with a condition ``reason``; messages carry IBM's error code and text,
never the API key or a token. TLS: the CA is passed as ``verify=<path>`` per request (``REQUESTS_CA_BUNDLE``
would override ``Session.verify``), from the process's shared CA files; each call has its own session over
the process's shared connection pools, where ``HORIZON_PUBLISHER_CONNECT_TO`` applies, as for every client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

from horizon_publisher import metrics
from horizon_publisher.clients.ca_files import RequestsVerify
from horizon_publisher.clients.shared_http import shared_session

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
REFRESH_AT = 0.8  # of a token's lifetime, as IBM's python-sdk-core does

Reason = Literal[
    "InvalidAPIKey",
    "IAMUnavailable",
    "RegistryAPIUnavailable",
    "Unauthorized",
    "Forbidden",
    "NamespaceNotOwned",
    "NamespaceMissing",
    "InvalidNamespace",
    "TLSError",
    "IBMCloudProtocolError",
]


class IbmCloudError(Exception):
    """A failed IAM or registry API call; ``message`` is safe for conditions and Events."""

    def __init__(self, reason: Reason, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message
        self.retry = retry  # False when only a change by the user can help


@dataclass(frozen=True)
class IbmCloudEndpoints:
    iam_url: str  # base, e.g. https://iam.cloud.ibm.com
    registry_api_url: str  # base, e.g. https://us.icr.io
    ca_pem: str | None = field(default=None, repr=False)
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class IamToken:
    access_token: str = field(repr=False)
    account_id: str
    iam_id: str
    expires_at: float  # epoch seconds
    refresh_at: float  # epoch seconds: exchange the key again from then on


@dataclass(frozen=True)
class ImageListing:
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]


def _jwt_claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as error:
        raise IbmCloudError("IBMCloudProtocolError", "IAM answered with an access token that is not a JWT") from error
    if not isinstance(claims, dict):
        raise IbmCloudError("IBMCloudProtocolError", "IAM answered with an access token that is not a JWT")
    return claims


def parse_token_answer(body: Any, now: float) -> IamToken:
    """The IAM token response -> token, account id and when to renew; refuses answers we cannot use."""
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise IbmCloudError("IBMCloudProtocolError", "IAM answered without an access_token")
    claims = _jwt_claims(body["access_token"])
    account = (claims.get("account") or {}).get("bss") if isinstance(claims.get("account"), dict) else None
    if not isinstance(account, str) or not account:
        raise IbmCloudError("IBMCloudProtocolError", "the IAM token names no account (claim account.bss)")
    issued = float(claims.get("iat") or now)
    expires = float(claims.get("exp") or body.get("expiration") or now + float(body.get("expires_in") or 3600))
    return IamToken(
        access_token=body["access_token"],
        account_id=account,
        iam_id=str(claims.get("iam_id") or ""),
        expires_at=expires,
        refresh_at=issued + (expires - issued) * REFRESH_AT,
    )


def _error_text(response: requests.Response) -> str:
    """IAM's errorCode/errorMessage or the registry's code/message, else the HTTP status."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    code = body.get("errorCode") or body.get("code")
    text = body.get("errorMessage") or body.get("message")
    parts = [str(p)[:200] for p in (code, text) if p]
    return f"HTTP {response.status_code} {': '.join(parts)}" if parts else f"HTTP {response.status_code}"


class IbmCloud:
    """Process-wide: the IAM token cache. Thread-safe; one instance lives in the operator's context."""

    def __init__(
        self,
        *,
        session_factory: Callable[[], requests.Session] = shared_session,
        clock: Callable[[], float] = time.time,
        timeout: tuple[float, float] = (5.0, 30.0),
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._timeout = timeout
        self._tokens: dict[tuple[str, str], IamToken] = {}
        self._lock = threading.Lock()
        self.token_requests = 0  # IAM exchanges made, for tests and the benchmark

    def token(self, endpoints: IbmCloudEndpoints, api_key: str) -> IamToken:
        """A cached IAM token for ``api_key``, exchanged again once 80 % of its lifetime has passed."""
        key = (endpoints.iam_url, hashlib.sha256(api_key.encode()).hexdigest())
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.refresh_at:
            metrics.record_iam_token(cached.expires_at)
            return cached
        token = self._exchange(endpoints, api_key)
        with self._lock:
            self._tokens[key] = token
        metrics.record_iam_token(token.expires_at)
        return token

    def _exchange(self, endpoints: IbmCloudEndpoints, api_key: str) -> IamToken:
        url = f"{endpoints.iam_url.rstrip('/')}/identity/token"
        with (
            self._call(endpoints, "IAMUnavailable", "IAM") as (session, verify),
            metrics.ibmcloud_call("POST", "/identity/token") as call,
        ):
            self.token_requests += 1
            response = session.post(
                url,
                data={"grant_type": APIKEY_GRANT, "apikey": api_key},
                headers={"Accept": "application/json"},
                verify=verify,
                timeout=self._timeout,
            )
            call.status = response.status_code
        if not response.ok:
            text = _error_text(response).replace(api_key, "***")  # should IAM ever quote what it was sent
            # IAM answers an unknown or disabled key with 400 BXNIM0415E (401 for some disabled keys).
            if response.status_code in (400, 401, 403):
                raise IbmCloudError("InvalidAPIKey", f"IAM refused the API key ({text})", retry=False)
            raise IbmCloudError("IAMUnavailable", f"IAM token request failed ({text})")
        try:
            body = response.json()
        except ValueError as error:
            raise IbmCloudError("IBMCloudProtocolError", "IAM answered with a body that is not JSON") from error
        return parse_token_answer(body, self._clock())

    def ensure_namespace(
        self, endpoints: IbmCloudEndpoints, token: IamToken, namespace: str, resource_group: str | None = None
    ) -> bool:
        """Create the namespace, or accept it when it is already this account's; True when created now."""
        headers = self._headers(token)
        if resource_group:
            headers["X-Auth-Resource-Group"] = resource_group
        response = self._api(endpoints, "PUT", f"/api/v1/namespaces/{namespace}", headers)
        if response.status_code in (200, 201):
            return response.status_code == 201
        text = _error_text(response)
        if response.status_code == 409:
            raise IbmCloudError(
                "NamespaceNotOwned",
                f"registry namespace {namespace} belongs to another IBM Cloud account ({text}); "
                "namespaces are unique per region: choose another name",
                retry=False,
            )
        if response.status_code == 400:
            raise IbmCloudError("InvalidNamespace", f"namespace {namespace} was refused ({text})", retry=False)
        raise self._api_error(response, f"creating namespace {namespace}")

    def namespaces(self, endpoints: IbmCloudEndpoints, token: IamToken) -> list[str]:
        response = self._api(endpoints, "GET", "/api/v1/namespaces", self._headers(token))
        if not response.ok:
            raise self._api_error(response, "listing namespaces")
        body = self._json(response)
        return [str(n) for n in body] if isinstance(body, list) else []

    def images(self, endpoints: IbmCloudEndpoints, token: IamToken, namespace: str) -> list[ImageListing]:
        """``ibmcloud cr images --restrict NS``: every tag in the namespace with its digests."""
        response = self._api(endpoints, "GET", "/api/v1/images", self._headers(token), params={"namespace": namespace})
        if not response.ok:
            raise self._api_error(response, f"listing images of {namespace}")
        body = self._json(response)
        rows = body if isinstance(body, list) else []
        return [
            ImageListing(tuple(map(str, r.get("RepoTags") or ())), tuple(map(str, r.get("RepoDigests") or ())))
            for r in rows
            if isinstance(r, dict)
        ]

    # --- plumbing ---------------------------------------------------------------------------------------

    @staticmethod
    def _headers(token: IamToken) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token.access_token}",
            "Account": token.account_id,
            "Accept": "application/json",
        }

    def _api(
        self,
        endpoints: IbmCloudEndpoints,
        method: str,
        path: str,
        headers: dict[str, str],
        params: dict[str, str] | None = None,
    ) -> requests.Response:
        url = f"{endpoints.registry_api_url.rstrip('/')}{path}"
        with (
            self._call(endpoints, "RegistryAPIUnavailable", "the Container Registry API") as (session, verify),
            metrics.ibmcloud_call(method, path) as call,
        ):
            response = session.request(
                method, url, headers=headers, params=params, verify=verify, timeout=self._timeout
            )
            call.status = response.status_code
            return response

    @staticmethod
    def _json(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError as error:
            raise IbmCloudError("IBMCloudProtocolError", "the registry API answered with non-JSON") from error

    @staticmethod
    def _api_error(response: requests.Response, doing: str) -> IbmCloudError:
        text = _error_text(response)
        if response.status_code == 401:
            return IbmCloudError("Unauthorized", f"{doing}: the registry API refused the IAM token ({text})")
        if response.status_code == 403:
            return IbmCloudError(
                "Forbidden", f"{doing}: the API key lacks the Container Registry role for this ({text})", retry=False
            )
        return IbmCloudError("RegistryAPIUnavailable", f"{doing} failed ({text})")

    @contextmanager
    def _call(
        self, endpoints: IbmCloudEndpoints, unavailable: Reason, what: str
    ) -> Iterator[tuple[requests.Session, bool | str]]:
        """A session and ``verify`` value for one call; connection and TLS failures become IbmCloudError."""
        trust = RequestsVerify(endpoints.ca_pem, endpoints.insecure_skip_verify)
        session = self._session_factory()
        try:
            try:
                verify = trust.value()
            except ValueError as error:
                raise IbmCloudError("TLSError", f"the CA bundle for {what} is unusable: {error}") from None
            yield session, verify
        except requests.exceptions.SSLError as error:
            raise IbmCloudError("TLSError", f"TLS with {what} failed: {_short(error)}") from None
        except requests.RequestException as error:
            raise IbmCloudError(unavailable, f"{what} did not answer ({type(error).__name__})") from None
        finally:
            session.close()
            trust.close()


def _short(error: Exception) -> str:
    text = str(error)
    marker = "certificate verify failed"
    return marker if marker in text else type(error).__name__
