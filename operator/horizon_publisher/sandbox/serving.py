"""Run one sandbox service in the foreground until SIGTERM, announcing its port in a ready file."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from horizon_publisher.sandbox.layout import write_json


async def serve_until_signalled(
    runner: web.AppRunner, port: int, ready_file: Path, *, on_stop: Callable[[], Awaitable[None]] | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    write_json(ready_file, {"port": port, "pid": os.getpid()})
    logging.getLogger(__name__).info("listening on 127.0.0.1:%d", port)
    try:
        await stop.wait()
    finally:
        ready_file.unlink(missing_ok=True)
        if on_stop is not None:
            await on_stop()
        await runner.cleanup()
