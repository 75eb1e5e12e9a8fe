"""The local executor: one worker process per run on the app's own machine (the default; engine.runs.executor).

Worker processes come from the 'forkserver' start method with the engine preloaded: the server process
is a fresh interpreter (like 'spawn': no inherited threads, CUDA-safe) that imports torch once, and each run
is a fork of it, ready in milliseconds instead of the seconds a spawned interpreter needs to import torch
(measured here: 5-8 s per spawn, 0.02 s per forkserver start). `start_method="spawn"` works too.

The worker writes its rows, status and checkpoint to the run store itself, and reads its commands from the
store's commands table; collect() therefore has nothing to hand over.

A worker that dies without writing its end (killed, out of memory, a crash in native code) is noticed by
`check` (the manager's status and list_runs) and by `reap_slots` (the manager's queue thread), which mark its
run failed with the exit code and the last line of its log; that frees its worker slot. A run claimed for
starting by an app that was killed before its worker started (no worker of this manager's, none alive) goes
back to the front of the queue instead.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from engine.probes.step_probes import ProbeSettings
from engine.runs.bundle_files import read_bundle_files
from engine.runs.executor_types import EventBatch, ExecutorStatus
from engine.runs.liveness import death_message, left_unstarted, pid_alive
from engine.runs.run_queue import HOLDER_WHERE
from engine.runs.store import RunRecord, RunStore, run_record
from engine.runs.worker import WorkerOptions, worker_main

PRELOAD = ["engine.runs.worker", "sklearn.datasets", "torch._dynamo"]  # torch.optim imports torch._dynamo lazily: 3 s
STALE_SECONDS = 600.0  # a run whose worker is not ours and has said nothing for this long is given up
CLAIM_GRACE_SECONDS = 10.0  # a claimed run whose pid is still the app's is being started, not left behind
_MAIN_LOCK = threading.Lock()  # one swap of __main__ at a time, whichever manager or thread starts a worker
_STARTING: set[str] = set()  # runs whose worker this process is starting (their pid is still this process's)


@contextmanager
def plain_main() -> Iterator[None]:
    """Hide the parent's __main__ while a worker (or the fork server) starts.

    multiprocessing re-runs the parent's __main__ file in a child (as __mp_main__) so that functions defined
    there can be unpickled. Under Streamlit, __main__ is the app script: the child would run the whole app.
    Workers need nothing from __main__ (their target lives in engine.runs.worker), so they get an empty one.
    Streamlit executes each script in its module's own namespace, so the swap does not disturb a script run.
    """
    with _MAIN_LOCK:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main


def local_devices() -> list[str]:
    """The devices this machine can train on, besides "auto": cuda (and cuda:N beyond the first), mps, cpu."""
    found = []
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        found += ["cuda"] + [f"cuda:{i}" for i in range(1, count)]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


class LocalExecutor:
    """Forkserver workers on this machine (see the module doc). `requeue_claimed` and `on_requeued` are set by
    the manager: put a run left unstarted back in the queue, and wake the queue thread."""

    name = "local"

    def __init__(
        self, store: RunStore, probes: ProbeSettings | None, options: WorkerOptions, start_method: str = "forkserver"
    ):
        self.store, self.probes, self.options = store, probes, options
        self.context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self.context.set_forkserver_preload(PRELOAD)
        self.processes: dict[str, multiprocessing.process.BaseProcess] = {}
        self.lock = threading.Lock()
        self.requeue_claimed: Callable[[RunRecord], bool | None] = lambda record: False
        self.on_requeued: Callable[[], None] = lambda: None

    def warm_up(self) -> None:
        """Start the fork server now (it imports torch in the background), so the first run starts fast."""
        if self.context.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            with self.lock, plain_main():
                forkserver.ensure_running()

    def close(self) -> None:
        """Nothing to let go: the workers go on (an app that exits stops them: they are daemons)."""

    # --- the seam ------------------------------------------------------------------------------------------

    def submit(self, record: RunRecord, weights_from: str | None, resume: bool) -> None:
        process = self.context.Process(
            target=worker_main,
            args=(str(self.store.root), record.id, weights_from, resume, self.probes, self.options),
            name=f"netcanvas-run-{record.id}",
            daemon=True,  # an app that exits stops its runs (SIGTERM: they stop with a checkpoint)
        )
        _STARTING.add(record.id)
        try:
            with self.lock:
                with plain_main():
                    process.start()
                self.processes[record.id] = process
            self.store.set_pid(record.id, process.pid)
        finally:
            _STARTING.discard(record.id)

    def command(self, run_id: str, command: str) -> None:
        self.store.send_command(run_id, command)

    def status(self, run_id: str) -> ExecutorStatus | None:
        record = self.store.get(run_id)
        if record is None:
            return None
        if record.waiting:
            return ExecutorStatus("queued", record.message)
        if record.status in ("running", "paused") or (record.status == "queued" and record.ticket is None):
            return ExecutorStatus("paused" if record.status == "paused" else "running", record.message)
        return ExecutorStatus("ended", record.message)

    def collect(self) -> list[EventBatch]:
        return []  # the workers write the store themselves

    def fetch(self, run_id: str, what: str) -> dict[str, bytes]:
        """The files of the run's bundle folder (its last checkpoint; the final bundle once it has ended)."""
        return read_bundle_files(self.store.bundle_dir(run_id))

    def devices(self) -> list[str]:
        return local_devices()

    def has_active(self) -> bool:
        return False  # the queue thread need not run for a run that has its worker: the worker writes the store

    # --- noticing dead workers -----------------------------------------------------------------------------

    def reap_slots(self) -> frozenset[str]:
        """Mark the runs holding a worker slot whose worker is gone failed (freeing the slot), and forget the
        processes that have ended; the runs whose worker process is alive (one whose run has ended is still
        exiting, and holds its slot until it is gone)."""
        for row in self.store.read(f"SELECT * FROM runs WHERE {HOLDER_WHERE}"):
            self.check(run_record(row))
        with self.lock:
            processes = list(self.processes.items())
        alive = set()
        for run_id, process in processes:
            if process.is_alive():
                alive.add(run_id)
                continue
            record = self.store.get(run_id)
            if record is None or not record.active or record.released or self.check(record):
                with self.lock:
                    if self.processes.get(run_id) is process:
                        del self.processes[run_id]
        return frozenset(alive)

    def check(self, record: RunRecord) -> bool:
        """Mark an active run whose worker is gone as failed, or put one claimed by an app that is gone back
        in the queue; True if it did. A run waiting in the queue has no worker yet, and a released pause no
        longer has one: both are left alone."""
        if not record.active or record.waiting or record.released:
            return False
        with self.lock:
            process = self.processes.get(record.id)
        if process is not None:
            if process.is_alive():
                return False
            exitcode = process.exitcode
        elif record.pid == os.getpid():  # claimed by this process (being started) or by an earlier app's
            if record.id in _STARTING or time.time() - record.updated < CLAIM_GRACE_SECONDS:
                return False
            exitcode = None
        elif pid_alive(record.pid) and time.time() - record.updated < STALE_SECONDS:
            return False
        elif record.pid is None and time.time() - record.updated < STALE_SECONDS:
            return False  # another app is starting it
        else:
            exitcode = None
        with self.lock:
            self.processes.pop(record.id, None)
        if process is None and left_unstarted(record):
            requeued = self.requeue_claimed(record)
            if requeued is None:  # no longer as `record` saw it: another thread requeued or started it
                return False
            if requeued:
                self.on_requeued()  # the queue thread starts it when a worker is free
                return True
        return self.store.mark_failed_if_active(record.id, death_message(exitcode, self.store.log_path(record.id)))
