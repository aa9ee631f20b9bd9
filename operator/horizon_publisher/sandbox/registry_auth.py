"""The sandbox registry's token endpoint: ``GET /openshift/token``, as OpenShift's integrated registry has.

Protocol (docker token auth): a client that got ``401 Bearer realm=...,service=...,scope=...`` from the
registry calls ``GET <realm>?service=S&scope=repository:P/NAME:pull,push`` with ``Authorization: Basic
base64(<any user>:<Kubernetes token>)`` and retries with ``Authorization: Bearer <token>``.

Like OpenShift: the Basic *username is ignored*, the password is a Kubernetes bearer token checked with a
``SelfSubjectReview`` made *with that token*; access is decided by ``SelfSubjectAccessReview``\\ s, again
with the caller's token: pull = ``get imagestreams/layers``, push = ``update imagestreams/layers`` plus
``create imagestreams`` when the repository does not exist yet, ``registry:catalog:*`` = cluster-wide
``list imagestreams``. Repository names must be ``<project>/<name>``; other names get 401 with a
``details`` message. No ``Authorization`` header gives an anonymous token; bad credentials give 401.

Gaps:
- OpenShift echoes the Kubernetes token back as the registry token and authorizes every registry request
  itself; here a signed JWT (RS256, libtrust ``kid`` or ``x5c``) carries the granted actions, because
  distribution 2.8 only understands JWTs. Consequences: a token revoked after issue keeps working until
  the JWT expires (default 300 s); ``Authorization: Basic`` straight to ``/v2/`` is not accepted; a raw
  Kubernetes token as ``Bearer`` on ``/v2/`` is rejected.
- Anonymous tokens carry no access at all (OpenShift would still ask RBAC for ``system:anonymous``).
- The ``create imagestreams`` check for a new repository happens at token time against the registry's
  storage directory (OpenShift checks at manifest upload and creates the ImageStream); no ImageStream or
  ImageStreamMapping is ever created.
- The access review sends ``resource: imagestreams, subresource: layers`` (OpenShift sends the combined
  ``resource: imagestreams/layers``; RBAC matches both the same way).
- Pull failures are not deferred for cross-repository blob mounts; ``delete``, ``*`` (prune), ``signature``,
  ``metrics`` and ``admin`` scopes are never granted to Kubernetes callers.
- The realm lives on its own port on 127.0.0.1, not on the registry's route host.
- Sandbox extension (not in OpenShift): ``GET``/``DELETE /_sandbox/requests`` reports and clears request
  counters (Basic user name, method, target ``token``; see :mod:`.request_counts`), without authentication:
  they hold user names only, never a password or token.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from horizon_publisher.sandbox.request_counts import REQUEST_COUNTS, RequestCounts, basic_user, counting_middleware

# Re-exported: the token endpoint is usually served with these.
from horizon_publisher.sandbox.tls_server import BackgroundServer, server_ssl_context, start_app

__all__ = [
    "ANONYMOUS",
    "AuthBackendError",
    "BackgroundServer",
    "Caller",
    "KubeReviewAuthorizer",
    "RegistryAuthorizer",
    "Scope",
    "TokenSigner",
    "create_token_app",
    "libtrust_key_id",
    "parse_scopes",
    "project_and_name",
    "registry_token_claims",
    "server_ssl_context",
    "start_app",
    "storage_has_repository",
]

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
DEFAULT_TOKEN_TTL = 300
_PROJECT = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")


@dataclass(frozen=True)
class Scope:
    """One ``type:name:actions`` scope of a token request."""

    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Scope:
        # The name may hold "host:port", so split the type from the left and the actions from the right.
        type_, sep, rest = text.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not (sep and sep2 and type_ and name):
            raise ValueError(f"malformed scope {text!r}: expected type:name:actions")
        return cls(type_, name, tuple(a for a in actions.split(",") if a))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Parse every ``scope`` query value (one value may hold several, space-separated)."""
    return [Scope.parse(item) for value in values for item in value.split()]


def project_and_name(repository: str) -> tuple[str, str] | None:
    """Split ``P/NAME`` as OpenShift does; None for anything but exactly two valid segments."""
    parts = repository.split("/")
    if len(parts) != 2 or not _PROJECT.fullmatch(parts[0]) or not _PATH_COMPONENT.fullmatch(parts[1]):
        return None
    return parts[0], parts[1]


@dataclass(frozen=True)
class Caller:
    """Whoever a credential belongs to; ``credential`` is kept to ask the API server on their behalf."""

    username: str
    credential: str = field(repr=False)
    kind: str = "kubernetes"


class AuthBackendError(RuntimeError):
    """The authentication/authorization backend failed (not a denial)."""


class RegistryAuthorizer(Protocol):
    async def authenticate(self, username: str, password: str) -> Caller | None:
        """The caller behind Basic credentials, or None to answer 401."""

    async def allowed_actions(self, caller: Caller, scope: Scope) -> frozenset[str]:
        """The subset of ``scope.actions`` the caller may perform."""

    async def aclose(self) -> None:
        """Release connections (called when the token app shuts down)."""


