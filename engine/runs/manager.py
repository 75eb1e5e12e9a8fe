"""Starting and watching runs: the API the Train page (and the benchmarks) use. One process per run.

    manager = RunManager()                          # the store under NETCANVAS_RUNS_DIR or runs/
    run_id = manager.start_run(owner, spec, config) # checks first: ConfigError / SpecInvalid / DataError
    manager.pause(run_id); manager.resume(run_id); manager.stop(run_id)
    record = manager.status(run_id)                 # RunRecord: status, message, progress, final metrics
    rows = manager.metrics(run_id, since=seq)       # new metric rows; manager.snapshots(...) alike
    plan = manager.continue_run(run_id, new_spec)   # after pause/stop: which nodes kept their weights

Worker processes come from the 'forkserver' start method with the engine preloaded: the server process
is a fresh interpreter (like 'spawn': no inherited threads, CUDA-safe) that imports torch once, and each run
is a fork of it, ready in milliseconds instead of the seconds a spawned interpreter needs to import torch
(measured here: 5-8 s per spawn, 0.02 s per forkserver start). `start_method="spawn"` works too.

A worker that dies without writing its end (killed, out of memory, a crash in native code) is noticed by
`status`/`list_runs`, which mark its run failed with the exit code and the last line of its log.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from builder.spec import GraphSpec
from builder.validate import analyze
from engine.compile.fx_module import compile_analysis
from engine.errors import BundleError, ConfigError
from engine.probes.step_probes import DEFAULT_PROBES, ProbeSettings
from engine.runs.bundle import META_FILE
from engine.runs.checkpoint import CarryPlan, checkpoint_shapes, checkpoint_spec, model_shapes, plan_carry, spec_ops
from engine.runs.store import RunRecord, RunStore
from engine.runs.worker import worker_main
from engine.train.config import TrainConfig
from engine.train.device import pick_device
from engine.train.loss_choice import apply_loss_choice
from engine.train.losses import Sink, choose_objective
from engine.train.pipeline import analysis_for_training, fitted_dataset

PRELOAD = ["engine.runs.worker", "sklearn.datasets", "torch._dynamo"]  # torch.optim imports torch._dynamo lazily: 3 s
STALE_SECONDS = 600.0  # a run whose worker is not ours and has said nothing for this long is given up
STOP_WAIT_SECONDS = 60.0


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
    out_shape, sink = analysis.shapes[analysis.output_id], Sink.from_analysis(analysis)
    objective = apply_loss_choice(
        choose_objective(config.task or dataset.task, out_shape, dataset, sink), config.loss, sink
    )
    return Readiness(
        objective.task, objective.name, sink.node_id, dataset.n_train, dataset.n_val, dataset.n_classes, str(device)
    )


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
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")  # a zombie has finished


def _last_log_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def death_message(exitcode: int | None, log: Path) -> str:
    """Why a worker ended without saying so: its exit code or signal, and the last line it printed."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        why = f"the worker process was killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    elif exitcode is not None:
        why = f"the worker process exited with code {exitcode}"
    else:
        why = "the worker process is gone (the app may have been restarted)"
    last = _last_log_line(log)
    return why + (f": {last}" if last else "")


