"""Starting and watching runs: the API the Train page (and the benchmarks) use. One worker (or actor) per run.

    manager = RunManager()                          # the store under NETCANVAS_RUNS_DIR or runs/
    run_id = manager.start_run(owner, spec, config, address=ip)  # checks first: ConfigError / SpecInvalid /
                                                    # DataError, SessionFull (a ConfigError) beyond the session's
                                                    # or the client address's cap
    manager.pause(run_id); manager.resume(run_id); manager.stop(run_id)   # waiting in the queue too
    record = manager.status(run_id)                 # RunRecord: status, message, progress, final metrics
    place = manager.place(run_id)                   # a waiting run's place in the queue (run_queue.Place)
    rows = manager.metrics(run_id, since=seq)       # new metric rows; manager.snapshots(...) alike
    plan = manager.continue_run(run_id, new_spec)   # after pause/stop: which nodes kept their weights
    manager.close()                                 # stops the queue's thread (the workers go on)

The manager hands each run to an executor (engine.runs.executor): `local` (engine.runs.local_executor: a
forkserver worker process per run on this machine, the default) or `ray` (engine.runs.ray_executor: a Ray actor
per run, when NETCANVAS_RAY_ADDRESS is set). Pages and trainers never know which: both end in the same rows of
the same store, and the manager talks only to the executor (submit, command, check, reap_slots, devices).

Runs go through the queue of engine.runs.run_queue: at most `workers` worker processes at once
(NETCANVAS_MAX_WORKERS, cores - 1 by default; under Ray there is no such cap: the cluster's resources are, and
Ray starts an actor when they allow) and at most `per_session` active runs per owner
(NETCANVAS_MAX_RUNS_PER_SESSION, 2) and per client address (NETCANVAS_MAX_RUNS_PER_ADDRESS, 4, over all the
keys of one address, kept as a keyed hash); the rest wait in the store, in order. A run paused for
NETCANVAS_PAUSE_GRACE_S (120 s) while others wait gives its worker up and stays paused ("released"): Resume
queues it again, and it continues from the checkpoint of its pause. Who starts a waiting run: the
manager's queue thread, which looks every QUEUE_POLL_SECONDS while a run waits (and, under Ray, while an actor
is live: it also writes the actors' events to the store), and every start, resume and stop, which dispatch at
once. A thread and not "whoever polls": with several Streamlit sessions in one server the manager is shared
(st.cache_resource), and a queued run must start when a worker frees up even if no page is open to poll (a
closed tab, a class that went home). Claims are store transactions, so several managers on one runs directory
(a second app, a restarted one) share the cap. A new manager dispatches at once: runs queued before an app
restart start again when the restarted app makes its manager.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from builder.spec.limits import limits
from builder.spec.spec import GraphSpec, parse_spec
from engine.probes.step_probes import DEFAULT_PROBES, ProbeSettings
from engine.runs.bundle import META_FILE
from engine.runs.executor import Executor, executor_kind, make_executor, ray_address
from engine.runs.local_executor import PRELOAD, local_devices, plain_main  # noqa: F401 (re-exported)
from engine.runs.manager_continue import STOP_WAIT_SECONDS, ContinueRuns  # noqa: F401 (re-exported)
from engine.runs.run_checks import (  # noqa: F401 (re-exported: the Train page and page jobs import them here)
    Readiness,
    continue_terms_of,
    data_name,
    data_of,
    preflight,
)
from engine.runs.run_queue import Place, RunQueue
from engine.runs.store import RunRecord, RunStore
from engine.runs.worker import WorkerOptions
from engine.train.config import TrainConfig

QUEUE_POLL_SECONDS = 0.1  # how often the queue thread looks for free workers while a run waits (3 small reads)
RAY_WORKER_CAP = 1_000_000  # under Ray the app does not cap the runs started: the cluster's resources do
_plain_main = plain_main  # the name engine.runs.page_jobs imports


def available_devices() -> list[str]:
    """The devices a run may ask for, besides "auto": this machine's (cuda, cuda:N beyond the first, mps, cpu),
    or under Ray the cluster's (cuda when some node has a GPU, cpu)."""
    if executor_kind() == "ray":
        from engine.runs.ray_cluster import cluster_devices  # Ray only when it is chosen

        return cluster_devices(ray_address())
    return local_devices()