# --- JWT signing --------------------------------------------------------------------------------------


def libtrust_key_id(public_key: PublicKeyTypes) -> str:
    """docker/libtrust key ID: base32 of the first 30 bytes of sha256(DER SPKI), in 12 groups of 4."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenSigner:
    """Signs registry JWTs with RS256, naming the key by libtrust ``kid`` or by an ``x5c`` chain."""

    def __init__(
        self,
        key: rsa.RSAPrivateKey,
        chain: Sequence[x509.Certificate],
        *,
        mode: Literal["kid", "x5c"] = "kid",
    ) -> None:
        if not chain:
            raise ValueError("the signing certificate is required")
        self._key = key
        if mode == "kid":
            key_id = libtrust_key_id(key.public_key())
            self._header: dict[str, Any] = {"typ": "JWT", "alg": "RS256", "kid": key_id}
        else:
            der = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode() for cert in chain]
            self._header = {"typ": "JWT", "alg": "RS256", "x5c": der}

    @classmethod
    def from_files(cls, key_file: Path, cert_file: Path, *, mode: Literal["kid", "x5c"] = "kid") -> TokenSigner:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("registry tokens are signed with RS256: the key must be RSA")
        return cls(key, x509.load_pem_x509_certificates(cert_file.read_bytes()), mode=mode)

    def sign(self, claims: Mapping[str, Any]) -> str:
        header = _b64url(json.dumps(self._header, separators=(",", ":")).encode())
        payload = _b64url(json.dumps(dict(claims), separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64url(signature)}"


def registry_token_claims(
    *,
    issuer: str,
    service: str,
    subject: str,
    access: Sequence[Mapping[str, Any]],
    now: float,
    ttl: int = DEFAULT_TOKEN_TTL,
) -> dict[str, Any]:
    """Claims distribution 2.8 checks: ``aud`` must be a plain string and ``exp`` is required."""
    issued = int(now)
    return {
        "iss": issuer,
        "sub": subject,
        "aud": service,
        "exp": issued + ttl,
        "nbf": issued,
        "iat": issued,
        "jti": secrets.token_hex(16),
        "access": [dict(entry) for entry in access],
    }


# --- The HTTP endpoint --------------------------------------------------------------------------------


def create_token_app(
    authorizer: RegistryAuthorizer,
    signer: TokenSigner,
    service: str,
    issuer: str,
    *,
    token_ttl: int = DEFAULT_TOKEN_TTL,
    openshift_names: bool = True,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """An aiohttp app serving ``GET /openshift/token`` (and ``/token``, same handler).

    ``openshift_names=False`` lifts the ``<project>/<name>`` rule, for the generic token-auth registry.
    Request counters (target ``token``) are at ``app[REQUEST_COUNTS]``.
    """

    async def issue_token(request: web.Request) -> web.Response:
        scopes = _requested_scopes(request, openshift_names=openshift_names)
        header = request.headers.get("Authorization")
        subject: str = ANONYMOUS
        access: list[dict[str, Any]] = []
        if header is not None:
            subject, access = await _grant(authorizer, header, scopes)
            log.info("token for %s: %s", subject, access)
        claims = registry_token_claims(
            issuer=issuer, service=service, subject=subject, access=access, now=clock(), ttl=token_ttl
        )
        token = signer.sign(claims)
        issued_at = dt.datetime.fromtimestamp(claims["iat"], dt.UTC).isoformat()
        return web.json_response(
            {"token": token, "access_token": token, "expires_in": token_ttl, "issued_at": issued_at}
        )

    counts = RequestCounts()
    app = web.Application(middlewares=[counting_middleware(counts, target=_token_target, who=basic_user)])
    app[REQUEST_COUNTS] = counts
    app.router.add_get("/openshift/token", issue_token)
    app.router.add_get("/token", issue_token)

    async def close_authorizer(_: web.Application) -> None:
        await authorizer.aclose()

    app.on_cleanup.append(close_authorizer)
    return app


def _token_target(request: web.Request) -> str:
    del request
    return "token"


def _unauthorized(details: str | None = None) -> web.HTTPUnauthorized:
    # OpenShift answers 401 with a JSON content type, and a {"details": ...} body for some failures.
    body = json.dumps({"details": details}) if details is not None else ""
    return web.HTTPUnauthorized(text=body, content_type="application/json")


def _requested_scopes(request: web.Request, *, openshift_names: bool) -> list[Scope]:
    try:
        scopes = parse_scopes(request.query.getall("scope", []))
    except ValueError as error:
        raise web.HTTPBadRequest(text=json.dumps({"details": str(error)}), content_type="application/json") from error
    if openshift_names:
        for scope in scopes:
            if scope.type == "repository" and project_and_name(scope.name) is None:
                raise _unauthorized(f"invalid repository name {scope.name!r}: must be <project>/<name>")
    return scopes


async def _grant(
    authorizer: RegistryAuthorizer, header: str, scopes: Sequence[Scope]
) -> tuple[str, list[dict[str, Any]]]:
    credentials = _basic_credentials(header)
    if credentials is None:
        raise _unauthorized()
    try:
        caller = await authorizer.authenticate(*credentials)
        if caller is None:
            raise _unauthorized()
        access = []
        for scope in scopes:
            granted = await authorizer.allowed_actions(caller, scope)
            actions = [action for action in scope.actions if action in granted]
            if actions:
                access.append({"type": scope.type, "name": scope.name, "actions": actions})
    except AuthBackendError as error:
        log.warning("token request failed: %s", error)
        raise _unauthorized("unable to validate token") from error
    return caller.username, access


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep or not password:
        return None
    return username, password


def storage_has_repository(storage_root: Path, repository: str) -> bool:
    """Whether docker-registry's filesystem storage already holds ``repository``."""
    return (storage_root / "docker" / "registry" / "v2" / "repositories" / repository).is_dir()


