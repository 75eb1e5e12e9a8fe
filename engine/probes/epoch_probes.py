"""Epoch-end probes: confusion matrix, weight images and the decision surface of 2-D datasets.

    probes = EpochProbes(trainer, settings)  # hooks the trainer's validation pass (Trainer.eval_hook)
    for event in trainer.run():
        if event["kind"] == "epoch":
            snap = probes.collect(final=False)   # one host transfer; None when there is nothing to say

The confusion matrix is counted on the device from the outputs of the validation pass the trainer makes
anyway, so it costs no extra forward pass and comes at every epoch. Weight images (every 2-D weight,
downsampled; the first 4-D weight as filters) and the decision surface (a forward pass over a grid) come
at most every `epoch_min_seconds` and at the final epoch. How classes are read from the output depends on
what the output op gives (its record's `output`, engine/compile/op_records.py): logits, probabilities in
[0, 1] (Sigmoid), 0/1 values (Step) or a distribution (Softmax).
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from engine.compile.op_records import OutputKind, output_kind
from engine.probes.step_probes import DEFAULT_PROBES, Gather, ProbeSettings, rounded


def predicted_classes(out: torch.Tensor, n_classes: int, sink_op: str | None) -> torch.Tensor:
    """Class index per prediction: [B, C] -> [B], [B, T, C] -> [B, T]; one output unit for 2 classes.
    `sink_op` is the output node's op (None: logits)."""
    if out.shape[-1] == 1 and n_classes == 2:
        return (out[..., 0] > output_kind(sink_op).yes_above).long()  # probabilities or 0/1: "> 0.5"
    return out.argmax(dim=-1)


