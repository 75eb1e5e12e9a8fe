"""The app's side of a Ray run's events (engine.runs.ray_executor): written to the run store in order, each once.

    ray_runs = RayRuns(store)
    ray_runs.register(run_id, resources)     # a new actor for the run: its events count from 1 again
    ray_runs.apply(run_id, events, fetch)    # write the events past the last one written; the new last seq
    ray_runs.live()                          # the runs whose actor the app should be draining

The table `ray_runs` lives in the run store's database beside `runs` (made on first use): one row per run that
went to Ray, with the seq of the last event written (`applied`). Each event is written in one transaction with
the update of `applied`, guarded by `applied = seq - 1`, so an event drained twice (an app that died between its
write and its acknowledgement, two managers on one store) is written once, and the actor keeps every event
past `applied` until the next drain acknowledges it: none is lost either.

Events (engine.runs.ray_buffer): "status" sets the run's status, message and columns as RunStore.set_status
does; "write" adds metric and snapshot rows and the progress as RunStore.write does; "checkpoint" copies the
actor's last checkpoint (its bytes, `fetch`) to runs/<id>/bundle before it counts as written.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from engine.runs.bundle_files import write_bundle_files
from engine.runs.store import RunStore
from engine.runs.store_schema import to_json
from engine.train.rule_card import stored_config

TABLE = """CREATE TABLE IF NOT EXISTS ray_runs (
    run TEXT PRIMARY KEY,
    incarnation INTEGER NOT NULL,
    applied INTEGER NOT NULL DEFAULT 0,
    resources TEXT NOT NULL,
    live INTEGER NOT NULL DEFAULT 1,
    auto_resumed INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
)"""
JSON_COLUMNS = ("final", "spec", "config", "progress", "launch")


class RayRuns:
    """The ray_runs table of one store (see the module doc)."""

    def __init__(self, store: RunStore):
        self.store = store
        with store.transaction() as conn:
            conn.execute(TABLE)

    def register(self, run_id: str, resources: dict) -> None:
        """A new actor for `run_id` (its first, or one continuing it): live, nothing applied yet."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO ray_runs (run, incarnation, applied, resources, live, updated) VALUES (?, 1, 0, ?, 1, ?) "
                "ON CONFLICT (run) DO UPDATE SET incarnation = incarnation + 1, applied = 0, resources = ?, live = 1, "
                "updated = ?",
                (run_id, to_json(resources), time.time(), to_json(resources), time.time()),
            )

    def applied(self, run_id: str) -> int:
        rows = self.store.read("SELECT applied FROM ray_runs WHERE run = ?", (run_id,))
        return rows[0]["applied"] if rows else 0

    def row(self, run_id: str) -> sqlite3.Row | None:
        rows = self.store.read("SELECT * FROM ray_runs WHERE run = ?", (run_id,))
        return rows[0] if rows else None

    def live(self) -> list[str]:
        """The runs whose actor is expected alive (registered, not yet seen ended or lost), oldest first."""
        return [r["run"] for r in self.store.read("SELECT run FROM ray_runs WHERE live = 1 ORDER BY updated")]

    def set_live(self, run_id: str, live: bool) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE ray_runs SET live = ?, updated = ? WHERE run = ?", (int(live), time.time(), run_id))

    def take_auto_resume(self, run_id: str) -> bool:
        """True once per run: the one automatic continue NETCANVAS_RAY_AUTO_RESUME allows."""
        with self.store.transaction() as conn:
            cursor = conn.execute("UPDATE ray_runs SET auto_resumed = 1 WHERE run = ? AND auto_resumed = 0", (run_id,))
        return cursor.rowcount > 0

    def apply(self, run_id: str, events: list, fetch: Callable[[], dict[str, bytes]]) -> int:
        """Write `events` (seq, kind, payload) past the last one written, in order and without a gap; the last seq
        written. An event whose predecessor is not written yet (another manager on this store drained it and is
        writing it) stops the batch: the actor keeps it, and the next drain brings it again."""
        last = self.applied(run_id)
        for seq, kind, payload in events:
            if seq <= last:
                continue  # written already (drained twice)
            if seq != last + 1:
                break
            if kind == "checkpoint":
                files = fetch()
                if files:
                    write_bundle_files(self.store.bundle_dir(run_id), files)
            with self.store.transaction() as conn:
                cursor = conn.execute(
                    "UPDATE ray_runs SET applied = ?, updated = ? WHERE run = ? AND applied = ?",
                    (seq, time.time(), run_id, seq - 1),
                )
                if cursor.rowcount:  # else another manager wrote it meanwhile
                    _write_event(conn, run_id, kind, payload)
            last = seq if cursor.rowcount else self.applied(run_id)
        return last


def _write_event(conn: sqlite3.Connection, run_id: str, kind: str, payload: dict) -> None:
    if kind == "write":
        conn.executemany(
            "INSERT INTO metrics (run, step, epoch, kind, data) VALUES (?, ?, ?, ?, ?)",
            [(run_id, s, e, k, to_json(d)) for s, e, k, d in payload["metrics"]],
        )
        conn.executemany(
            "INSERT INTO snapshots (run, step, epoch, kind, data) VALUES (?, ?, ?, ?, ?)",
            [(run_id, s, e, k, to_json(d)) for s, e, k, d in payload["snapshots"]],
        )
        if payload["progress"] is not None:
            conn.execute(
                "UPDATE runs SET progress = ?, updated = ? WHERE id = ?",
                (to_json(payload["progress"]), time.time(), run_id),
            )
    elif kind == "status":
        _write_status(conn, run_id, payload["status"], payload["message"], dict(payload["columns"]))


def _write_status(conn: sqlite3.Connection, run_id: str, status: str, message: str | None, columns: dict) -> None:
    """RunStore.set_status inside the caller's transaction. An actor's status never takes a run out of an ending
    the app gave it (a stop the app made while the actor was still starting)."""
    if columns.get("config") is not None and columns.get("spec") is not None:
        columns["config"] = stored_config(columns["spec"], columns["config"])
    values = {"status": status, "updated": time.time(), **columns}
    if message is not None:
        values["message"] = message
    for name in JSON_COLUMNS:
        if values.get(name) is not None:
            values[name] = to_json(values[name])
    assignments = ", ".join(f"{name} = ?" for name in values)
    conn.execute(
        f"UPDATE runs SET {assignments} WHERE id = ? AND status IN ('queued', 'running', 'paused')",
        (*values.values(), run_id),
    )
