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
from engine.train.amp import MixedPrecision, amp_problem
from engine.train.autoencoder import AutoencoderOptions
from engine.train.config import TrainConfig
from engine.train.graph_parts import labelled_rows
from engine.train.loss_choice import apply_loss_choice
from engine.train.losses import Objective, Sink, choose_objective
from engine.train.trainer_base import SNAPSHOT_SPACING, Snapshots, TrainerBase, fmt_number  # noqa: F401 (re-exported)

EVAL_CHUNK = 1024  # samples per forward pass when evaluating


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


class Trainer(TrainerBase):
    """Trains `model` on `dataset` with `config`; `run()` yields event dicts (see module doc).

    `sink` names the output node and op (it chooses the loss); by default it is read from a compiled
    GraphModule's fx meta, or generic (id "output", no op) for a hand-written module.
    """

    name = "backprop"
    step_probes = True
    metric_names = ("loss", "val_loss", "val_accuracy")
    summary_names = ("loss", "val_loss")

    def __init__(self, model: nn.Module, dataset: Dataset, config: TrainConfig, sink: Sink | None = None):
        super().__init__(model, dataset, config, sink)  # the device, the data on it, the counters
        self.net = self.model  # what a step runs forward through (a DSN module trains through a prefix of it)
        amp_issue = amp_problem(config.amp, self.device, self.model)
        if amp_issue:
            raise ConfigError(amp_issue)
        self.precision = MixedPrecision(config.amp, self.device, self.model)  # amp "off": plain float32
        # targets are prepared for the loss once
        self.objective: Objective = apply_loss_choice(
            choose_objective(self.task, _output_shape(self.model, self.x_train), dataset, self.sink),
            config.loss,
            self.sink,
        )
        self.y_train = self.objective.prepare(dataset.y_train).to(self.device)  # [N, *target]
        self.y_val = self.objective.prepare(dataset.y_val).to(self.device)
        if config.label_fraction < 1:  # learn from that share of the labelled rows (stratified, seeded)
            rows = labelled_rows(dataset.y_train, config.label_fraction, config.seed).to(self.device)
            self.x_train, self.y_train = self.x_train[rows], self.y_train[rows]
        self.optimizer = make_optimizer(config, self.model.parameters())
        self.drop_single = _has_batchnorm(self.model) and self.x_train.shape[0] % config.batch_size == 1
        self.autoencoder = AutoencoderOptions(self.model, config, self.task)  # input_noise, sparsity; views
        if self.autoencoder.reconstructing:
            self.panels = ("autoencoder",)

    # --- evaluation ------------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float | None, float | None]:
        """(mean loss, accuracy or None) over x, y in eval mode; one host transfer."""
        if len(x) == 0:
            return None, None
        obj = self.objective
        self.net.eval()
        totals = []
        for start in range(0, len(x), EVAL_CHUNK):
            xb = x[start : start + EVAL_CHUNK]
            yb = xb if obj.targets_are_inputs else y[start : start + EVAL_CHUNK]
            out = self.net(xb)
            if self.eval_hook is not None:
                self.eval_hook(out, yb)
            right = obj.correct(out, yb) if obj.correct else out.new_zeros(())
            totals.append(torch.stack([obj.loss(out, yb).float() * len(xb), right.float()]))
        self.net.train()
        loss_sum, right = torch.stack(totals).sum(dim=0).tolist()
        accuracy = right / obj.n_predictions(y) if obj.correct else None
        return loss_sum / len(x), accuracy

    # --- the loop ----------------------------------------------------------------------------------------

    def _epoch(self, epoch: int) -> Iterator[dict]:
        """One pass over the training set; yields step events, then the epoch (or diverged) event."""
        started = time.perf_counter()
        model, optimizer, loss_fn = self.net, self.optimizer, self.objective.loss
        x, y, reconstruct = self.x_train, self.y_train, self.objective.targets_are_inputs
        batch, log_every = self.config.batch_size, self.config.log_every
        n = len(x) - 1 if self.drop_single else len(x)  # a batch of one would break BatchNorm
        order = self.epoch_order()  # [N]
        pending: list[torch.Tensor] = []  # this window's step losses, 0-d, still on the device
        total, count = 0.0, 0
        for start in range(0, n, batch):
            idx = order[start : start + batch]  # [B]
            xb = x[idx]  # [B, *features]
            with self.precision.autocast():
                out = model(self.autoencoder.corrupt(xb))  # [B, *out]; input_noise masks some inputs
                loss = loss_fn(out, xb if reconstruct else y[idx]) + self.autoencoder.penalty()  # sparsity: L1
            optimizer.zero_grad(set_to_none=True)
            self.precision.backward_and_step(loss, optimizer)
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

    def _end_of_epoch(self, epoch: int, train_loss: float, started: float) -> dict:
        train_seconds = time.perf_counter() - started  # the steps alone, without validation
        val_loss, val_accuracy = self.evaluate(self.x_val, self.y_val)
        if val_loss is not None and not math.isfinite(val_loss):
            message = (
                f"validation loss became {val_loss} at the end of epoch {epoch} (step {self.step}); "
                "try a lower learning rate"
            )
            return self._diverged(epoch, self.step, message, newest_good=self.step - 1)
        values = {"loss": train_loss, "val_loss": val_loss}
        if self.objective.correct is not None:
            values["val_accuracy"] = val_accuracy
        return self._epoch_event(epoch, values, started, train_seconds)

    def metrics(self) -> dict:
        """Final numbers for the run bundle (JSON-ready)."""
        return {**super().metrics(), "objective": self.objective.name}

    def panel_data(self) -> dict:
        """An autoencoder's inputs beside their reconstructions, and its codes when they are 2-D."""
        x, y = (self.x_val, self.dataset.y_val) if len(self.x_val) else (self.x_train, self.dataset.y_train)
        data = self.autoencoder.panel_data(x)
        if "codes" in data.get("autoencoder", {}) and self.dataset.task == "classification":
            data["autoencoder"]["labels"] = y[: len(data["autoencoder"]["codes"])].tolist()
            data["autoencoder"]["class_names"] = list(self.dataset.class_names)
        return data
