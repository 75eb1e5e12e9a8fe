"""The run store (docs/ARCHITECTURE.md §2): one SQLite database in WAL mode under the runs directory, plus a
folder per run.

    runs/                      NETCANVAS_RUNS_DIR, or the argument, or `runs/` in the repository
      runs.sqlite              runs, metrics, snapshots, commands, edits
      <run_id>/run.json        the run's id, owner and creation time, written when the run is made
      <run_id>/bundle/         the run's last checkpoint, a run bundle (engine.runs.bundle)
      <run_id>/worker.log      what the worker process printed (tracebacks of crashes)
      .client_key              the secret that hashes client addresses (RunStore.client_tag), made on first use

One worker process writes a run; any number of readers (the page, the CLI, tests) read it. Every write is
one short `BEGIN IMMEDIATE` transaction and every connection waits up to BUSY_TIMEOUT_MS for a lock, so
readers never block the writer for long (WAL lets them read while it writes). Each thread gets its own
connection (sqlite3 connections are not shared across threads); the directory and the tables are made on
first use. The first use also checks the database: a corrupt or emptied one is kept aside and a new one made
with the runs recovered from their folders (engine.runs.store_recovery; `store.recovery` says what was done).
A database that turns corrupt while in use is recovered the same way when a query meets it: a read is then
answered from the new store, a write raises StoreRecovered (say so; the next try works), and every thread's
connection to the old file is replaced before its next query.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import NetCanvasError
from engine.runs.store_recovery import StoreRecovery, is_corruption, open_checked
from engine.runs.store_schema import (  # noqa: F401 (RunRecord, Row, Write, to_json, RUN_FILE: re-exported)
    ACTIVE,
    COMMANDS,
    RUN_FILE,
    SCHEMA,
    STATUSES,
    Row,
    RunRecord,
    Write,
    add_missing_columns,
    event_row,
    launch_json,
    run_record,
    to_json,
)
from engine.train.rule_card import stored_config


class StoreRecovered(NetCanvasError):
    """A write met a database that had turned corrupt; it was recovered (the message says how): try again."""


RUNS_DIR_ENV = "NETCANVAS_RUNS_DIR"
DEFAULT_RUNS_DIR = Path(__file__).resolve().parents[2] / "runs"  # runs/ in the repository
DB_NAME = "runs.sqlite"
BUSY_TIMEOUT_MS = 10_000
CLIENT_KEY_FILE = ".client_key"


def resolve_runs_dir(root: str | os.PathLike | None = None) -> Path:
    """The runs directory: the argument, else $NETCANVAS_RUNS_DIR, else `runs/` in the repository."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(RUNS_DIR_ENV) or DEFAULT_RUNS_DIR)


def new_run_id() -> str:
    """Sortable by creation time, unique without coordination: 20240501-120000-3f9a1c."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def write_run_file(run_dir: Path, run_id: str, owner: str, created: float) -> None:
    """The run's folder and its run.json (replaced atomically), which names the run's owner."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (RUN_FILE + ".tmp")
    tmp.write_text(to_json({"id": run_id, "owner": owner, "created": created}) + "\n", encoding="utf-8")
    os.replace(tmp, run_dir / RUN_FILE)


