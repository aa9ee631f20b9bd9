"""What the registry clients of a process remember across clients (reconciles): tokens and challenges.

- Bearer tokens, keyed by (registry base URL, realm, service, scope, credential fingerprint), reused until
  :func:`~.registry_auth_client.usable_seconds` after they were requested.
- Per (registry base URL, credential fingerprint): the realm and service of the last Bearer challenge, so
  a new client finds a cached token and sends it on its *first* request (no 401 round trip), or that the
  registry accepted Basic, so the credentials go up front.

The fingerprint is an HMAC-SHA256 (key random per process) of the user name's length, the user name and
the password, NUL-separated: never the secret itself, and not even a plain hash of it that could be
matched against a guess list. Anonymous
access has its own fingerprint, which no credential can produce. Clients with different credentials
therefore never see each other's tokens.

Bounded: at most ``max_entries`` tokens (expired ones dropped first, then the least recently used) and as
many remembered challenges. Thread-safe.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from horizon_publisher.clients.registry_auth_client import TokenAnswer, usable_seconds

MAX_ENTRIES = 4096
# However long a registry token lives, it is reused for at most this long: a revoked credential is noticed
# within this bound (OpenShift's registry checks its Kubernetes token on every request anyway).
MAX_REUSE_SECONDS = float(os.environ.get("HORIZON_PUBLISHER_REGISTRY_TOKEN_MAX_REUSE_SECONDS", "300"))
ANONYMOUS = "anonymous"  # not hex: no credential's fingerprint can be equal to it

_FINGERPRINT_KEY = secrets.token_bytes(32)


def credential_fingerprint(username: str | None, password: str | None) -> str:
    """Who is asking, without the secret: ``ANONYMOUS`` without a password (what ``has_credentials`` means)."""
    if not password:
        return ANONYMOUS
    user = username or ""
    material = f"{len(user)}\0{user}\0{password}".encode()  # the length: a NUL in a field cannot forge a split
    return hmac.new(_FINGERPRINT_KEY, material, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class TokenKey:
    base_url: str  # lower-cased
    realm: str
    service: str
    scope: str
    fingerprint: str = field(repr=False)


@dataclass(frozen=True)
class KnownAuth:
    """How a registry asked a given identity to authenticate last time."""

    realm: str = ""
    service: str = ""
    basic: bool = False  # the registry sent a Basic challenge: send the credentials up front


class RegistryTokens:
    """Tokens and remembered challenges; one process-wide instance is :data:`SHARED_TOKENS`."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
        max_reuse_seconds: float = MAX_REUSE_SECONDS,
    ) -> None:
        self._clock = clock
        self._max = max_entries
        self._max_reuse = max_reuse_seconds
        self._lock = threading.Lock()
        self._tokens: OrderedDict[TokenKey, tuple[str, float]] = OrderedDict()  # -> (token, usable until)
        self._auth: OrderedDict[tuple[str, str], KnownAuth] = OrderedDict()  # (base URL, fingerprint) ->

    def now(self) -> float:
        return self._clock()

    def get(self, key: TokenKey) -> str | None:
        with self._lock:
            entry = self._tokens.get(key)
            if entry is None:
                return None
            if self._clock() >= entry[1]:
                del self._tokens[key]
                return None
            self._tokens.move_to_end(key)
            return entry[0]

    def put(self, key: TokenKey, answer: TokenAnswer, requested_at: float) -> None:
        with self._lock:
            reuse = min(usable_seconds(answer.expires_in), self._max_reuse)
            self._tokens[key] = (answer.token, requested_at + reuse)
            self._tokens.move_to_end(key)
            if len(self._tokens) > self._max:
                now = self._clock()
                for stale in [k for k, (_, until) in self._tokens.items() if now >= until]:
                    del self._tokens[stale]
                while len(self._tokens) > self._max:
                    self._tokens.popitem(last=False)

    def discard(self, key: TokenKey, token: str) -> None:
        """Forget ``token`` (refused by the registry), unless another thread already replaced it."""
        with self._lock:
            entry = self._tokens.get(key)
            if entry is not None and entry[0] == token:
                del self._tokens[key]

    def known_auth(self, base_url: str, fingerprint: str) -> KnownAuth | None:
        with self._lock:
            return self._auth.get((base_url.lower(), fingerprint))

    def remember_auth(self, base_url: str, fingerprint: str, auth: KnownAuth) -> None:
        with self._lock:
            self._auth[(base_url.lower(), fingerprint)] = auth
            self._auth.move_to_end((base_url.lower(), fingerprint))
            while len(self._auth) > self._max:
                self._auth.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._auth.clear()


SHARED_TOKENS = RegistryTokens()
