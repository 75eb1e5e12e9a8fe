"""Backprop training of any nn.Module on an in-memory Dataset, as a stream of events.

    seed_everything(config.seed)                     # before the model is built: same seed, same init
    trainer = Trainer(model, dataset, config, Sink.from_analysis(analysis))
    for event in trainer.run():                      # {"kind": "step" | "epoch" | "done" | "diverged", ...}
        ...                                          # pause: stop pulling; stop: break

The whole dataset moves to the device once; each epoch draws a permutation from a seeded torch.Generator
and batches by indexing. Step losses stay on the device and are copied to the host in one transfer every
`log_every` steps, where NaN/inf is detected and the weights are snapshotted; the hot loop does no host
sync and no Python work per sample.

The consumer gets control at every event, so it can pause (not pull the next event), stop (break: the
model keeps its weights, `status` becomes "stopped") or probe: engine.probes.step_probes arms its hooks at an
event for the steps it samples before the next one, at no cost to the other steps.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from engine.data.datasets import Dataset
from engine.errors import ConfigError
from engine.train.config import TrainConfig
from engine.train.device import pick_device
from engine.train.loss_choice import apply_loss_choice
from engine.train.losses import Objective, Sink, choose_objective

EVAL_CHUNK = 1024  # samples per forward pass when evaluating
SNAPSHOT_SPACING = 100  # steps between weight snapshots at loss checks (epoch ends always save one)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python's, NumPy's and torch's global generators (call before building the model). `deterministic`
    also restricts torch to deterministic algorithms (an op that has none raises, naming itself) and turns off
    cuDNN's benchmark, so a GPU run repeats exactly; it costs speed on the GPU and nothing on the CPU."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's condition for repeatable matmuls
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.benchmark = False if deterministic else torch.backends.cudnn.benchmark


def make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ConfigError("the network has no trainable parameters; add a layer with weights (e.g. Linear)")
    lr, wd = config.lr, config.weight_decay
    makers = {
        "sgd": lambda: torch.optim.SGD(params, lr=lr, weight_decay=wd),
        "momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd),
        "adam": lambda: torch.optim.Adam(params, lr=lr, weight_decay=wd),
        "adamw": lambda: torch.optim.AdamW(params, lr=lr, weight_decay=wd),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr, weight_decay=wd),
    }
    assert config.optimizer in makers, f"unknown optimizer {config.optimizer!r} (config.problems missed it)"
    return makers[config.optimizer]()


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def _output_shape(model: nn.Module, x: torch.Tensor) -> tuple[int, ...]:
    """Output shape without the batch dim, from one forward pass on two samples in eval mode."""
    was_training = model.training
    model.eval()
    out = model(x[:2])
    model.train(was_training)
    return tuple(out.shape[1:])


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


class Snapshots:
    """The weights (state dict) at the last two saves, kept in buffers allocated once.

    Saving copies the live tensors into the older buffer: one copy, no allocation. The trainer saves at
    every epoch end and at a loss check when SNAPSHOT_SPACING steps have passed since the last save.
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