class KubeReviewAuthorizer:
    """Authenticates and authorizes with the caller's own token, through the Kubernetes API's reviews.

    ``storage_root`` is the registry's filesystem root, used to tell whether a push creates a repository
    (then ``create imagestreams`` is needed too); None treats every repository as existing.
    """

    def __init__(
        self,
        api_url: str,
        ca_file: Path | str | None,
        *,
        storage_root: Path | None = None,
        cache_seconds: float = 5.0,
        timeout: float = 10.0,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._ca_file = str(ca_file) if ca_file is not None else None
        self._storage_root = storage_root
        self._cache_seconds = cache_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        # (sha256 of the token, request) -> (expiry, answer): tokens themselves are never kept as keys.
        self._cache: dict[tuple[str, str], tuple[float, tuple[int, dict[str, Any]]]] = {}

    async def authenticate(self, username: str, password: str) -> Caller | None:
        del username  # OpenShift ignores it: only the token counts
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
        status, answer = await self._review(password, path, body)
        if status in (401, 403):
            return None
        user = answer.get("status", {}).get("userInfo", {}).get("username")
        if not isinstance(user, str) or not user:
            raise AuthBackendError("SelfSubjectReview answer has no status.userInfo.username")
        return Caller(username=user, credential=password)

    async def allowed_actions(self, caller: Caller, scope: Scope) -> frozenset[str]:
        wanted = frozenset(scope.actions)
        if scope.type == "registry" and scope.name == "catalog" and "*" in wanted:
            allowed = await self._can(caller.credential, verb="list", resource="imagestreams")
            return frozenset({"*"}) if allowed else frozenset()
        parsed = project_and_name(scope.name) if scope.type == "repository" else None
        if parsed is None:
            return frozenset()
        project, name = parsed
        granted: set[str] = set()
        if "pull" in wanted and await self._can(
            caller.credential, "get", "imagestreams", "layers", namespace=project, name=name
        ):
            granted.add("pull")
        if "push" in wanted and await self._can(
            caller.credential, "update", "imagestreams", "layers", namespace=project, name=name
        ):
            root = self._storage_root
            is_new = root is not None and not storage_has_repository(root, scope.name)
            # Pushing to a new repository creates its ImageStream on OpenShift.
            if not is_new or await self._can(caller.credential, "create", "imagestreams", namespace=project, name=name):
                granted.add("push")
        return frozenset(granted)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _can(
        self,
        token: str,
        verb: str,
        resource: str,
        subresource: str = "",
        *,
        namespace: str = "",
        name: str = "",
    ) -> bool:
        attributes = {"verb": verb, "group": "image.openshift.io", "resource": resource}
        for key, value in (("subresource", subresource), ("namespace", namespace), ("name", name)):
            if value:
                attributes[key] = value
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        status, answer = await self._review(token, path, body)
        # As OpenShift: an API server that refuses the review itself means "denied".
        return status not in (401, 403) and answer.get("status", {}).get("allowed") is True

    async def _review(self, token: str, path: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        key = (token_hash, path + json.dumps(body, sort_keys=True))
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        result = await self._post(token, path, body)
        if len(self._cache) > 4096:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        self._cache[key] = (now + self._cache_seconds, result)
        return result

    async def _post(self, token: str, path: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        if self._session is None:
            context = ssl.create_default_context(cafile=self._ca_file)
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=aiohttp.TCPConnector(ssl=context))
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            async with self._session.post(self._api_url + path, json=body, headers=headers) as response:
                if response.status in (401, 403):
                    return response.status, {}
                if response.status not in (200, 201):
                    raise AuthBackendError(f"POST {path}: HTTP {response.status}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise AuthBackendError(f"POST {path}: {type(error).__name__}") from error
        if not isinstance(answer, dict):
            raise AuthBackendError(f"POST {path}: the answer is not a JSON object")
        return response.status, answer
