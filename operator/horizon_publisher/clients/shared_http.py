"""Connection pools shared by every HTTP client of the process (registry, Exchange, IBM Cloud).

Each client still has its own ``requests.Session`` (cookies, headers and auth never leak from one client
to another); only the transport adapter, which owns urllib3's connection pools, is shared. So a reconcile
reuses the TLS connection the previous one opened to the same registry or Exchange instead of paying a
new TCP connect and handshake.

Safety of the sharing rests on urllib3's pool key: scheme, host, port, the CA path (``ca_certs``),
``cert_reqs``, the client certificate and, for a connect-to mapping, the original host name
(``server_hostname``). A connection made with verification off never serves a verifying request and
vice versa, nor one made with another CA bundle; that is why CA bundles live at stable paths
(:mod:`.ca_files`).

The adapter is a :class:`~.connect_to.ConnectToAdapter` built from ``HORIZON_PUBLISHER_CONNECT_TO``: one
per distinct value of that variable (read at each session's creation; the operator sets it once, tests
change it per test), at most :data:`MAX_ADAPTERS` kept (an evicted one closes its idle connections; a
session still holding it goes on working). ``Session.close()`` closes mounted adapters: the shared one
ignores that (:meth:`SharedConnectToAdapter.close`), :meth:`SharedConnectToAdapter.close_pools` really
closes its connections.

Gaps:
- A pooled connection the server closed while idle is noticed by urllib3 before reuse; one the server
  closes at the very moment it is reused fails that request (any keep-alive client has this race). No
  transparent retry is added (it would hide the faults the reliability tests inject): the Exchange client
  retries idempotent requests itself; a registry call or an Exchange POST fails as unreachable and the
  reconcile is retried.
- Test fault proxies that pick a fault per *accepted connection* do not affect a connection opened before
  the fault was chosen: such tests must drop open connections when they change the fault.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import requests

from horizon_publisher.clients.connect_to import ENV_VAR, ConnectTo, ConnectToAdapter, parse_connect_to_list

POOL_HOSTS = 64  # distinct (scheme, host, port, trust) pools kept
POOL_PER_HOST = 32  # connections kept per pool: 16 reconcile workers plus the resync timers
MAX_ADAPTERS = 4  # distinct HORIZON_PUBLISHER_CONNECT_TO values kept


class SharedConnectToAdapter(ConnectToAdapter):
    """A :class:`ConnectToAdapter` that outlives the sessions it is mounted on."""

    def __init__(self, entries: Iterable[ConnectTo], **kwargs: Any) -> None:
        kwargs.setdefault("pool_connections", POOL_HOSTS)
        kwargs.setdefault("pool_maxsize", POOL_PER_HOST)
        kwargs.setdefault("pool_block", False)  # over the limit: a connection is made and dropped after use
        super().__init__(entries, **kwargs)

    def close(self) -> None:
        """Called by ``Session.close()`` of every session it is mounted on: the pools stay for the others."""

    def close_pools(self) -> None:
        """Really close every pooled connection (the adapter stays usable: pools are made again on demand)."""
        super().close()


_adapters: OrderedDict[str, SharedConnectToAdapter] = OrderedDict()
_lock = threading.Lock()


def shared_adapter(environ: Mapping[str, str] | None = None) -> SharedConnectToAdapter:
    """The process's adapter for the current ``HORIZON_PUBLISHER_CONNECT_TO`` (``ValueError`` if malformed)."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "")
    with _lock:
        adapter = _adapters.get(value)
        if adapter is not None:
            _adapters.move_to_end(value)
            return adapter
    adapter = SharedConnectToAdapter(parse_connect_to_list(value))
    evicted: list[SharedConnectToAdapter] = []
    with _lock:
        adapter = _adapters.setdefault(value, adapter)  # another thread may have been first
        while len(_adapters) > MAX_ADAPTERS:
            evicted.append(_adapters.popitem(last=False)[1])
    for old in evicted:
        old.close_pools()
    return adapter


def mount_shared(session: requests.Session, environ: Mapping[str, str] | None = None) -> requests.Session:
    """Mount the shared adapter for http:// and https:// on ``session`` and return it."""
    adapter = shared_adapter(environ)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def shared_session() -> requests.Session:
    """A new session of its own (cookies, headers) over the process's shared connection pools."""
    return mount_shared(requests.Session())


def close_shared_adapters() -> None:
    """Close and forget every shared adapter (tests: start from cold pools)."""
    with _lock:
        adapters = list(_adapters.values())
        _adapters.clear()
    for adapter in adapters:
        adapter.close_pools()
