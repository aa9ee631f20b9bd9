"""Serve an aiohttp app over TLS on 127.0.0.1: on the running loop, or in a background thread."""

from __future__ import annotations

import asyncio
import ssl
import threading
from pathlib import Path

from aiohttp import web


def server_ssl_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A TLS 1.2+ server context (e.g. with the router certificate, as OpenShift's route serves)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


async def start_app(
    app: web.Application, *, ssl_context: ssl.SSLContext | None, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on the running loop; returns the runner (``runner.cleanup()`` stops it) and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    server = site._server  # aiohttp exposes the bound port nowhere else
    assert isinstance(server, asyncio.base_events.Server)
    bound: int = server.sockets[0].getsockname()[1]
    return runner, bound


class BackgroundServer:
    """Runs an aiohttp app on its own event loop in a daemon thread, for synchronous callers and tests."""

    def __init__(
        self,
        app: web.Application,
        *,
        ssl_context: ssl.SSLContext | None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._app = app
        self._ssl_context = ssl_context
        self._host = host
        self._requested_port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="aiohttp-background", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{self._host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            start_app(self._app, ssl_context=self._ssl_context, host=self._host, port=self._requested_port),
            self._loop,
        )
        try:
            self._runner, self.port = future.result(timeout)
        except BaseException:
            self.stop()  # e.g. the port is taken: do not leave the loop thread behind
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout)
            self._runner = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