class Trainer:
    """Trains `model` on `dataset` with `config`; `run()` yields event dicts (see module doc).

    `sink` names the output node and op (it chooses the loss); by default it is read from a compiled
    GraphModule's fx meta, or generic (id "output", no op) for a hand-written module.
    """

    def __init__(self, model: nn.Module, dataset: Dataset, config: TrainConfig, sink: Sink | None = None):
        problems = config.problems()
        if problems:
            raise ConfigError("; ".join(problems))
        self.config, self.dataset, self.sink = config, dataset, sink or Sink.of_module(model)
        self.device, self.device_message = pick_device(config.device)
        self.task = config.task or dataset.task
        self.model = model.to(self.device).train()
        # the whole dataset lives on the device; targets are prepared for the loss once
        self.x_train = dataset.x_train.to(self.device)  # [N, *features]
        self.x_val = dataset.x_val.to(self.device)
        self.objective: Objective = apply_loss_choice(
            choose_objective(self.task, _output_shape(self.model, self.x_train), dataset, self.sink),
            config.loss,
            self.sink,
        )
        self.y_train = self.objective.prepare(dataset.y_train).to(self.device)  # [N, *target]
        self.y_val = self.objective.prepare(dataset.y_val).to(self.device)
        self.optimizer = make_optimizer(config, self.model.parameters())
        self.generator = torch.Generator().manual_seed(config.seed)  # batch order; CPU so every device agrees
        self.snapshots = Snapshots(self.model)
        self.drop_single = _has_batchnorm(self.model) and self.x_train.shape[0] % config.batch_size == 1
        self.epoch = 0  # epochs finished
        self.step = 0  # optimizer steps taken
        self.status = "ready"  # ready, running, done, diverged, stopped
        self.history: list[dict] = []  # the epoch events
        self.last_event: dict | None = None
        self.eval_hook = None  # optional (output, target) -> None, called on each chunk `evaluate` runs

    def resume_at(self, step: int, epoch: int) -> None:
        """Continue a run that stopped after `step` steps and `epoch` whole epochs (the model holds its weights):
        steps and epochs count on from there, the next epoch draws the batch order an uninterrupted run would
        have drawn, and a divergence right away falls back to the weights as they are now."""
        assert self.status == "ready", "resume_at comes before run()"
        assert epoch < self.config.epochs, f"nothing left to train: {epoch} of {self.config.epochs} epochs done"
        for _ in range(epoch):
            torch.randperm(len(self.x_train), generator=self.generator)
        self.step, self.epoch = step, epoch
        self.snapshots.reset(step)

    # --- evaluation ------------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float | None, float | None]:
        """(mean loss, accuracy or None) over x, y in eval mode; one host transfer."""
        if len(x) == 0:
            return None, None
        obj = self.objective
        self.model.eval()
        totals = []
        for start in range(0, len(x), EVAL_CHUNK):
            xb = x[start : start + EVAL_CHUNK]
            yb = xb if obj.targets_are_inputs else y[start : start + EVAL_CHUNK]
            out = self.model(xb)
            if self.eval_hook is not None:
                self.eval_hook(out, yb)
            right = obj.correct(out, yb) if obj.correct else out.new_zeros(())
            totals.append(torch.stack([obj.loss(out, yb).float() * len(xb), right.float()]))
        self.model.train()
        loss_sum, right = torch.stack(totals).sum(dim=0).tolist()
        accuracy = right / obj.n_predictions(y) if obj.correct else None
        return loss_sum / len(x), accuracy

    # --- the loop ----------------------------------------------------------------------------------------

    def run(self) -> Iterator[dict]:
        """Train for config.epochs; yields step/epoch events and a final done or diverged event."""
        assert self.status == "ready", "a Trainer runs once"
        self.status, started = "running", time.perf_counter()
        try:
            for epoch in range(self.epoch + 1, self.config.epochs + 1):
                for event in self._epoch(epoch):
                    yield self._emit(event)
                if self.status == "diverged":
                    return
            yield self._emit(self._finish(started))
        finally:
            if self.status == "running":
                self.status = "stopped"  # the consumer broke out (stop); the model keeps its current weights

    def _emit(self, event: dict) -> dict:
        self.last_event = event
        return event

    def _epoch(self, epoch: int) -> Iterator[dict]:
        """One pass over the training set; yields step events, then the epoch (or diverged) event."""
        started = time.perf_counter()
        model, optimizer, loss_fn = self.model, self.optimizer, self.objective.loss
        x, y, reconstruct = self.x_train, self.y_train, self.objective.targets_are_inputs
        batch, log_every = self.config.batch_size, self.config.log_every
        n = len(x) - 1 if self.drop_single else len(x)  # a batch of one would break BatchNorm
        order = torch.randperm(len(x), generator=self.generator).to(self.device)  # [N]
        pending: list[torch.Tensor] = []  # this window's step losses, 0-d, still on the device
        total, count = 0.0, 0
        for start in range(0, n, batch):
            idx = order[start : start + batch]  # [B]
            xb = x[idx]  # [B, *features]
            out = model(xb)  # [B, *out]
            loss = loss_fn(out, xb if reconstruct else y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            pending.append(loss.detach())
            self.step += 1
            if self.step % log_every == 0:
                (losses, diverged), pending = self._check(pending, epoch), []
                if diverged:
                    yield diverged
                    return
                total, count = total + sum(losses), count + len(losses)
                yield {"kind": "step", "epoch": epoch, "step": self.step, "loss": sum(losses) / len(losses)}
        losses, diverged = self._check(pending, epoch) if pending else ([], None)
        if diverged:
            yield diverged
            return
        yield self._end_of_epoch(epoch, (total + sum(losses)) / max(count + len(losses), 1), started)

    def _check(self, pending: list[torch.Tensor], epoch: int) -> tuple[list[float], dict | None]:
        """(the window's losses as floats, None), one host transfer; (.., diverged event) on NaN/inf."""
        losses = torch.stack(pending).tolist()
        first_bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
        if first_bad is None:
            if self.step - self.snapshots.newest_step >= SNAPSHOT_SPACING:
                self.snapshots.save(self.step)
            return losses, None
        bad_step = self.step - len(losses) + 1 + first_bad
        message = f"loss became {losses[first_bad]} at step {bad_step} (epoch {epoch}); try a lower learning rate"
        # the weights after step s gave the loss of step s + 1, so the last good weights are at bad_step - 2
        return losses, self._diverged(epoch, bad_step, message, newest_good=bad_step - 2)

    def _end_of_epoch(self, epoch: int, train_loss: float, started: float) -> dict:
        train_seconds = time.perf_counter() - started  # the steps alone, without validation
        val_loss, val_accuracy = self.evaluate(self.x_val, self.y_val)
        if val_loss is not None and not math.isfinite(val_loss):
            message = (
                f"validation loss became {val_loss} at the end of epoch {epoch} (step {self.step}); "
                "try a lower learning rate"
            )
            return self._diverged(epoch, self.step, message, newest_good=self.step - 1)
        self.snapshots.save(self.step)
        self.epoch = epoch
        event = {
            "kind": "epoch",
            "epoch": epoch,
            "step": self.step,
            "loss": train_loss,
            "val_loss": val_loss,
            "seconds": time.perf_counter() - started,
            "train_seconds": train_seconds,
        }
        if self.objective.correct is not None:
            event["val_accuracy"] = val_accuracy
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
        self.status = "done"
        last = self.history[-1]
        seconds = time.perf_counter() - started
        event = {
            **last,
            "kind": "done",
            "seconds": seconds,
            "train_seconds": sum(e["train_seconds"] for e in self.history),
            "message": f"trained {self.epoch} epochs ({self.step} steps) in {seconds:.1f} s: loss "
            f"{_fmt(last['loss'])}, val_loss {_fmt(last['val_loss'])}",
        }
        return event

    def metrics(self) -> dict:
        """Final numbers for the run bundle (JSON-ready)."""
        last = self.history[-1] if self.history else {}
        keys = ("loss", "val_loss", "val_accuracy")
        return {
            "status": self.status,
            "epochs": self.epoch,
            "steps": self.step,
            "train_seconds": sum(e["train_seconds"] for e in self.history),
            "objective": self.objective.name,
            "task": self.task,
            **{k: last[k] for k in keys if k in last},
        }
