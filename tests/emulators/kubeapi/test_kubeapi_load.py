"""Load: 1000 custom objects created over HTTP (16 in flight) are all listed and all seen by a watcher.

The emulator runs in its own process so that its CPU time can be read from /proc. The timings are
printed, not asserted (the benchmark, tests/bench/emulator_baseline.py, records them).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from kubeapi_harness import CRDS, WIDGETS, widget, widget_crd

N_OBJECTS = 1000
IN_FLIGHT = 16


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[tuple[int, str, str]]:
    config = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "horizon_publisher.sandbox.kubeapi", "--kubeconfig", str(config)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        token = yaml.safe_load(config.read_text())["users"][0]["user"]["token"]
        yield process.pid, url, token
    finally:
        process.terminate()
        process.wait(timeout=10)


async def run_load(url: str, token: str) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(url, headers=headers) as session:
        async with session.post(CRDS, data=json.dumps(widget_crd())) as response:
            assert response.status == 201
        seen = 0
        all_seen = asyncio.Event()

        async def watch() -> None:
            nonlocal seen
            async with session.get(WIDGETS, params={"watch": "true"}, timeout=aiohttp.ClientTimeout(None)) as r:
                async for _line in r.content:
                    seen += 1
                    if seen == N_OBJECTS:
                        all_seen.set()
                        return

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.2)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(N_OBJECTS):
            queue.put_nowait(index)

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                body = json.dumps(widget(f"w-{index:04d}", size=index + 1))
                async with session.post(WIDGETS, data=body) as response:
                    assert response.status == 201, await response.text()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        created = time.perf_counter() - started
        await asyncio.wait_for(all_seen.wait(), 30)
        watched = time.perf_counter() - started
        listed_at = time.perf_counter()
        async with session.get(WIDGETS) as response:
            items = (await response.json())["items"]
        listed = time.perf_counter() - listed_at
        assert len(items) == N_OBJECTS
        watcher.cancel()
        return {"create": created, "watch": watched, "list": listed}


def test_thousand_concurrent_creates_are_all_listed_and_watched(emulator_process: tuple[int, str, str]) -> None:
    pid, url, token = emulator_process
    cpu_before = cpu_seconds(pid)
    timings = asyncio.run(run_load(url, token))
    cpu = cpu_seconds(pid) - cpu_before
    print(
        f"\n{N_OBJECTS} creates ({IN_FLIGHT} in flight): {timings['create']:.2f} s; watcher saw all after "
        f"{timings['watch']:.2f} s; list of {N_OBJECTS}: {timings['list'] * 1000:.0f} ms; emulator CPU {cpu:.2f} s"
    )