class RunManager:
    """Starts worker processes and answers for the runs in one store (see the module doc)."""

    def __init__(
        self,
        store: RunStore | None = None,
        start_method: str = "forkserver",
        probes: ProbeSettings | None = DEFAULT_PROBES,
    ):
        self.store = store if store is not None else RunStore()
        self.probes = probes
        self.context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self.context.set_forkserver_preload(PRELOAD)
        self.processes: dict[str, multiprocessing.process.BaseProcess] = {}
        self.lock = threading.Lock()

    def warm_up(self) -> None:
        """Start the fork server now (it imports torch in the background), so the first run starts fast."""
        if self.context.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            with self.lock, _plain_main():
                forkserver.ensure_running()

    # --- starting ------------------------------------------------------------------------------------------

    def start_run(self, owner: str, spec: GraphSpec, config: TrainConfig, weights_from: str | None = None) -> str:
        """Start a run; with `weights_from` (a bundle directory) its nodes whose id, op and parameter shapes
        match start from the bundle's trained weights (the plan is recorded as an edit at step 0)."""
        preflight(spec, config)
        plan = self.plan_from(Path(weights_from), spec) if weights_from else None
        run_id = self.store.create_run(owner, spec.to_dict(), config.to_dict())
        if plan is not None:
            data = {**plan.to_dict(), "weights_from": str(weights_from), "summary": plan.summary()}
            self.store.add_edit(run_id, 0, 0, {**data, "graph_changed": False})
        self._launch(run_id, weights_from=weights_from, resume=False)
        return run_id

    def _launch(self, run_id: str, weights_from: str | None, resume: bool) -> None:
        process = self.context.Process(
            target=worker_main,
            args=(str(self.store.root), run_id, weights_from, resume, self.probes),
            name=f"netcanvas-run-{run_id}",
            daemon=True,  # an app that exits stops its runs (SIGTERM: they stop with a checkpoint)
        )
        with self.lock:
            with _plain_main():
                process.start()
            self.processes[run_id] = process
        self.store.set_pid(run_id, process.pid)

    # --- commands ------------------------------------------------------------------------------------------

    def pause(self, run_id: str) -> None:
        self._command(run_id, "pause")

    def resume(self, run_id: str) -> None:
        self._command(run_id, "resume")

    def stop(self, run_id: str) -> None:
        self._command(run_id, "stop")

    def _command(self, run_id: str, command: str) -> None:
        record = self.status(run_id)
        if record is not None and record.active:
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

    def _reap(self, record: RunRecord) -> bool:
        """Mark an active run whose worker is gone as failed; True if it did."""
        with self.lock:
            process = self.processes.get(record.id)
        if process is not None:
            if process.is_alive():
                return False
            exitcode = process.exitcode
        elif _pid_alive(record.pid) and time.time() - record.updated < STALE_SECONDS:
            return False
        elif record.pid is None and time.time() - record.updated < STALE_SECONDS:
            return False  # another app is starting it
        else:
            exitcode = None
        with self.lock:
            self.processes.pop(record.id, None)
        return self.store.mark_failed_if_active(record.id, death_message(exitcode, self.store.log_path(record.id)))

    # --- edit and continue ---------------------------------------------------------------------------------

    def continue_run(self, run_id: str, spec: GraphSpec, config: TrainConfig | None = None) -> CarryPlan:
        """Continue a paused, stopped or finished run with a (possibly edited) network and settings."""
        record = self.status(run_id)
        if record is None:
            raise ConfigError(f"there is no run '{run_id}' to continue")
        if record.status in ("queued", "running"):
            raise ConfigError(f"run '{run_id}' is {record.status}; pause or stop it before continuing")
        if config is None:
            config, _ = TrainConfig.from_dict(record.config)
        if record.status == "paused":
            self.stop(run_id)
            record = self.wait(run_id, STOP_WAIT_SECONDS)
        bundle = self.store.bundle_dir(run_id)
        if not (bundle / META_FILE).is_file():
            raise ConfigError(f"run '{run_id}' has no checkpoint to continue from (it {record.status} before one)")
        step, epoch = int(record.progress.get("step", 0)), int(record.progress.get("epoch", 0))
        if config.epochs <= epoch:
            raise ConfigError(f"epochs must be more than the {epoch} already trained to continue; got {config.epochs}")
        preflight(spec, config)
        plan = self.plan(run_id, spec)
        changed = spec.to_dict() != checkpoint_spec(bundle)
        self.store.add_edit(
            run_id, step, epoch, {**plan.to_dict(), "graph_changed": changed, "summary": plan.summary()}
        )
        message = f"continuing from step {step}: {plan.summary()}"
        self.store.set_status(run_id, "queued", message, spec=spec.to_dict(), config=config.to_dict(), ended=None)
        self._launch(run_id, weights_from=str(bundle), resume=True)
        return plan

    def plan(self, run_id: str, spec: GraphSpec) -> CarryPlan:
        """What continuing `run_id` with `spec` would keep, without starting anything."""
        return self.plan_from(self.store.bundle_dir(run_id), spec, f"the checkpoint of run '{run_id}'")

    def plan_from(self, bundle: Path, spec: GraphSpec, what: str | None = None) -> CarryPlan:
        """Which nodes of `spec` would take their weights from the bundle directory `bundle`."""
        new_shapes = model_shapes(compile_analysis(analyze(spec)))
        try:
            old_ops, old_shapes = spec_ops(checkpoint_spec(bundle)), checkpoint_shapes(bundle)
        except Exception as err:  # a missing, truncated or foreign file: safetensors, OSError, JSON, KeyError
            raise BundleError(f"{what or f'bundle {bundle}'} cannot be read ({type(err).__name__}: {err})") from None
        return plan_carry(old_ops, old_shapes, spec_ops(spec), new_shapes)
