"""Run the API server on 127.0.0.1 in a background thread (for tests and the sandbox CLI).

    with EmulatorThread() as api:             # plain HTTP on a free port
        api.write_kubeconfig(tmp_path / "kubeconfig")
        api.call(api.cluster.ensure_namespace, "demo")   # runs on the server's loop

``tls=(cert_file, key_file)`` serves HTTPS instead; ``ca_file`` goes into the kubeconfig.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml
from aiohttp import web

from .cluster import InMemoryCluster
from .server import DEFAULT_BOOKMARK_INTERVAL, create_app

T = TypeVar("T")


class EmulatorThread:
    def __init__(
        self,
        cluster: InMemoryCluster | None = None,
        *,
        admin_token: str | None = None,
        tls: tuple[Path, Path] | None = None,
        ca_file: Path | None = None,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        namespaces: tuple[str, ...] = ("default", "kube-system", "kube-public"),
    ) -> None:
        self.cluster = cluster or InMemoryCluster()
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self._tls, self.ca_file = tls, ca_file
        self._bookmark_interval = bookmark_interval
        self._namespaces = namespaces
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kubeapi", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def start(self) -> EmulatorThread:
        self._thread.start()
        self.port = self.submit(self._start())
        return self

    async def _start(self) -> int:
        for namespace in self._namespaces:
            self.cluster.ensure_namespace(namespace)
        app = create_app(self.cluster, admin_token=self.admin_token, bookmark_interval=self._bookmark_interval)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        context = None
        if self._tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self._tls[0]), str(self._tls[1]))
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        assert isinstance(server, asyncio.base_events.Server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    def submit(self, coroutine: Any) -> Any:
        """Run ``coroutine`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function(*args, **kwargs)`` on the server's loop (the cluster is not thread-safe)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(function(*args, **kwargs))
            except BaseException as error:  # handed to the calling thread
                future.set_exception(error)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=60)

    def stop(self) -> None:
        if self._runner is not None:
            self.submit(self._runner.cleanup())
            self._runner = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def kubeconfig(self, *, namespace: str = "default", token: str | None = None) -> dict[str, Any]:
        cluster: dict[str, Any] = {"server": self.url}
        if self._tls is not None and self.ca_file is not None:
            cluster["certificate-authority"] = str(self.ca_file)
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": cluster}],
            "users": [{"name": "admin", "user": {"token": token or self.admin_token}}],
            "contexts": [
                {"name": "sandbox", "context": {"cluster": "sandbox", "user": "admin", "namespace": namespace}}
            ],
            "current-context": "sandbox",
        }

    def write_kubeconfig(self, path: Path, *, namespace: str = "default", token: str | None = None) -> Path:
        path.write_text(yaml.safe_dump(self.kubeconfig(namespace=namespace, token=token)))
        path.chmod(0o600)
        return path
