"""The fault proxy on its own: pass-through, close, reset, stall, fault budgets, stop().

Upstream is a tiny TCP server: the client sends a decimal byte count and a newline, upstream answers
with that many bytes and closes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from horizon_publisher.sandbox.fault_proxy import Fault, FaultProxy, cut_every, cut_first, pass_through

KIB = 1024


class SizedServer:
    """Answers ``b"<n>\\n"`` with ``n`` bytes, then closes; one thread per connection."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    @staticmethod
    def _answer(connection: socket.socket) -> None:
        with connection:
            request = b""
            while not request.endswith(b"\n"):
                piece = connection.recv(64)
                if not piece:
                    return
                request += piece
            try:
                connection.sendall(bytes(int(request)))
            except OSError:
                return  # the proxy cut us off

    def __enter__(self) -> SizedServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        self._listener.close()
        self._thread.join(5)


@pytest.fixture(scope="module")
def upstream() -> Iterator[SizedServer]:
    with SizedServer() as server:
        yield server


def fetch(proxy: FaultProxy, size: int, *, timeout: float = 5.0) -> tuple[int, str]:
    """(bytes received, how the stream ended: "eof", "reset" or "timeout")."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout) as client:
        client.sendall(b"%d\n" % size)
        received = 0
        try:
            while piece := client.recv(64 * KIB):
                received += len(piece)
        except ConnectionResetError:
            return received, "reset"
        except TimeoutError:
            return received, "timeout"
        return received, "eof"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (None, (300 * KIB, "eof")),
        (Fault(100 * KIB), (100 * KIB, "eof")),
        (Fault(100 * KIB, action="reset"), (100 * KIB, "reset")),
        (Fault(100 * KIB, action="stall"), (100 * KIB, "timeout")),
        (Fault(400 * KIB), (300 * KIB, "eof")),  # never reached
        (Fault(0, direction="up"), (0, "eof")),  # the request itself is cut
    ],
)
def test_one_connection(upstream: SizedServer, fault: Fault | None, expected: tuple[int, str]) -> None:
    with FaultProxy(("127.0.0.1", upstream.port), lambda _: fault) as proxy:
        assert fetch(proxy, 300 * KIB, timeout=0.5) == expected
    assert proxy.faults == (expected[0] < 300 * KIB)


def test_cut_first_counts_only_connections_that_reach_the_threshold(upstream: SizedServer) -> None:
    with FaultProxy(("127.0.0.1", upstream.port), cut_first(2, 50 * KIB)) as proxy:
        results = [fetch(proxy, size)[0] for size in (10 * KIB, 80 * KIB, 80 * KIB, 80 * KIB)]
        proxy.rule = cut_every(KIB)
        again = fetch(proxy, 80 * KIB)[0]
        proxy.rule = pass_through()
        cleared = fetch(proxy, 80 * KIB)[0]
    assert results == [10 * KIB, 50 * KIB, 50 * KIB, 80 * KIB]
    assert (again, cleared) == (KIB, 80 * KIB)
    assert (proxy.connections, proxy.faults) == (6, 3)
    assert proxy.bytes_down == sum(results) + again + cleared


def test_stop_ends_open_connections(upstream: SizedServer) -> None:
    proxy = FaultProxy(("127.0.0.1", upstream.port), lambda _: Fault(KIB, action="stall")).start()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5.0) as client:
        client.sendall(b"%d\n" % (10 * KIB))
        received = len(client.recv(64 * KIB))
        started = time.monotonic()
        proxy.stop()
        while piece := client.recv(64 * KIB):  # EOF right away, not after the 5 s timeout
            received += len(piece)
        assert time.monotonic() - started < 2.0
    assert received == KIB
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1.0)