class RunStore:
    """Runs, their metrics, probe snapshots, commands and edits; see the module doc."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = resolve_runs_dir(root).resolve()
        self.db_path = self.root / DB_NAME
        self._local = threading.local()  # this store's connection in each thread
        self._check_lock = threading.Lock()
        self._checked = False
        self._recovery = None  # a StoreRecovery when the database was found corrupt or emptied (the latest)
        self._generation = 0  # goes up at each recovery in use: connections of an older generation are stale

    # --- connections ----------------------------------------------------------------------------------

    def connect(self) -> sqlite3.Connection:
        """A new connection to the database, set up (WAL, busy timeout) and with the tables made."""
        self.root.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
            conn.executescript(SCHEMA)
            add_missing_columns(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.generation != self._generation:
            conn.close()  # the database it reads was kept aside by a recovery in another thread
            conn = None
        if conn is None:
            conn = self._check_once() or self.connect()
            self._local.conn, self._local.generation = conn, self._generation
        return conn

    def _recover_in_use(self, err: sqlite3.DatabaseError, seen: int) -> None:
        """The database turned corrupt while in use (`err`, met by a query begun in generation `seen`): check
        it again, recovering it, once for every thread; this thread's connection is then the checked one.
        Re-raises `err` when it is not a corruption."""
        if not is_corruption(err):
            raise err
        self.close()
        with self._check_lock:
            if seen != self._generation:
                return  # another thread recovered it already; the next query connects afresh
            conn, recovery = open_checked(self)
            self._recovery = recovery or self._recovery
            self._generation += 1
            self._local.conn, self._local.generation = conn, self._generation

    def _check_once(self) -> sqlite3.Connection | None:
        """On this store's first use: check the database, recovering it if needed; the checked connection."""
        with self._check_lock:
            if self._checked:
                return None
            conn, self._recovery = open_checked(self)
            self._checked = True
            return conn

    @property
    def recovery(self) -> StoreRecovery | None:
        """What the first use did to a corrupt or emptied database (a StoreRecovery, `.text` one line); None
        when the database was sound. Opens the store if it was not open yet."""
        self._connection()
        return self._recovery

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): committed at the end, rolled back on an exception."""
        with self._write() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        seen = self._generation
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as err:
            self._recover_in_use(err, seen)
            raise StoreRecovered(self._recovery.text if self._recovery else "the run store was recovered") from None

    def read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """The rows of one query on this thread's connection (after recovering a database found corrupt)."""
        seen = self._generation
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.DatabaseError as err:
            self._recover_in_use(err, seen)
            return self._connection().execute(sql, args).fetchall()

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- paths -----------------------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def bundle_dir(self, run_id: str) -> Path:
        """Where the run's checkpoint bundle lives (spec.json, train.json, weights.safetensors, meta.json)."""
        return self.run_dir(run_id) / "bundle"

    def log_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "worker.log"

    # --- runs ------------------------------------------------------------------------------------------

    def create_run(self, owner: str, spec: dict, config: dict, message: str = "waiting for a worker") -> str:
        """A new run, status queued, outside the queue (its starter launches its worker itself)."""
        with self._write() as conn:
            return self.insert_run(conn, owner, spec, config, message)

    def insert_run(
        self,
        conn: sqlite3.Connection,
        owner: str,
        spec: dict,
        config: dict,
        message: str,
        ticket: int | None = None,
        launch: dict | None = None,
        client: str | None = None,
    ) -> str:
        """Make a run (status queued) and its folder with run.json inside the caller's `transaction()`;
        `client`: the tag of the address that started it (client_tag), never the address itself."""
        run_id, now = new_run_id(), time.time()
        config = stored_config(spec, config)  # the settings its learning rule reads (engine.train.rule_card)
        write_run_file(self.run_dir(run_id), run_id, owner, now)
        conn.execute(
            "INSERT INTO runs (id, owner, created, updated, status, message, spec, config, ticket, launch, client) "
            "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
            (run_id, owner, now, now, message, to_json(spec), to_json(config), ticket, launch_json(launch), client),
        )
        return run_id

    def client_tag(self, address: str | None) -> str | None:
        """A keyed hash of a client address (HMAC-SHA256 with this store's secret, 16 hex digits), so runs from
        one address can be counted without the address being kept anywhere; None for no address."""
        if not isinstance(address, str) or not address:
            return None
        return hmac.new(self._client_key(), address.encode(), hashlib.sha256).hexdigest()[:16]

    def _client_key(self) -> bytes:
        """The secret in .client_key, made once (readable by this user only; the first writer wins)."""
        path = self.root / CLIENT_KEY_FILE
        if not path.is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{CLIENT_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)  # fails when another process made it first: theirs is the key
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        return path.read_bytes().strip()

    def get(self, run_id: str) -> RunRecord | None:
        rows = self.read("SELECT * FROM runs WHERE id = ?", (run_id,))
        return run_record(rows[0]) if rows else None

    def list_runs(self, owner: str | None = None, limit: int = 200) -> list[RunRecord]:
        """Newest first; only `owner`'s runs when given."""
        if owner is None:
            rows = self.read("SELECT * FROM runs ORDER BY created DESC LIMIT ?", (limit,))
        else:
            rows = self.read("SELECT * FROM runs WHERE owner = ? ORDER BY created DESC LIMIT ?", (owner, limit))
        return [run_record(r) for r in rows]

    def set_status(self, run_id: str, status: str, message: str | None = None, **columns) -> None:
        """Set the status (and message, and any of started, ended, pid, final, spec, config, progress, ticket,
        launch)."""
        assert status in STATUSES, f"unknown status {status!r}"
        if columns.get("config") is not None and columns.get("spec") is not None:
            columns["config"] = stored_config(columns["spec"], columns["config"])  # only what its rule reads
        values = {"status": status, "updated": time.time(), **columns}
        if message is not None:
            values["message"] = message
        for name in ("final", "spec", "config", "progress", "launch"):
            if name in values and values[name] is not None:
                values[name] = to_json(values[name])
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._write() as conn:
            conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*values.values(), run_id))

    def set_pid(self, run_id: str, pid: int) -> None:
        with self._write() as conn:
            conn.execute("UPDATE runs SET pid = ? WHERE id = ?", (pid, run_id))

    def release_worker(self, run_id: str, message: str, final: dict, launch: dict) -> bool:
        """A paused run's worker gives its slot up: the run stays paused, `released`, without a pid, and starts
        from `launch` (its checkpoint) once resumed. Only while it is paused with no command waiting (a Resume
        or Stop sent meanwhile is obeyed by the worker instead); True when it was released."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE runs SET released = 1, pid = NULL, message = ?, final = ?, launch = ?, updated = ? "
                "WHERE id = ? AND status = 'paused' AND released = 0 AND ticket IS NULL AND NOT EXISTS "
                "(SELECT 1 FROM commands WHERE commands.run = runs.id AND taken IS NULL)",
                (message, to_json(final), to_json(launch), time.time(), run_id),
            )
        return cursor.rowcount > 0

    def has_waiting(self) -> bool:
        """Whether some run waits in the queue for a worker (queued with a ticket), any owner's."""
        return bool(self.read("SELECT 1 FROM runs WHERE status = 'queued' AND ticket IS NOT NULL LIMIT 1"))

    def mark_failed_if_active(self, run_id: str, message: str) -> bool:
        """Mark a run failed unless it has already ended (the worker may have written its own end)."""
        now = time.time()
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status = 'failed', message = ?, updated = ?, ended = ?, ticket = NULL "
                "WHERE id = ? AND status IN ('queued', 'running', 'paused')",
                (message, now, now, run_id),
            )
        return cursor.rowcount > 0

    # --- metrics and snapshots -------------------------------------------------------------------------

    def write(self, run_id: str, batch: Write) -> None:
        """A worker's buffered rows and progress in one transaction."""
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO metrics (run, step, epoch, kind, data) VALUES (?, ?, ?, ?, ?)",
                [(run_id, s, e, k, to_json(d)) for s, e, k, d in batch.metrics],
            )
            conn.executemany(
                "INSERT INTO snapshots (run, step, epoch, kind, data) VALUES (?, ?, ?, ?, ?)",
                [(run_id, s, e, k, to_json(d)) for s, e, k, d in batch.snapshots],
            )
            if batch.progress is not None:
                conn.execute(
                    "UPDATE runs SET progress = ?, updated = ? WHERE id = ?",
                    (to_json(batch.progress), time.time(), run_id),
                )

    def metrics(self, run_id: str, since: int = 0) -> list[Row]:
        """Metric rows with seq > since, oldest first."""
        rows = self.read("SELECT * FROM metrics WHERE run = ? AND seq > ? ORDER BY seq", (run_id, since))
        return [event_row(r) for r in rows]

    def snapshots(self, run_id: str, kind: str | None = None, since: int = 0, limit: int | None = None) -> list[Row]:
        """Snapshot rows with seq > since, oldest first; with `limit`, the newest `limit` of them."""
        where, args = "run = ? AND seq > ?", [run_id, since]
        if kind is not None:
            where, args = where + " AND kind = ?", [*args, kind]
        sql = f"SELECT * FROM snapshots WHERE {where} ORDER BY seq DESC"
        if limit is not None:
            sql, args = sql + " LIMIT ?", [*args, limit]
        return [event_row(r) for r in reversed(self.read(sql, tuple(args)))]

    def last_step(self, run_id: str) -> tuple[int, int]:
        """(step, epoch) of the newest metrics row; (0, 0) when there is none."""
        rows = self.read("SELECT step, epoch FROM metrics WHERE run = ? ORDER BY seq DESC LIMIT 1", (run_id,))
        return (rows[0]["step"], rows[0]["epoch"]) if rows else (0, 0)

    # --- commands --------------------------------------------------------------------------------------

    def send_command(self, run_id: str, command: str) -> None:
        assert command in COMMANDS, f"unknown command {command!r}"
        with self._write() as conn:
            conn.execute(
                "INSERT INTO commands (run, command, created) VALUES (?, ?, ?)", (run_id, command, time.time())
            )

    def take_commands(self, run_id: str) -> list[str]:
        """The commands not taken yet, oldest first; they are marked taken."""
        with self._write() as conn:
            rows = conn.execute(
                "SELECT seq, command FROM commands WHERE run = ? AND taken IS NULL ORDER BY seq", (run_id,)
            ).fetchall()
            if rows:
                conn.execute(
                    "UPDATE commands SET taken = ? WHERE run = ? AND taken IS NULL AND seq <= ?",
                    (time.time(), run_id, rows[-1]["seq"]),
                )
        return [r["command"] for r in rows]

    def has_commands(self, run_id: str) -> bool:
        """A cheap read-only check, so a worker takes the write lock only when there is something to take."""
        rows = self.read("SELECT 1 FROM commands WHERE run = ? AND taken IS NULL LIMIT 1", (run_id,))
        return bool(rows)

    # --- edits -----------------------------------------------------------------------------------------

    def add_edit(self, run_id: str, step: int, epoch: int, data: dict) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO edits (run, step, epoch, created, data) VALUES (?, ?, ?, ?, ?)",
                (run_id, step, epoch, time.time(), to_json(data)),
            )

    def edits(self, run_id: str) -> list[Row]:
        rows = self.read(
            "SELECT seq, step, epoch, 'edit' AS kind, data FROM edits WHERE run = ? ORDER BY seq", (run_id,)
        )
        return [event_row(r) for r in rows]
