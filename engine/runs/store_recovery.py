"""Checking the run store when it is first opened, and recovering a corrupt or emptied one.

    conn, recovery = open_checked(store)   # RunStore does this on first use; recovery is None when sound

`store` is anything with the store's `root`, `db_path` and `connect()` (engine.runs.store.RunStore, which imports
this module: this one imports nothing of it).

A database is corrupt when opening it or `PRAGMA quick_check` fails with SQLite's "malformed" or "not a
database" (a truncated or garbled file), and emptied when it is 0 bytes while run folders (`runs/<run_id>/`)
exist. Then the file and its -wal and -shm are kept aside under a name with the time
(`runs.sqlite.corrupt-20261129-171500`), a new database is made, and every run folder holding a bundle is
listed again: its spec and settings from spec.json and train.json, its final metrics and status (finished,
else stopped) from meta.json, its owner from run.json. Curves and probe snapshots lived only in the old
database and are not recovered. A run folder without run.json (made before owners were recorded) is
recovered under an owner key no session has, so no one sees another's runs; the key is in the report file
written beside the kept-aside database (`...corrupt-20261129-171500.recovery.txt`).

The check runs under an exclusive lock on `runs/.store.lock`, so of two processes opening a bad store at
once (the app and a worker) one recovers it and the other, checking again after the lock, finds it sound.
"""

from __future__ import annotations

import fcntl
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from engine.runs.store_schema import RUN_FILE, to_json

LOCK_NAME = ".store.lock"
UNOWNED_PREFIX = "recovered-unowned-"  # + a random part: an owner key no session has
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")  # engine.runs.store.new_run_id
CORRUPTION_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB (not BUSY, LOCKED, CANTOPEN, ...)
SIDE_FILES = ("", "-wal", "-shm")


class OpenableStore(Protocol):
    """What checking and recovering needs of a run store (engine.runs.store.RunStore has it)."""

    root: Path
    db_path: Path

    def connect(self) -> sqlite3.Connection: ...


@dataclass(frozen=True)
class StoreRecovery:
    """What was done to a corrupt or emptied run store."""

    db_path: Path
    state: str  # "corrupt" or "empty"
    detail: str  # SQLite's error, or what made an empty file suspect
    kept_aside: tuple[Path, ...]  # the old database first, then its -wal and -shm if they existed
    recovered: tuple[str, ...]  # run ids listed again
    unowned: int  # of them, runs whose owner is not known
    skipped: tuple[str, ...]  # "run_id: why" for run folders that could not be listed
    when: float

    @property
    def text(self) -> str:
        """One line for the page."""
        kept = ", ".join(p.name for p in self.kept_aside)
        text = (
            f"The run store {self.db_path} was found {self.state} ({self.detail}) and kept aside as {kept}; "
            f"{len(self.recovered)} run(s) were recovered from their bundles with their final metrics, "
            "but their curves and probe snapshots were only in the old store and are lost"
        )
        if self.unowned:
            text += f"; {self.unowned} of them were made before owners were recorded and are shown to no session"
        if self.skipped:
            text += f"; {len(self.skipped)} run folder(s) had no complete bundle and are not listed"
        return text + "."


def is_corruption(err: sqlite3.DatabaseError) -> bool:
    """SQLite's "malformed" or "not a database", not a busy, locked or unreadable file."""
    return getattr(err, "sqlite_errorcode", 0) & 0xFF in CORRUPTION_CODES


def open_checked(store: OpenableStore) -> tuple[sqlite3.Connection, StoreRecovery | None]:
    """A connection to a sound database at store.db_path, recovering a corrupt or emptied one first."""
    store.root.mkdir(parents=True, exist_ok=True)
    with _exclusive(store.root / LOCK_NAME):
        conn, problem = _check(store)
        if problem is None:
            return conn, None
        return _recover(store, *problem)


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check(store: OpenableStore) -> tuple[sqlite3.Connection | None, tuple[str, str] | None]:
    """The open connection, or None and (state, detail) of what is wrong."""
    folders = run_folders(store.root)
    if store.db_path.is_file() and store.db_path.stat().st_size == 0 and folders:
        return None, ("empty", f"0 bytes while {len(folders)} run folder(s) exist")
    conn = None
    try:
        conn = store.connect()
        rows = conn.execute("PRAGMA quick_check").fetchall()
        conn.execute("SELECT count(*) FROM runs").fetchone()
    except sqlite3.DatabaseError as err:
        if conn is not None:
            conn.close()
        if not is_corruption(err):
            raise  # a busy, locked or unreadable file is not a corrupt one
        return None, ("corrupt", str(err))
    if [tuple(row) for row in rows] != [("ok",)]:
        conn.close()
        return None, ("corrupt", f"quick_check: {rows[0][0] if rows else 'no answer'}")
    return conn, None


