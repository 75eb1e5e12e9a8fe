"""Is a run's worker still there, and if not, why it ended without saying so, or whether it never started (for
RunManager's reaping)."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")  # a zombie has finished


def _last_log_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def death_message(exitcode: int | None, log: Path) -> str:
    """Why a worker ended without saying so: its exit code or signal, and the last line it printed."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        why = f"the worker process was killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    elif exitcode is not None:
        why = f"the worker process exited with code {exitcode}"
    else:
        why = "the worker process is gone (the app may have been restarted)"
    last = _last_log_line(log)
    return why + (f": {last}" if last else "")


def left_unstarted(record) -> bool:
    """A run claimed for starting (status queued, out of the line: `starting its worker` or `preparing`) whose
    starter is gone: the app that claimed it was killed between the claim and its worker's first step, so no
    process of it is alive (its pid is this process's own, reused by a restarted app, or dead). Such a run goes
    back to the queue rather than failing: nothing of it ran."""
    if record.status != "queued" or record.ticket is not None:
        return False
    return record.pid == os.getpid() or not pid_alive(record.pid)
