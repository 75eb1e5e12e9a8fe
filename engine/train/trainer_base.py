"""The protocol every trainer follows (docs/ARCHITECTURE.md §2) and the machinery they share.

    trainer = SomeTrainer(model, dataset, config, sink)  # after seed_everything(config.seed)
    trainer.resume_at(step, epoch)                         # optional: continue a stopped run
    for event in trainer.run():                            # {"kind": "step" | "epoch" | "phase" | "done" | "diverged"}
        ...                                                # pause: stop pulling; stop: break
    trainer.metrics()                                      # the final numbers for the run bundle

What a rule writes is its epoch (`_epoch(epoch)`: step events, then `_epoch_event(...)`) and, for a rule of
several phases (DBN: pretrain each RBM, then fine-tune; DSN: one module after the other), its `plan()` of
phases and what `_enter(phase)` does when one starts. Everything else is here: the device, the data on it,
the weight snapshots a divergence falls back to, the history, the run loop with its phase events, stopping
(the consumer breaks out) and resuming (`resume_at`).

Epochs and steps count over the whole run: a DBN of two RBMs with 5 epochs each and 5 fine-tuning epochs runs
epochs 1..15, and its `phase` events say where each phase starts. The attributes the worker, the run store, the
CLI and the probes read: status, step, epoch, total_epochs, model, device, device_message, config, dataset,
sink, task, x_train, x_val, optimizer (None for a rule without one), eval_hook, drop_single, panels,
step_probes, steps_per_epoch(), planned_steps().
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from engine.data.datasets import Dataset
from engine.errors import ConfigError
from engine.train.config import TrainConfig
from engine.train.counters import counter_text, phase_counts
from engine.train.device import pick_device
from engine.train.losses import Sink

SNAPSHOT_SPACING = 100  # steps between weight snapshots at loss checks (epoch ends always save one)


def fmt_number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


@dataclass(frozen=True)
class Phase:
    """A stretch of a run trained one way: `epochs` epochs of `steps_per_epoch` steps each."""

    name: str  # "train", "pretrain", "finetune", "module"
    epochs: int
    steps_per_epoch: int
    layer: str | None = None  # the node it trains (an RBM, a DSN module's output node)
    index: int = 1  # 1-based among the run's phases
    of: int = 1


class Snapshots:
    """The weights (state dict) at the last two saves, kept in buffers allocated once.

    Saving copies the live tensors into the older buffer: one copy, no allocation. A trainer saves at every
    epoch end and at a loss check when SNAPSHOT_SPACING steps have passed since the last save.
    """

    def __init__(self, model: nn.Module):
        self.live = list(model.state_dict().values())  # aliases of the model's own tensors
        self.saved = [(0, [t.detach().clone() for t in self.live]) for _ in range(2)]  # (step, tensors), oldest first

    def save(self, step: int) -> None:
        newest_step, buffers = self.saved[-1]
        if newest_step != step:
            _, buffers = self.saved.pop(0)
            self.saved.append((step, buffers))
        for dst, src in zip(buffers, self.live):
            dst.copy_(src)

    @property
    def newest_step(self) -> int:
        return self.saved[-1][0]

    def restore(self, newest: int) -> int:
        """Put back the newest snapshot taken at or before step `newest` (else the oldest); its step."""
        step, buffers = next(((s, b) for s, b in reversed(self.saved) if s <= newest), self.saved[0])
        for dst, src in zip(self.live, buffers):
            dst.copy_(src)
        return step

    def reset(self, step: int) -> None:
        """Both buffers hold the live weights, saved at `step` (after loading weights to continue a run)."""
        for i in range(len(self.saved)):
            for dst, src in zip(self.saved[i][1], self.live):
                dst.copy_(src)
            self.saved[i] = (step, self.saved[i][1])

    def weights_finite(self) -> bool:
        floats = [t for t in self.live if t.is_floating_point()]
        return not floats or bool(torch.stack([torch.isfinite(t).all() for t in floats]).all())


class TrainerBase:
    """Shared state and run loop of every trainer; a rule subclasses it (see the module doc)."""

    name = ""  # the TrainConfig.trainer value
    panels: tuple[str, ...] = ()  # live views the Train page maps to figures (ui.train.rule_panels)
    step_probes = False  # whether engine.probes.step_probes can sample its steps (a forward and backward per step)
    metric_names: tuple[str, ...] = ()  # the epoch events' numbers that go into metrics()
    summary_names: tuple[str, ...] = ()  # the numbers the done message quotes

    def __init__(self, model: nn.Module, dataset: Dataset, config: TrainConfig, sink: Sink | None = None):
        problems = config.problems()
        if problems:
            raise ConfigError("; ".join(problems))
        self.config, self.dataset, self.sink = config, dataset, sink or Sink.of_module(model)
        self.device, self.device_message = pick_device(config.device)
        self.task = config.task or dataset.task
        self.model = model.to(self.device).train()
        # the whole dataset lives on the device
        self.x_train = dataset.x_train.to(self.device)  # [N, *features]
        self.x_val = dataset.x_val.to(self.device)
        self.optimizer: torch.optim.Optimizer | None = None
        self.generator = torch.Generator().manual_seed(config.seed)  # example order; CPU so every device agrees
        self.snapshots = Snapshots(self.model)
        self.drop_single = False  # a batch of one is left out (BatchNorm)
        self.epoch = 0  # epochs finished
        self.step = 0  # steps taken
        self.resumed_at = (0, 0)  # (step, epoch) the run continued from (resume_at); steps before came from its plan
        self.status = "ready"  # ready, running, done, diverged, stopped
        self.history: list[dict] = []  # the epoch events
        self.last_event: dict | None = None
        self.eval_hook = None  # optional (output, target) -> None, called on each validation chunk
        self.phase: Phase | None = None  # the phase in progress
        # optional: several processes train one model (DDP); (this process's first bad step or None) ->
        # (the earliest bad step over all processes or None, " on process R of N" or ""), the same on every one
        self.divergence_vote = None

    # --- the plan ----------------------------------------------------------------------------------------

    def plan(self) -> list[Phase]:
        """The run's phases in order; one phase by default (it yields no phase event)."""
        return [Phase("train", self.config.epochs, self.batches_per_epoch())]

    def batches_per_epoch(self) -> int:
        samples = len(self.x_train) - (1 if self.drop_single else 0)
        return max(1, math.ceil(samples / self.config.batch_size))

    def counts(self) -> list[dict]:
        """The whole epochs finished in each phase (engine.train.counters: one way of counting everywhere)."""
        return phase_counts(self.plan(), self.epoch)

    @property
    def total_epochs(self) -> int:
        return sum(p.epochs for p in self.plan())

    def phase_of(self, epoch: int) -> Phase:
        """The phase epoch `epoch` (1-based, over the whole run) belongs to."""
        done = 0
        for phase in self.plan():
            done += phase.epochs
            if epoch <= done:
                return phase
        return self.plan()[-1]

    def steps_per_epoch(self) -> int:
        """Steps in an epoch of the phase in progress (or of the next one to run)."""
        return self.phase_of(min(self.epoch + 1, self.total_epochs)).steps_per_epoch

    def planned_steps(self) -> int:
        """The step the run will end at: the steps taken before it continued (resume_at), whatever their batch
        size or data, plus the steps of every epoch still to run in each phase."""
        step, done = self.resumed_at
        total, first = step, 1  # `first`: the first epoch (1-based, over the run) of the phase
        for phase in self.plan():
            left = phase.epochs - max(0, done - first + 1)  # the phase's epochs after epoch `done`
            total += max(0, min(phase.epochs, left)) * phase.steps_per_epoch
            first += phase.epochs
        return total

    def epoch_order(self) -> torch.Tensor:
        """The order of the training examples in the next epoch ([N] on the device); seeded, or as stored
        when config.shuffle is off (no draw, so resuming skips nothing)."""
        n = len(self.x_train)
        if not self.config.shuffle:
            return torch.arange(n, device=self.device)
        return torch.randperm(n, generator=self.generator).to(self.device)

    def resume_at(self, step: int, epoch: int) -> None:
        """Continue a run that stopped after `step` steps and `epoch` whole epochs (the model holds its weights):
        steps and epochs count on from there, the next epoch draws the order an uninterrupted run would have
        drawn, and a divergence right away falls back to the weights as they are now."""
        assert self.status == "ready", "resume_at comes before run()"
        assert epoch < self.total_epochs, f"nothing left to train: {epoch} of {self.total_epochs} epochs done"
        for _ in range(epoch):
            self.epoch_order()
        self.step, self.epoch = step, epoch
        self.resumed_at = (step, epoch)
        self.snapshots.reset(step)

    # --- the loop ----------------------------------------------------------------------------------------

    def run(self) -> Iterator[dict]:
        """Train every phase; yields phase, step and epoch events and a final done or diverged event."""
        assert self.status == "ready", "a trainer runs once"
        self.status, started = "running", time.perf_counter()
        try:
            for epoch in range(self.epoch + 1, self.total_epochs + 1):
                phase = self.phase_of(epoch)
                if phase != self.phase:
                    self.phase = phase
                    self._enter(phase)
                    if phase.of > 1:
                        yield self._emit(self._phase_event(phase))
                for event in self._epoch(epoch):
                    yield self._emit(event)
                if self.status in ("diverged", "converged"):
                    break
            if self.status != "diverged":
                yield self._emit(self._finish(started))
        finally:
            if self.status in ("running", "converged"):
                self.status = "stopped"  # the consumer broke out (stop); the model keeps its current weights

    def _enter(self, phase: Phase) -> None:
        """Get ready for `phase` (freeze, move data through the layers below...); nothing by default."""

    def _phase_event(self, phase: Phase) -> dict:
        where = f" {phase.layer}" if phase.layer else ""
        return {
            "kind": "phase",
            "phase": phase.name,
            "layer": phase.layer,
            "index": phase.index,
            "of": phase.of,
            "epoch": self.epoch,
            "step": self.step,
            "epochs": phase.epochs,
            "message": f"phase {phase.index} of {phase.of}: {phase.name}{where}",
        }

    def _emit(self, event: dict) -> dict:
        self.last_event = event
        return event

    def _epoch(self, epoch: int) -> Iterator[dict]:
        raise NotImplementedError

    # --- checks, epoch ends, divergence -------------------------------------------------------------------

    def _check(self, pending: list[torch.Tensor], epoch: int, metric: str = "loss") -> tuple[list[float], dict | None]:
        """(the window's step values as floats, None), one host transfer; (.., diverged event) on NaN/inf. With a
        `divergence_vote` (DDP), every process stops at the earliest bad step any of them saw."""
        values = torch.stack(pending).tolist()
        first_step = self.step - len(values) + 1
        first_bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        bad_step = None if first_bad is None else first_step + first_bad
        where = ""
        if self.divergence_vote is not None:
            bad_step, where = self.divergence_vote(bad_step)
        if bad_step is None:
            if self.step - self.snapshots.newest_step >= SNAPSHOT_SPACING:
                self.snapshots.save(self.step)
            return values, None
        seen = values[bad_step - first_step] if 0 <= bad_step - first_step < len(values) else 0.0
        what = f"{metric} became {seen}" if not math.isfinite(seen) else f"{metric} became non-finite"
        message = f"{what} at step {bad_step} (epoch {epoch}){where}; try a lower learning rate"
        # the weights after step s gave the value of step s + 1, so the last good weights are at bad_step - 2
        return values, self._diverged(epoch, bad_step, message, newest_good=bad_step - 2)

    def _epoch_event(self, epoch: int, values: dict, started: float, train_seconds: float) -> dict:
        """The epoch event with the rule's `values`, or a diverged event when one of them is NaN/inf."""
        bad = next((k for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)), None)
        if bad is not None:
            message = (
                f"{bad} became {values[bad]} at the end of epoch {epoch} (step {self.step}); try a lower learning rate"
            )
            return self._diverged(epoch, self.step, message, newest_good=self.step - 1)
        self.snapshots.save(self.step)
        self.epoch = epoch
        event = {
            "kind": "epoch",
            "epoch": epoch,
            "step": self.step,
            **values,
            "seconds": time.perf_counter() - started,
            "train_seconds": train_seconds,
        }
        if self.phase is not None and self.phase.of > 1:
            event["phase"] = self.phase.index
        self.history.append(event)
        return event

    def _diverged(self, epoch: int, bad_step: int, message: str, newest_good: int) -> dict:
        """Put back the last good weights and describe the divergence."""
        restored = self.snapshots.restore(newest_good)
        self.status = "diverged"
        return {
            "kind": "diverged",
            "epoch": epoch,
            "step": bad_step,
            "loss": None,
            "message": message,
            "restored_step": restored,
        }

    def _finish(self, started: float) -> dict:
        if not self.snapshots.weights_finite():
            message = f"the weights became NaN or infinite by step {self.step}; try a lower learning rate"
            return self._diverged(self.epoch, self.step, message, newest_good=self.step - 1)
        ending = self.status
        self.status = "done"
        last = self.history[-1] if self.history else {"epoch": self.epoch, "step": self.step}
        seconds = time.perf_counter() - started
        quoted = ", ".join(f"{k} {fmt_number(last.get(k))}" for k in self.summary_names if k in last)
        why = f" ({self.converged_reason()})" if ending == "converged" else ""
        return {
            **last,
            "kind": "done",
            "seconds": seconds,
            "train_seconds": sum(e["train_seconds"] for e in self.history),
            "message": f"trained {_count(self.epoch, 'epoch')} ({_count(self.step, 'step')}) in {seconds:.1f} s"
            f"{why}: {quoted}",
        }

    def panel_data(self) -> dict:
        """The data of the live views in `panels` at an epoch end (JSON-ready); none by default."""
        return {}

    def converged_reason(self) -> str:
        return "converged"

    def metrics(self) -> dict:
        """Final numbers for the run bundle (JSON-ready)."""
        last = self.history[-1] if self.history else {}
        return {
            "status": self.status,
            "trainer": self.name,
            "epochs": self.epoch,
            "steps": self.step,
            "train_seconds": sum(e["train_seconds"] for e in self.history),
            "task": self.task,
            "counter": counter_text(self.counts()),  # "fine-tuning 7 / 15 · pretraining done 20 / 20"
            **{k: last[k] for k in self.metric_names if k in last},
        }


def _count(n: int, noun: str) -> str:
    """'1 epoch', '3 epochs'."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
