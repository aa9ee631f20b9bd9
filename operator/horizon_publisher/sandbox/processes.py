"""Start background processes, remember them by PID, stop exactly those.

Every process the sandbox starts is recorded in ``STATE_DIR/pids.json`` with its PID and its start
time (from ``/proc``), so ``down`` stops it by PID and never kills an unrelated process that reused the
number.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

PIDS_FILE = "pids.json"


@dataclass(frozen=True)
class Tracked:
    name: str
    pid: int
    argv: tuple[str, ...]
    log: str
    started: int  # /proc/PID/stat starttime (clock ticks since boot): PID + this names one process


def _pids_path(state_dir: Path) -> Path:
    return state_dir / PIDS_FILE


def load(state_dir: Path) -> dict[str, Tracked]:
    try:
        raw = json.loads(_pids_path(state_dir).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {
        name: Tracked(name=name, pid=int(v["pid"]), argv=tuple(v["argv"]), log=v["log"], started=int(v["started"]))
        for name, v in raw.items()
    }


def _save(state_dir: Path, tracked: dict[str, Tracked]) -> None:
    path = _pids_path(state_dir)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({n: asdict(t) for n, t in tracked.items()}, indent=2))
    temporary.replace(path)


def start(
    state_dir: Path,
    name: str,
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Tracked:
    """Start ``argv`` in its own session (it survives our exit), logging to ``STATE_DIR/logs/NAME.log``."""
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )
    tracked = Tracked(name=name, pid=process.pid, argv=tuple(argv), log=str(log_path), started=_start_time(process.pid))
    everything = load(state_dir)
    everything[name] = tracked
    _save(state_dir, everything)
    return tracked


def adopt(state_dir: Path, name: str, pid: int, *, log: str) -> Tracked:
    """Track a process someone else started (docker-registry), so ``stop`` finds it by PID."""
    argv = tuple(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1])
    tracked = Tracked(name=name, pid=pid, argv=argv, log=log, started=_start_time(pid))
    everything = load(state_dir)
    everything[name] = tracked
    _save(state_dir, everything)
    return tracked


def _stat_fields(pid: int) -> list[str]:
    # The command name (field 2) may contain spaces and parentheses: split after its closing one.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _start_time(pid: int) -> int:
    return int(_stat_fields(pid)[19])


def is_running(tracked: Tracked) -> bool:
    """Alive, not a zombie, and still the process we started (same start time)."""
    try:
        fields = _stat_fields(tracked.pid)
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    if fields[0] == "Z":
        _reap(tracked.pid)
        return False
    return int(fields[19]) == tracked.started


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(state_dir: Path, name: str, *, grace: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` seconds. True if something was stopped."""
    everything = load(state_dir)
    tracked = everything.pop(name, None)
    stopped = False
    if tracked is not None and is_running(tracked):
        stopped = True
        _signal(tracked.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while is_running(tracked) and time.monotonic() < deadline:
            time.sleep(0.05)
        if is_running(tracked):
            _signal(tracked.pid, signal.SIGKILL)
            while is_running(tracked):
                time.sleep(0.05)
    _save(state_dir, everything)
    return stopped


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def log_tail(tracked: Tracked, lines: int = 20) -> str:
    try:
        return "\n".join(Path(tracked.log).read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""
