"""The run queue (docs/ARCHITECTURE.md §2): at most `workers` training workers at once, at most `per_session` active
runs per session key, and the runs beyond the workers waiting in the store in the order they were submitted.

    queue = RunQueue(store, workers=3, per_session=2, per_address=4)
    run_id = queue.submit(owner, spec, config, launch, client)  # SessionFull beyond per_session or per_address
    for record in queue.claim(os.getpid()): ...          # the waiting runs that fit now: start their workers
    queue.hold(run_id); queue.release(run_id); queue.withdraw(run_id)   # pause, resume, stop while waiting
    queue.requeue_released(run_id); queue.end_released(run_id)          # resume, stop a released pause
    queue.requeue_claimed(record)          # a run claimed by an app that died before its worker started
    queue.places()                                       # {run_id: Place} of every waiting run

Everything lives in the run store (the runs table's `ticket` and `launch` columns), and every change is one
write transaction, so a page reload, another session, a second app on the same runs directory and an app
restarted after a crash all see the same queue, and two of them never start the same run or more than
`workers` runs between them.

The states of a run, as the queue counts them:
- waiting: status `queued` with a ticket (its place in line; tickets only grow, so the order is submission
  order, a continued run's counting from when it was continued). `claim` starts the lowest tickets first.
- held: status `paused` with a ticket. Pause on a waiting run keeps its ticket, so it keeps its place, but
  `claim` passes over it; Resume makes it waiting again, still at its place. Stop on a waiting or held run
  ends it `stopped` ("stopped before it started") and takes it out of the line.
- holding a worker slot: every active run without a ticket and not released: starting (status `queued`,
  `pid` the starting app's until the worker's own), `running`, or `paused` with its worker (a paused worker
  keeps its process and its memory).
- released: status `paused`, `released` = 1, no ticket, no worker. A worker paused for NETCANVAS_PAUSE_GRACE_S
  while some run waits checkpoints and gives its slot up (engine.runs.worker_loop); Resume puts the run at the
  end of the line with a launch that continues it from its checkpoint (steps and epochs count on); Stop ends
  it `stopped` with that checkpoint.
- active for the caps: queued, running or paused, whether waiting, released or with a worker
  (RunRecord.active); at most `per_session` per session key and `per_address` per client address (the
  store's keyed hash of it; runs started without an address count only for their key).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from builder.spec.limits import limits
from engine.errors import ConfigError
from engine.runs.store import RunRecord, RunStore, run_record, to_json

ACTIVE_SQL = "status IN ('queued', 'running', 'paused')"
SESSION_SQL = f"SELECT id, status, ticket FROM runs WHERE owner = ? AND {ACTIVE_SQL} ORDER BY created"
CLIENT_SQL = f"SELECT id, status, ticket FROM runs WHERE client = ? AND {ACTIVE_SQL} ORDER BY created"
HOLDER_WHERE = f"ticket IS NULL AND released = 0 AND {ACTIVE_SQL}"
HOLDING_SQL = f"SELECT id FROM runs WHERE {HOLDER_WHERE}"  # the runs holding a worker slot
WAITING_MESSAGE = "waiting in the queue for a worker"
STARTING_MESSAGE = "starting its worker"
REQUEUED_MESSAGE = "back in the queue: the app stopped before its worker started"
MAX_REQUEUES = 3  # a claimed run whose worker never starts goes back this often, then fails


class SessionFull(ConfigError):
    """A start refused because the session already has `per_session` active runs; `holders` are those runs."""

    def __init__(self, message: str, holders: tuple[str, ...]):
        super().__init__(message)
        self.holders = holders


@dataclass(frozen=True)
class Place:
    """Where a waiting (or held) run stands in the queue."""

    run_id: str
    place: int  # 1-based among the runs that can start; a held run: where it stands once resumed
    ahead: int  # runs that start before it (held runs are passed over, so they are not counted)
    held: bool  # paused in the queue: it does not start until resumed
    workers: int  # the cap on workers
    busy: int  # worker slots held now


class RunQueue:
    """The queue over one store (see the module doc); `workers`, `per_session` and `per_address` >= 1
    (`per_address` defaults to NETCANVAS_MAX_RUNS_PER_ADDRESS)."""

    def __init__(self, store: RunStore, workers: int, per_session: int, per_address: int | None = None):
        per_address = per_address or limits().max_runs_per_address
        assert workers >= 1 and per_session >= 1 and per_address >= 1, (workers, per_session, per_address)
        self.store, self.workers, self.per_session, self.per_address = store, workers, per_session, per_address

    # --- joining the line ------------------------------------------------------------------------------

    def submit(self, owner: str, spec: dict, config: dict, launch: dict, client: str | None = None) -> str:
        """A new run of `owner` (from the client address tagged `client`), waiting at the end of the line;
        SessionFull when `owner` or `client` is at its cap."""
        with self.store.transaction() as conn:
            self._check_session(conn, owner, excluding=None, client=client)
            ticket = _next_ticket(conn)
            return self.store.insert_run(
                conn, owner, spec, config, WAITING_MESSAGE, ticket=ticket, launch=launch, client=client
            )

    def requeue(self, run_id: str, owner: str, message: str, launch: dict, **columns) -> None:
        """An ended run back at the end of the line (continue training), with `message` and any of the
        columns RunStore.set_status takes; SessionFull when `owner` is at the cap without it."""
        with self.store.transaction() as conn:
            client = conn.execute("SELECT client FROM runs WHERE id = ?", (run_id,)).fetchone()
            self._check_session(conn, owner, excluding=run_id, client=client["client"] if client else None)
            columns = {**columns, "ticket": _next_ticket(conn), "launch": launch, "pid": None, "released": 0}
            _set(conn, run_id, "queued", message, columns)
            _drop_commands(conn, run_id)

    def check_session(self, owner: str, excluding: str | None = None, client: str | None = None) -> None:
        """SessionFull when `owner` has `per_session` (or `client` `per_address`) active runs besides
        `excluding` (read only)."""
        self._refuse_if_full(self.store.read(SESSION_SQL, (owner,)), excluding)
        if client is not None:
            self._refuse_if_address_full(self.store.read(CLIENT_SQL, (client,)), excluding)

    def _check_session(
        self, conn: sqlite3.Connection, owner: str, excluding: str | None, client: str | None = None
    ) -> None:
        self._refuse_if_full(conn.execute(SESSION_SQL, (owner,)).fetchall(), excluding)
        if client is not None:
            self._refuse_if_address_full(conn.execute(CLIENT_SQL, (client,)).fetchall(), excluding)

    def _refuse_if_address_full(self, rows: list[sqlite3.Row], excluding: str | None) -> None:
        """Runs of other session keys are counted, not named: their ids are theirs."""
        holders = [r for r in rows if r["id"] != excluding]
        if len(holders) < self.per_address:
            return
        runs = "run" if self.per_address == 1 else "runs"
        raise SessionFull(
            f"one client address may have at most {self.per_address} active {runs} at a time (queued, running or "
            f"paused, over all its sessions), and {len(holders)} from your address are active: stop one or let it "
            "end first",
            (),
        )

    def _refuse_if_full(self, rows: list[sqlite3.Row], excluding: str | None) -> None:
        holders = [r for r in rows if r["id"] != excluding]
        if len(holders) < self.per_session:
            return
        named = ", ".join(f"{r['id']} ({_state(r['status'], r['ticket'])})" for r in holders)
        runs = "run" if self.per_session == 1 else "runs"
        raise SessionFull(
            f"a session may have at most {self.per_session} active {runs} at a time (queued, running or paused), "
            f"and yours are {named}: stop one or let it end first",
            tuple(r["id"] for r in holders),
        )

    # --- leaving the line ------------------------------------------------------------------------------

    def claim(self, pid: int, alive: frozenset[str] = frozenset()) -> list[RunRecord]:
        """Take the waiting runs that fit in the free worker slots out of the line, oldest ticket first, and
        mark them starting by the app process `pid`; the caller starts their workers. `alive`: the runs whose
        worker process the caller has seen alive; one whose run has ended is still exiting and holds its slot
        until it is gone."""
        if not self.has_startable() or self.workers - len(self._holding(self.store.read(HOLDING_SQL), alive)) <= 0:
            return []  # the common case, without taking the write lock
        with self.store.transaction() as conn:
            free = self.workers - len(self._holding(conn.execute(HOLDING_SQL).fetchall(), alive))
            if free <= 0:
                return []
            rows = conn.execute(
                "SELECT * FROM runs WHERE status = 'queued' AND ticket IS NOT NULL ORDER BY ticket LIMIT ?", (free,)
            ).fetchall()
            for row in rows:
                _set(conn, row["id"], "queued", STARTING_MESSAGE, {"ticket": None, "pid": pid})
        return [run_record(row) for row in rows]

    def withdraw(self, run_id: str) -> bool:
        """Stop a waiting or held run: it leaves the line, `stopped`; False when it is not in the line."""
        now = time.time()
        return self._update(
            "UPDATE runs SET status = 'stopped', message = 'stopped before it started', ticket = NULL, "
            f"updated = ?, ended = ? WHERE id = ? AND ticket IS NOT NULL AND {ACTIVE_SQL}",
            (now, now, run_id),
        )

    def hold(self, run_id: str) -> bool:
        """Pause a waiting run: it keeps its place but is not started; False when it is not waiting."""
        message = "paused in the queue: it keeps its place and starts once resumed and a worker is free"
        return self._update(
            "UPDATE runs SET status = 'paused', message = ?, updated = ? "
            "WHERE id = ? AND ticket IS NOT NULL AND status = 'queued'",
            (message, time.time(), run_id),
        )

    def release(self, run_id: str) -> bool:
        """Resume a held run: waiting again at its place; False when it is not held."""
        return self._update(
            "UPDATE runs SET status = 'queued', message = ?, updated = ? "
            "WHERE id = ? AND ticket IS NOT NULL AND status = 'paused'",
            (WAITING_MESSAGE, time.time(), run_id),
        )

    def requeue_released(self, run_id: str) -> bool:
        """Resume a released pause: it waits at the end of the line and its worker continues it from its
        checkpoint (its launch); False when it is not a released pause."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status = 'queued', message = ?, ticket = ?, released = 0, pid = NULL, updated = ? "
                "WHERE id = ? AND status = 'paused' AND released = 1",
                (WAITING_MESSAGE, _next_ticket(conn), time.time(), run_id),
            )
            if cursor.rowcount:
                _drop_commands(conn, run_id)  # sent to the worker that had gone; the next one must not obey them
        return cursor.rowcount > 0

    def end_released(self, run_id: str) -> bool:
        """Stop a released pause: `stopped`, its checkpoint kept; False when it is not a released pause."""
        now = time.time()
        with self.store.transaction() as conn:
            row = conn.execute("SELECT progress FROM runs WHERE id = ?", (run_id,)).fetchone()
            step = json.loads(row["progress"]).get("step", 0) if row else 0
            cursor = conn.execute(
                "UPDATE runs SET status = 'stopped', message = ?, released = 0, updated = ?, ended = ? "
                "WHERE id = ? AND status = 'paused' AND released = 1",
                (f"stopped on request at step {step} while paused; checkpoint saved", now, now, run_id),
            )
            if cursor.rowcount:
                _drop_commands(conn, run_id)
        return cursor.rowcount > 0

    def requeue_claimed(self, record: RunRecord) -> bool | None:
        """A run claimed for starting whose worker never came (the app was killed in between): back at the
        front of the line, its launch unchanged. True when done; None when the run is no longer as `record`
        saw it (started, requeued or claimed again meanwhile: leave it); False after MAX_REQUEUES of these
        (the caller fails it)."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT launch FROM runs WHERE id = ? AND status = 'queued' AND ticket IS NULL AND pid IS ? "
                "AND updated = ?",
                (record.id, record.pid, record.updated),
            ).fetchone()
            if row is None:
                return None
            launch = json.loads(row["launch"]) if row["launch"] else {}
            if launch.get("requeued", 0) >= MAX_REQUEUES:
                return False
            front = conn.execute("SELECT COALESCE(MIN(ticket), 1) - 1 FROM runs WHERE ticket IS NOT NULL").fetchone()
            launch = {**launch, "requeued": launch.get("requeued", 0) + 1}
            _set(conn, record.id, "queued", REQUEUED_MESSAGE, {"ticket": front[0], "pid": None, "launch": launch})
            _drop_commands(conn, record.id)
        return True

    def _update(self, sql: str, args: tuple) -> bool:
        with self.store.transaction() as conn:
            return conn.execute(sql, args).rowcount > 0

    # --- reading ---------------------------------------------------------------------------------------

    def places(self) -> dict[str, Place]:
        """Every waiting and held run's place, in ticket order."""
        rows = self.store.read(f"SELECT id, status FROM runs WHERE ticket IS NOT NULL AND {ACTIVE_SQL} ORDER BY ticket")
        busy, found, startable = self.busy(), {}, 0
        for row in rows:
            held = row["status"] == "paused"
            found[row["id"]] = Place(row["id"], startable + 1, startable, held, self.workers, busy)
            startable += 0 if held else 1
        return found

    def busy(self) -> int:
        """Worker slots held now (runs out of the line and active, every owner's)."""
        return len(self.store.read(HOLDING_SQL))

    @staticmethod
    def _holding(rows: list[sqlite3.Row], alive: frozenset[str]) -> set[str]:
        return {row["id"] for row in rows} | alive

    def has_startable(self) -> bool:
        """Whether some run waits (not held) for a worker."""
        rows = self.store.read("SELECT 1 FROM runs WHERE status = 'queued' AND ticket IS NOT NULL LIMIT 1")
        return bool(rows)

    def holders(self) -> list[RunRecord]:
        """The runs that hold a worker slot (active, not in the line), every owner's."""
        rows = self.store.read(f"SELECT * FROM runs WHERE {HOLDER_WHERE}")
        return [run_record(r) for r in rows]


def _next_ticket(conn: sqlite3.Connection) -> int:
    """Above every ticket in the line (so the line keeps submission order)."""
    return conn.execute("SELECT COALESCE(MAX(ticket), 0) + 1 FROM runs").fetchone()[0]


def _drop_commands(conn: sqlite3.Connection, run_id: str) -> None:
    """Commands no worker took: a run (re)joining the line has none to obey."""
    conn.execute("UPDATE commands SET taken = ? WHERE run = ? AND taken IS NULL", (time.time(), run_id))


def _state(status: str, ticket: int | None) -> str:
    if ticket is None:
        return status
    return "paused in the queue" if status == "paused" else "waiting in the queue"


def _set(conn: sqlite3.Connection, run_id: str, status: str, message: str, columns: dict) -> None:
    """RunStore.set_status inside the caller's transaction."""
    values = {"status": status, "message": message, "updated": time.time(), **columns}
    for name in ("spec", "config", "launch"):
        if values.get(name) is not None:
            values[name] = to_json(values[name])
    assignments = ", ".join(f"{name} = ?" for name in values)
    conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*values.values(), run_id))
