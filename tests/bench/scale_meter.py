"""What the scale benchmark measures: process CPU and memory from /proc, and requests counted by the backends.

- :class:`ProcessMeter`: CPU seconds (utime + stime) of each watched process between :meth:`start` and
  :meth:`stop`, and the operator's peak RSS (``VmHWM``, reset at start through ``/proc/PID/clear_refs``
  so each phase reports its own peak).
- :class:`RequestMeter`: requests the operator made, counted by the backends themselves (never by the
  operator): the Kubernetes and Exchange emulators and the registry token endpoint through their
  ``/_sandbox/requests`` counters (filtered to the operator's identity for Kubernetes), the real
  docker-registry from its access log (every request in a window, 401 challenges included).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from horizon_publisher.sandbox import manager, processes

KUBE_WRITES = {"create", "update", "patch", "delete", "deletecollection"}
HTTP_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
ACCESS_LINE = re.compile(rb'"(?P<method>[A-Z]+) (?P<uri>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) ')
EMULATORS = (manager.KUBE, manager.EXCHANGE, manager.REGISTRY, manager.AUTH)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak(pid: int) -> None:
    # Resets VmHWM to the current RSS; if we may not, the peak covers the process's whole life.
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class ProcessMeter:
    """CPU of the measured process and of every emulator over one window; the process's peak RSS."""

    state_dir: Path
    pid: int
    _cpu0: dict[str, float] = field(default_factory=dict)

    def _pids(self) -> dict[str, int]:
        running = processes.load(self.state_dir)
        pids = {label: running[label].pid for label in EMULATORS if label in running}
        return {"measured": self.pid, **pids}

    def start(self) -> None:
        reset_peak(self.pid)
        self._cpu0 = {label: cpu_seconds(pid) for label, pid in self._pids().items()}

    def stop(self) -> dict[str, Any]:
        cpu = {label: round(cpu_seconds(pid) - self._cpu0[label], 2) for label, pid in self._pids().items()}
        measured = cpu.pop("measured")
        return {
            "cpu_s": measured,
            "peak_rss_mib": round(status_mib(self.pid, "VmHWM:"), 1),
            "rss_mib": round(status_mib(self.pid, "VmRSS:"), 1),
            "emulator_cpu_s": cpu,
        }


@dataclass(frozen=True)
class Counts:
    """Requests by backend, split into reads and writes."""

    by_backend: dict[str, dict[str, int]]
    detail: dict[str, dict[str, int]]

    def total(self, backend: str, kind: str) -> int:
        return self.by_backend.get(backend, {}).get(kind, 0)


class RequestMeter:
    def __init__(self, endpoints: dict[str, Any], admin_token: str, registry_log: Path, operator_user: str) -> None:
        self._kube = endpoints["kubernetes"]
        self._exchange_origin = str(endpoints["exchange"]["url"]).split("/v1")[0]
        self._token_origin = "/".join(str(endpoints["registry"]["tokenRealm"]).split("/")[:3])
        self._ca = str(endpoints["kubernetes"]["caFile"])
        self._admin = admin_token
        self._registry_log = registry_log
        self._user = operator_user
        self._exchange_user = f"{endpoints['exchange']['org']}/{endpoints['exchange']['user']}"
        self._log_offset = 0

    def reset(self) -> None:
        for url, headers in self._counters():
            requests.delete(url, headers=headers, verify=self._ca, timeout=10).raise_for_status()
        self._log_offset = self._registry_log.stat().st_size if self._registry_log.exists() else 0

    def _counters(self) -> list[tuple[str, dict[str, str]]]:
        admin = {"Authorization": f"Bearer {self._admin}"}
        return [
            (f"{self._kube['url']}/_sandbox/requests", admin),
            (f"{self._exchange_origin}/_sandbox/requests", {}),
            (f"{self._token_origin}/_sandbox/requests", {}),
        ]

    def read(self) -> Counts:
        (kube_url, admin), (exchange_url, _), (token_url, _) = self._counters()
        by_backend: dict[str, Counter[str]] = {}
        detail: dict[str, Counter[str]] = {}

        def rows(url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
            response = requests.get(url, headers=headers, verify=self._ca, timeout=10)
            response.raise_for_status()
            return list(response.json()["requests"])

        def add(backend: str, write: bool, key: str, count: int) -> None:
            by_backend.setdefault(backend, Counter())["writes" if write else "reads"] += count
            detail.setdefault(backend, Counter())[key] += count

        for row in rows(kube_url, admin):
            if row["user"] == self._user and row["method"] != "watch":
                add("kubernetes", row["method"] in KUBE_WRITES, f"{row['method']} {row['target']}", row["count"])
        for row in rows(exchange_url, {}):
            if row["user"] == self._exchange_user:
                add("exchange", row["method"] in HTTP_WRITES, f"{row['method']} {row['target']}", row["count"])
        for row in rows(token_url, {}):
            if row["user"] != "admin":
                add("registry-token", False, f"{row['method']} {row['target']}", row["count"])
        for method, operation, status in self._registry_requests():
            add("registry", method in HTTP_WRITES, f"{method} {operation} {status}", 1)
        return Counts({k: dict(v) for k, v in by_backend.items()}, {k: dict(v) for k, v in detail.items()})

    def _registry_requests(self) -> list[tuple[str, str, str]]:
        from horizon_publisher.metrics_paths import registry_operation

        if not self._registry_log.exists():
            return []
        with self._registry_log.open("rb") as log:
            log.seek(self._log_offset)
            text = log.read()
        found = []
        for match in ACCESS_LINE.finditer(text):
            method, uri = match["method"].decode(), match["uri"].decode()
            found.append((method, registry_operation(method, uri), match["status"].decode()))
        return found
