"""Does copy_image keep memory flat whatever the layer size? (a measurement, not a pass/fail test)

Starts two real registries (anonymous source, htpasswd target, TLS), pushes one image per size with a
layer of N random MiB, then copies each in a fresh subprocess, twice: once plain (peak RSS from
``resource.getrusage`` before and after the copy, and throughput) and once under tracemalloc (peak of
Python allocations during the copy). A control row copies the first size with a 32 MiB chunk, to show
that the meter sees a bigger buffer. Prints a Markdown table for docs/benchmarks.md ("Image copy memory").

    .venv/bin/python tests/bench/copy_memory.py [MiB ...]      (default: 50 200)
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from horizon_publisher.clients.registry import RegistryClient, RegistryEndpoint
from horizon_publisher.clients.registry_copy import copy_image
from horizon_publisher.sandbox.images import push_image_with_random_layer
from horizon_publisher.sandbox.pki import ensure_pki
from horizon_publisher.sandbox.registry import start_registry, stop_process

MIB = 1024 * 1024
CHUNK = 4 * MIB  # copy_image's default
CONTROL_CHUNK = 32 * MIB
USER, PASSWORD = "bench", "bench-password"


class RssSampler(threading.Thread):
    """Reads the resident set every 5 ms: the kernel's peak (ru_maxrss) is only updated now and then."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self._stop_event = threading.Event()

    @staticmethod
    def current() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def run(self) -> None:
        while not self._stop_event.wait(0.005):
            self.peak = max(self.peak, self.current())

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return max(self.peak, self.current())


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in the fresh interpreter: one copy, measured."""
    ca = Path(spec["ca"]).read_text()
    source = RegistryClient(RegistryEndpoint(spec["source"], ca_pem=ca))
    target = RegistryClient(RegistryEndpoint(spec["target"], ca_pem=ca, username=USER, password=PASSWORD))
    peak_so_far = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; includes imports
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand free heap back, so reused slack does not hide growth
    Path("/proc/self/clear_refs").write_text("5")  # Linux: reset the peak RSS to the current RSS
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if spec["tracemalloc"]:
        tracemalloc.start()
    sampler = RssSampler()
    sampled_before = sampler.current()
    sampler.start()
    started = time.perf_counter()
    result = copy_image(source, spec["repository"], "1.0", target, spec["destination"], "1.0", chunk_size=spec["chunk"])
    seconds = time.perf_counter() - started
    sampled_peak = sampler.stop()
    peak = tracemalloc.get_traced_memory()[1] if spec["tracemalloc"] else 0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "bytes": result.bytes_copied,
        "blobs": result.blobs_copied,
        "seconds": seconds,
        "peak_before_reset_mib": peak_so_far / 1024,
        "rss_before_mib": rss_before / 1024,
        "rss_after_mib": rss_after / 1024,
        "sampled_growth_mib": (sampled_peak - sampled_before) / MIB,
        "tracemalloc_peak_mib": peak / MIB,
    }


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, check=True, timeout=600
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory(prefix="copy-bench-") as directory:
        root = Path(directory)
        pki = ensure_pki(root / "pki")
        source = start_registry(root / "source", pki, auth="none")
        target = start_registry(root / "target", pki, auth="htpasswd", htpasswd_users={USER: PASSWORD})
        rows = []
        try:
            for size in sizes:
                repository = f"bench/layer-{size}"
                push_image_with_random_layer(
                    source.url, repository, "1.0", layer_size=size * MIB, verify=str(pki.ca_cert)
                )
                runs = [(False, CHUNK), (True, CHUNK)] + ([(False, CONTROL_CHUNK)] if size == sizes[0] else [])
                for traced, chunk in runs:
                    spec = {
                        "ca": str(pki.ca_cert),
                        "source": f"127.0.0.1:{source.port}",
                        "target": f"127.0.0.1:{target.port}",
                        "repository": repository,
                        "destination": f"bench/copy-{size}-{chunk}-{'traced' if traced else 'plain'}",
                        "tracemalloc": traced,
                        "chunk": chunk,
                    }
                    rows.append({"size": size, "traced": traced, "chunk": chunk, **run_child(spec)})
                    print(json.dumps(rows[-1]), file=sys.stderr)
        finally:
            stop_process(source.pid)
            stop_process(target.pid)
    print_table(rows)


def print_table(rows: list[dict[str, Any]]) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"Machine: {machine}; before the copy: gc, malloc_trim(0), peak RSS reset (clear_refs 5)")
    print()
    columns = ["layer", "chunk", "RSS before", "peak RSS after", "growth", "sampled growth", "tracemalloc peak"]
    print("| " + " | ".join(f"{name} (MiB)" for name in columns) + " | MiB/s |")
    print("|" + " --- |" * (len(columns) + 1))
    traced = {(row["size"], row["chunk"]): row for row in rows if row["traced"]}
    for row in (r for r in rows if not r["traced"]):
        peak = traced.get((row["size"], row["chunk"]))
        traced_peak = f"{peak['tracemalloc_peak_mib']:.2f}" if peak else "-"
        print(
            f"| {row['size']} | {row['chunk'] // MIB} | {row['rss_before_mib']:.1f} | {row['rss_after_mib']:.1f} | "
            f"{row['rss_after_mib'] - row['rss_before_mib']:.1f} | {row['sampled_growth_mib']:.1f} | {traced_peak} | "
            f"{row['bytes'] / MIB / row['seconds']:.0f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
    else:
        main([int(arg) for arg in sys.argv[1:]] or [50, 200])
