"""Kubernetes-side reliability helpers: the emulator's fault endpoint, the operator as a killable process,
and the invariants every scenario ends with.

- :class:`Faults`: ``/_sandbox/faults`` of the sandbox API (admin token): arm, clear, hits.
- :class:`OperatorProcess`: ``horizon-publisher run`` started, SIGKILLed and started again with the same
  argv and environment, tracked by PID in the sandbox's pids.json.
- :func:`check_invariants`: every resource Ready, no duplicate objects, the Exchange holding exactly the
  desired services, keys and dockauths, ``horizon-publisher verify`` passing.
- :func:`write_section`: a ``## `` section of docs/reliability.md replaced atomically (only with
  HORIZON_PUBLISHER_WRITE_RELIABILITY=1).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from horizon_publisher.sandbox import processes
from horizon_publisher.sandbox.demo import operator_connect_to
from horizon_publisher.sandbox.registry import free_port
from tests.e2e.conftest import RunningOperator, Sandbox
from tests.e2e.service_image_support import RESYNC_SECONDS

OPERATOR = "operator-under-test"
# Watch streams that send nothing (not even bookmarks) for this long are abandoned (runner.py).
WATCH_INACTIVITY_SECONDS = 6
ROOT = Path(__file__).resolve().parents[2]
RELIABILITY_DOC = ROOT / "docs" / "reliability.md"


class Faults:
    """The emulator's fault rules (see horizon_publisher/sandbox/kubeapi/faults.py)."""

    def __init__(self, url: str, token: str, ca_file: str | None = None) -> None:
        self._url = url.rstrip("/") + "/_sandbox/faults"
        self._verify: str | bool = ca_file or True
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"
        self._lock = threading.Lock()

    @classmethod
    def of(cls, sandbox: Sandbox) -> Faults:
        kubernetes = sandbox.endpoints["kubernetes"]
        token = Path(kubernetes["adminTokenFile"]).read_text().strip()
        return cls(kubernetes["url"], token, kubernetes["caFile"])

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, suffix: str = "", body: Any = None) -> Any:
        with self._lock:  # scenarios share this client from several threads
            response = self._session.request(
                method, self._url + suffix, json=body, verify=self._verify, timeout=10
            )  # verify per request: REQUESTS_CA_BUNDLE would override Session.verify
        if not response.ok:
            raise AssertionError(f"{method} /_sandbox/faults{suffix}: HTTP {response.status_code} {response.text}")
        return response.json()

    def arm(self, *rules: Mapping[str, Any]) -> list[int]:
        ids: list[int] = self._call("POST", body={"rules": [dict(r) for r in rules]})["ids"]
        return ids

    def clear(self, *ids: int) -> None:
        for rule_id in ids:
            self._call("DELETE", f"/{rule_id}")

    def clear_all(self) -> None:
        self._call("DELETE")

    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = self._call("GET")
        return report

    def hits(self, *ids: int) -> int:
        wanted = set(ids)
        return sum(int(rule["hits"]) for rule in self.report()["rules"] if rule["id"] in wanted)

    @contextlib.contextmanager
    def armed(self, *rules: Mapping[str, Any]) -> Iterator[list[int]]:
        ids = self.arm(*rules)
        try:
            yield ids
        finally:
            self.clear(*ids)


# --- the operator as a process ----------------------------------------------------------------------


@dataclass
class OperatorProcess:
    """``horizon-publisher run`` (all namespaces, -v) that a test may SIGKILL and start again, identically."""

    sandbox: Sandbox
    argv: tuple[str, ...]
    env: dict[str, str]
    tracked: processes.Tracked | None = None

    @classmethod
    def configure(cls, sandbox: Sandbox) -> OperatorProcess:
        env = {
            **os.environ,
            "KUBECONFIG": str(sandbox.kubeconfig),
            "HORIZON_PUBLISHER_CONNECT_TO": operator_connect_to(sandbox.endpoints),
            "HORIZON_PUBLISHER_RESYNC_SECONDS": str(RESYNC_SECONDS),
            "HORIZON_PUBLISHER_WATCH_INACTIVITY_SECONDS": str(WATCH_INACTIVITY_SECONDS),
        }
        liveness = f"http://127.0.0.1:{free_port()}/healthz"
        argv = (sys.executable, "-m", "horizon_publisher", "run", "--liveness", liveness, "--metrics-address", "", "-v")
        return cls(sandbox, argv, env)

    @property
    def running(self) -> RunningOperator:
        assert self.tracked is not None, "the operator was never started"
        return RunningOperator(self.tracked, self.sandbox.state_dir)

    @property
    def pid(self) -> int:
        assert self.tracked is not None
        return self.tracked.pid

    def log(self) -> str:
        return self.running.log() if self.tracked is not None else ""

    def alive(self) -> bool:
        return self.tracked is not None and processes.is_running(self.tracked)

    def start(self, timeout: float = 30.0) -> None:
        """Start (or start again: the log is appended to) and wait until kopf has authenticated."""
        offset = len(self.log())
        self.tracked = processes.start(self.sandbox.state_dir, OPERATOR, self.argv, env=self.env)
        deadline = time.monotonic() + timeout
        while "Initial authentication has finished" not in self.log()[offset:]:
            if not self.alive() or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the operator did not start:\n{self.log()[offset:][-4000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a node failure does; waits until the PID is gone."""
        assert self.tracked is not None
        os.kill(self.tracked.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while processes.is_running(self.tracked) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.tracked.pid, os.WNOHANG)  # reap it if it is our child
            time.sleep(0.02)

    def stop(self) -> None:
        processes.stop(self.sandbox.state_dir, OPERATOR)


# --- docs/reliability.md ----------------------------------------------------------------------------


def write_section(title: str, body: str, path: Path = RELIABILITY_DOC) -> bool:
    """Replace (or append) ``## title`` in docs/reliability.md, atomically and under a lock, when
    HORIZON_PUBLISHER_WRITE_RELIABILITY=1; other sections stay as they are. True if written."""
    if os.environ.get("HORIZON_PUBLISHER_WRITE_RELIABILITY") != "1":
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with (Path(tempfile.gettempdir()) / "horizon-publisher-reliability.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text() if path.exists() else "# Reliability\n"
        section = f"## {title}\n\n{body.strip()}\n"
        pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
        if pattern.search(text):
            text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
        else:
            text = text.rstrip() + "\n\n" + section
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(text)
        temporary.replace(path)
    return True


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
