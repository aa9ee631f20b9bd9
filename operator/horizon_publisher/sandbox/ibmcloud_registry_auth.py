"""The sandbox ICR registry's token endpoint, ``GET /oauth/token``, as ``us.icr.io/oauth/token`` has.

Docker token protocol (reference openshift-registry.md §7): the registry answers ``401 Bearer
realm=.../oauth/token,service=registry,scope=...``; the client calls the realm with ``Authorization: Basic
base64("iamapikey:<IAM API key>")`` and gets a JWT carrying the granted access.

Decisions here: the username must be exactly ``iamapikey`` and the key one the IAM emulator knows
(:meth:`IamTokenService.identity_for_api_key`), otherwise 401. ``pull``/``push`` on ``repository:NS/NAME``
(any depth below ``NS``) are granted when namespace ``NS`` exists and the key's account owns it; every
other scope gets no access (an empty ``access`` list, as distribution token servers answer), so a push into
another account's namespace or into a namespace nobody created fails at the registry with 401.

Inferred (no IBM specification of this endpoint was found; public client code only shows the request):
- the service name ``registry``; the exact 401 body; that a foreign or missing namespace yields a token
  without access rather than an error at the token endpoint.

Gaps:
- ``iambearer`` (IAM access token) and ``iamrefresh`` (refresh token) logins are refused with 401.
- No IAM roles (Reader/Writer/Manager) or access groups: the owning account's keys may pull and push.
- The real ICR exchanges the key for an IAM token (disabled or locked keys fail there); here the key table
  is looked up directly, and a revoked key keeps its already issued registry tokens until they expire.
- ``delete``, ``*`` and ``registry:catalog:*`` are never granted; no public (IBM) namespaces.
- A request without ``Authorization`` gets an anonymous token with no access (the real endpoint may 401).
- Token JWTs are signed with the sandbox's registry-token key (issuer ``sandbox-icr``), not IBM's.
- ``/oauth/openshift/token`` answers too (the shared token app's second route, mounted under ``/oauth``).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from horizon_publisher.sandbox.ibmcloud_iam import ApiKeyIdentity
from horizon_publisher.sandbox.registry_auth import Caller, Scope, TokenSigner, create_token_app

ICR_SERVICE = "registry"  # the ``service`` ICR names in its challenge
ICR_ISSUER = "sandbox-icr"
ICR_TOKEN_PATH = "/oauth/token"
IAMAPIKEY_USER = "iamapikey"
REPOSITORY_ACTIONS = frozenset({"pull", "push"})

IdentityLookup = Callable[[str], ApiKeyIdentity | None]
OwnerLookup = Callable[[str], str | None]


def icr_token_realm(port: int, host: str = "127.0.0.1") -> str:
    """The realm the sandbox ICR registry points clients at (the IBM Cloud emulator's port)."""
    return f"https://{host}:{port}{ICR_TOKEN_PATH}"


def repository_namespace(repository: str) -> str | None:
    """``NS`` of ``NS/NAME[/...]``; None when there is no name below the namespace."""
    namespace, sep, rest = repository.partition("/")
    if not sep or not namespace or not rest or "" in rest.split("/"):
        return None
    return namespace


class IcrApiKeyAuthorizer:
    """``iamapikey`` logins against the IAM emulator's key table; namespace ownership decides access."""

    KIND = IAMAPIKEY_USER

    def __init__(self, identity_for_api_key: IdentityLookup, namespace_owner: OwnerLookup) -> None:
        self._identity_for_api_key = identity_for_api_key
        self._namespace_owner = namespace_owner

    async def authenticate(self, username: str, password: str) -> Caller | None:
        if username != IAMAPIKEY_USER:
            return None
        identity = self._identity_for_api_key(password)
        if identity is None:
            return None
        return Caller(username=identity.iam_id, credential=password, kind=self.KIND)

    async def allowed_actions(self, caller: Caller, scope: Scope) -> frozenset[str]:
        if caller.kind != self.KIND or scope.type != "repository":
            return frozenset()
        namespace = repository_namespace(scope.name)
        identity = self._identity_for_api_key(caller.credential)
        if namespace is None or identity is None:
            return frozenset()
        if self._namespace_owner(namespace) != identity.account_id:
            return frozenset()
        return REPOSITORY_ACTIONS & frozenset(scope.actions)

    async def aclose(self) -> None:
        return None


def add_icr_token_endpoint(app: web.Application, authorizer: IcrApiKeyAuthorizer, signer: TokenSigner) -> None:
    """Serve ``GET /oauth/token`` on ``app`` (the token app's ``/token`` route, mounted under ``/oauth``)."""
    token_app = create_token_app(authorizer, signer, ICR_SERVICE, ICR_ISSUER, openshift_names=False)
    app.add_subapp("/oauth", token_app)
