"""The worker's loop over one run's training events: buffer, probe, flush, obey commands, checkpoint.

See engine.runs.worker for the process around it. A paused worker whose pause has lasted `pause_grace_s` while
some run waits in the queue gives its worker slot up (RunStore.release_worker) and its process ends: the run
stays paused, and Resume queues it to continue from the checkpoint written when it paused.

All writes go through RunStore.write (one transaction per flush); step probes cost one host transfer per
event that brings snapshots (engine.probes.step_probes), and the run's final step is always one of the steps
they sample.
"""

from __future__ import annotations

import math
import time

import torch

from engine.probes.epoch_probes import EpochProbes
from engine.probes.recurrent_probes import RecurrentProbes
from engine.probes.step_probes import Snapshot, StepProbes
from engine.runs.checkpoint import save_checkpoint
from engine.runs.store import RunRecord, RunStore, Write
from engine.runs.worker_memory import is_allocation_failure, limit_message
from engine.train.counters import counter_text
from engine.train.device import out_of_memory
from engine.train.pipeline import PreparedRun

FLUSH_SECONDS = 0.25  # buffered metrics and snapshots reach the store at least this often
COMMAND_SECONDS = 0.2  # how often the commands table is read while training
PAUSED_POLL_SECONDS = 0.1
HEARTBEAT_SECONDS = 5.0  # a paused worker still says it is alive this often
QUEUE_LOOK_SECONDS = 0.5  # how often a paused worker past its grace looks for runs waiting for a worker
RELEASED = {"kind": "released"}  # the loop's ending when the worker gave its slot up while paused
CHECKPOINT_SECONDS = 30.0  # an epoch end writes a checkpoint when the last is older than this
RATE_SMOOTHING = 0.3  # weight of the newest measurement in the steps-per-second average


def steps_per_epoch(trainer) -> int:
    """Steps in one epoch of the trainer's phase in progress (engine.train.trainer_base)."""
    return trainer.steps_per_epoch()


def start_step_probes(probes: StepProbes, trainer) -> None:
    """Plan a run's step snapshots before its first step: it ends at the trainer's planned steps."""
    probes.start(trainer.step, trainer.planned_steps(), trainer.config.log_every)


