"""The run store's tables and rows (engine.runs.store uses them): the SQLite schema, the columns added since
stores were first made, and the records a query returns (RunRecord, Row) or a worker writes (Write)."""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field

RUN_FILE = "run.json"  # in each run's folder: {"id", "owner", "created"}, so a lost store can give runs back

# interrupted: its Ray actor was lost (a node gone, the actor killed); it continues from its checkpoint like stopped
STATUSES = ("queued", "running", "paused", "stopped", "finished", "failed", "interrupted")
ACTIVE = frozenset({"queued", "running", "paused"})  # a worker owns the run
COMMANDS = ("pause", "resume", "stop")
RELEASED_STATUS = "paused (worker released to the queue; resumes from its checkpoint)"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    started REAL,
    ended REAL,
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    spec TEXT NOT NULL,
    config TEXT NOT NULL,
    pid INTEGER,
    progress TEXT NOT NULL DEFAULT '{}',
    final TEXT,
    ticket INTEGER,
    launch TEXT,
    released INTEGER NOT NULL DEFAULT 0,
    client TEXT
);
CREATE INDEX IF NOT EXISTS runs_owner ON runs (owner, created);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
{metrics}
CREATE INDEX IF NOT EXISTS metrics_run ON metrics (run, seq);
{snapshots}
CREATE INDEX IF NOT EXISTS snapshots_run ON snapshots (run, kind, seq);
CREATE TABLE IF NOT EXISTS commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL,
    command TEXT NOT NULL,
    created REAL NOT NULL,
    taken REAL
);
CREATE INDEX IF NOT EXISTS commands_run ON commands (run, taken);
CREATE TABLE IF NOT EXISTS edits (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    created REAL NOT NULL,
    data TEXT NOT NULL
);
"""
EVENT_TABLE = """CREATE TABLE IF NOT EXISTS {name} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);"""  # metrics (a row per event) and snapshots (a row per probe snapshot) have the same shape
SCHEMA = SCHEMA.replace("{metrics}", EVENT_TABLE.format(name="metrics")).replace(
    "{snapshots}", EVENT_TABLE.format(name="snapshots")
)
# Columns added to `runs` since stores were first made; a store without them gets them when it is opened.
#   ticket: the run's place in the queue (engine.runs.run_queue), NULL when it is not waiting for a worker
#   launch: how to start its worker when its turn comes, JSON {"weights_from": str | null, "resume": bool}
#   released: 1 while a paused run has given its worker up to the queue (it resumes from its checkpoint)
#   client: a keyed hash of the client address that started it (RunStore.client_tag), for the per-address cap
ADDED_COLUMNS = {"ticket": "INTEGER", "launch": "TEXT", "released": "INTEGER NOT NULL DEFAULT 0", "client": "TEXT"}


def to_json(value) -> str:
    """Strict JSON: NaN and infinities become null."""
    return json.dumps(_finite(value), separators=(",", ":"), allow_nan=False)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@dataclass(frozen=True)
class RunRecord:
    id: str
    owner: str
    created: float
    updated: float
    started: float | None
    ended: float | None
    status: str
    message: str
    spec: dict
    config: dict
    pid: int | None
    progress: dict
    final: dict | None
    ticket: int | None = None  # its place in the queue while it waits for a worker (engine.runs.run_queue)
    launch: dict | None = None  # how its worker starts when its turn comes
    released: bool = False  # paused, its worker given up to the queue: Resume queues it from its checkpoint
    client: str | None = None  # keyed hash of the client address that started it (never the address)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def shown_status(self) -> str:
        """The status in the page's words: a released pause says where its worker went."""
        return RELEASED_STATUS if self.released and self.status == "paused" else self.status

    @property
    def waiting(self) -> bool:
        """In the queue: no worker has been started for it yet (status queued, or paused there)."""
        return self.ticket is not None and self.active


@dataclass(frozen=True)
class Row:
    """One metrics or snapshots row; `seq` grows with every row written, so `since=seq` reads what is new."""

    seq: int
    step: int
    epoch: int
    kind: str
    data: dict


@dataclass(frozen=True)
class Write:
    """What a worker writes in one transaction: metrics rows, snapshots, progress (any may be empty)."""

    metrics: list[tuple[int, int, str, dict]] = field(default_factory=list)  # (step, epoch, kind, data)
    snapshots: list[tuple[int, int, str, dict]] = field(default_factory=list)
    progress: dict | None = None


def run_record(row: sqlite3.Row) -> RunRecord:
    """A runs row as a RunRecord."""
    return RunRecord(
        id=row["id"],
        owner=row["owner"],
        created=row["created"],
        updated=row["updated"],
        started=row["started"],
        ended=row["ended"],
        status=row["status"],
        message=row["message"],
        spec=json.loads(row["spec"]),
        config=json.loads(row["config"]),
        pid=row["pid"],
        progress=json.loads(row["progress"]),
        final=json.loads(row["final"]) if row["final"] else None,
        ticket=row["ticket"],
        launch=json.loads(row["launch"]) if row["launch"] else None,
        released=bool(row["released"]),
        client=row["client"],
    )


def launch_json(launch: dict | None) -> str | None:
    return to_json(launch) if launch is not None else None


def add_missing_columns(conn: sqlite3.Connection) -> None:
    """Add the ADDED_COLUMNS a store made before them lacks, in one transaction (two processes opening an old
    store at once: the second finds them added)."""
    if set(ADDED_COLUMNS) <= _run_columns(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name, kind in ADDED_COLUMNS.items():
            if name not in _run_columns(conn):
                conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _run_columns(conn: sqlite3.Connection) -> set[str]:
    return {row[1] for row in conn.execute("PRAGMA table_info(runs)")}


def event_row(row: sqlite3.Row) -> Row:
    return Row(row["seq"], row["step"], row["epoch"], row["kind"], json.loads(row["data"]))