def run_folders(root: Path) -> list[Path]:
    """The folders named like run ids directly under `root`, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if RUN_ID.match(p.name) and p.is_dir())


def _recover(store: OpenableStore, state: str, detail: str) -> tuple[sqlite3.Connection, StoreRecovery]:
    when = time.time()
    kept = _keep_aside(store.db_path, time.strftime("%Y%m%d-%H%M%S", time.localtime(when)))
    conn = store.connect()
    unowned_owner = UNOWNED_PREFIX + secrets.token_hex(8)
    date = time.strftime("%Y-%m-%d %H:%M", time.localtime(when))
    message = (
        f"recovered from its bundle after the run store was found {state} on {date}; "
        "its curves and probe snapshots were lost with the old store"
    )
    rows, skipped = [], []
    for folder in run_folders(store.root):
        row = recovered_row(folder, unowned_owner, message)
        if isinstance(row, str):
            skipped.append(f"{folder.name}: {row}")
        else:
            rows.append(row)
    _insert(conn, rows)
    recovery = StoreRecovery(
        db_path=store.db_path,
        state=state,
        detail=detail,
        kept_aside=kept,
        recovered=tuple(row["id"] for row in rows),
        unowned=sum(row["owner"] == unowned_owner for row in rows),
        skipped=tuple(skipped),
        when=when,
    )
    _write_report(kept[0], recovery, unowned_owner)
    return conn, recovery


def _keep_aside(db_path: Path, stamp: str) -> tuple[Path, ...]:
    """Rename the database and its -wal and -shm to NAME.corrupt-STAMP[-N] (+ -wal, -shm)."""
    aside = db_path.with_name(f"{db_path.name}.corrupt-{stamp}")
    number = 1
    while any(aside.with_name(aside.name + side).exists() for side in SIDE_FILES):
        number += 1
        aside = db_path.with_name(f"{db_path.name}.corrupt-{stamp}-{number}")
    kept = []
    for side in SIDE_FILES:
        source = db_path.with_name(db_path.name + side)
        if source.exists():
            kept.append(source.replace(aside.with_name(aside.name + side)))
    return tuple(kept) or (aside,)


def _read_object(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def recovered_row(folder: Path, unowned_owner: str, message: str) -> dict | str:
    """The runs row for a run folder, from its bundle's JSON files and run.json; or why it cannot be made."""
    from engine.runs.bundle import CONFIG_FILE, META_FILE, SPEC_FILE  # torch: only when recovering

    bundle = folder / "bundle"
    parts = {name: _read_object(bundle / name) for name in (SPEC_FILE, CONFIG_FILE, META_FILE)}
    unreadable = [name for name, data in parts.items() if data is None]
    if unreadable:
        return f"bundle/{', bundle/'.join(unreadable)} missing or unreadable"
    spec, config, meta = parts[SPEC_FILE], parts[CONFIG_FILE], parts[META_FILE]
    final = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    ended = (bundle / META_FILE).stat().st_mtime
    owner, created = _owner_and_created(folder, unowned_owner, ended)
    return {
        "id": folder.name,
        "owner": owner,
        "created": created,
        "updated": ended,
        "ended": ended,
        "status": "finished" if final.get("status") == "finished" else "stopped",
        "message": message,
        "spec": to_json(spec),
        "config": to_json(config),
        "progress": to_json(_progress(final, config)),
        "final": to_json(final),
    }


def _owner_and_created(folder: Path, unowned_owner: str, fallback: float) -> tuple[str, float]:
    """From run.json when it names this run; else the unowned key and the time in the run id."""
    card = _read_object(folder / RUN_FILE) or {}
    owner = card.get("owner") if card.get("id") == folder.name else None
    created = card.get("created")
    if not isinstance(created, int | float) or isinstance(created, bool):
        try:
            created = time.mktime(time.strptime(folder.name[:15], "%Y%m%d-%H%M%S"))
        except ValueError:
            created = fallback
    return (owner if isinstance(owner, str) and owner else unowned_owner), float(created)


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _progress(final: dict, config: dict) -> dict:
    """What the page shows of a run's progress, from its final metrics (steps, epochs, active seconds)."""
    steps, epochs, planned = _count(final.get("steps")), _count(final.get("epochs")), _count(config.get("epochs"))
    progress = {"step": steps, "epoch": epochs, "epochs": planned or None}
    if steps and epochs and planned:
        progress["steps_per_epoch"] = steps // epochs
        progress["total_steps"] = steps // epochs * planned
    active = final.get("active_seconds")
    if isinstance(active, int | float) and not isinstance(active, bool):
        progress["active_s"] = active
    return progress


def _insert(conn: sqlite3.Connection, rows: list[dict]) -> None:
    columns = ("id", "owner", "created", "updated", "ended", "status", "message", "spec", "config", "progress", "final")
    sql = f"INSERT OR IGNORE INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(sql, [tuple(row[c] for c in columns) for row in rows])
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _write_report(aside: Path, recovery: StoreRecovery, unowned_owner: str) -> None:
    """Beside the kept-aside database: what was done, and the key of the runs whose owner is not known."""
    lines = [recovery.text, f"recovered: {', '.join(recovery.recovered) or 'none'}"]
    if recovery.unowned:
        lines.append(
            f"owner key of the runs whose owner is not known: {unowned_owner} (open the Train page with ?owner=)"
        )
    lines += [f"not listed: {why}" for why in recovery.skipped]
    with suppress(OSError):  # the report on the page is what matters; this file is a courtesy
        aside.with_name(aside.name + ".recovery.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
