"""The training worker: one process per run, which reads its run from the store and writes back to it.

    worker_main(runs_root, run_id, resume, probe_settings)  # the entry point (engine.runs.manager starts it)

It prepares the run (engine.train.pipeline.prepare_run: the same path as the CLI), carries trained weights over
when it continues an edited run (engine.runs.checkpoint), then pulls the Trainer's events. Between events it
buffers metrics and probe snapshots and writes them in one short transaction every FLUSH_SECONDS, and
reads the commands table every COMMAND_SECONDS: pause (stop pulling events until resume or stop), stop
(leave the loop). Stopping, finishing and divergence write the checkpoint bundle; so do pausing and, every
CHECKPOINT_SECONDS, an epoch end. A user mistake ends the run `failed` with its one-line message; any
other exception ends it `failed` with the exception and leaves the traceback in the run's worker.log.

Before anything else the worker sets torch's threads (engine.threads: the run's threads setting, else from the
run's size and the free cores, at most its share of them; the run's start message says which and why) and
limits its own memory (engine.runs.worker_memory): a run that allocates past
its limit in training ends `stopped` with a checkpoint and the one line that names the limit; one that runs
out while preparing (the data, the model) ends `failed` with that line. A paused worker whose grace has passed
while runs wait gives its slot up and ends (engine.runs.worker_loop).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from builder.spec.limits import limits
from builder.spec.spec import parse_spec
from engine.child_limits import GiB
from engine.errors import NetCanvasError
from engine.probes.epoch_probes import EpochProbes
from engine.probes.step_probes import ProbeSettings, StepProbes
from engine.runs.checkpoint import carry_optimizer_state, carry_weights, checkpoint_spec, same_optimizer, spec_ops
from engine.runs.store import RunRecord, RunStore
from engine.runs.worker_loop import RunLoop
from engine.runs.worker_memory import is_allocation_failure, worker_limit
from engine.threads import ThreadChoice, apply_threads, choose_threads, read_cores, threads_for_spec
from engine.train.config import TrainConfig
from engine.train.pipeline import PreparedRun, prepare_run

EXIT_FAILED = 1


@dataclass(frozen=True)
class WorkerOptions:
    """What the app tells its workers (read from its settings, not from the worker's environment, which is the
    fork server's): the pause grace, and a memory budget in bytes instead of the estimate's (None: estimate)."""

    pause_grace_s: float | None = None
    memory_budget: int | None = None


def worker_main(
    runs_root: str,
    run_id: str,
    weights_from: str | None,
    resume: bool,
    probes: ProbeSettings | None,
    options: WorkerOptions | None = None,
) -> None:
    """Run `run_id` to its end; never raises (the outcome is in the store). `weights_from`: a bundle directory
    whose weights the matching nodes start from; `resume`: count steps and epochs on from the run's progress
    (continuing it from its own checkpoint)."""
    options = options or WorkerOptions()
    store = RunStore(runs_root)
    log = _log_to_file(store, run_id)
    loop, words = None, ""
    try:
        record = store.get(run_id)
        assert record is not None, f"run {run_id} is not in the store at {runs_root}"
        threads = apply_threads(_threads(record))  # before any torch work, and before the memory limit counts them
        print(f"torch threads: {threads.threads} ({threads.why})", flush=True)
        limit = worker_limit(record.spec, record.config, options.memory_budget)
        if limit is not None:
            limit.apply()
            words = limit.words
            print(f"memory limit: {words} above {limit.base / GiB:.2f} GB mapped at the start", flush=True)
        prepared, kept = prepare_from_record(store, record, weights_from, resume)
        prepared.trainer.device_message += f"; {threads.why}"  # the run's start message in the store says it
        loop = RunLoop(store, record, prepared, run_probes(prepared, probes), kept, options.pause_grace_s, words)
        signal.signal(signal.SIGTERM, lambda signum, frame: loop.request_shutdown())
        loop.run()
    except NetCanvasError as err:
        fail_run(store, run_id, str(err), loop)
    except BaseException as err:  # the run must end "failed" with its error, whatever happened
        if is_allocation_failure(err) and loop is None:  # preparing: the data or the model did not fit
            what = f"its memory limit of {words}" if words else "memory"
            fail_run(store, run_id, f"ran out of {what} while preparing the run; lower the batch size", loop)
            return
        traceback.print_exc()
        fail_run(store, run_id, f"{type(err).__name__}: {err}", loop)
        log.flush()
        os._exit(EXIT_FAILED)
    finally:
        log.flush()


def worker_share() -> int:
    """The most threads a worker's automatic choice may take: an equal share, among the run queue's workers
    (NETCANVAS_MAX_WORKERS), of every core but one, which is left to the app (its server and the page it
    serves). Workers that start together each see the cores free, so the share, not the reading, keeps them
    apart. Measured on 2 cores with the page open, a worker on torch's default of 2 threads ran the XOR MLP at
    66 steps/s against 644 on 1 thread: a thread pool that has to share its cores stalls at every parallel region."""
    spare = max(1, (os.cpu_count() or 1) - 1)
    return max(1, spare // max(1, limits().max_workers))


def _threads(record: RunRecord) -> ThreadChoice:
    """engine.threads' choice for the run: its threads setting, else from its size and the free cores, at
    most this worker's share (a stored spec or config that does not parse: one thread; prepare_from_record
    reports it)."""
    spec, _ = parse_spec(record.spec)
    config, _ = TrainConfig.from_dict(record.config)
    if spec is None or config is None:
        return choose_threads(None, read_cores, cap=worker_share())
    return threads_for_spec(spec, config, cap=worker_share())


def _log_to_file(store: RunStore, run_id: str):
    """Send this process's stdout and stderr (and fatal-signal tracebacks) to the run's worker.log."""
    path = store.log_path(run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (lives as long as the process)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout, sys.stderr = log, log
    faulthandler.enable(log)
    return log


def fail_run(store: RunStore, run_id: str, message: str, loop) -> None:
    if loop is not None:
        loop.flush()  # what was measured before the error stays visible
    store.set_status(run_id, "failed", message, ended=time.time())


def prepare_from_record(
    store: RunStore, record: RunRecord, weights_from: str | None, resume: bool
) -> tuple[PreparedRun, tuple[str, ...] | None]:
    """The prepared run, with a bundle's weights carried over (and which nodes kept them), counting on."""
    spec, issues = parse_spec(record.spec)
    if spec is None:
        raise NetCanvasError("the stored network is not a valid GraphSpec: " + "; ".join(map(str, issues)))
    config, problems = TrainConfig.from_dict(record.config)
    if config is None:
        raise NetCanvasError("; ".join(problems))
    store.set_status(record.id, "queued", "preparing the data and the network", pid=os.getpid())
    prepared = prepare_run(spec, config)
    if weights_from is None:
        return prepared, None
    bundle = Path(weights_from)
    plan = carry_weights(prepared.trainer.model, bundle, spec_ops(checkpoint_spec(bundle)), spec_ops(spec))
    optimizer = prepared.trainer.optimizer  # None for a rule without one (perceptron, CD-k, SOM)
    if optimizer is not None and same_optimizer(bundle, config):
        carry_optimizer_state(optimizer, prepared.trainer.model, bundle, set(plan.kept))
    if resume:
        step, epoch = int(record.progress.get("step", 0)), int(record.progress.get("epoch", 0))
        prepared.trainer.resume_at(step, epoch)
    return prepared, plan.kept


def run_probes(prepared: PreparedRun, settings: ProbeSettings | None) -> tuple[StepProbes | None, EpochProbes] | None:
    """The run's probes; step probes only for a trainer whose steps are a forward and a backward (backprop)."""
    if settings is None:
        return None
    trainer = prepared.trainer
    steps = StepProbes(trainer.model, spec_ops(prepared.spec), settings) if trainer.step_probes else None
    return steps, EpochProbes(trainer, settings)
