"""Rosenblatt's perceptron rule on a graph Input -> Linear(1) -> Step, for two classes.

Online, one example at a time, from zero weights (the bias is the weight of a constant input 1):

    score = w · x + b
    a mistake when (2y - 1) · score <= 0          # y in {0, 1}; a score of exactly 0 is a mistake for either class
    on a mistake: w <- w + η (2y - 1) x,  b <- b + η (2y - 1)

which is w <- w + η (y - ŷ) x with ŷ = step(score); the tie rule (a score of 0 counts as a mistake whichever the
class) is scikit-learn's `Perceptron` and the classic convergence proof's, so with no shuffling and η = 1 the
weights equal scikit-learn's `Perceptron(eta0=1, shuffle=False, alpha=0)` on the same rows
(tests/test_trainers_perceptron.py). The network's Step fires at score >= 0, so after training it predicts
what the rule learned. Epochs run until one has no mistakes (the run ends there: converged) or the limit.

Each example is a step; the update runs on the device without a host sync (the mistake is a 0/1 tensor that
scales the update), and the mistakes are read at the step events, every `log_every` examples.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch
from torch import nn

from engine.data.datasets import Dataset
from engine.train.config import TrainConfig
from engine.train.losses import Sink
from engine.train.trainer_base import Phase, TrainerBase

MAX_POINTS = 200  # training points drawn under the decision line


class PerceptronTrainer(TrainerBase):
    name = "perceptron"
    panels = ("decision_line",)
    metric_names = ("mistakes", "val_accuracy")
    summary_names = ("mistakes", "val_accuracy")

    def __init__(self, model: nn.Module, dataset: Dataset, config: TrainConfig, sink: Sink | None, linear_id: str):
        super().__init__(model, dataset, config, sink)
        self.linear: nn.Linear = getattr(self.model, linear_id)
        with torch.no_grad():  # the rule starts from zero weights
            self.linear.weight.zero_()
            if self.linear.bias is not None:
                self.linear.bias.zero_()
        self.snapshots.reset(0)
        self.signs = (2 * dataset.y_train.to(self.device) - 1).float()  # [N] -1 or +1
        self.y_val = dataset.y_val.to(self.device)  # [M] 0 or 1
        self.plane = self.x_train[0].numel() == 2  # 2-D inputs: the step events carry the line

    def plan(self) -> list[Phase]:
        return [Phase("train", self.config.epochs, len(self.x_train))]  # one step per example

    def converged_reason(self) -> str:
        return f"an epoch without mistakes after {self.epoch}"

    @torch.no_grad()
    def _epoch(self, epoch: int) -> Iterator[dict]:
        started = time.perf_counter()
        x = self.x_train.reshape(len(self.x_train), -1)  # [N, F]
        w = self.linear.weight[0]  # [F], a view: updates land in the model
        b = self.linear.bias  # [1] or None
        lr, log_every = self.config.lr, self.config.log_every
        mistakes = torch.zeros((), device=self.device)  # this epoch's, on the device
        for i in self.epoch_order():
            sign = self.signs[i]  # 0-d, -1 or +1
            score = w @ x[i] + (b[0] if b is not None else 0.0)
            wrong = (sign * score <= 0).float()  # 0-d, 1 on a mistake (a score of 0 included)
            w += (lr * sign * wrong) * x[i]
            if b is not None:
                b += lr * sign * wrong
            mistakes += wrong
            self.step += 1
            if self.step % log_every == 0:
                yield self._step_event(epoch, mistakes)
        yield self._end_of_epoch(epoch, int(mistakes.item()), started)

    def _step_event(self, epoch: int, mistakes: torch.Tensor) -> dict:
        event = {"kind": "step", "epoch": epoch, "step": self.step, "mistakes": int(mistakes.item())}
        if self.plane:
            event.update(self.line())
        return event

    def line(self) -> dict:
        """The decision line w0 x + w1 y + b = 0 of a 2-D perceptron (one host transfer)."""
        w = self.linear.weight[0].tolist()
        b = float(self.linear.bias[0]) if self.linear.bias is not None else 0.0
        return {"weight_0": w[0], "weight_1": w[1], "bias": b}

    def _end_of_epoch(self, epoch: int, mistakes: int, started: float) -> dict:
        train_seconds = time.perf_counter() - started
        values = {"mistakes": mistakes, "val_accuracy": self.val_accuracy()}
        event = self._epoch_event(epoch, values, started, train_seconds)
        if event["kind"] == "epoch" and mistakes == 0:
            self.status = "converged"
        return event

    @torch.no_grad()
    def val_accuracy(self) -> float | None:
        if len(self.x_val) == 0:
            return None
        out = self.model.eval()(self.x_val)  # [M, 1] 0 or 1 (the Step fires at >= 0)
        self.model.train()
        if self.eval_hook is not None:
            self.eval_hook(out, self.y_val)
        return float((out[:, 0].round().long() == self.y_val).float().mean())

    def panel_data(self) -> dict:
        """The decision line and the training points at the end of an epoch (2-D inputs)."""
        if not self.plane:
            return {}
        take = torch.linspace(0, len(self.x_train) - 1, min(len(self.x_train), MAX_POINTS)).long()
        x = self.x_train[take.to(self.device)].reshape(len(take), 2).tolist()
        labels = ((self.signs[take.to(self.device)] + 1) / 2).long().tolist()
        points = {"x": [p[0] for p in x], "y": [p[1] for p in x], "label": labels}
        return {"decision_line": {**self.line(), "points": points}}
