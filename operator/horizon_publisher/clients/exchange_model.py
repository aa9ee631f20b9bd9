"""Pure parts of the Exchange client: the endpoint, errors, service ids, and "does the stored object already
say what we would send" comparisons (no I/O here).

Comparison rule (``covers``): only the fields we send count; a field sent as ``None`` means "not sent"
(Jackson treats null and absent alike) unless ``expected_*`` below fills in the default the Exchange stores
for it, so that dropping a field we sent before still shows up as a difference. Extra fields the Exchange
adds (``owner``, ``lastUpdated``, ``versionRange`` filled from ``version``...) are ignored, except inside
free-form values (``*_EXACT``: ``matchHardware``, ``userInput``, ``nodeHealth``...), compared whole.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

EnsureResult = Literal["created", "updated", "unchanged"]
JSON = dict[str, Any]

_SCHEME = re.compile(r"^[A-Za-z0-9+.-]*?://")
_TROUBLESOME = re.compile(r"[$!*,;/?@&~=%]")
# Free-form values the Exchange stores as given: compared whole, so a key we stop sending is a difference.
SERVICE_EXACT = frozenset({"matchHardware", "imageStore", "userInput"})
PATTERN_EXACT = frozenset({"nodeHealth", "dataVerification", "priority", "upgradePolicy", "value"})
POLICY_EXACT = frozenset({"nodeHealth", "priority", "upgradePolicy", "value"})
DEFAULT_NODE_HEALTH: JSON = {"missing_heartbeat_interval": 1800, "check_agreement_status": 1800}
_DOCKAUTH_ADDED = re.compile(r"^dockauth ([0-9][0-9,]*) added$")


@dataclass(frozen=True)
class ExchangeEndpoint:
    """Where and as whom to talk to the Exchange.

    ``url``: the base including ``/v1`` (or a proxy prefix such as ``/edge-exchange/v1``), as hzn's
    ``HZN_EXCHANGE_URL``. ``username``: a user name (sent as ``org/user``), ``org/user`` as is, or
    ``apikey`` / ``iamapikey`` with the key as ``password``. ``ca_pem``: the CA bundle to trust instead of
    the system store.
    """

    url: str
    org: str
    username: str
    password: str = field(repr=False)
    ca_pem: str | None = field(default=None, repr=False)
    insecure_skip_verify: bool = False

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @property
    def identity(self) -> str:
        """The Basic user part: ``org/`` is prefixed unless the name already names an org."""
        return self.username if "/" in self.username else f"{self.org}/{self.username}"

    def authorization(self) -> str:
        pair = f"{self.identity}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


class ExchangeError(Exception):
    """An Exchange call failed. ``reason`` is a condition reason; ``message`` never holds a credential."""

    reason = "ExchangeProtocolError"
    retryable = False  # worth another try (a lost connection, 5xx, 429)

    def __init__(self, message: str, status: int | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After), capped


class ExchangeUnauthorized(ExchangeError):
    reason = "ExchangeUnauthorized"


class ExchangeForbidden(ExchangeError):
    reason = "ExchangeForbidden"


class ExchangeRejected(ExchangeError):
    reason = "ExchangeRejected"


class ExchangeNotFound(ExchangeError):
    reason = "ExchangeNotFound"


class ExchangeConflict(ExchangeError):
    reason = "ExchangeConflict"


class ExchangeUnreachable(ExchangeError):
    reason = "ExchangeUnreachable"
    retryable = True


class ExchangeServerError(ExchangeError):
    reason = "ExchangeServerError"
    retryable = True


class ExchangeTLSError(ExchangeError):
    """Certificate verification or handshake failed: retrying cannot help."""

    reason = "ExchangeTLSError"


def url_part_of_id(url: str) -> str:
    """The url as it appears in an Exchange id: scheme stripped, each of ``$!*,;/?@&~=%`` made ``-``."""
    return _TROUBLESOME.sub("-", _SCHEME.sub("", url, count=1))


def service_id(url: str, version: str, arch: str) -> str:
    """``ServicesTQ.formId`` / anax ``FormExchangeIdForService`` without the org: ``<url'>_<version>_<arch>``."""
    return f"{url_part_of_id(url)}_{version}_{arch}"