class RunManager(ContinueRuns):
    """Hands runs to its executor through the run queue and answers for the runs in one store (see the module
    doc). `workers`, `per_session`, `per_address` and `pause_grace_s` default to NETCANVAS_MAX_WORKERS,
    NETCANVAS_MAX_RUNS_PER_SESSION, NETCANVAS_MAX_RUNS_PER_ADDRESS and NETCANVAS_PAUSE_GRACE_S;
    `worker_memory`: bytes each worker may allocate instead of its run's estimate (engine.runs.worker_memory);
    `check`: the pre-run check of start_run and continue_run (`preflight` here, which loads the data in this
    process; the app passes engine.runs.page_jobs.preflight_in_child, the same check in a child with limits);
    `executor`: an executor made already, else make_executor's choice (`ray_address`, else
    NETCANVAS_RAY_ADDRESS)."""

    def __init__(
        self,
        store: RunStore | None = None,
        start_method: str = "forkserver",
        probes: ProbeSettings | None = DEFAULT_PROBES,
        workers: int | None = None,
        per_session: int | None = None,
        per_address: int | None = None,
        pause_grace_s: float | None = None,
        worker_memory: int | None = None,
        check: Callable[[GraphSpec, TrainConfig], object] = preflight,
        executor: Executor | None = None,
        ray_address: str | None = None,
    ):
        self.store = store if store is not None else RunStore()
        self.check = check  # the pre-run check; the app passes page_jobs.preflight_in_child (no data in the server)
        self.probes = probes
        caps = limits()
        grace = pause_grace_s if pause_grace_s is not None else caps.pause_grace_s
        self.options = WorkerOptions(pause_grace_s=grace, memory_budget=worker_memory)
        self.executor = executor or make_executor(self.store, probes, self.options, start_method, ray_address)
        cap = RAY_WORKER_CAP if self.executor.name == "ray" else workers or caps.max_workers
        self.queue = RunQueue(
            self.store, cap, per_session or caps.max_runs_per_session, per_address or caps.max_runs_per_address
        )
        self.executor.requeue_claimed = self.queue.requeue_claimed
        self.executor.on_requeued = self._start_thread
        self.executor.on_interrupted = self._continue_interrupted
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake, self._closed = threading.Event(), threading.Event()
        self._start_thread()  # runs left waiting by an app that stopped start now, from the queue thread

    @property
    def processes(self) -> dict:
        """The local executor's worker processes by run id (empty under Ray)."""
        return getattr(self.executor, "processes", {})

    @property
    def context(self):
        return getattr(self.executor, "context", None)

    def warm_up(self) -> None:
        """Start the fork server now (it imports torch in the background), so the first run starts fast."""
        warm = getattr(self.executor, "warm_up", None)
        if warm is not None:
            warm()

    def close(self) -> None:
        """Stop the queue thread (runs that wait stay in the store for the next manager; workers go on)."""
        self._closed.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self.executor.close()

    def devices(self) -> list[str]:
        """The devices a run may ask for on this manager's executor, besides "auto"."""
        return self.executor.devices()

    def checked_config(self, config: TrainConfig) -> TrainConfig:
        """The settings the app-side check sees: under Ray the device is the cluster's (a GPU run may wait for a
        node that has one), so this machine checks the rest on the CPU."""
        if self.executor.name == "ray" and config.device != "cpu":
            return dataclasses.replace(config, device="cpu")
        return config

    # --- starting ------------------------------------------------------------------------------------------

    def start_run(
        self,
        owner: str,
        spec: GraphSpec,
        config: TrainConfig,
        weights_from: str | None = None,
        address: str | None = None,
    ) -> str:
        """Queue a run (it starts at once when a worker is free); with `weights_from` (a bundle directory) its
        nodes whose id, op and parameter shapes match start from the bundle's trained weights (the plan is
        recorded as an edit at step 0). SessionFull when `owner` already has `per_session` active runs, or the
        client `address` (None: not known, e.g. localhost) `per_address` over all its session keys."""
        client = self.store.client_tag(address)
        self.queue.check_session(owner, client=client)  # before the data is loaded; submit checks again, atomically
        self.check(spec, self.checked_config(config))
        plan = self.plan_from(Path(weights_from), spec) if weights_from else None
        launch = {"weights_from": str(weights_from) if weights_from else None, "resume": False}
        run_id = self.queue.submit(owner, spec.to_dict(), config.to_dict(), launch, client)
        if plan is not None:
            data = {**plan.to_dict(), "weights_from": str(weights_from), "summary": plan.summary()}
            self.store.add_edit(run_id, 0, 0, {**data, "graph_changed": False})
        self._watch()
        return run_id

    def dispatch(self) -> list[str]:
        """Free the slots of workers that died (under Ray: write what the actors said), then start the waiting
        runs that fit; the ids started."""
        alive = self.executor.reap_slots()
        started = []
        for record in self.queue.claim(os.getpid(), alive):
            launch = record.launch or {}
            try:
                self._launch(record.id, launch.get("weights_from"), bool(launch.get("resume")), record)
                started.append(record.id)
            except Exception as err:  # no process could be made (out of memory, too many processes), no actor
                message = f"its {self._worker_words()} could not be started: {type(err).__name__}: {err}"
                self.store.mark_failed_if_active(record.id, message)
        return started

    def _worker_words(self) -> str:
        return "Ray actor" if self.executor.name == "ray" else "worker process"

    def _launch(self, run_id: str, weights_from: str | None, resume: bool, record: RunRecord | None = None) -> None:
        record = record if record is not None else self.store.get(run_id)
        self.executor.submit(record, weights_from, resume)

    def _continue_interrupted(self, run_id: str) -> None:
        """NETCANVAS_RAY_AUTO_RESUME=1: a run whose actor was lost continues once from its checkpoint."""
        record = self.store.get(run_id)
        if record is None:
            return
        spec, config = parse_spec(record.spec)[0], TrainConfig.from_dict(record.config)[0]
        if spec is None or config is None:
            return
        try:
            self.continue_run(run_id, spec, config)
        except Exception:  # the run stays interrupted; Continue on the page says why
            traceback.print_exc()

    # --- the queue thread ----------------------------------------------------------------------------------

    def _watch(self) -> None:
        """Dispatch now, and keep the queue thread going while some run waits."""
        self.dispatch()
        self._start_thread()

    def _start_thread(self) -> None:
        with self.lock:
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._watch_loop, name="netcanvas-run-queue", daemon=True)
                self._thread.start()
        self._wake.set()

    def _watch_loop(self) -> None:
        """Dispatch every QUEUE_POLL_SECONDS (or when woken) until no run waits or the manager is closed."""
        while not self._closed.is_set():
            try:
                self.dispatch()
                with self.lock:  # under the lock: a _start_thread after this finds no thread and makes one
                    if not self.queue.has_startable() and not self.executor.has_active():
                        self._thread = None
                        return
            except Exception:  # a locked or vanished store: say so in the server's log, try again
                traceback.print_exc()
            self._wake.wait(QUEUE_POLL_SECONDS)
            self._wake.clear()
        with self.lock:
            self._thread = None

    # --- commands ------------------------------------------------------------------------------------------

    def pause(self, run_id: str) -> None:
        """A waiting run keeps its place without starting (until resumed); a running one pauses its worker."""
        if not self.queue.hold(run_id):
            self._command(run_id, "pause")

    def resume(self, run_id: str) -> None:
        """A held run may start; a paused one is "running" at once ("resuming at step N"): the page shows it on
        its next draw, not when the worker next reads its commands and writes its status. A released pause
        joins the end of the queue and continues from its checkpoint."""
        if self.queue.release(run_id) or self.queue.requeue_released(run_id):
            self._watch()
            return
        self._command(run_id, "resume")
        if self.queue.requeue_released(run_id):  # its worker let go as the command went out (it obeys none)
            self._watch()
            return
        record = self.status(run_id)
        if record is not None and record.status == "paused":
            self._mark_resuming(run_id, int(record.progress.get("step", 0)))

    def _mark_resuming(self, run_id: str, step: int) -> None:
        """Paused -> running, only if still paused with its worker: the worker may have read the resume (and
        said "resumed") or a stop already, and a run held in the queue has no worker to resume it."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = 'running', message = ?, updated = ? "
                "WHERE id = ? AND status = 'paused' AND ticket IS NULL AND released = 0",
                (f"resuming at step {step}", time.time(), run_id),
            )

    def stop(self, run_id: str) -> None:
        """A waiting run leaves the queue ("stopped before it started"); a running one stops its worker; a
        released pause ends "stopped" with its checkpoint."""
        if self.queue.withdraw(run_id) or self.queue.end_released(run_id):
            return
        self._command(run_id, "stop")
        self.queue.end_released(run_id)  # its worker let go as the command went out (it obeys none)

    def _command(self, run_id: str, command: str) -> None:
        """Send `command` to the run's worker or actor (none to a released pause: it has no worker)."""
        record = self.status(run_id)
        if record is not None and record.active and not record.released:
            self.executor.command(run_id, command)

    # --- reading -------------------------------------------------------------------------------------------

    def status(self, run_id: str, owner: str | None = None) -> RunRecord | None:
        """The run's record (after noticing a dead worker); None if unknown or owned by someone else."""
        record = self.store.get(run_id)
        if record is None or (owner is not None and record.owner != owner):
            return None
        if record.active and self.executor.check(record):
            record = self.store.get(run_id)
        return record

    def list_runs(self, owner: str) -> list[RunRecord]:
        records = self.store.list_runs(owner)
        if any(r.active and self.executor.check(r) for r in records):
            records = self.store.list_runs(owner)
        return records

    def place(self, run_id: str) -> Place | None:
        """A waiting (or held) run's place in the queue; None when it is not in the queue."""
        return self.queue.places().get(run_id)

    def places(self) -> dict[str, Place]:
        """Every waiting run's place in the queue."""
        return self.queue.places()

    def has_checkpoint(self, run_id: str) -> bool:
        """Whether the run has a bundle to continue from."""
        return (self.store.bundle_dir(run_id) / META_FILE).is_file()

    def metrics(self, run_id: str, since: int = 0):
        return self.store.metrics(run_id, since)

    def snapshots(self, run_id: str, kind: str | None = None, since: int = 0, limit: int | None = None):
        return self.store.snapshots(run_id, kind, since, limit)

    def edits(self, run_id: str):
        return self.store.edits(run_id)

    def wait(self, run_id: str, timeout: float = 60.0, until=lambda r: not r.active) -> RunRecord:
        """Poll until `until(record)` holds (default: the run has ended); TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.status(run_id)
            if record is not None and until(record):
                return record
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} is still {record.status if record else 'missing'} after {timeout} s")
            time.sleep(0.05)
