"""Read image digests from a container registry (distribution API v2) with ``requests``.

Flow, per the distribution spec: send the request; on ``401`` read ``WWW-Authenticate``; ``Basic`` ->
retry with the credentials; ``Bearer`` -> ``GET realm?service=..&scope=repository:REPO:pull`` (Basic
credentials when configured, anonymous otherwise), take ``token`` or ``access_token``, cache it per scope
until shortly before ``expires_in`` (default 60 s), retry with ``Authorization: Bearer``. A cached token
the registry refuses is dropped and fetched again once.

``head_manifest`` sends HEAD with the four manifest types in ``Accept`` (registry 2.8 needs all four) and
reads ``Docker-Content-Digest``; for an OCI index or Docker manifest list it also GETs the body (checked
against the digest) to map each linux platform to its manifest digest.

TLS: the CA is passed as ``verify=<path>`` on every request, because ``REQUESTS_CA_BUNDLE`` overrides
``Session.verify``; the PEM goes to a private temp file removed on :meth:`RegistryClient.close`. The
token realm (another host or port) gets the same CA and, through the session, the connect-to mapping
of ``HORIZON_PUBLISHER_CONNECT_TO``.

Errors are :class:`RegistryError` with a condition ``reason``; messages name the image reference and
never a credential, token or ``Authorization`` header.

Limits: pull scope only (no push, no tag listing); https only (no plain-HTTP registries); credentials
are not sent to a plain-HTTP token realm; manifests over 4 MiB are refused; only linux entries of an
index are mapped.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests

from horizon_publisher.clients.connect_to import connect_to_from_env, mount_connect_to
from horizon_publisher.clients.registry_auth_client import (
    Challenge,
    PrivateCAFile,
    TokenCache,
    parse_challenge,
    parse_challenges,
    parse_token_answer,
    preferred_challenge,
)
from horizon_publisher.clients.registry_model import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    MANIFEST_ACCEPT,
    OCI_INDEX,
    OCI_MANIFEST,
    SHA256_DIGEST,
    Manifest,
    RegistryEndpoint,
    RegistryError,
    check_repository_and_reference,
    image_reference,
    index_platforms,
    media_type_of,
    media_type_of_body,
    pinned_reference,
    reference_text,
    tls_error,
)

__all__ = [
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Challenge",
    "Manifest",
    "RegistryClient",
    "RegistryEndpoint",
    "RegistryError",
    "image_reference",
    "parse_challenge",
    "pinned_reference",
]

log = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # distribution's own limit for manifest uploads
KNOWN_TYPES = frozenset({OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST})
_HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


class RegistryClient:
    """A read-only client for one registry endpoint; thread-safe token cache; close it (or use ``with``)."""

    def __init__(
        self,
        endpoint: RegistryEndpoint,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``session``: used as given (no connect-to adapter is mounted on it); by default a new session
        with the connect-to mapping of ``HORIZON_PUBLISHER_CONNECT_TO`` (``ValueError`` if it is malformed)."""
        self.endpoint = endpoint
        self._timeout = timeout
        self._own_session = session is None
        self._session = session if session is not None else mount_connect_to(requests.Session(), connect_to_from_env())
        self._base_url = f"https://{endpoint.host}"
        self._tokens = TokenCache(clock)
        self._lock = threading.Lock()
        self._ca_file: PrivateCAFile | None = None
        self._basic_accepted = False  # after one Basic challenge, send the credentials up front

    # --- lifecycle -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the session if this client made it, remove the CA file, forget tokens."""
        if self._own_session:
            self._session.close()
        with self._lock:
            if self._ca_file is not None:
                self._ca_file.remove()
                self._ca_file = None
        self._tokens.clear()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- public ----------------------------------------------------------------------------------------

    def head_manifest(self, repository: str, reference: str) -> Manifest:
        """Resolve a tag or digest: the digest a user would pin, its media type, and per-arch digests for an
        index. Raises ``ValueError`` for an invalid name, :class:`RegistryError` for everything else."""
        check_repository_and_reference(repository, reference)
        ref = reference_text(self.endpoint.host, repository, reference)
        with self._manifest_request("HEAD", repository, reference, ref) as response:
            if response.status_code != 405:  # some registries allow only GET
                self._raise_for_status(response, ref)
                digest = response.headers.get("Docker-Content-Digest", "").strip()
                media_type = media_type_of(response.headers.get("Content-Type"))
                if digest and media_type in KNOWN_TYPES - INDEX_TYPES:
                    self._check_digest_format(digest, ref)
                    return Manifest(digest, media_type)
        return self._get_manifest(repository, reference, ref)

    # --- manifests -------------------------------------------------------------------------------------

    def _get_manifest(self, repository: str, reference: str, ref: str) -> Manifest:
        with self._manifest_request("GET", repository, reference, ref) as response:
            self._raise_for_status(response, ref)
            body = self._read_body(response, ref)
            header_digest = response.headers.get("Docker-Content-Digest", "").strip()
            media_type = media_type_of(response.headers.get("Content-Type"))
        if media_type not in KNOWN_TYPES:
            media_type = media_type_of(media_type_of_body(body)) or media_type
        digest = self._body_digest(body, header_digest, reference, ref)
        if media_type not in KNOWN_TYPES and b'"manifests"' in body:
            media_type = OCI_INDEX  # OCI makes mediaType optional; an index is what has "manifests"
        if media_type not in INDEX_TYPES:
            return Manifest(digest, media_type)
        try:
            _, platforms = index_platforms(body)
        except ValueError as error:
            raise RegistryError("RegistryProtocolError", f"the index of {ref} is unusable: {error}") from None
        return Manifest(digest, media_type, platforms)

    def _body_digest(self, body: bytes, header_digest: str, reference: str, ref: str) -> str:
        """The digest of the exact bytes; a registry header that disagrees means corruption or a bug."""
        claimed = header_digest or (reference if ":" in reference else "")
        algorithm = claimed.partition(":")[0] if claimed else "sha256"
        hasher = _HASHES.get(algorithm)
        if hasher is None:
            raise RegistryError("RegistryProtocolError", f"{ref}: unsupported digest algorithm {algorithm!r}")
        computed = f"{algorithm}:{hasher(body).hexdigest()}"
        if claimed and claimed != computed:
            raise RegistryError(
                "RegistryProtocolError", f"{ref}: the manifest's bytes do not match its digest {claimed}"
            )
        return computed

    def _read_body(self, response: requests.Response, ref: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        with self._mapped_errors(f"registry {self.endpoint.host}"):
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > MAX_MANIFEST_BYTES:
                    raise RegistryError("RegistryProtocolError", f"the manifest of {ref} is larger than 4 MiB")
                chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _check_digest_format(digest: str, ref: str) -> None:
        if digest.startswith("sha256:") and not SHA256_DIGEST.fullmatch(digest):
            raise RegistryError("RegistryProtocolError", f"{ref}: the registry sent a malformed digest")

    def _raise_for_status(self, response: requests.Response, ref: str) -> None:
        status = response.status_code
        if status == 200:
            return
        if status == 404:
            raise RegistryError("ImageNotFound", f"{ref} not found in the registry (not pushed yet?)", status)
        if status == 401:
            raise self._refused(response, ref)
        if status == 403:
            who = "the configured credentials" if self.endpoint.has_credentials else "anonymous access"
            raise RegistryError("Forbidden", f"{who} may not pull {ref} (HTTP 403)", status)
        detail = f" ({code})" if (code := _error_code(response)) else ""
        raise RegistryError(
            "RegistryProtocolError", f"registry {self.endpoint.host} answered HTTP {status}{detail} for {ref}", status
        )

    # --- authentication --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _manifest_request(self, method: str, repository: str, reference: str, ref: str) -> Iterator[requests.Response]:
        url = f"{self._base_url}/v2/{repository}/manifests/{reference}"
        scope = f"repository:{repository}:pull"
        response = self._authorized(method, url, scope, ref, stream=method == "GET")
        try:
            yield response
        finally:
            response.close()

    def _authorized(self, method: str, url: str, scope: str, ref: str, *, stream: bool) -> requests.Response:
        """Send with what is known to work; on 401 answer the challenge once and send again."""
        peer = f"registry {self.endpoint.host}"
        cached = self._tokens.get(scope)
        headers = {"Accept": MANIFEST_ACCEPT, **self._upfront_authorization(cached)}
        response = self._send(method, url, peer, headers=headers, stream=stream)
        if response.status_code != 401:
            return response
        with response:
            if cached is not None:
                self._tokens.discard(scope, cached)
            headers["Authorization"] = self._answer_challenge(response, scope, ref)
        retry = self._send(method, url, peer, headers=headers, stream=stream)
        if retry.status_code == 401:
            with retry:
                raise self._refused(retry, ref)
        return retry

    def _upfront_authorization(self, token: str | None) -> dict[str, str]:
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        if self._basic_accepted and self.endpoint.has_credentials:
            return {"Authorization": self._basic_header()}
        return {}

    def _basic_header(self) -> str:
        # OpenShift ignores the user name; it only needs one to be present.
        user = self.endpoint.username or "<token>"
        pair = f"{user}:{self.endpoint.password or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _answer_challenge(self, response: requests.Response, scope: str, ref: str) -> str:
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
                raise self._refused(response, ref)
            self._basic_accepted = True
            return self._basic_header()
        return f"Bearer {self._fetch_token(challenge, scope, ref)}"

    def _fetch_token(self, challenge: Challenge, scope: str, ref: str) -> str:
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
        scopes = [scope] + [s for s in (challenge.scope or "").split() if s != scope]
        params += [("scope", s) for s in scopes]
        headers = {"Accept": "application/json"}
        if credentials:
            headers["Authorization"] = self._basic_header()
        requested_at = self._tokens.now()
        with self._send("GET", realm, peer, params=params, headers=headers) as response:
            status = response.status_code
            if status == 401:
                what = "refused the credentials" if credentials else "requires credentials (none are configured)"
                raise RegistryError("Unauthorized", f"the {peer} {what} for {ref} (HTTP 401)", status)
            if status == 403:
                raise RegistryError("Forbidden", f"the {peer} denied pull access to {ref} (HTTP 403)", status)
            if status != 200:
                raise RegistryError("RegistryProtocolError", f"the {peer} answered HTTP {status} for {ref}", status)
            try:
                answer = parse_token_answer(response.json())
            except ValueError as error:
                raise RegistryError("RegistryProtocolError", f"the {peer}: {error}") from None
        self._tokens.put(scope, answer, requested_at)
        log.debug("registry token for %s from %s, valid %.0f s", scope, realm_host, answer.expires_in)
        return answer.token

    def _refused(self, response: requests.Response, ref: str) -> RegistryError:
        """401 although we answered the challenge (or could not): bad credentials, none, or not allowed."""
        host = self.endpoint.host
        try:
            error = parse_challenge(response.headers.get("WWW-Authenticate", "")).error
        except ValueError:
            error = None
        if not self.endpoint.has_credentials:
            return RegistryError(
                "Unauthorized", f"registry {host} requires credentials to read {ref} (none are configured)", 401
            )
        if error == "insufficient_scope" or _error_code(response) == "DENIED":
            return RegistryError(
                "Forbidden", f"the configured credentials may not pull {ref} (HTTP 401 insufficient_scope)", 401
            )
        return RegistryError(
            "Unauthorized", f"registry {host} refused the configured credentials for {ref} (HTTP 401)", 401
        )

    # --- transport -------------------------------------------------------------------------------------

    def _verify(self) -> bool | str:
        if self.endpoint.insecure_skip_verify:
            return False
        if self.endpoint.ca_pem is None:
            return True  # the system trust (REQUESTS_CA_BUNDLE when set)
        with self._lock:
            if self._ca_file is None:
                try:
                    self._ca_file = PrivateCAFile(self.endpoint.ca_pem)
                except ValueError as error:
                    raise RegistryError(
                        "TLSError", f"the CA bundle configured for registry {self.endpoint.host} is unusable: {error}"
                    ) from None
            return str(self._ca_file.path)

    def _send(self, method: str, url: str, peer: str, **kwargs: Any) -> requests.Response:
        verify = self._verify()
        with self._mapped_errors(peer):
            response = self._session.request(method, url, verify=verify, timeout=self._timeout, **kwargs)
        log.debug("%s %s -> HTTP %d", method, url, response.status_code)
        return response

    @contextlib.contextmanager
    def _mapped_errors(self, peer: str) -> Iterator[None]:
        try:
            yield
        except requests.exceptions.SSLError as error:
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


def _error_code(response: requests.Response) -> str | None:
    """The first distribution error code of a JSON error body (GET only: HEAD answers have no body)."""
    if response.request is not None and response.request.method == "HEAD":
        return None
    try:
        errors = response.json().get("errors")
        code = errors[0]["code"]
    except (ValueError, AttributeError, LookupError, TypeError, requests.RequestException):
        return None
    return code if isinstance(code, str) and code.isidentifier() else None
