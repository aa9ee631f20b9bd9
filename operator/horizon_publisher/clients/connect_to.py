"""curl-style ``--connect-to`` for ``requests``: reach a host name at another address, TLS unchanged.

An entry ``HOST:PORT:ADDR:ADDR_PORT`` means: a request for ``https://HOST:PORT/...`` opens its TCP
connection to ``ADDR:ADDR_PORT``, while the ``Host`` header, TLS SNI and certificate hostname verification
all keep using ``HOST``. This lets the operator talk to an OpenShift route host (``default-route-openshift-
image-registry.apps.<domain>``, port 443 in image references) that DNS does not resolve, e.g. in the
sandbox where the registry listens on ``127.0.0.1:<ephemeral port>``, without touching ``/etc/hosts``.

Entries come from the comma-separated environment variable ``HORIZON_PUBLISHER_CONNECT_TO`` or a list.
Hosts match case-insensitively; IPv6 addresses are written in brackets (``[::1]``). Unlike curl, every field
is required (no wildcard host or port). Requests to unmapped hosts go through the stock adapter logic, and
a mapped request never goes through a proxy (a mapping already says where to connect).

Verification is never relaxed here: ``verify=True`` or a CA path applies to the mapped connection as to
any other, checked against HOST. Only an explicit ``verify=False`` from the caller disables it.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

if TYPE_CHECKING:
    from requests.adapters import _HostParams, _PoolKwargs

ENV_VAR = "HORIZON_PUBLISHER_CONNECT_TO"
DEFAULT_PORTS = {"http": 80, "https": 443}

_ENTRY = re.compile(
    r"(?P<host>\[[^\]]*\]|[^:\[\]]*):(?P<port>[^:]*):(?P<addr>\[[^\]]*\]|[^:\[\]]*):(?P<addr_port>[^:]*)"
)
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


@dataclass(frozen=True)
class ConnectTo:
    """One mapping; ``host`` and ``addr`` are stored lower-case and without IPv6 brackets."""

    host: str
    port: int
    addr: str
    addr_port: int

    def __str__(self) -> str:
        return f"{_bracket(self.host)}:{self.port}:{_bracket(self.addr)}:{self.addr_port}"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _host(text: str, what: str, entry: str) -> str:
    if text.startswith("["):
        try:
            return str(ipaddress.IPv6Address(text[1:-1]))
        except ValueError:
            raise ValueError(f"connect-to entry {entry!r}: {what} {text!r} is not an IPv6 address") from None
    name = text.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"connect-to entry {entry!r}: {what} {text!r} is not a host name or address")
    return name


def _port(text: str, what: str, entry: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise ValueError(f"connect-to entry {entry!r}: {what} {text!r} is not a port number (1-65535)")
    return int(text)


def parse_connect_to(entry: str) -> ConnectTo:
    """Parse one ``HOST:PORT:ADDR:ADDR_PORT`` entry; ValueError says what is wrong."""
    match = _ENTRY.fullmatch(entry)
    if match is None:
        raise ValueError(f"connect-to entry {entry!r}: expected HOST:PORT:ADDR:ADDR_PORT (IPv6 in brackets)")
    return ConnectTo(
        host=_host(match["host"], "host", entry),
        port=_port(match["port"], "port", entry),
        addr=_host(match["addr"], "address", entry),
        addr_port=_port(match["addr_port"], "address port", entry),
    )


def parse_connect_to_list(value: str | Iterable[str]) -> tuple[ConnectTo, ...]:
    """Parse a comma-separated string or a list of entries; one (host, port) may map to one target only."""
    items = value.split(",") if isinstance(value, str) else list(value)
    entries: dict[tuple[str, int], ConnectTo] = {}
    for item in items:
        text = item.strip()
        if not text:
            continue
        entry = parse_connect_to(text)
        known = entries.get((entry.host, entry.port))
        if known is not None and known != entry:
            raise ValueError(f"connect-to: {entry.host}:{entry.port} is mapped twice ({known} and {entry})")
        entries[(entry.host, entry.port)] = entry
    return tuple(entries.values())


def connect_to_from_env(environ: Mapping[str, str] | None = None) -> tuple[ConnectTo, ...]:
    """The entries in ``HORIZON_PUBLISHER_CONNECT_TO`` (none when unset)."""
    env = os.environ if environ is None else environ
    return parse_connect_to_list(env.get(ENV_VAR, ""))


class ConnectToAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that dials mapped (host, port) pairs at their target address."""

    def __init__(self, entries: Iterable[ConnectTo], **kwargs: Any) -> None:
        self._targets = {(e.host, e.port): (e.addr, e.addr_port) for e in entries}
        super().__init__(**kwargs)

    def target_for(self, url: str) -> tuple[str, int] | None:
        """The (address, port) a request for ``url`` connects to, or None when it is not mapped."""
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
        if parts.hostname is None or port is None:
            return None
        return self._targets.get((parts.hostname.rstrip(".").lower(), port))

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: str | tuple[str, str] | None = None
    ) -> tuple[_HostParams, _PoolKwargs]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        target = self.target_for(request.url or "")
        if target is not None:
            original = host_params["host"]
            host_params["host"], host_params["port"] = target
            if host_params["scheme"] == "https":
                # SNI and the ssl module's own hostname check use server_hostname; it is part of
                # urllib3's pool key, so two names mapped to one address never share a connection.
                cast("dict[str, Any]", pool_kwargs)["server_hostname"] = original
        return host_params, pool_kwargs

    def send(  # noqa: PLR0917  (HTTPAdapter.send's signature)
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if self.target_for(request.url or "") is not None:
            proxies = {}
            if "Host" not in request.headers:
                # http.client would otherwise send the dialled address as Host.
                request.headers["Host"] = urlsplit(request.url or "").netloc.rpartition("@")[2]
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def mount_connect_to(session: requests.Session, entries: Iterable[ConnectTo]) -> requests.Session:
    """Mount a :class:`ConnectToAdapter` for http:// and https:// on ``session`` and return it."""
    adapter = ConnectToAdapter(entries)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def session_with_connect_to(entries: Iterable[ConnectTo] | None = None) -> requests.Session:
    """A new session honouring ``entries`` (default: ``HORIZON_PUBLISHER_CONNECT_TO``)."""
    return mount_connect_to(requests.Session(), connect_to_from_env() if entries is None else entries)
