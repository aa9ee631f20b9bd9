"""Building blocks of the registry client's authentication: challenges, token answers, token cache, CA file.

- :func:`parse_challenges` reads a ``WWW-Authenticate`` header (RFC 7235: one or more challenges, each a
  scheme with auth-params or a token68), tolerating what registries really send: any scheme case,
  unquoted URL values, empty list elements. Garbage raises ``ValueError`` and nothing else.
- :func:`parse_token_answer` reads a docker token endpoint's JSON (``token`` or ``access_token``,
  ``expires_in`` defaulting to 60 s as the distribution token spec says).
- :class:`TokenCache` keeps one token per scope until shortly before it expires (thread-safe: kopf runs
  sync handlers in threads).
- :class:`PrivateCAFile` writes a PEM bundle to a 0600 file in a 0700 temp dir, because ``requests``
  takes a CA as a *path*, passed per request (``REQUESTS_CA_BUNDLE`` would override ``Session.verify``).
  The clients use :class:`RequestsVerify` (from :mod:`.ca_files`, re-exported here), whose files are
  shared by the whole process, one per distinct bundle.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from horizon_publisher.clients.ca_files import RequestsVerify, check_ca_pem

__all__ = [
    "Challenge",
    "PrivateCAFile",
    "RequestsVerify",
    "TokenAnswer",
    "TokenCache",
    "check_ca_pem",
    "parse_challenge",
    "parse_challenges",
    "parse_token_answer",
    "preferred_challenge",
    "usable_seconds",
]

DEFAULT_TOKEN_SECONDS = 60.0  # distribution token spec: "When omitted, this defaults to 60 seconds"
MAX_EXPIRY_MARGIN = 30.0

_TCHAR = r"[!#$%&'*+.^_`|~0-9A-Za-z-]"
_SCHEME = re.compile(f"{_TCHAR}+")
# Unquoted values also take ':' and '/', which RFC 7235 forbids but registries send (realm=https://...).
_PARAM = re.compile(rf'({_TCHAR}+)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))')
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_SPACES = re.compile(r"[ \t]+")
_LIST_SEPARATOR = re.compile(r"[ \t]*,[ \t,]*")
_ESCAPE = re.compile(r"\\(.)")
_KNOWN_SCHEMES = {"basic": "Basic", "bearer": "Bearer"}


@dataclass(frozen=True)
class Challenge:
    """One authentication challenge; ``scheme`` is "Basic"/"Bearer" whatever the case sent, else as sent."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False)  # names lower-cased
    token68: str | None = None

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")

    @property
    def error(self) -> str | None:
        return self.params.get("error")


def _at_boundary(text: str, pos: int) -> bool:
    """Whether only blanks lie between ``pos`` and the end of the text or the next comma."""
    match = _SPACES.match(text, pos)
    end = match.end() if match else pos
    return end == len(text) or text[end] == ","


def _param_at(text: str, pos: int) -> re.Match[str] | None:
    match = _PARAM.match(text, pos)
    return match if match is not None and _at_boundary(text, match.end()) else None


def _parse_params(text: str, pos: int) -> tuple[dict[str, str], int]:
    params: dict[str, str] = {}
    while (match := _param_at(text, pos)) is not None:
        name, quoted, bare = match.groups()
        value = _ESCAPE.sub(r"\1", quoted) if quoted is not None else bare
        params.setdefault(name.lower(), value)  # a repeated name is invalid; keep the first
        pos = match.end()
        separator = _LIST_SEPARATOR.match(text, pos)
        # After a comma comes either another param of this challenge or the next challenge's scheme.
        if separator is None or _param_at(text, separator.end()) is None:
            break
        pos = separator.end()
    return params, pos


