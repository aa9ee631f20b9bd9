"""Processes are tracked by PID and start time: stopped when ours, never when the PID was reused."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from horizon_publisher.sandbox import processes

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_start_track_stop(tmp_path: Path) -> None:
    tracked = processes.start(tmp_path, "sleeper", SLEEPER)
    assert processes.is_running(tracked)
    assert processes.load(tmp_path)["sleeper"] == tracked
    assert processes.stop(tmp_path, "sleeper")
    assert not processes.is_running(tracked)
    assert "sleeper" not in processes.load(tmp_path)
    assert not processes.stop(tmp_path, "sleeper")  # nothing left to stop


def test_a_reused_pid_is_not_ours(tmp_path: Path) -> None:
    tracked = processes.start(tmp_path, "sleeper", SLEEPER)
    try:
        impostor = dataclasses.replace(tracked, started=tracked.started - 1)
        assert not processes.is_running(impostor)
        everything = processes.load(tmp_path)
        everything["sleeper"] = impostor
        processes._save(tmp_path, everything)
        assert not processes.stop(tmp_path, "sleeper")  # refuses to signal a process it did not start
        assert processes.is_running(tracked)
    finally:
        processes._save(tmp_path, {"sleeper": tracked})
        processes.stop(tmp_path, "sleeper")


def test_adopt_tracks_a_process_started_elsewhere(tmp_path: Path) -> None:
    import subprocess

    child = subprocess.Popen(SLEEPER)
    try:
        while not Path(f"/proc/{child.pid}/cmdline").read_bytes().startswith(sys.executable.encode()):
            pass  # until the child has exec'd (adopt records a running service's command line)
        tracked = processes.adopt(tmp_path, "adopted", child.pid, log=str(tmp_path / "x.log"))
        assert tracked.argv[0] == sys.executable
        assert processes.stop(tmp_path, "adopted", grace=5)
        assert child.wait(timeout=5) is not None
    finally:
        if child.poll() is None:
            child.kill()