def form_exchange_id(name: str) -> str:
    """anax ``cutil.FormExchangeId`` (what hzn does to a pattern name): the same replacement, no scheme strip."""
    return _TROUBLESOME.sub("-", name)


def dockauth_id_from_message(msg: str) -> int | None:
    """The id in ``dockauth 1,234 added``; ``None`` for ``dockauth resource updated`` (a duplicate, or id 1)."""
    match = _DOCKAUTH_ADDED.match(msg.strip())
    return int(match.group(1).replace(",", "")) if match else None


def covers(stored: Any, sent: Any, exact: frozenset[str] = frozenset()) -> bool:
    """True when ``stored`` (as GET returns it) already holds every value of ``sent``. Under a key named in
    ``exact`` (free-form maps the server stores as given) the whole value must be equal, extra keys too."""
    if isinstance(sent, Mapping):
        return isinstance(stored, Mapping) and all(
            value is None or (same(stored.get(key), value) if key in exact else covers(stored.get(key), value, exact))
            for key, value in sent.items()
        )
    if isinstance(sent, list | tuple):
        return (
            isinstance(stored, list)
            and len(stored) == len(sent)
            and all(covers(have, want, exact) for have, want in zip(stored, sent, strict=True))
        )
    return _same_scalar(stored, sent)


def same(stored: Any, sent: Any) -> bool:
    """Structural equality; ``None`` equals an empty map or list; scalars may be stored as strings."""
    if sent is None or stored is None:
        return (sent or None) is None and (stored or None) is None
    if isinstance(sent, Mapping):
        return (
            isinstance(stored, Mapping)
            and stored.keys() == sent.keys()
            and all(same(stored[key], value) for key, value in sent.items())
        )
    if isinstance(sent, list | tuple):
        return (
            isinstance(stored, list)
            and len(stored) == len(sent)
            and all(same(have, want) for have, want in zip(stored, sent, strict=True))
        )
    return _same_scalar(stored, sent)


def _same_scalar(stored: Any, sent: Any) -> bool:
    if isinstance(stored, str) and not isinstance(sent, str):
        return stored == _scalar_text(sent)  # the Exchange coerces scalars into string-typed fields
    if isinstance(sent, bool) or isinstance(stored, bool):
        return type(sent) is type(stored) and sent == stored
    if isinstance(stored, Mapping | list) or isinstance(sent, Mapping | list):
        return False
    return bool(stored == sent)


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _with_defaults(body: Mapping[str, Any], defaults: Mapping[str, Any]) -> JSON:
    expected = dict(body)
    for key, default in defaults.items():
        if expected.get(key) is None:
            expected[key] = default
    if expected.get("description") is None and "label" in expected:
        expected["description"] = expected["label"]
    return expected


def expected_service(body: Mapping[str, Any]) -> JSON:
    """What GET returns for a service PUT/POSTed with ``body`` (``toServiceRow`` defaults)."""
    strings = ("documentation", "deployment", "deploymentSignature", "clusterDeployment", "clusterDeploymentSignature")
    defaults: JSON = dict.fromkeys(strings, "")
    defaults.update(public=False, matchHardware={}, requiredServices=[], userInput=[], imageStore={})
    return _with_defaults(body, defaults)


def expected_pattern(body: Mapping[str, Any]) -> JSON:
    expected = _with_defaults(
        body,
        {
            "public": False,
            "userInput": [],
            "secretBinding": [],
            "agreementProtocols": [{"name": "Basic"}],
            "clusterNamespace": "",
        },
    )
    expected["services"] = [_with_node_health(svc) for svc in expected.get("services") or []]
    return expected


def expected_business_policy(body: Mapping[str, Any]) -> JSON:
    expected = _with_defaults(body, {"userInput": [], "secretBinding": [], "properties": [], "constraints": []})
    if isinstance(expected.get("service"), Mapping):
        expected["service"] = _with_node_health(expected["service"])
    return expected


def expected_service_policy(body: Mapping[str, Any]) -> JSON:
    return _with_defaults(body, {"label": "", "properties": [], "constraints": []})


def _with_node_health(service: Any) -> Any:
    if not isinstance(service, Mapping) or service.get("nodeHealth") is not None:
        return service
    return {**service, "nodeHealth": dict(DEFAULT_NODE_HEALTH)}


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Mask every secret we hold, should a server or library echo one back."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
