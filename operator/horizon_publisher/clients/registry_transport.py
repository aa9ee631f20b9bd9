"""The HTTP side shared by every registry call: session, TLS trust, challenge answering, token cache.

Flow, per the distribution spec: send the request; on ``401`` read ``WWW-Authenticate``; ``Basic`` ->
retry with the credentials; ``Bearer`` -> ``GET realm?service=..&scope=..`` (Basic credentials when
configured, anonymous otherwise), take ``token`` or ``access_token``, cache it per scope until shortly
before ``expires_in`` (default 60 s), retry with ``Authorization: Bearer``. A cached token the registry
refuses is dropped and fetched again once. A scope may name several repositories, space-separated
(a cross-repository mount needs push on the target and pull on the source): each goes out as its own
``scope`` parameter.

Tokens and challenges are remembered for the whole process (:mod:`.registry_tokens`), keyed by registry,
realm, service, scope and a fingerprint of the credentials: a client made for the next reconcile sends
the cached token (or, after a Basic challenge, the credentials) on its first request, without a 401 round
trip; if the registry answers 401 anyway, the challenge is answered as usual. A client given its own
``clock`` (tests) keeps a cache of its own instead.

A registry or token endpoint that answers 429 or 5xx with ``Retry-After`` is not called again by any client
of the process before then (:mod:`.retry_after`); the failed call itself is not retried (the reconcile is).

TLS: the CA is passed as ``verify=<path>`` on every request, because ``REQUESTS_CA_BUNDLE`` overrides
``Session.verify``; the PEM goes to a private file shared by every client of the process
(:mod:`.ca_files`). The session is the client's own, over the process's shared connection pools
(:mod:`.shared_http`), with the connect-to mapping of ``HORIZON_PUBLISHER_CONNECT_TO``. The token realm
(another host or port) gets the same CA and mapping.

Messages name the registry host and image reference, never a credential, token or ``Authorization``.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self
from urllib.parse import urlsplit

import requests

from horizon_publisher import metrics
from horizon_publisher.clients.registry_auth_client import (
    Challenge,
    RequestsVerify,
    parse_challenge,
    parse_challenges,
    parse_token_answer,
    preferred_challenge,
)
from horizon_publisher.clients.registry_model import MANIFEST_ACCEPT, RegistryEndpoint, RegistryError, tls_error
from horizon_publisher.clients.registry_tokens import (
    SHARED_TOKENS,
    KnownAuth,
    RegistryTokens,
    TokenKey,
    credential_fingerprint,
)
from horizon_publisher.clients.retry_after import GATES, origin
from horizon_publisher.clients.shared_http import shared_session

log = logging.getLogger("horizon_publisher.clients.registry")

# How OpenSSL reports a TCP connection that ended inside a TLS record or handshake.
_CLOSED_MID_TLS = ("EOF occurred in violation of protocol", "UNEXPECTED_EOF_WHILE_READING")


class RegistryTransport:
    """Authenticated requests to one registry endpoint; close it (or use ``with``). Thread-safe."""

    def __init__(
        self,
        endpoint: RegistryEndpoint,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``session``: used as given (no adapter is mounted on it); by default a new session over the
        process's shared connection pools, with the connect-to mapping of ``HORIZON_PUBLISHER_CONNECT_TO``
        (``ValueError`` if it is malformed). ``clock``: other than ``time.monotonic``, this client gets a
        token cache of its own (a test's fake time must not meet the process's tokens)."""
        self.endpoint = endpoint
        self._timeout = timeout
        self._own_session = session is None
        self._session = session if session is not None else shared_session()
        self._base_url = endpoint.base_url
        self._tokens = SHARED_TOKENS if clock is time.monotonic else RegistryTokens(clock)
        self._fingerprint = credential_fingerprint(endpoint.username, endpoint.password)
        self._trust = RequestsVerify(endpoint.ca_pem, endpoint.insecure_skip_verify)

    def close(self) -> None:
        """Close the session if this client made it (the shared pools stay), give the CA file back."""
        if self._own_session:
            self._session.close()
        self._trust.close()
        if self._tokens is not SHARED_TOKENS:
            self._tokens.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def same_registry(self, other: RegistryTransport) -> bool:
        """Whether both clients reach the same registry (where a cross-repository mount can work)."""
        return self._base_url.lower() == other._base_url.lower()

    def url(self, path: str) -> str:
        """The absolute URL of ``/v2/...`` on this registry."""
        return f"{self._base_url}{path}"

    def on_this_registry(self, url: str) -> bool:
        """Whether ``url`` (e.g. an upload ``Location``) is on this registry: only there may credentials go."""
        return urlsplit(url).netloc.lower() == urlsplit(self._base_url).netloc.lower()

    def request(
        self,
        method: str,
        url: str,
        *,
        scope: str,
        ref: str,
        action: str = "pull",
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """One authenticated request (``url`` absolute, on this registry); the caller closes the response.

        ``scope``: ``repository:NAME:pull[,push]`` (several space-separated); ``ref`` and ``action`` word
        the error when the registry refuses. Raises :class:`RegistryError` for transport and auth failures;
        any other status is returned. Sends with what is known to work; on 401 answers the challenge once
        and sends again.
        """
        peer = f"registry {self.endpoint.host}"
        known = self._tokens.known_auth(self._base_url, self._fingerprint)
        key = self._token_key(known.realm, known.service, scope) if known is not None and known.realm else None
        cached = self._tokens.get(key) if key is not None else None
        upfront = self._upfront_authorization(cached, known)
        all_headers = {"Accept": MANIFEST_ACCEPT, **(headers or {}), **upfront}
        kwargs.setdefault("allow_redirects", method in ("GET", "HEAD"))
        response = self._send(method, url, peer, headers=all_headers, **kwargs)
        if response.status_code != 401:
            return response
        with response:
            _drain(response)  # so the connection is reused rather than closed
            if key is not None and cached is not None:
                self._tokens.discard(key, cached)
            all_headers["Authorization"] = self._answer_challenge(response, scope, ref, action, refused=cached)
        retry = self._send(method, url, peer, headers=all_headers, **kwargs)
        if retry.status_code == 401:
            with retry:
                raise self._refused(retry, ref, action)
        return retry

    def _token_key(self, realm: str, service: str, scope: str) -> TokenKey:
        return TokenKey(self._base_url.lower(), realm, service, scope, self._fingerprint)

    def _upfront_authorization(self, token: str | None, known: KnownAuth | None) -> dict[str, str]:
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        if known is not None and known.basic and self.endpoint.has_credentials:
            return {"Authorization": self._basic_header()}
        return {}

    def _basic_header(self) -> str:
        # OpenShift ignores the user name; it only needs one to be present.
        user = self.endpoint.username or "<token>"
        pair = f"{user}:{self.endpoint.password or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _answer_challenge(
        self, response: requests.Response, scope: str, ref: str, action: str, *, refused: str | None
    ) -> str:
        header = response.headers.get("WWW-Authenticate", "")
        try:
            challenge = preferred_challenge(parse_challenges(header))
        except ValueError:
            challenge = None
        if challenge is None:
            raise RegistryError(
                "RegistryProtocolError",
                f"registry {self.endpoint.host} asked for authentication it does not describe usably for {ref}",
                401,
            )
        if challenge.scheme == "Basic":
            if not self.endpoint.has_credentials:
                raise self._refused(response, ref, action)
            self._tokens.remember_auth(self._base_url, self._fingerprint, KnownAuth(basic=True))
            return self._basic_header()
        realm, service = challenge.realm or "", challenge.service or ""
        self._tokens.remember_auth(self._base_url, self._fingerprint, KnownAuth(realm, service))
        key = self._token_key(realm, service, scope)
        cached = self._tokens.get(key)  # another client may have fetched one meanwhile
        if cached is not None and cached != refused:
            return f"Bearer {cached}"
        return f"Bearer {self._fetch_token(challenge, key, ref, action)}"

    def _fetch_token(self, challenge: Challenge, key: TokenKey, ref: str, action: str) -> str:
        realm = challenge.realm or ""
        parts = urlsplit(realm)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise RegistryError("RegistryProtocolError", f"registry {self.endpoint.host} names an invalid token realm")
        realm_host = parts.netloc.rpartition("@")[2]  # never show userinfo
        peer = f"token endpoint {realm_host} of registry {self.endpoint.host}"
        credentials = self.endpoint.has_credentials
        if credentials and parts.scheme != "https":
            raise RegistryError(
                "RegistryProtocolError", f"the {peer} is plain HTTP; refusing to send the credentials over it"
            )
        params = [("service", challenge.service)] if challenge.service else []
        ours = key.scope.split()
        params += [("scope", s) for s in ours + [s for s in (challenge.scope or "").split() if s not in ours]]
        headers = {"Accept": "application/json"}
        if credentials:
            headers["Authorization"] = self._basic_header()
        requested_at = self._tokens.now()
        with self._send("GET", realm, peer, operation="token", params=params, headers=headers) as response:
            status = response.status_code
            if status == 401:
                what = "refused the credentials" if credentials else "requires credentials (none are configured)"
                raise RegistryError("Unauthorized", f"the {peer} {what} for {ref} (HTTP 401)", status)
            if status == 403:
                raise RegistryError("Forbidden", f"the {peer} denied {action} access to {ref} (HTTP 403)", status)
            if status != 200:
                raise RegistryError("RegistryProtocolError", f"the {peer} answered HTTP {status} for {ref}", status)
            try:
                answer = parse_token_answer(response.json())
            except ValueError as error:
                raise RegistryError("RegistryProtocolError", f"the {peer}: {error}") from None
        self._tokens.put(key, answer, requested_at)
        log.debug("registry token for %s from %s, valid %.0f s", key.scope, realm_host, answer.expires_in)
        return answer.token

    def _refused(self, response: requests.Response, ref: str, action: str = "pull") -> RegistryError:
        """401 although we answered the challenge (or could not): bad credentials, none, or not allowed."""
        host = self.endpoint.host
        try:
            error = parse_challenge(response.headers.get("WWW-Authenticate", "")).error
        except ValueError:
            error = None
        if not self.endpoint.has_credentials:
            verb = "read" if action == "pull" else action
            return RegistryError(
                "Unauthorized", f"registry {host} requires credentials to {verb} {ref} (none are configured)", 401
            )
        if error == "insufficient_scope" or error_code(response) == "DENIED":
            return RegistryError(
                "Forbidden", f"the configured credentials may not {action} {ref} (HTTP 401 insufficient_scope)", 401
            )
        return RegistryError(
            "Unauthorized", f"registry {host} refused the configured credentials for {ref} (HTTP 401)", 401
        )

    # --- transport -------------------------------------------------------------------------------------

    def _verify(self) -> bool | str:
        try:
            return self._trust.value()
        except ValueError as error:
            raise RegistryError(
                "TLSError", f"the CA bundle configured for registry {self.endpoint.host} is unusable: {error}"
            ) from None

    def _send(self, method: str, url: str, peer: str, *, operation: str = "", **kwargs: Any) -> requests.Response:
        verify = self._verify()
        server = origin(url)
        if GATES.wait(server, time.sleep):  # it asked (Retry-After) any of our clients to wait
            log.debug("waited for the %s as it asked (Retry-After)", peer)
        with self.mapped_errors(peer), metrics.registry_call(method, url, operation) as call:
            response = self._session.request(method, url, verify=verify, timeout=self._timeout, **kwargs)
            call.status = response.status_code
        log.debug("%s %s -> HTTP %d", method, url.partition("?")[0], response.status_code)  # not the upload state
        GATES.hold_for(server, response.status_code, response.headers.get("Retry-After"))
        return response

    @contextlib.contextmanager
    def mapped_errors(self, peer: str) -> Iterator[None]:
        """Turn ``requests`` exceptions into :class:`RegistryError` (TLSError, RegistryUnreachable, ...)."""
        try:
            yield
        except requests.exceptions.SSLError as error:
            if any(sign in str(error) for sign in _CLOSED_MID_TLS):  # the peer hung up: not a trust problem
                raise RegistryError("RegistryUnreachable", f"cannot reach the {peer}: connection closed") from error
            raise tls_error(str(error), peer, configured_ca=self.endpoint.ca_pem is not None) from error
        except (requests.ConnectionError, requests.Timeout) as error:
            what = (
                "timed out" if isinstance(error, requests.Timeout) or "timed out" in str(error) else "connection failed"
            )
            raise RegistryError("RegistryUnreachable", f"cannot reach the {peer}: {what}") from error
        except requests.RequestException as error:
            raise RegistryError(
                "RegistryProtocolError", f"request to the {peer} failed: {error.__class__.__name__}"
            ) from error


def _drain(response: requests.Response, limit: int = 64 * 1024) -> None:
    """Read a small error body to its end (a streamed response closed unread also closes its connection)."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= limit:
        with contextlib.suppress(requests.RequestException):
            response.content  # noqa: B018 - reading is the point


def error_code(response: requests.Response) -> str | None:
    """The first distribution error code of a JSON error body (GET only: HEAD answers have no body)."""
    if response.request is not None and response.request.method == "HEAD":
        return None
    try:
        errors = response.json().get("errors")
        code = errors[0]["code"]
    except (ValueError, AttributeError, LookupError, TypeError, requests.RequestException):
        return None
    return code if isinstance(code, str) and code.isidentifier() else None