def parse_challenges(header: str) -> list[Challenge]:
    """All challenges in a ``WWW-Authenticate`` value, in order. Raises ``ValueError`` on garbage."""
    if not isinstance(header, str):
        raise ValueError("a WWW-Authenticate header must be a string")
    challenges: list[Challenge] = []
    pos = len(header) - len(header.lstrip(" \t,"))
    while pos < len(header):
        scheme_match = _SCHEME.match(header, pos)
        if scheme_match is None:
            raise ValueError(f"WWW-Authenticate: expected an auth scheme at position {pos}")
        scheme = _KNOWN_SCHEMES.get(scheme_match.group().lower(), scheme_match.group())
        pos = scheme_match.end()
        params: dict[str, str] = {}
        token68: str | None = None
        blank = _SPACES.match(header, pos)
        if blank is not None:
            pos = blank.end()
            t68 = _TOKEN68.match(header, pos)
            # "abc==" reads as a param too (leniently); padding marks it as a token68 instead.
            if t68 is not None and t68.group().endswith("=") and _at_boundary(header, t68.end()):
                token68, pos = t68.group(), t68.end()
            elif _param_at(header, pos) is not None:
                params, pos = _parse_params(header, pos)
            elif t68 is not None and _at_boundary(header, t68.end()):
                token68, pos = t68.group(), t68.end()
        challenges.append(Challenge(scheme, params, token68))
        rest = _LIST_SEPARATOR.match(header, pos)
        if rest is not None:
            pos = rest.end()
        elif _SPACES.fullmatch(header, pos) is not None or pos == len(header):
            break
        else:
            raise ValueError(f"WWW-Authenticate: unexpected text at position {pos}")
    if not challenges:
        raise ValueError("WWW-Authenticate: no challenge")
    return challenges


def parse_challenge(header: str) -> Challenge:
    """The first challenge of a ``WWW-Authenticate`` value (``ValueError`` on garbage or an empty value)."""
    return parse_challenges(header)[0]


def preferred_challenge(challenges: list[Challenge]) -> Challenge | None:
    """Bearer with a realm beats Basic; other schemes are not supported."""
    for challenge in challenges:
        if challenge.scheme == "Bearer" and challenge.realm:
            return challenge
    return next((c for c in challenges if c.scheme == "Basic"), None)


@dataclass(frozen=True)
class TokenAnswer:
    token: str = field(repr=False)
    expires_in: float


def parse_token_answer(body: Any) -> TokenAnswer:
    """Read ``token`` (docker) or ``access_token`` (OAuth) and ``expires_in``; ``ValueError`` if unusable."""
    if not isinstance(body, dict):
        raise ValueError("the token endpoint did not answer with a JSON object")
    token = body.get("token") or body.get("access_token")
    if not isinstance(token, str) or not token:
        raise ValueError("the token endpoint's answer has no token")
    expires_in = body.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or not 0 < expires_in < 1e9:
        return TokenAnswer(token, DEFAULT_TOKEN_SECONDS)
    return TokenAnswer(token, float(expires_in))


def usable_seconds(expires_in: float) -> float:
    """How long to reuse a token: its lifetime minus a margin (a quarter, at most 30 s) for clock skew and
    for the time the request takes."""
    return expires_in - min(MAX_EXPIRY_MARGIN, expires_in / 4)


class TokenCache:
    """Bearer tokens per scope, reused until :func:`usable_seconds` after they were requested."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def now(self) -> float:
        return self._clock()

    def get(self, scope: str) -> str | None:
        with self._lock:
            entry = self._tokens.get(scope)
            if entry is None:
                return None
            if self._clock() >= entry[1]:
                del self._tokens[scope]
                return None
            return entry[0]

    def put(self, scope: str, answer: TokenAnswer, requested_at: float) -> None:
        with self._lock:
            self._tokens[scope] = (answer.token, requested_at + usable_seconds(answer.expires_in))

    def discard(self, scope: str, token: str) -> None:
        """Forget ``token`` (refused by the registry), unless another thread already replaced it."""
        with self._lock:
            entry = self._tokens.get(scope)
            if entry is not None and entry[0] == token:
                del self._tokens[scope]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


class PrivateCAFile:
    """A PEM bundle in a private file (dir 0700, file 0600), removed by :meth:`remove` or at collection."""

    def __init__(self, pem: str) -> None:
        check_ca_pem(pem)
        directory = tempfile.mkdtemp(prefix="horizon-registry-ca-")  # mkdtemp makes it 0700
        self.path = Path(directory) / "ca.pem"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
        self._finalizer = weakref.finalize(self, shutil.rmtree, directory, True)

    def remove(self) -> None:
        self._finalizer()

    @property
    def removed(self) -> bool:
        return not self._finalizer.alive