class RunLoop:
    """Drives one prepared run to its end, writing everything to the store."""

    def __init__(
        self,
        store: RunStore,
        record: RunRecord,
        prepared: PreparedRun,
        probes: tuple[StepProbes | None, EpochProbes] | None,
        kept: tuple[str, ...] | None,
        pause_grace_s: float | None = None,
        memory_limit: str = "",
    ):
        self.store, self.run_id, self.prepared = store, record.id, prepared
        self.pause_grace_s = pause_grace_s  # None: a paused worker keeps its slot until resumed or stopped
        self.memory_limit = memory_limit  # "4.2 GB": the worker's memory limit in words ("": none)
        self.trainer = prepared.trainer
        self.step_probes, self.epoch_probes = probes if probes is not None else (None, None)
        steps = self.step_probes
        # gates, cell state and per-step gradients of the recurrent nodes, on some step snapshots (None: no such node)
        self.recurrent = RecurrentProbes.for_trainer(self.trainer, steps.settings) if steps is not None else None
        self.previous = record.final or {}  # the run's numbers before this stretch (a continued run)
        self.kept = kept
        self.pending = Write()
        self.shutdown = False
        now = time.perf_counter()
        self.last_flush = self.last_command = self.last_checkpoint = -math.inf
        self.rate_mark = (now, self.trainer.step)
        self.steps_per_s: float | None = None
        self.active_seconds, self.active_since = 0.0, now
        self.cpu_started = time.process_time()  # CPU seconds of this process (all its threads)
        self.cpu_ended: float | None = None  # frozen when training ends, so the last checkpoint is left out
        self.epoch_end_step = self.trainer.step  # the step of the last epoch end (a continued run starts at one)
        self.ended = False

    def request_shutdown(self) -> None:
        """SIGTERM (the app is shutting down): stop at the next event, with a checkpoint."""
        self.shutdown = True

    # --- the loop --------------------------------------------------------------------------------------

    def run(self) -> None:
        trainer = self.trainer
        choice = self.prepared.choice
        message = trainer.device_message + (f"; {choice.reason}" if choice is not None else "")
        message += f"; kept the trained weights of {', '.join(self.kept)}" if self.kept else ""
        # the counters right from the start: a continued run's total and training time are the whole run's
        self.store.set_status(self.run_id, "running", message, started=time.time(), progress=self._progress())
        if self.step_probes is not None:
            start_step_probes(self.step_probes, trainer)
        try:
            ending = self._drive(trainer)
        except torch.OutOfMemoryError:  # the step's tensors go with the exception; the weights are the last step's
            ending = {"kind": "out_of_memory"}
        except (MemoryError, RuntimeError) as err:  # the worker's own memory limit (engine.runs.worker_memory)
            if not is_allocation_failure(err):
                raise
            ending = {"kind": "memory_limit"}
        if ending is RELEASED:
            return  # the run stays paused with its checkpoint; this process ends
        if ending is not None and ending["kind"] == "out_of_memory":  # out of the except: its tensors are freed
            ending["message"] = out_of_memory(trainer.device, trainer.config.batch_size, trainer.step)
        if ending is not None and ending["kind"] == "memory_limit":  # the model holds the last whole step's weights
            ending["message"] = limit_message(self.memory_limit, trainer.step)
        self._end(ending)

    def _drive(self, trainer) -> dict | None:
        """Pull the trainer's events until it is done, diverges or is stopped; the ending event, or None."""
        for event in trainer.run():
            self._record(event)
            if event["kind"] in ("done", "diverged"):
                return event
            obeyed = self._obey_commands()
            if obeyed == "stop":
                return None
            if obeyed == "release":
                return RELEASED
            if time.perf_counter() - self.last_flush >= FLUSH_SECONDS:
                self.flush()
        return None

    def _record(self, event: dict) -> None:
        kind, step, epoch = event["kind"], event["step"], event["epoch"]
        values = {k: v for k, v in event.items() if k not in ("kind", "step", "epoch", "message")}
        if kind in ("step", "epoch"):
            self.pending.metrics.append((step, epoch, kind, values))
        if kind == "phase":  # where a phase starts: the page marks it on the curves
            self.pending.metrics.append((step, epoch, kind, {**values, "message": event["message"]}))
            self.store.set_status(self.run_id, "running", event["message"])
        if self.step_probes is not None and kind in ("step", "epoch"):
            snapshots = self.step_probes.at_event(step)  # sampled since the last event: in this epoch
            self._add_recurrent(snapshots)
            for sampled, snapshot in snapshots:
                self.pending.snapshots.append((sampled, epoch, "step", snapshot))
        if kind == "epoch":
            self.epoch_end_step = step
            self._epoch_end(step, epoch)

    def _add_recurrent(self, snapshots: list[Snapshot], last: bool = False) -> None:
        """The newest of `snapshots` gains "recurrent" ({node id: ...}, engine.probes.recurrent_probes) when due: the
        run's final step (or its `last` snapshot) always."""
        if self.recurrent is None or not snapshots:
            return
        sampled, snapshot = snapshots[-1]
        final = bool(self.step_probes.plan) and sampled == self.step_probes.plan[-1]
        if self.recurrent.due(time.perf_counter(), last or final):
            snapshot["recurrent"] = self.recurrent.measure(self.trainer.step)

    def _epoch_end(self, step: int, epoch: int) -> None:
        if self.epoch_probes is not None:
            snap = self.epoch_probes.collect(final=epoch == self.trainer.total_epochs) or {}
            panels = self.trainer.panel_data() if self.trainer.panels else {}
            if panels:
                snap["panels"] = panels  # the rule's live views (ui.train.rule_panels)
            if snap:
                self.pending.snapshots.append((step, epoch, "epoch", snap))
        if time.perf_counter() - self.last_checkpoint >= CHECKPOINT_SECONDS:
            self.checkpoint()

    # --- commands --------------------------------------------------------------------------------------

    def _obey_commands(self) -> str | None:
        """None to go on, "stop" to leave the loop, "release" when it gave its worker up while paused;
        pausing happens in here."""
        if self.shutdown:
            return "stop"
        now = time.perf_counter()
        if now - self.last_command < COMMAND_SECONDS:
            return None
        self.last_command = now
        if not self.store.has_commands(self.run_id):
            return None
        commands = self.store.take_commands(self.run_id)
        if "stop" in commands:
            return "stop"
        toggles = [c for c in commands if c in ("pause", "resume")]
        return self._paused() if toggles and toggles[-1] == "pause" else None

    def _paused(self) -> str | None:
        self._pause_clock()
        self.checkpoint("paused")
        self.flush()
        self.store.set_status(self.run_id, "paused", f"paused {self._where()}")
        beat = paused_at = looked = time.perf_counter()
        while not self.shutdown:
            time.sleep(PAUSED_POLL_SECONDS)
            commands = self.store.take_commands(self.run_id) if self.store.has_commands(self.run_id) else []
            if "stop" in commands:
                return "stop"
            if commands and commands[-1] == "resume":
                self._resume_clock()
                self.store.set_status(self.run_id, "running", f"resumed at step {self.trainer.step}")
                return None
            now = time.perf_counter()
            if self._may_release(now - paused_at, now - looked):
                looked = now
                if self.store.has_waiting() and self._release():
                    return "release"
            if now - beat >= HEARTBEAT_SECONDS:
                beat = now
                self.store.write(self.run_id, Write(progress=self._progress()))
        return "stop"

    def _may_release(self, paused_for: float, since_look: float) -> bool:
        """Whether to look for waiting runs now: past the grace, at most every QUEUE_LOOK_SECONDS."""
        grace = self.pause_grace_s
        return grace is not None and paused_for >= grace and since_look >= min(grace, QUEUE_LOOK_SECONDS)

    def _release(self) -> bool:
        """Give the worker slot up (the checkpoint written at the pause holds these weights): the run stays
        paused and continues from that checkpoint once resumed; False when a command came first."""
        message = (
            f"paused {self._where()}; its worker was released to the queue for a waiting "
            "run, and Resume continues it from its checkpoint"
        )
        launch = {"weights_from": str(self.store.bundle_dir(self.run_id)), "resume": True}
        self.flush()
        return self.store.release_worker(self.run_id, message, self.final_metrics("paused"), launch)

    def _pause_clock(self) -> None:
        self.active_seconds += time.perf_counter() - self.active_since
        self.active_since = None

    def _resume_clock(self) -> None:
        self.active_since = time.perf_counter()
        self.rate_mark = (self.active_since, self.trainer.step)

    # --- writing ---------------------------------------------------------------------------------------

    def _epoch(self) -> int:
        """The epoch a step snapshot belongs to (1-based): the one in progress, or, for a run that ended at an
        epoch's end, that epoch."""
        t = self.trainer
        if self.ended and t.step <= self.epoch_end_step:
            return t.epoch
        return min(t.epoch + 1, t.total_epochs)

    def _where(self) -> str:
        """Where the run is, in the counters' terms: "at step 1234 in epoch 8,828 (8,827 / 40,000 epochs
        done)", or "at step 1200 (8,827 / 40,000 epochs done)" at an epoch's end."""
        t = self.trainer
        inside = f" in epoch {self._epoch():,}" if t.step > self.epoch_end_step else ""
        counter = counter_text(t.counts())
        return f"at step {t.step}{inside} ({counter}{' done' if counter.endswith('epochs') else ''})"

    def _progress(self) -> dict:
        t = self.trainer
        per_epoch = steps_per_epoch(t)
        total = t.planned_steps()
        now = time.perf_counter()
        if self.active_since is not None:
            mark_time, mark_step = self.rate_mark
            if now - mark_time >= 0.2 and t.step > mark_step:
                rate = (t.step - mark_step) / (now - mark_time)
                old = self.steps_per_s
                self.steps_per_s = rate if old is None else RATE_SMOOTHING * rate + (1 - RATE_SMOOTHING) * old
                self.rate_mark = (now, t.step)
        active = self.previous.get("active_seconds", 0.0) + self._active()  # the whole run's, not this stretch's
        rate = self.steps_per_s if self.active_since is not None else None  # paused or ended: no speed, no ETA
        eta = max(0, total - t.step) / rate if rate else None
        return {
            "step": t.step,
            "epoch": t.epoch,  # whole epochs finished: what every counter shows (engine.train.counters)
            "epochs": t.total_epochs,
            "phases": t.counts(),  # per phase: label, layer, epochs, done
            "counter": counter_text(t.counts()),  # "fine-tuning 7 / 15 · pretraining done 20 / 20"
            "task": t.task,
            "step_probes": self.step_probes is not None,  # whether Gradients and Activations can fill
            "rule_views": bool(t.panels),  # whether the rule's own live views come
            "steps_per_epoch": per_epoch,
            "total_steps": total,
            "steps_per_s": rate,
            "eta_s": eta,
            "active_s": active,
            "device": str(t.device),
            "trainer": t.name,
        }

    def _active(self) -> float:
        """Seconds this worker has spent training (paused time left out)."""
        running = time.perf_counter() - self.active_since if self.active_since is not None else 0.0
        return self.active_seconds + running

    def flush(self) -> None:
        batch = Write(self.pending.metrics, self.pending.snapshots, self._progress())
        self.pending = Write()
        self.store.write(self.run_id, batch)
        self.last_flush = time.perf_counter()

    def final_metrics(self, status: str) -> dict:
        now = self.trainer.metrics()
        seconds = self.previous.get("train_seconds", 0.0) + now["train_seconds"]
        active = self.previous.get("active_seconds", 0.0) + self._active()
        cpu_now = self.cpu_ended if self.cpu_ended is not None else time.process_time()
        cpu = self.previous.get("cpu_seconds", 0.0) + cpu_now - self.cpu_started
        return {
            **self.previous,
            **now,
            "status": status,
            "train_seconds": seconds,
            "active_seconds": active,
            "cpu_seconds": cpu,
        }

    def checkpoint(self, status: str = "running") -> None:
        p = self.prepared
        bundle = self.store.bundle_dir(self.run_id)
        save_checkpoint(
            bundle, p.spec, p.config, self.trainer.model, p.dataset, self.final_metrics(status), self.trainer.optimizer
        )
        self.last_checkpoint = time.perf_counter()

    def _end(self, ending: dict | None) -> None:
        self.ended = True
        if self.step_probes is not None:  # steps sampled after the last event (a divergence ends without one)
            snapshots = self.step_probes.collect()
            self._add_recurrent(snapshots, last=True)
            for sampled, snapshot in snapshots:
                self.pending.snapshots.append((sampled, self._epoch(), "step", snapshot))
            self.step_probes.disarm()
        if self.active_since is not None:
            self._pause_clock()
        self.cpu_ended = time.process_time()
        status, message = self._outcome(ending)
        self.checkpoint(status)
        self.flush()
        self.store.set_status(self.run_id, status, message, ended=time.time(), final=self.final_metrics(status))

    def _outcome(self, ending: dict | None) -> tuple[str, str]:
        t = self.trainer
        if ending is None:
            why = "when the app shut down" if self.shutdown else "on request"
            return "stopped", f"stopped {why} {self._where()}; checkpoint saved"
        if ending["kind"] == "memory_limit":  # its checkpoint (written by _end) holds the last step's weights
            return "stopped", ending["message"]
        if ending["kind"] == "out_of_memory":  # stopped, not failed: a smaller batch can continue from here
            return "stopped", ending["message"] + f"; the weights of step {t.step} are kept"
        if ending["kind"] == "diverged":
            kept = f"; kept the last good weights (step {ending['restored_step']})"
            return "stopped", ending["message"] + kept
        return "finished", ending["message"]
