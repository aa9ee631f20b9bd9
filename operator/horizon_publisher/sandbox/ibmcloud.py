"""Sandbox emulator of IBM Cloud IAM and the Container Registry management API, on one aiohttp app.

Routes:
- ``POST /identity/token`` (IAM, ``iam.cloud.ibm.com``): form body ``grant_type=urn:ibm:params:oauth:
  grant-type:apikey&apikey=KEY`` -> ``access_token`` (RS256 JWT), ``refresh_token``, ``token_type``,
  ``expires_in`` (3600), ``expiration`` (epoch s), ``scope``, and ``ims_user_id`` for user keys.
- ``PUT /api/v1/namespaces/{ns}``, ``GET /api/v1/namespaces``, ``GET /api/v1/namespaces/details``,
  ``GET /api/v1/images?namespace=NS[&namespace=..][&repository=NS/NAME]`` (ICR, ``us.icr.io`` etc.): every
  call needs ``Authorization: Bearer <IAM token>`` and ``Account: <account id>``.

Confirmed by the reference (shared/reference/openshift-registry.md §7) or public client code:
- the token request form, the response field names, ``token_type: Bearer``, ``expires_in: 3600``,
  ``expiration`` in epoch seconds, ``scope: "ibm openid"``, ``ims_user_id`` for user keys;
- the JWT claim ``account.bss`` = account id, and ``iam_id``;
- an unknown API key: HTTP 400 ``{"errorCode": "BXNIM0415E", "errorMessage": "Provided API key could not be
  found.", "context": {"requestId": ...}}`` (IBM SDK test fixtures and client logs);
- ``PUT /api/v1/namespaces/NS``: 201 when created, 200 when already the caller's, body ``{"namespace": NS}``;
  ``GET /api/v1/namespaces`` is a JSON array of names; namespaces are unique across accounts in a region;
- namespace names: 4-30 characters from ``[a-z0-9_-]``, starting and ending with a letter or digit (the
  brief said "starting with a letter"; the reference's stricter-at-the-end, digit-allowed rule wins);
- image listing fields ``Id``, ``RepoTags`` (``HOST/NS/NAME:TAG``), ``RepoDigests``, ``Created``, ``Size``,
  ``ManifestType``, ``Labels``, ``Vulnerable``, ``IssueCount``; the ``namespace`` query is repeatable.

Inferred (not confirmed anywhere we could read):
- IAM error codes other than BXNIM0415E: a missing ``grant_type``/``apikey`` answers 400 ``BXNIM0109E``,
  another grant type 400 ``BXNIM0103E``; the real ``context`` has more fields (instanceId, host, times...).
- the JWT claims other than ``account.bss``, ``iam_id``, ``iat``, ``exp`` (``sub``, ``iss``, ``realmid``...).
- every ICR error: the body ``{"code", "message", "request-id"}`` and the codes (CRG0003E, CRN0001E...);
  401 for a missing/invalid/expired token; 400 for a missing ``Account`` header or one that differs from the
  token's account (the real service may answer 401/403); **409** for a namespace another account owns
  (the reference only says "a 4xx with a JSON error body"); 400 for an invalid name.
- the registry's token endpoint ``GET /oauth/token`` (see ``ibmcloud_registry_auth.py``): service name
  ``registry``, 401 for an unknown key or a username other than ``iamapikey``, and a token without access
  (not an error) for a namespace that is missing or another account's;
- the listing only shows the caller's namespaces; ``namespace=`` for someone else's namespace gives ``[]``;
  ``DigestTags``, ``ParentId``, ``VirtualSize``, ``VulnerabilityCount``, ``ConfigurationIssueCount``,
  ``ExemptIssueCount`` field names come from memory of the ICR SDK model.

Sandbox extension: ``GET``/``DELETE /_sandbox/requests`` reports and clears request counters
(:mod:`horizon_publisher.sandbox.request_counts`), without authentication: they hold the Basic user name
(``anonymous`` for Bearer calls and form-only IAM calls; the form's ``apikey`` is never read for them) and a
target from :func:`horizon_publisher.metrics_paths.ibmcloud_api` (``iam_token``, ``namespace_add``,
``namespace_list``, ``image_list``, ``other``), or ``token`` for the mounted ``/oauth/`` token endpoint.

Gaps:
- IAM and ICR are one app on one port here; really they are different hosts (and each ICR region its own).
- No refresh-token grant (``refresh_token`` is ``"not_supported"``), no client id/secret basic auth, no
  ``response_type``, no ``/v1/apikeys`` or ``/v1/apikeys/details``, no JWKS endpoint (``/identity/keys``).
- No IAM authorization: every valid token may create and list (no Manager/Reader roles), no resource groups
  beyond echoing ``X-Auth-Resource-Group`` in ``/namespaces/details``; no quotas, no rate limits.
- Image entries have ``Created``/``Size`` 0, empty ``Labels``/``ManifestType``, no vulnerability data; the
  ``Id`` is the manifest digest (really the config digest); ``includeIBM``/``includePrivate``/
  ``includeManifestLists``/``vulnerabilities`` queries are ignored; no ``POST /api/v1/images/digests``,
  no deletion of namespaces or images, no trash.
- Tokens are never revoked: only expiry (by the injected clock) invalidates them.
- The registry itself (``/v2/``) is not here: ``sandbox up`` runs a docker-registry 2.8 as ``us.icr.io``
  (on its own port; clients map the name with connect-to) whose token realm, ``/oauth/token``, the sandbox
  adds to this app (:func:`horizon_publisher.sandbox.ibmcloud_registry_auth.add_icr_token_endpoint`).
  Really ``us.icr.io`` serves ``/v2/``, ``/oauth/token`` and ``/api/v1/`` on one host; here ``/api/v1/``
  and ``/oauth/token`` are on the emulator's port, so the realm is ``https://127.0.0.1:<port>/oauth/token``.
- In the sandbox the image listing reads the registry's storage directory (tags' ``current/link`` files,
  ``ibmcloud_storage.py``), so untagged manifests are never listed and ``Size``/``Created`` stay 0.
- In the sandbox, created namespaces and the IAM signing key persist in ``STATE/ibmcloud/``; namespaces
  restored after a restart lose their resource group and creation time.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from horizon_publisher.metrics_paths import ibmcloud_api
from horizon_publisher.sandbox.ibmcloud_iam import (
    APIKEY_GRANT_TYPE,
    DEFAULT_EXPIRES_IN,
    ApiKeyIdentity,
    IamTokenService,
    InvalidAccessToken,
)
from horizon_publisher.sandbox.ibmcloud_registry import (
    ImageRow,
    ImageSource,
    NamespaceListener,
    RegistryApi,
    is_valid_namespace_name,
)
from horizon_publisher.sandbox.request_counts import REQUEST_COUNTS, RequestCounts, basic_user, counting_middleware
from horizon_publisher.sandbox.tls_server import BackgroundServer

__all__ = [
    "APIKEY_GRANT_TYPE",
    "IAM_TOKENS",
    "REGISTRY_API",
    "ApiKeyIdentity",
    "IamTokenService",
    "IbmCloudConfig",
    "ImageRow",
    "InvalidAccessToken",
    "RegistryApi",
    "create_ibmcloud_app",
    "is_valid_namespace_name",
    "serve_ibmcloud",
]

IAM_TOKENS = web.AppKey("ibmcloud_iam_tokens", IamTokenService)
REGISTRY_API = web.AppKey("ibmcloud_registry_api", RegistryApi)


def _generate_signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _no_images() -> list[ImageRow]:
    return []


@dataclass
class IbmCloudConfig:
    """``api_keys`` maps each key to its owner; ``images`` is read on every ``GET /api/v1/images``.

    ``namespaces`` pre-creates namespaces as ``{name: owning account id}`` (e.g. one owned by another account);
    ``on_namespace_created`` hears of every namespace a ``PUT`` creates (the sandbox persists them).
    """

    api_keys: Mapping[str, ApiKeyIdentity]
    signing_key: rsa.RSAPrivateKey = field(default_factory=_generate_signing_key)
    clock: Callable[[], float] = time.time
    images: ImageSource = _no_images
    registry_host: str = "us.icr.io"
    namespaces: Mapping[str, str] = field(default_factory=dict)
    expires_in: int = DEFAULT_EXPIRES_IN
    on_namespace_created: NamespaceListener | None = None


def _counted_target(request: web.Request) -> str:
    return _api_name(request.method, request.path)


@functools.lru_cache(maxsize=1024)  # keeps counting near a microsecond: clients repeat their calls
def _api_name(method: str, path: str) -> str:
    # The ICR token endpoint is a sub-app mounted at /oauth (ibmcloud_registry_auth): counted here, once.
    if path.startswith("/oauth/"):
        return "token"
    return ibmcloud_api(method, path)


def create_ibmcloud_app(config: IbmCloudConfig) -> web.Application:
    """The IAM + ICR app; its services are at ``app[IAM_TOKENS]`` and ``app[REGISTRY_API]``.

    Request counters are at ``app[REQUEST_COUNTS]``.
    """
    tokens = IamTokenService(config.api_keys, config.signing_key, config.clock, config.expires_in)
    registry = RegistryApi(
        tokens,
        config.images,
        config.registry_host,
        config.clock,
        config.namespaces,
        on_namespace_created=config.on_namespace_created,
    )
    counts = RequestCounts()
    app = web.Application(middlewares=[counting_middleware(counts, target=_counted_target, who=basic_user)])
    app[REQUEST_COUNTS] = counts
    app[IAM_TOKENS] = tokens
    app[REGISTRY_API] = registry
    app.router.add_post("/identity/token", tokens.handle_token)
    app.router.add_get("/api/v1/namespaces", registry.list_namespaces)
    app.router.add_get("/api/v1/namespaces/details", registry.list_namespace_details)
    app.router.add_put("/api/v1/namespaces/{name}", registry.put_namespace)
    app.router.add_get("/api/v1/images", registry.list_images)
    return app


def serve_ibmcloud(config: IbmCloudConfig, *, ssl_context: ssl.SSLContext | None = None) -> BackgroundServer:
    """Start the emulator on 127.0.0.1 (ephemeral port) in a background thread; ``.stop()`` it when done."""
    return BackgroundServer(create_ibmcloud_app(config), ssl_context=ssl_context).start()
