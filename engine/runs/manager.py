"""Starting and watching runs: the API the Train page (and the benchmarks) use. One process per run.

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

Runs go through the queue of engine.runs.run_queue: at most `workers` worker processes at once
(NETCANVAS_MAX_WORKERS, cores - 1 by default) and at most `per_session` active runs per owner
(NETCANVAS_MAX_RUNS_PER_SESSION, 2) and per client address (NETCANVAS_MAX_RUNS_PER_ADDRESS, 4, over all the
keys of one address, kept as a keyed hash); the rest wait in the store, in order. A run paused for
NETCANVAS_PAUSE_GRACE_S (120 s) while others wait gives its worker up and stays paused ("released"): Resume
queues it again, and it continues from the checkpoint of its pause. Who starts a waiting run: the
manager's queue thread, which looks every QUEUE_POLL_SECONDS while a run waits (and ends when none does), and
every start, resume and stop, which dispatch at once. A thread and not "whoever polls": with several Streamlit
sessions in one server the manager is shared (st.cache_resource), and a queued run must start when a worker
frees up even if no page is open to poll (a closed tab, a class that went home). Claims are store
transactions, so several managers on one runs directory (a second app, a restarted one) share the cap. A new
manager dispatches at once: runs queued before an app restart start again when the restarted app makes its
manager.

Worker processes come from the 'forkserver' start method with the engine preloaded: the server process
is a fresh interpreter (like 'spawn': no inherited threads, CUDA-safe) that imports torch once, and each run
is a fork of it, ready in milliseconds instead of the seconds a spawned interpreter needs to import torch
(measured here: 5-8 s per spawn, 0.02 s per forkserver start). `start_method="spawn"` works too.

A worker that dies without writing its end (killed, out of memory, a crash in native code) is noticed by
`status`/`list_runs` and by the queue thread, which mark its run failed with the exit code and the last line
of its log; that frees its worker slot. A run claimed for starting by an app that was killed before its worker
started (no worker of this manager's, none alive) goes back to the front of the queue instead.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from builder.analysis.validate import analyze
from builder.library.datasets import CSV_PREFIX, DATASETS
from builder.spec.limits import limits
from builder.spec.spec import GraphSpec
from engine.compile.fx_module import compile_analysis
from engine.errors import BundleError, ConfigError, NetCanvasError
from engine.probes.step_probes import DEFAULT_PROBES, ProbeSettings
from engine.runs.bundle import META_FILE
from engine.runs.checkpoint import CarryPlan, checkpoint_shapes, checkpoint_spec, model_shapes, plan_carry, spec_ops
from engine.runs.liveness import death_message, left_unstarted, pid_alive
from engine.runs.run_queue import Place, RunQueue
from engine.runs.store import RunRecord, RunStore, to_json
from engine.runs.worker import WorkerOptions, worker_main
from engine.train.config import TrainConfig
from engine.train.device import pick_device
from engine.train.pipeline import analysis_for_training, fitted_dataset, objective_of, planned_epochs_of
from engine.train.rule_card import continue_terms, layers_of, run_cards, stored_config

PRELOAD = ["engine.runs.worker", "sklearn.datasets", "torch._dynamo"]  # torch.optim imports torch._dynamo lazily: 3 s
STALE_SECONDS = 600.0  # a run whose worker is not ours and has said nothing for this long is given up
STOP_WAIT_SECONDS = 60.0
QUEUE_POLL_SECONDS = 0.1  # how often the queue thread looks for free workers while a run waits (3 small reads)
_MAIN_LOCK = threading.Lock()  # one swap of __main__ at a time, whichever manager or thread starts a worker
CLAIM_GRACE_SECONDS = 10.0  # a claimed run whose pid is still the app's is being started, not left behind
_STARTING: set[str] = set()  # runs whose worker this process is starting (their pid is still this process's)


@dataclass(frozen=True)
class Readiness:
    """What a run of this spec and config would be: the task, the loss chosen for it, the data, the device."""

    task: str
    loss: str
    output: str  # the output node's id
    n_train: int
    n_val: int
    n_classes: int | None
    device: str


def preflight(spec: GraphSpec, config: TrainConfig) -> Readiness:
    """Everything that can be checked before a run starts; raises the user-facing error that names the
    field, node, file or column (ConfigError, SpecInvalid, DataError)."""
    analysis = analysis_for_training(spec, config)
    device, _ = pick_device(config.device, named=False)  # the server checks; the worker uses the GPU
    dataset = fitted_dataset(analysis, config)
    task, loss, _ = objective_of(analysis, config, dataset)  # the learning rule's checks name the node
    return Readiness(task, loss, analysis.output_id, dataset.n_train, dataset.n_val, dataset.n_classes, str(device))


def data_of(config: TrainConfig) -> tuple[str, str | None]:
    """What a run learns from: the dataset (a CSV file's path) and the target column."""
    return config.dataset, config.target


def data_name(config: TrainConfig) -> str:
    """The data in words: "dataset 'digits'", "CSV file 'wine.csv' (target 'quality')"."""
    if config.dataset.startswith(CSV_PREFIX):
        name = Path(config.dataset[len(CSV_PREFIX) :]).name
        return f"CSV file '{name}'" + (f" (target '{config.target}')" if config.target else "")
    return f"dataset '{config.dataset}'"


def _refusal(record: RunRecord, spec: GraphSpec, config: TrainConfig, plan: CarryPlan) -> str:
    """Why `record` may not continue with `spec`, `config` and the carry `plan`; "" when it may."""
    trained, _ = TrainConfig.from_dict(record.config)
    if trained is not None and data_of(trained) != data_of(config):
        return f"it was trained on {data_name(trained)}, and the settings say {data_name(config)}"
    _, why_not = continue_terms_of(spec, config, int(record.progress.get("epoch", 0)))
    if why_not:  # in the rule's terms: a DBN's fine-tuning epochs, a DSN's epochs per module
        return why_not
    if not plan.kept:
        return f"no node of this network would keep its trained weights ({plan.summary()})"
    return ""


def continue_terms_of(spec: GraphSpec, config: TrainConfig, done: int) -> tuple[str, str]:
    """(what continuing `done` whole epochs in would train, "") or ("", why not): engine.train.rule_card."""
    analysis = analyze(spec)
    raw = config.to_dict()
    n_classes = DATASETS[config.dataset].n_classes if config.dataset in DATASETS else None
    return continue_terms(run_cards(analysis, raw)[0], raw, layers_of(analysis, n_classes), done)


def available_devices() -> list[str]:
    """The devices this machine can train on, besides "auto": cuda (and cuda:N beyond the first), mps, cpu."""
    found = []
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        found += ["cuda"] + [f"cuda:{i}" for i in range(1, count)]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


@contextmanager
def _plain_main() -> Iterator[None]:
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


class RunManager:
    """Starts worker processes through the run queue and answers for the runs in one store (see the module
    doc). `workers`, `per_session`, `per_address` and `pause_grace_s` default to NETCANVAS_MAX_WORKERS,
    NETCANVAS_MAX_RUNS_PER_SESSION, NETCANVAS_MAX_RUNS_PER_ADDRESS and NETCANVAS_PAUSE_GRACE_S;
    `worker_memory`: bytes each worker may allocate instead of its run's estimate (engine.runs.worker_memory);
    `check`: the pre-run check of start_run and continue_run (`preflight` here, which loads the data in this
    process; the app passes engine.runs.page_jobs.preflight_in_child, the same check in a child with limits)."""

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
    ):
        self.store = store if store is not None else RunStore()
        self.check = check  # the pre-run check; the app passes page_jobs.preflight_in_child (no data in the server)
        self.probes = probes
        self.context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self.context.set_forkserver_preload(PRELOAD)
        caps = limits()
        self.queue = RunQueue(
            self.store,
            workers or caps.max_workers,
            per_session or caps.max_runs_per_session,
            per_address or caps.max_runs_per_address,
        )
        grace = pause_grace_s if pause_grace_s is not None else caps.pause_grace_s
        self.options = WorkerOptions(pause_grace_s=grace, memory_budget=worker_memory)
        self.processes: dict[str, multiprocessing.process.BaseProcess] = {}
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake, self._closed = threading.Event(), threading.Event()
        self._start_thread()  # runs left waiting by an app that stopped start now, from the queue thread

    def warm_up(self) -> None:
        """Start the fork server now (it imports torch in the background), so the first run starts fast."""
        if self.context.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            with self.lock, _plain_main():
                forkserver.ensure_running()

    def close(self) -> None:
        """Stop the queue thread (runs that wait stay in the store for the next manager; workers go on)."""
        self._closed.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

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
        self.check(spec, config)
        plan = self.plan_from(Path(weights_from), spec) if weights_from else None
        launch = {"weights_from": str(weights_from) if weights_from else None, "resume": False}
        run_id = self.queue.submit(owner, spec.to_dict(), config.to_dict(), launch, client)
        if plan is not None:
            data = {**plan.to_dict(), "weights_from": str(weights_from), "summary": plan.summary()}
            self.store.add_edit(run_id, 0, 0, {**data, "graph_changed": False})
        self._watch()
        return run_id

    def dispatch(self) -> list[str]:
        """Free the slots of workers that died, then start the waiting runs that fit; the ids started."""
        alive = self._reap_slots()
        started = []
        for record in self.queue.claim(os.getpid(), alive):
            launch = record.launch or {}
            try:
                self._launch(record.id, launch.get("weights_from"), bool(launch.get("resume")))
                started.append(record.id)
            except Exception as err:  # no process could be made (out of memory, too many processes)
                message = f"its worker process could not be started: {type(err).__name__}: {err}"
                self.store.mark_failed_if_active(record.id, message)
        return started

    def _launch(self, run_id: str, weights_from: str | None, resume: bool) -> None:
        process = self.context.Process(
            target=worker_main,
            args=(str(self.store.root), run_id, weights_from, resume, self.probes, self.options),
            name=f"netcanvas-run-{run_id}",
            daemon=True,  # an app that exits stops its runs (SIGTERM: they stop with a checkpoint)
        )
        _STARTING.add(run_id)
        try:
            with self.lock:
                with _plain_main():
                    process.start()
                self.processes[run_id] = process
            self.store.set_pid(run_id, process.pid)
        finally:
            _STARTING.discard(run_id)

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
                    if not self.queue.has_startable():
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
        """Send `command` to the run's worker (none to a released pause: it has no worker)."""
        record = self.status(run_id)
        if record is not None and record.active and not record.released:
            self.store.send_command(run_id, command)

    # --- reading -------------------------------------------------------------------------------------------

    def status(self, run_id: str, owner: str | None = None) -> RunRecord | None:
        """The run's record (after noticing a dead worker); None if unknown or owned by someone else."""
        record = self.store.get(run_id)
        if record is None or (owner is not None and record.owner != owner):
            return None
        if record.active and self._reap(record):
            record = self.store.get(run_id)
        return record

    def list_runs(self, owner: str) -> list[RunRecord]:
        records = self.store.list_runs(owner)
        if any(r.active and self._reap(r) for r in records):
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

    def _reap_slots(self) -> frozenset[str]:
        """Mark the runs holding a worker slot whose worker is gone failed (freeing the slot), and forget the
        processes that have ended; the runs whose worker process is alive (one whose run has ended is still
        exiting, and holds its slot until it is gone)."""
        for record in self.queue.holders():
            self._reap(record)
        with self.lock:
            processes = list(self.processes.items())
        alive = set()
        for run_id, process in processes:
            if process.is_alive():
                alive.add(run_id)
                continue
            record = self.store.get(run_id)
            if record is None or not record.active or record.released or self._reap(record):
                with self.lock:
                    if self.processes.get(run_id) is process:
                        del self.processes[run_id]
        return frozenset(alive)

    def _reap(self, record: RunRecord) -> bool:
        """Mark an active run whose worker is gone as failed, or put one claimed by an app that is gone back
        in the queue; True if it did. A run waiting in the queue has no worker yet, and a released pause no
        longer has one: both are left alone."""
        if record.waiting or record.released:
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
            requeued = self.queue.requeue_claimed(record)
            if requeued is None:  # no longer as `record` saw it: another thread requeued or started it
                return False
            if requeued:
                self._start_thread()  # the queue thread starts it when a worker is free
                return True
        return self.store.mark_failed_if_active(record.id, death_message(exitcode, self.store.log_path(record.id)))

    # --- edit and continue ---------------------------------------------------------------------------------

    def continue_run(self, run_id: str, spec: GraphSpec, config: TrainConfig | None = None) -> CarryPlan:
        """Continue a paused, stopped or finished run with a (possibly edited) network and settings: it joins
        the end of the queue (SessionFull when its owner has no room for another active run)."""
        record = self.status(run_id)
        if record is None:
            raise ConfigError(f"there is no run '{run_id}' to continue")
        if record.waiting:
            raise ConfigError(f"run '{run_id}' has not started yet (it is in the queue); resume or stop it instead")
        if record.status in ("queued", "running"):
            raise ConfigError(f"run '{run_id}' is {record.status}; pause or stop it before continuing")
        if config is None:
            config, _ = TrainConfig.from_dict(record.config)
        self.queue.check_session(record.owner, excluding=run_id)
        if record.status == "paused":
            self.stop(run_id)
            record = self.wait(run_id, STOP_WAIT_SECONDS)
        bundle = self.store.bundle_dir(run_id)
        if not (bundle / META_FILE).is_file():
            raise ConfigError(f"run '{run_id}' has no checkpoint to continue from (it {record.status} before one)")
        step, epoch = int(record.progress.get("step", 0)), int(record.progress.get("epoch", 0))
        self.check(spec, config)
        plan = self.plan(run_id, spec)  # BundleError when the checkpoint cannot be read
        why = _refusal(record, spec, config, plan)
        if why:
            raise ConfigError(f"run '{run_id}' cannot be continued: {why}")
        changed = spec.to_dict() != checkpoint_spec(bundle)
        message = f"continuing from step {step}: {plan.summary()}"
        launch = {"weights_from": str(bundle), "resume": True}
        # the old plan's total and speed are not this one's: the worker writes them when it starts
        progress = {**record.progress, "epochs": planned_epochs_of(spec, config), "total_steps": None}
        progress.update(steps_per_s=None, eta_s=None)
        self.queue.requeue(
            run_id,
            record.owner,
            message,
            launch,
            spec=spec.to_dict(),
            config=stored_config(spec.to_dict(), config.to_dict()),  # the settings its rule reads
            ended=None,
            progress=to_json(progress),  # requeue's columns go in as they are
        )
        self.store.add_edit(
            run_id, step, epoch, {**plan.to_dict(), "graph_changed": changed, "summary": plan.summary()}
        )
        self._watch()
        return plan

    def continue_offer(self, run_id: str, spec: GraphSpec, config: TrainConfig) -> tuple[CarryPlan | None, str]:
        """(what continuing `run_id` with `spec` and `config` would keep, "") when it may be continued: the same
        data, more epochs than it has trained, and at least one node that keeps its trained weights; else
        (None, why not) in one line. Checks neither its status nor its checkpoint (continue_run does)."""
        record = self.status(run_id)
        if record is None:
            return None, f"there is no run '{run_id}'"
        try:
            plan = self.plan(record.id, spec)
        except NetCanvasError as err:
            return None, str(err)
        why = _refusal(record, spec, config, plan)
        return (None, why) if why else (plan, "")

    def plan(self, run_id: str, spec: GraphSpec) -> CarryPlan:
        """What continuing `run_id` with `spec` would keep, without starting anything."""
        return self.plan_from(self.store.bundle_dir(run_id), spec, f"the checkpoint of run '{run_id}'")

    def plan_from(self, bundle: Path, spec: GraphSpec, what: str | None = None) -> CarryPlan:
        """Which nodes of `spec` would take their weights from the bundle directory `bundle`."""
        with torch.device("meta"):  # shapes only: no weights allocated in the app's process
            new_shapes = model_shapes(compile_analysis(analyze(spec)))
        try:
            old_ops, old_shapes = spec_ops(checkpoint_spec(bundle)), checkpoint_shapes(bundle)
        except Exception as err:  # a missing, truncated or foreign file: safetensors, OSError, JSON, KeyError
            raise BundleError(f"{what or f'bundle {bundle}'} cannot be read ({type(err).__name__}: {err})") from None
        return plan_carry(old_ops, old_shapes, spec_ops(spec), new_shapes)
