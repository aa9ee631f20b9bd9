"""Fixed user/password logins for the token endpoint: the generic "token auth" registry flavour.

Gaps:
- Passwords are compared in plain text (hmac.compare_digest); real token servers hash them.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from horizon_publisher.sandbox.registry_auth import Caller, RegistryAuthorizer, Scope


@dataclass(frozen=True)
class StaticCredential:
    """A fixed user: ``repositories`` is an fnmatch pattern, ``catalog`` grants ``registry:catalog:*``."""

    username: str
    password: str = field(repr=False)
    actions: frozenset[str] = frozenset({"pull", "push"})
    repositories: str = "*"
    catalog: bool = False


class StaticCredentialAuthorizer:
    """Checks a fixed credential list first, then (optionally) hands everything else to ``fallback``."""

    KIND = "static"

    def __init__(self, credentials: Iterable[StaticCredential], fallback: RegistryAuthorizer | None = None) -> None:
        self._credentials = {credential.username: credential for credential in credentials}
        self._fallback = fallback

    async def authenticate(self, username: str, password: str) -> Caller | None:
        known = self._credentials.get(username)
        if known is not None and hmac.compare_digest(known.password.encode(), password.encode()):
            return Caller(username=username, credential=password, kind=self.KIND)
        if self._fallback is not None:
            return await self._fallback.authenticate(username, password)
        return None

    async def allowed_actions(self, caller: Caller, scope: Scope) -> frozenset[str]:
        if caller.kind != self.KIND:
            if self._fallback is None:
                return frozenset()
            return await self._fallback.allowed_actions(caller, scope)
        credential = self._credentials[caller.username]
        if scope.type == "repository" and fnmatchcase(scope.name, credential.repositories):
            return credential.actions & frozenset(scope.actions)
        if scope.type == "registry" and scope.name == "catalog" and credential.catalog:
            return frozenset({"*"}) & frozenset(scope.actions)
        return frozenset()

    async def aclose(self) -> None:
        if self._fallback is not None:
            await self._fallback.aclose()
