"""Kohonen's self-organising map on the SOM a graph ends in, through the kernel engine.train.rules.som.

    trainer = SOMTrainer(model, dataset, config, sink, som_id="som", ids=("x", "x"))
    for event in trainer.run(): ...   # step: quantization_error of the step's examples;
                                      # epoch: quantization_error, topographic_error (on the training rows)

Online (som_mode "online"): one update per example in the epoch's order, `batch_size` examples per step, the
radius and the rate following `som_decay` over every example of the run (MiniSom's iteration count). Batch
(som_mode "batch"): one step per epoch, every unit moved to the neighbourhood-weighted mean of all the data at
that epoch's radius. The first radius is `som_sigma` (default: half the map's longer side), the first rate `lr`.
The map starts from randomly chosen training rows (MiniSom's random_weights_init), seeded. Labels are used
only to colour the hit map.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch
from torch import nn

from engine.compile.layers import SOM
from engine.data.datasets import Dataset
from engine.train.config import TrainConfig
from engine.train.losses import Sink
from engine.train.rbm_trainer import inputs_through
from engine.train.rules.som import (
    SomSchedule,
    batch_epoch,
    component_planes,
    hit_map,
    online_updates,
    quantization_error,
    topographic_error,
    u_matrix,
)
from engine.train.trainer_base import Phase, TrainerBase

MAX_PLANES = 16  # component planes drawn
MAX_POINTS = 300  # 2-D data points drawn under the map's grid


def _rounded(array, digits: int = 3) -> list:
    return [_rounded(row, digits) for row in array] if array.ndim > 1 else [round(float(v), digits) for v in array]


class SOMTrainer(TrainerBase):
    name = "som"
    panels = ("u_matrix", "hit_map", "component_planes", "som_grid")
    metric_names = ("quantization_error", "topographic_error")
    summary_names = ("quantization_error", "topographic_error")

    def __init__(self, model: nn.Module, dataset: Dataset, config: TrainConfig, sink: Sink, som_id: str, ids):
        super().__init__(model, dataset, config, sink)
        self.task = "unsupervised"  # labels only colour the hit map
        below_id, input_id = ids
        self.on_input = below_id == input_id
        self.som: SOM = getattr(self.model, som_id)
        self.v_train = inputs_through(self.model, below_id, input_id, self.x_train)  # [N, F]
        rows = torch.randperm(len(self.v_train), generator=torch.Generator().manual_seed(config.seed))
        with torch.no_grad():  # start from training rows, chosen with the seed
            picked = rows[torch.arange(self.som.rows * self.som.cols) % len(rows)].to(self.device)
            self.som.weight.copy_(self.v_train[picked])
        self.snapshots.reset(0)
        sigma0 = config.som_sigma or max(self.som.rows, self.som.cols) / 2
        online = config.som_mode == "online"
        total = config.epochs * (len(self.v_train) if online else 1)
        self.schedule = SomSchedule(sigma0, config.lr, config.som_decay, total)
        self.labels = dataset.y_train.to(self.device) if dataset.task == "classification" else None

    def plan(self) -> list[Phase]:
        per_epoch = self.batches_per_epoch() if self.config.som_mode == "online" else 1
        return [Phase("train", self.config.epochs, per_epoch)]

    @torch.no_grad()
    def _epoch(self, epoch: int) -> Iterator[dict]:
        started = time.perf_counter()
        if self.config.som_mode == "batch":
            batch_epoch(self.som, self.v_train, self.schedule.sigma(epoch - 1), self.schedule.lr(epoch - 1))
            self.step += 1
        else:
            yield from self._online_steps(epoch)
            if self.status == "diverged":
                return
        train_seconds = time.perf_counter() - started
        values = {
            "quantization_error": float(quantization_error(self.som, self.v_train)),
            "topographic_error": float(topographic_error(self.som, self.v_train)),
        }
        yield self._epoch_event(epoch, values, started, train_seconds)

    def _online_steps(self, epoch: int) -> Iterator[dict]:
        order, batch, log_every = self.epoch_order(), self.config.batch_size, self.config.log_every
        t = (epoch - 1) * len(order)  # iterations before this epoch
        pending: list[torch.Tensor] = []  # each step's quantization error, 0-d, on the device
        for start in range(0, len(order), batch):
            x_step = self.v_train[order[start : start + batch]]  # [S, F]
            online_updates(self.som, x_step, self.schedule, t0=t + start)
            self.step += 1
            if self.step % log_every == 0:
                pending.append(quantization_error(self.som, x_step))
                (errors, diverged), pending = self._check(pending, epoch, "quantization_error"), []
                if diverged:
                    yield diverged
                    return
                yield {"kind": "step", "epoch": epoch, "step": self.step, "quantization_error": errors[0]}

    def _feature_names(self) -> list[str]:
        """One per input of the map: the dataset's names (iris's, a CSV's header) when the map sits on the Input."""
        names, count = self.dataset.feature_names, self.v_train.shape[1]
        return list(names) if self.on_input and len(names) == count else [f"feature {k}" for k in range(count)]

    @torch.no_grad()
    def panel_data(self) -> dict:
        """U-matrix, hit map by class, component planes; for 2-D data the map's grid over the points."""
        n_classes = self.dataset.n_classes or 1
        data = {
            "rows": self.som.rows,
            "cols": self.som.cols,
            "u_matrix": _rounded(u_matrix(self.som)),
            "hit_map": hit_map(self.som, self.v_train, self.labels, n_classes).tolist(),  # [R, C, classes]
            "class_names": list(self.dataset.class_names) if self.labels is not None else [],
            "component_planes": _rounded(component_planes(self.som)[:MAX_PLANES]),
            "feature_names": self._feature_names(),
        }
        if self.v_train.shape[1] == 2:
            take = torch.linspace(0, len(self.v_train) - 1, min(len(self.v_train), MAX_POINTS)).long()
            data["grid"] = _rounded(self.som.weight.detach().cpu().numpy())  # [U, 2], unit u at (u // C, u % C)
            data["points"] = _rounded(self.v_train[take].cpu().numpy())
            if self.labels is not None:
                data["point_labels"] = self.labels[take.to(self.device)].tolist()
        return {"som": data}
