"""A TCP proxy on 127.0.0.1 that breaks chosen connections: fault injection for tests.

Bytes pass through untouched (TLS included: the proxy never sees plaintext), so a client talks to the
upstream server through ``proxy.port`` exactly as it would directly. For each accepted connection the
``rule`` (a callable, replaceable while running) gets the connection's number (0, 1, ...) and returns a
:class:`Fault` or None (pass through). A fault fires once more than ``after_bytes`` bytes went one way
(``"down"`` = upstream -> client, ``"up"`` = client -> upstream):

- ``"close"``: forward exactly ``after_bytes`` bytes, then close both sides (the client sees EOF: a body
  shorter than its ``Content-Length``, or a TLS record cut short);
- ``"reset"``: the same, then close the client side with an RST (``ECONNRESET``);
- ``"stall"``: stop forwarding that way and keep the connection open (the client's read times out).

Faults that share a :class:`FaultBudget` fire at most that many times in all: :func:`cut_first` breaks
the first K connections that actually carry that many bytes, whichever they are (a client may open and
drop short connections first, e.g. for a 401).

    with FaultProxy(("127.0.0.1", registry_port), cut_first(1, 8 * MiB)) as proxy:
        ...  # https://127.0.0.1:{proxy.port}; proxy.rule = pass_through() to clear the fault

Counters: ``connections``, ``faults``, ``bytes_down``, ``bytes_up``.

Gaps: IPv4 loopback only; no latency or bandwidth shaping; no refusal of the TCP connect itself (a
fault with ``after_bytes=0`` closes it at the first byte); an "up" fault counts request bytes, which
include TLS handshakes and headers.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Self

Direction = Literal["down", "up"]  # down = upstream -> client
Action = Literal["close", "reset", "stall"]
_BUFFER = 64 * 1024


class FaultBudget:
    """How many times the faults sharing it may still fire (thread-safe)."""

    def __init__(self, times: int) -> None:
        self._left = times
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


@dataclass(frozen=True)
class Fault:
    """What to do to one connection once ``after_bytes`` went in ``direction``; with a ``budget``, only
    while it lasts (otherwise the connection passes on untouched)."""

    after_bytes: int
    direction: Direction = "down"
    action: Action = "close"
    budget: FaultBudget | None = None


Rule = Callable[[int], Fault | None]


def pass_through() -> Rule:
    return lambda _number: None


def cut_first(times: int, after_bytes: int, *, action: Action = "close", direction: Direction = "down") -> Rule:
    """Break the first ``times`` connections that carry more than ``after_bytes`` bytes in ``direction``
    (short connections, e.g. a request answered 401 and closed, do not count); pass everything after."""
    budget = FaultBudget(times)
    return lambda _number: Fault(after_bytes, direction, action, budget)


def cut_every(after_bytes: int, *, action: Action = "close", direction: Direction = "down") -> Rule:
    """Break every connection after ``after_bytes`` bytes in ``direction``."""
    return lambda _number: Fault(after_bytes, direction, action)


class FaultProxy:
    """Thread-based proxy from ``127.0.0.1:<port>`` to ``upstream``; ``start``/``stop`` or ``with``."""

    def __init__(self, upstream: tuple[str, int], rule: Rule | None = None, *, connect_timeout: float = 5.0) -> None:
        self.upstream = upstream
        self._rule: Rule = rule or pass_through()
        self._connect_timeout = connect_timeout
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.connections = 0  # accepted so far
        self.faults = 0  # fired so far
        self.bytes_down = 0  # upstream -> clients, all connections
        self.bytes_up = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def rule(self) -> Rule:
        return self._rule

    @rule.setter
    def rule(self, rule: Rule) -> None:
        """A rule is chosen when a connection is accepted: a new one closes the open connections, so a client's
        pooled keep-alive connection cannot carry on under the old rule."""
        self._rule = rule
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            self.close(sock)

    def start(self) -> Self:
        self._listener.listen(64)
        self._listener.settimeout(0.1)  # so the accept loop notices stop()
        self._spawn(self._accept_loop, "fault-proxy-accept")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection, join the threads."""
        self._stopping.set()
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for sock in sockets:
            self.close(sock)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
        self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                number = self.connections
                self.connections += 1
            client.settimeout(None)
            self._track(client)
            self._spawn(functools.partial(self._serve, client, number), f"fault-proxy-{number}")

    def _serve(self, client: socket.socket, number: int) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=self._connect_timeout)
        except OSError:
            self.close(client)
            return
        upstream.settimeout(None)
        self._track(upstream)
        fault = self._rule(number)
        link = _Link(self, client, upstream, fault)
        self._spawn(link.pump_up, f"fault-proxy-{number}-up")
        link.pump_down()

    def close(self, sock: socket.socket, *, reset: bool = False) -> None:
        """Close one proxied socket (``reset``: with an RST rather than a FIN) and forget it."""
        with self._lock:
            self._sockets.discard(sock)
        # A thread blocked in recv() on this socket keeps it alive past close(): shutdown wakes it up.
        # SHUT_RD sends nothing, so with SO_LINGER 0 the peer's first news is the RST of close().
        if reset:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD if reset else socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()

    def _count(self, direction: Direction, count: int) -> None:
        with self._lock:
            if direction == "down":
                self.bytes_down += count
            else:
                self.bytes_up += count

    def _fired(self) -> None:
        with self._lock:
            self.faults += 1


class _Link:
    """One proxied connection: two pumps, one optional fault."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket, fault: Fault | None) -> None:
        self._proxy, self._client, self._upstream, self._fault = proxy, client, upstream, fault
        self._lock = threading.Lock()
        self._running = 2

    def pump_down(self) -> None:
        self._pump(self._upstream, self._client, "down")
        self._done()

    def pump_up(self) -> None:
        self._pump(self._client, self._upstream, "up")
        self._done()

    def _done(self) -> None:
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:  # both directions ended: nothing will use the sockets again
            self._proxy.close(self._client)
            self._proxy.close(self._upstream)

    def _pump(self, source: socket.socket, sink: socket.socket, direction: Direction) -> None:
        fault = self._fault if self._fault is not None and self._fault.direction == direction else None
        remaining = fault.after_bytes if fault is not None else None
        try:
            while True:
                data = source.recv(_BUFFER)
                if not data:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)  # pass the half-close on
                    return
                if fault is not None and remaining is not None and len(data) > remaining:
                    if fault.budget is None or fault.budget.take():
                        sink.sendall(data[:remaining])
                        self._proxy._count(direction, remaining)
                        self._fire(fault)
                        return
                    remaining = None  # spent elsewhere: this connection passes untouched
                sink.sendall(data)
                self._proxy._count(direction, len(data))
                if remaining is not None:
                    remaining -= len(data)
        except OSError:
            self._proxy.close(source)
            self._proxy.close(sink)

    def _fire(self, fault: Fault) -> None:
        self._proxy._fired()
        if fault.action == "stall":
            return  # this direction stops; the sockets stay open until the peer or stop() closes them
        self._proxy.close(self._client, reset=fault.action == "reset")
        self._proxy.close(self._upstream)
