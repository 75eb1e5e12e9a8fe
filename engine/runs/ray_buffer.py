"""What a run's loop writes to inside a Ray actor instead of the run store: a buffer of numbered events.

engine.runs.worker_loop.RunLoop (and engine.runs.worker's preparing and failing) call the same methods on it as
on a RunStore: set_status, write, has_commands, take_commands, release_worker, has_waiting, bundle_dir. Each
status change, each flushed batch of rows and each checkpoint becomes one event (seq, kind, payload) with seq
1, 2, 3, ... in the order the loop made them. The app drains them (`drain(after)`: every event past `after`,
the ones up to `after` being acknowledged and dropped), writes them to the store in order and remembers the last
seq it wrote, so an event seen twice is written once and one the app never acknowledged is drained again by a
restarted app. Commands come in through `add_command` (an actor method, on another thread than the loop's).

Checkpoints are written into the actor's own folder (bundle_dir) and kept in memory as bytes (`bundle`), the
version going up by one each time, so the app can copy them under runs/<id>/ on its own machine.
"""

from __future__ import annotations

import threading
from pathlib import Path

from engine.runs.bundle_files import read_bundle_files
from engine.runs.store_schema import COMMANDS, STATUSES, Write

NOT_SENT = ("pid",)  # a column that means something only on the actor's machine


class ActorBuffer:
    """The run store's methods a run loop uses, buffered as numbered events (see the module doc); `folder`: the
    actor's own scratch folder, where its checkpoints are written before they are read back as bytes."""

    def __init__(self, run_id: str, folder: Path):
        self.run_id, self.folder = run_id, Path(folder)
        self.lock = threading.Lock()
        self.events: list[tuple[int, str, dict]] = []
        self.seq = 0
        self.commands: list[str] = []
        self.bundle_version = 0
        self.bundle: dict[str, bytes] = {}

    # --- what the run loop calls -----------------------------------------------------------------------

    def set_status(self, run_id: str, status: str, message: str | None = None, **columns) -> None:
        assert status in STATUSES, f"unknown status {status!r}"
        columns = {k: v for k, v in columns.items() if k not in NOT_SENT}
        self._add("status", {"status": status, "message": message, "columns": columns})

    def write(self, run_id: str, batch: Write) -> None:
        self._add("write", {"metrics": batch.metrics, "snapshots": batch.snapshots, "progress": batch.progress})

    def has_commands(self, run_id: str) -> bool:
        with self.lock:
            return bool(self.commands)

    def take_commands(self, run_id: str) -> list[str]:
        with self.lock:
            taken, self.commands = self.commands, []
        return taken

    def release_worker(self, run_id: str, message: str, final: dict, launch: dict) -> bool:
        return False  # an actor never gives its place up: Ray, not the app's queue, shares the cluster

    def has_waiting(self) -> bool:
        return False

    def bundle_dir(self, run_id: str) -> Path:
        return self.folder / "bundle"

    def log_path(self, run_id: str) -> Path:
        return self.folder / "worker.log"

    # --- what the actor's methods call -----------------------------------------------------------------

    def add_command(self, command: str) -> None:
        assert command in COMMANDS, f"unknown command {command!r}"
        with self.lock:
            self.commands.append(command)

    def checkpointed(self) -> None:
        """A checkpoint was just written into bundle_dir: keep its bytes and say so in an event."""
        files = read_bundle_files(self.bundle_dir(self.run_id))
        with self.lock:
            self.bundle_version += 1
            self.bundle = files
            version = self.bundle_version
        self._add("checkpoint", {"version": version})

    def drain(self, after: int) -> list[tuple[int, str, dict]]:
        """Drop the events up to `after` (the app has written them) and hand over the rest, oldest first."""
        with self.lock:
            self.events = [event for event in self.events if event[0] > after]
            return list(self.events)

    def last_seq(self) -> int:
        with self.lock:
            return self.seq

    def _add(self, kind: str, payload: dict) -> None:
        with self.lock:
            self.seq += 1
            self.events.append((self.seq, kind, payload))
