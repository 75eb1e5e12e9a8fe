"""Removing what sessions no one uses any more: a session key's saved work and uploads
(`RUNS/sessions/<key>/`, engine.runs.session_state) unused for NETCANVAS_SESSION_DAYS days (builder.spec.limits,
default 30), and, in a session still in use, an upload unused that long.

"Used" is the newest of: the session folder's mtime (ui.session_keep touches it when a browser session starts
and once an hour while it runs), state.json's (the last save), any upload's, and the latest update of a run of
that key in the run store. A session with an active run (queued, running or paused) is never removed, nor is
an upload that an active run, a run updated within the period, or the saved settings name.

The runs of a removed session stay in the run store with their bundles: they are trained results, not the
uploaded data, and a person who kept the URL (`?owner=<key>`) still finds them; no one without the key
reaches them (the store lists runs by key, the Export page lists a key's own). A store that cannot be read
stops the sweep: without it no one can tell which sessions have active runs.

`sweep_soon(root, days)` starts at most one sweep per SWEEP_EVERY_SECONDS per runs directory and process, in
a daemon thread, so no page waits for it; `sweep_sessions` is the sweep itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from builder.library.datasets import CSV_PREFIX
from engine.errors import NetCanvasError
from engine.runs.session_state import SESSIONS_DIR, STATE_FILE, UPLOADS_DIR, valid_owner
from engine.runs.store import DB_NAME, RunStore
from engine.runs.store_schema import ACTIVE

DAY_SECONDS = 86_400
SWEEP_EVERY_SECONDS = 3600.0
_LOCK = threading.Lock()
_LAST_SWEEP: dict[str, float] = {}  # runs directory -> time.monotonic() of its last sweep in this process


@dataclass(frozen=True)
class StoreUse:
    """What the run store says about each key: an active run, its latest run update, the files runs read."""

    active: frozenset[str] = frozenset()
    last_run: dict[str, float] = field(default_factory=dict)
    paths: frozenset[str] = frozenset()  # CSV files of active runs or runs updated since the cut-off


@dataclass(frozen=True)
class SweepResult:
    sessions_removed: int = 0
    uploads_removed: int = 0
    sessions_kept: int = 0
    skipped: str = ""  # why nothing was swept (the store could not be read); "" when it ran


def store_use(root: Path, cutoff: float) -> StoreUse:
    """Read the run store (no store yet: no runs)."""
    if not (root / DB_NAME).exists():
        return StoreUse()
    store = RunStore(root)
    try:
        rows = store.read("SELECT owner, status, updated, config FROM runs")
    finally:
        store.close()
    active, last_run, paths = set(), {}, set()
    for row in rows:
        owner, status, updated = row["owner"], row["status"], float(row["updated"] or 0)
        last_run[owner] = max(last_run.get(owner, 0.0), updated)
        if status in ACTIVE:
            active.add(owner)
        if status in ACTIVE or updated >= cutoff:
            paths.update(_csv_path(row["config"]))
    return StoreUse(frozenset(active), last_run, frozenset(paths))


def _csv_path(config_json: str | None) -> list[str]:
    with contextlib.suppress(TypeError, ValueError):
        dataset = json.loads(config_json or "{}").get("dataset")
        if isinstance(dataset, str) and dataset.startswith(CSV_PREFIX):
            return [_resolved(dataset[len(CSV_PREFIX) :])]
    return []


def _resolved(path: str | os.PathLike) -> str:
    return str(Path(path).resolve())


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _uploads(folder: Path) -> list[Path]:
    return [p for p in (folder / UPLOADS_DIR).glob("*/*") if p.is_file()]


def last_used(folder: Path) -> float:
    """The newest mtime of the session folder, its state.json and its uploads (each file and its folder)."""
    times = [_mtime(folder), _mtime(folder / STATE_FILE), _mtime(folder / UPLOADS_DIR)]
    for upload in _uploads(folder):
        times += [_mtime(upload), _mtime(upload.parent)]
    return max(times)


def _saved_paths(folder: Path) -> set[str]:
    """Every file the saved settings name (the chosen upload among them)."""
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return set()
    settings = state.get("settings") if isinstance(state, dict) else None
    values = settings.values() if isinstance(settings, dict) else ()
    return {_resolved(v) for v in values if isinstance(v, str) and v}


def _sweep_uploads(folder: Path, cutoff: float, in_use: frozenset[str]) -> int:
    """Remove the session's uploads unused since `cutoff` that nothing names; how many went."""
    keep = in_use | _saved_paths(folder)
    removed = 0
    for upload in _uploads(folder):
        if _mtime(upload) >= cutoff or _resolved(upload) in keep:
            continue
        with contextlib.suppress(OSError):
            upload.unlink()
            removed += 1
            with contextlib.suppress(OSError):
                upload.parent.rmdir()  # empty now, unless the same content is kept under a second name
    return removed


def sweep_sessions(root: str | os.PathLike, days: int, now: float | None = None) -> SweepResult:
    """Remove the sessions (and the uploads) under `root` unused for `days` days; see the module doc."""
    root = Path(root).resolve()
    sessions = root / SESSIONS_DIR
    if not sessions.is_dir():
        return SweepResult()
    cutoff = (time.time() if now is None else now) - days * DAY_SECONDS
    try:
        use = store_use(root, cutoff)
    except (sqlite3.Error, NetCanvasError, OSError) as err:
        return SweepResult(skipped=f"the run store could not be read ({type(err).__name__})")
    removed = uploads = kept = 0
    for folder in sorted(sessions.iterdir()):
        if not folder.is_dir() or not valid_owner(folder.name):
            continue
        owner = folder.name
        if owner not in use.active and max(last_used(folder), use.last_run.get(owner, 0.0)) < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
            continue
        kept += 1
        uploads += _sweep_uploads(folder, cutoff, use.paths)
    return SweepResult(removed, uploads, kept)


def _sweep_quietly(root: str, days: int) -> None:
    """The sweep in its thread: a line on the server's stderr with the counts (never a key or a path)."""
    try:
        result = sweep_sessions(root, days)
    except Exception as err:  # a sweep must never take a page or the server down
        print(f"netcanvas: the session sweep failed ({type(err).__name__})", file=sys.stderr)
        return
    if result.skipped:
        print(f"netcanvas: session sweep skipped: {result.skipped}", file=sys.stderr)
    elif result.sessions_removed or result.uploads_removed:
        print(
            f"netcanvas: removed {result.sessions_removed} session(s) and {result.uploads_removed} upload(s) "
            f"unused for {days} days",
            file=sys.stderr,
        )


def sweep_soon(root: str | os.PathLike, days: int, every: float = SWEEP_EVERY_SECONDS) -> threading.Thread | None:
    """Start a sweep of `root` in a daemon thread unless one started in this process less than `every`
    seconds ago; the thread, or None when it was not time."""
    key = _resolved(root)
    with _LOCK:
        now = time.monotonic()
        last = _LAST_SWEEP.get(key)
        if last is not None and now - last < every:
            return None
        _LAST_SWEEP[key] = now
    thread = threading.Thread(target=_sweep_quietly, args=(key, days), name="netcanvas-session-sweep", daemon=True)
    thread.start()
    return thread


def touch_session(root: str | os.PathLike, owner: str) -> None:
    """Mark the session as used now (its folder's mtime), when it has a folder."""
    with contextlib.suppress(OSError, ValueError):
        folder = Path(root) / SESSIONS_DIR / owner
        if valid_owner(owner) and folder.is_dir():
            os.utime(folder)
