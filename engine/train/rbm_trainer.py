"""Contrastive divergence (CD-k, or persistent CD) on a graph's RBM, through the kernel engine.train.rules.rbm.

    trainer = RBMTrainer(model, dataset, config, sink, rbm_id="rbm", below_id="x")
    for event in trainer.run(): ...   # step: reconstruction_error; epoch: reconstruction_error,
                                      # pseudo_log_likelihood (Bernoulli visible units), free_energy_gap

`CDLayer` is one RBM learning from fixed inputs (the data, or for a DBN the hidden probabilities of the RBM
below, computed once per phase through the compiled graph's prefix): the RBM trainer has one, the DBN trainer
(engine.train.dbn_trainer) one per pretraining phase. The updates write the parameters under no_grad; there is
no optimizer. The persistent chain and the CD generator are not checkpointed: a resumed run restarts them.

Epoch metrics: `reconstruction_error` is the mean over the epoch's updates of the error each update saw;
`pseudo_log_likelihood` the mean of scikit-learn's stochastic estimate over the validation rows (the
training rows when there are none); `free_energy_gap` mean F(validation) - mean F(training) over fixed rows
(it grows when the RBM overfits).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import torch
from torch import nn

from engine.compile.layers import RBM
from engine.data.datasets import Dataset
from engine.train.config import TrainConfig
from engine.train.graph_parts import prefix_module
from engine.train.losses import Sink
from engine.train.rules.rbm import (
    cd_update,
    free_energy_gap,
    gibbs_samples,
    hidden_weight_images,
    pseudo_log_likelihood,
    reconstructions,
    start_chain,
)
from engine.train.trainer_base import Phase, TrainerBase

PANEL_ROWS = 8  # inputs shown beside their reconstructions; Gibbs chains shown
GIBBS_STEPS = 1  # Gibbs steps the live chain runs per epoch
MAX_IMAGES = 64  # hidden units drawn as weight images
GAP_ROWS = 500  # rows of each set the free-energy gap compares
RBM_METRICS = ("reconstruction_error", "pseudo_log_likelihood", "free_energy_gap")
RBM_PANELS = ("rbm_weights", "reconstructions", "gibbs_samples")


def inputs_through(model: nn.Module, below_id: str, input_id: str, x: torch.Tensor) -> torch.Tensor:
    """[N, V] what node `below_id` gives for inputs x (x itself, flattened, when it is the Input)."""
    if below_id == input_id:
        return x.reshape(len(x), -1)
    prefix = prefix_module(model, below_id)
    with torch.no_grad():
        return torch.cat([prefix(x[i : i + 1024]) for i in range(0, len(x), 1024)]).reshape(len(x), -1)


def image_shape(n_visible: int) -> tuple[int, int] | None:
    side = math.isqrt(n_visible)
    return (side, side) if side * side == n_visible else None


class CDLayer:
    """One RBM trained by CD-k / PCD on fixed inputs v_train [N, V] (v_val [M, V] for the metrics)."""

    def __init__(self, rbm: RBM, v_train: torch.Tensor, v_val: torch.Tensor, config: TrainConfig, lr: float):
        self.rbm, self.v_train, self.v_val, self.config, self.lr = rbm, v_train, v_val, config, lr
        self.generator = torch.Generator(device=v_train.device).manual_seed(config.seed)
        self.chain = start_chain(rbm, config.batch_size, self.generator) if config.persistent else None
        self.shown = (v_val if len(v_val) else v_train)[:PANEL_ROWS]  # [R, V] fixed rows for the live views
        self.gibbs_state = self.shown.clone()  # the live chain, run on between epochs
        # the views draw from their own generator, so a run with the page's views learns what one without does
        self.view_generator = torch.Generator(device=v_train.device).manual_seed(config.seed + 1)

    def update(self, v0: torch.Tensor) -> torch.Tensor:
        """One CD update from the batch v0 [B, V]; the error it saw (0-d, on the device)."""
        result = cd_update(
            self.rbm, v0, self.lr, self.config.cd_k, self.chain, self.config.weight_decay, generator=self.generator
        )
        self.chain = result.chain
        return result.reconstruction_error

    @torch.no_grad()
    def metrics(self, reconstruction_error: float) -> dict:
        scored = self.v_val if len(self.v_val) else self.v_train
        values = {"reconstruction_error": reconstruction_error}
        pll = pseudo_log_likelihood(self.rbm, scored, self.generator)
        if pll is not None:
            values["pseudo_log_likelihood"] = float(pll.mean())
        if len(self.v_val):
            values["free_energy_gap"] = float(free_energy_gap(self.rbm, self.v_train[:GAP_ROWS], self.v_val[:GAP_ROWS]))
        return values

    @torch.no_grad()
    def panel_data(self, layer: str) -> dict:
        """Weight images (square inputs), inputs beside their reconstructions, the live Gibbs chain."""
        shape = image_shape(self.rbm.n_visible)
        samples = gibbs_samples(self.rbm, self.gibbs_state, GIBBS_STEPS, self.view_generator)
        self.gibbs_state = samples.state
        data = {
            "layer": layer,
            "image_shape": list(shape) if shape else None,
            "inputs": _rounded(self.shown.cpu().numpy()),
            "reconstructions": _rounded(reconstructions(self.rbm, self.shown)),
            "gibbs_samples": _rounded(samples.means),
        }
        if shape is not None:
            data["weights"] = _rounded(hidden_weight_images(self.rbm, shape)[:MAX_IMAGES])
        return data


def _rounded(array, digits: int = 3) -> list:
    return [_rounded(row, digits) for row in array] if array.ndim > 1 else [round(float(v), digits) for v in array]


@torch.no_grad()  # on a generator: only while it runs, not while its consumer does
def cd_epoch(trainer: TrainerBase, layer: CDLayer, epoch: int) -> Iterator[dict]:
    """One pass of `layer`'s inputs in `trainer`'s order and batch size: step events, then the epoch event."""
    started = time.perf_counter()
    order, batch, log_every = trainer.epoch_order(), trainer.config.batch_size, trainer.config.log_every
    pending: list[torch.Tensor] = []  # this window's errors, 0-d, on the device
    total, count = 0.0, 0
    for start in range(0, len(order), batch):
        pending.append(layer.update(layer.v_train[order[start : start + batch]]))  # [B, V] -> 0-d
        trainer.step += 1
        if trainer.step % log_every == 0 or start + batch >= len(order):
            (errors, diverged), pending = trainer._check(pending, epoch, "reconstruction_error"), []
            if diverged:
                yield diverged
                return
            total, count = total + sum(errors), count + len(errors)
            if trainer.step % log_every == 0:
                mean = sum(errors) / len(errors)
                yield {"kind": "step", "epoch": epoch, "step": trainer.step, "reconstruction_error": mean}
    train_seconds = time.perf_counter() - started
    yield trainer._epoch_event(epoch, layer.metrics(total / max(count, 1)), started, train_seconds)


class RBMTrainer(TrainerBase):
    """CD-k on the RBM a graph ends in (fed by the Input through weightless nodes)."""

    name = "rbm"
    panels = RBM_PANELS
    metric_names = RBM_METRICS
    summary_names = RBM_METRICS

    def __init__(self, model: nn.Module, dataset: Dataset, config: TrainConfig, sink: Sink, rbm_id: str, ids):
        super().__init__(model, dataset, config, sink)
        self.task = "unsupervised"  # the labels are not used
        below_id, input_id = ids  # the node under the RBM, the Input
        self.rbm_id = rbm_id
        v_train = inputs_through(self.model, below_id, input_id, self.x_train)  # [N, V]
        v_val = inputs_through(self.model, below_id, input_id, self.x_val)  # [M, V]
        self.layer = CDLayer(getattr(self.model, rbm_id), v_train, v_val, config, config.lr)

    def plan(self) -> list[Phase]:
        return [Phase("train", self.config.epochs, self.batches_per_epoch(), self.rbm_id)]

    def _epoch(self, epoch: int) -> Iterator[dict]:
        yield from cd_epoch(self, self.layer, epoch)

    def panel_data(self) -> dict:
        return {"rbm": self.layer.panel_data(self.rbm_id)}