def target_classes(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Class indices from the loss's targets: labels stay, one-hot rows -> argmax, [B, 1] floats -> [B]."""
    if not y.is_floating_point():
        return y
    if y.shape[-1] == n_classes and n_classes > 1:
        return y.argmax(dim=-1)
    return y[..., 0].round().long()


def class_probabilities(out: torch.Tensor, sink_op: str | None) -> torch.Tensor:
    """[N, C] (or [N, 1]) outputs -> [N, C] probabilities, whatever the output op `sink_op` gives."""
    kind = output_kind(sink_op)
    if kind.bipolar:  # [-1, 1] -> [0, 1], then read as probabilities
        out, kind = (out + 1) / 2, OutputKind.PROBABILITIES
    if out.shape[-1] == 1:
        p1 = out[:, 0].clamp(0, 1) if kind.in_unit_interval else torch.sigmoid(out[:, 0])
        return torch.stack([1 - p1, p1], dim=1)
    if kind is OutputKind.DISTRIBUTION:
        return out
    if kind.in_unit_interval:
        return out.clamp_min(0) / out.clamp_min(0).sum(dim=1, keepdim=True).clamp_min(1e-12)
    return torch.softmax(out, dim=1)


def downsample(matrix: torch.Tensor, max_side: int) -> torch.Tensor:
    """[R, C] -> at most [max_side, max_side], by averaging blocks."""
    rows, cols = min(matrix.shape[0], max_side), min(matrix.shape[1], max_side)
    if (rows, cols) == tuple(matrix.shape):
        return matrix
    return F.adaptive_avg_pool2d(matrix[None, None], (rows, cols))[0, 0]


class EpochProbes:
    """Epoch-end snapshots of a Trainer's run (see the module doc)."""

    def __init__(self, trainer, settings: ProbeSettings = DEFAULT_PROBES):
        self.trainer, self.settings = trainer, settings
        data = trainer.dataset
        self.n_classes = data.n_classes if trainer.task == "classification" and data.n_classes else None
        self.sink_op = trainer.sink.op
        self.confusion = None
        if self.n_classes is not None:
            self.confusion = torch.zeros(self.n_classes**2, dtype=torch.int64, device=trainer.device)  # [C * C]
            trainer.eval_hook = self._count
        self.planar = data.feature_shape == (2,) and data.input_dtype == "float32"
        self.grid, self.extent = self._grid() if self.planar else (None, None)
        self.points = self._points() if self.planar else None
        self.last_time = -math.inf

    # --- confusion -------------------------------------------------------------------------------------

    def _count(self, out: torch.Tensor, y: torch.Tensor) -> None:
        """Called by Trainer.evaluate with each validation chunk's outputs and targets."""
        c = self.n_classes
        pred = predicted_classes(out, c, self.sink_op).reshape(-1)
        true = target_classes(y, c).reshape(-1)
        cells = true * c + pred  # [N] indices into the flattened [C, C] matrix
        # scatter_add into the fixed-size counts: bincount must find the largest index first, a host sync on CUDA
        self.confusion.scatter_add_(0, cells, torch.ones_like(cells, dtype=self.confusion.dtype))

    # --- grid and points -------------------------------------------------------------------------------

    def _grid(self) -> tuple[torch.Tensor, list[list[float]]]:
        x = self.trainer.dataset.x_train  # [N, 2] on the host
        lo, hi = x.min(dim=0).values, x.max(dim=0).values
        margin = 0.1 * (hi - lo).clamp_min(1e-3)
        lo, hi = lo - margin, hi + margin
        n = self.settings.grid
        xs, ys = torch.linspace(lo[0], hi[0], n), torch.linspace(lo[1], hi[1], n)
        gx, gy = torch.meshgrid(xs, ys, indexing="xy")  # [n, n]: row = y index, column = x index
        grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1).to(self.trainer.device)  # [n * n, 2]
        return grid, [[rounded(float(lo[0])), rounded(float(hi[0]))], [rounded(float(lo[1])), rounded(float(hi[1]))]]

    def _points(self) -> dict:
        data = self.trainer.dataset
        x, y = (data.x_val, data.y_val) if data.n_val else (data.x_train, data.y_train)
        take = torch.linspace(0, len(x) - 1, min(len(x), self.settings.max_points)).long()
        values = y[take].reshape(len(take), -1)[:, 0]
        return {
            "x": [rounded(v) for v in x[take, 0].tolist()],
            "y": [rounded(v) for v in x[take, 1].tolist()],
            "label": [rounded(float(v)) for v in values.tolist()],
        }

    # --- collecting ------------------------------------------------------------------------------------

    def collect(self, final: bool = False, now: float | None = None) -> dict | None:
        """The epoch snapshot (JSON-ready) or None; one device -> host transfer."""
        now = time.perf_counter() if now is None else now
        heavy = final or now - self.last_time >= self.settings.epoch_min_seconds
        gather = Gather()
        if self.confusion is not None:
            gather.add("confusion", self.confusion.view(self.n_classes, self.n_classes))
        matrices, filters = self._weights(gather) if heavy else ([], None)
        if heavy and self.planar:
            self._surface(gather)
        if not gather.parts:
            return None
        values = gather.fetch()
        if self.confusion is not None:
            self.confusion.zero_()
        if heavy:
            self.last_time = now
        return self._snapshot(values, matrices, filters)

    def _weights(self, gather: Gather) -> tuple[list[tuple[str, list[int]]], tuple[str, list[int]] | None]:
        s, matrices, filters = self.settings, [], None
        for name, p in self.trainer.model.named_parameters():
            w = p.detach().float()
            if w.dim() == 2 and "weight" in name and len(matrices) < s.max_matrices:
                gather.add(f"matrix/{name}", downsample(w, s.max_side))
                matrices.append((name, list(w.shape)))
            elif w.dim() == 4 and filters is None:
                gather.add(f"filters/{name}", w[: s.max_filters].mean(dim=1))  # [n, kh, kw]
                filters = (name, list(w.shape))
        return matrices, filters

    @torch.no_grad()
    def _surface(self, gather: Gather) -> None:
        model: nn.Module = self.trainer.model
        was_training = model.training
        model.eval()
        out = model(self.grid).float()  # [G * G, *out]
        model.train(was_training)
        if self.n_classes is None:
            gather.add("surface/value", out.reshape(len(out), -1)[:, 0])
            return
        probs = class_probabilities(out.reshape(len(out), -1), self.sink_op)  # [G * G, C]
        if probs.shape[1] == 2:
            gather.add("surface/p", probs[:, 1])
        else:
            confidence, cls = probs.max(dim=1)
            gather.add("surface/class", cls)
            gather.add("surface/confidence", confidence)

    def _snapshot(self, values: dict, matrices: list, filters) -> dict:
        snap: dict = {}
        if "confusion" in values:
            snap["confusion"] = values["confusion"].astype(int).tolist()
            snap["class_names"] = list(self.trainer.dataset.class_names)
        if matrices:
            snap["weights"] = [
                {"name": name, "shape": shape, "image": _round_grid(values[f"matrix/{name}"])}
                for name, shape in matrices
            ]
        if filters is not None:
            name, shape = filters
            snap["filters"] = {"name": name, "shape": shape, "images": _round_grid(values[f"filters/{name}"])}
        surface = {k.split("/", 1)[1]: v for k, v in values.items() if k.startswith("surface/")}
        if surface:
            snap["surface"] = {
                "n": self.settings.grid,
                "extent": self.extent,
                **{k: [rounded(float(v), 3) for v in array] for k, array in surface.items()},
                "points": self.points,
            }
        return snap


def _round_grid(array) -> list:
    if array.ndim == 1:
        return [rounded(float(v), 3) for v in array]
    return [_round_grid(row) for row in array]
