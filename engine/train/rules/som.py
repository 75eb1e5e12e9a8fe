"""Kohonen's self-organising map for engine.compile.layers.SOM: the online and batch rules, their schedules,
and the map's measures and pictures.

A trainer drives it (weights change in place, in som.weight.data; no autograd, no optimizer):

    schedule = SomSchedule(sigma0, lr0, "asymptotic", total_iterations=epochs * n_train)    # online
    t = 0
    sq_grid = grid_sq_distances(som)                        # optional: built once instead of every call
    for x_step in batches:                                  # (S, F) on som's device, in the epoch's order
        online_updates(som, x_step, schedule, t0=t, sq_grid=sq_grid)      # no host sync
        t += x_step.shape[0]                                # one iteration per example, as MiniSom counts

    schedule = SomSchedule(sigma0, 1.0, "asymptotic", total_iterations=epochs)          # batch
    for epoch in range(epochs):
        batch_epoch(som, x_train, schedule.sigma(epoch))    # one update from all the data

The conventions are MiniSom's (2.3.6), so the numbers compare with it:
- iteration t counts from 0 over the whole run, one per example; total_iterations is MiniSom's num_iteration;
- schedules (both sigma and the learning rate follow `decay`): "asymptotic" x0 / (1 + t / (T / 2)) (MiniSom's
  default for both); "linear" lr0 (1 - t / T) and sigma0 + t (1 - sigma0) / T (MiniSom's linear_decay_to_zero
  and linear_decay_to_one); "exponential" (not in MiniSom) lr0 * 0.01^(t / T) and sigma0 * (1 / sigma0)^(t / T),
  the rate falling to 1 % and the radius to one unit at T (a radius below one unit stays where it is);
- neighbourhood: the Gaussian exp(-d^2 / (2 sigma^2)) of the squared grid distance d^2 = (row - row_bmu)^2 +
  (col - col_bmu)^2 (MiniSom's product of a row and a column Gaussian, the same number), on a rectangular grid,
  unit u at (u // cols, u % cols), which is MiniSom's weights[row, col];
- online rule: w_u <- w_u + lr(t) h(bmu, u, sigma(t)) (x - w_u), the BMU the unit nearest x (Euclidean,
  the first one on a tie);
- quantization error: the mean Euclidean distance of each example to its BMU's weights;
- topographic error: the share of examples whose best and second-best units are not neighbours on the grid,
  neighbours being the 8 cells around (diagonals included): MiniSom's rectangular rule counts units at grid
  distance up to 1.42 (> sqrt 2) as adjacent. The U-matrix uses the same 8 neighbours (MiniSom's distance_map).

The online loop keeps everything on the device and reads no number back per example: the schedule's values are
host floats computed from t, the BMU's neighbourhood is one row of a (U, U) table of squared grid distances
(U^2 floats: 40 MB at U = 3,200 units, a 56 x 56 map), so an example costs ten small tensor operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from engine.compile.layers import SOM

DECAYS = ("asymptotic", "linear", "exponential")
CHUNK = 4096  # examples per distance matrix in the measures: (CHUNK, U) floats at a time


@dataclass(frozen=True)
class SomSchedule:
    """The neighbourhood radius sigma(t) (grid units) and learning rate lr(t) at iteration t (from 0)."""

    sigma0: float
    lr0: float
    decay: str = "asymptotic"
    total_iterations: int = 1  # T: MiniSom's num_iteration (examples for online, epochs for batch)

    def __post_init__(self):
        assert self.decay in DECAYS, self.decay  # TrainConfig checks the user's choice
        assert self.total_iterations >= 1 and self.sigma0 > 0, self

    def sigma(self, t: int) -> float:
        T, s0 = self.total_iterations, self.sigma0
        if self.decay == "asymptotic":
            return s0 / (1 + t / (T / 2))
        if self.decay == "linear":
            return s0 + t * (1 - s0) / T
        return s0 * min(1.0, 1.0 / s0) ** (t / T)

    def lr(self, t: int) -> float:
        T, lr0 = self.total_iterations, self.lr0
        if self.decay == "asymptotic":
            return lr0 / (1 + t / (T / 2))
        if self.decay == "linear":
            return lr0 * (1 - t / T)
        return lr0 * 0.01 ** (t / T)


def grid_sq_distances(som: SOM) -> Tensor:
    """(U, U) squared grid distance between every two units."""
    positions = som.grid_positions()  # (U, 2) (row, col)
    return (positions[:, None, :] - positions[None, :, :]).pow(2).sum(dim=2)  # (U, U)


def online_updates(som: SOM, x_seq: Tensor, schedule: SomSchedule, t0: int = 0, sq_grid: Tensor | None = None) -> None:
    """Kohonen's online rule over the rows of x_seq (N, F) in order, the i-th at iteration t0 + i.

    sq_grid: grid_sq_distances(som), if the caller keeps it from call to call (it never changes): building it
    takes about ten small operations, 12 % of the time of a call of 32 iris examples on the CPU.
    Nothing is read back: a trainer measures quantization_error on the step's examples if it wants a number.
    The Gaussian is exp(-d^2 / (2 sigma_ref^2)) ** (sigma_ref^2 / sigma(t)^2) for sigma_ref the widest radius of
    these iterations: one operation per example fewer than exp(-d^2 / (2 sigma(t)^2)), and the power is >= 1, so
    no value underflows that the direct form would not.
    """
    weight = som.weight.data  # (U, F)
    sq_grid = grid_sq_distances(som) if sq_grid is None else sq_grid  # (U, U), symmetric: column b is BMU b's
    sigma_ref = max(schedule.sigma(t0), schedule.sigma(t0 + x_seq.shape[0] - 1))  # the schedules are monotonic
    widest = sq_grid.mul(-0.5 / sigma_ref**2).exp_()  # (U, U) the Gaussian at sigma_ref
    for i, x in enumerate(x_seq.detach().unbind(0)):  # unbind: all the row views in one call
        t = t0 + i
        sigma, lr = schedule.sigma(t), schedule.lr(t)  # host floats: no sync
        diff = x - weight  # (U, F)
        bmu = torch.linalg.vector_norm(diff, dim=1).argmin(0, keepdim=True)  # (1,) the first nearest, as MiniSom
        neighbourhood = widest.index_select(1, bmu).pow_((sigma_ref / sigma) ** 2)  # (U, 1) h(bmu, u, sigma(t))
        weight.addcmul_(neighbourhood, diff, value=lr)  # w += lr * h * (x - w)


def _bmu_and_distances(som: SOM, x: Tensor) -> tuple[Tensor, Tensor]:
    """(N,) best-matching unit and (N, 2) indices of the two nearest units, chunked over the examples."""
    nearest_two = []
    for start in range(0, x.shape[0], CHUNK):
        neg_sq_dist = som(x[start : start + CHUNK])  # (n, U): -||x - w||^2, as MiniSom's expanded form
        nearest_two.append(neg_sq_dist.topk(min(2, som.rows * som.cols), dim=1).indices)  # (n, 2)
    two = torch.cat(nearest_two)  # (N, 2)
    return two[:, 0], two


@torch.no_grad()
def batch_epoch(som: SOM, x: Tensor, sigma: float, lr: float = 1.0) -> None:
    """The batch SOM (Kohonen 2013): every unit moves to the neighbourhood-weighted mean of the data,
    w_u = sum_n h(bmu_n, u) x_n / sum_n h(bmu_n, u), the BMUs taken with the weights before the update.

    lr < 1 moves it only that share of the way, w <- (1 - lr) w + lr * mean (MiniSom's train_batch_offline);
    a unit whose weighted count underflows to 0 (far from every BMU at a tiny sigma) keeps its weights.
    """
    weight = som.weight.data  # (U, F)
    n_units = weight.shape[0]
    bmu, _ = _bmu_and_distances(som, x)  # (N,)
    counts = torch.zeros(n_units, device=x.device, dtype=x.dtype).index_add_(
        0, bmu, torch.ones_like(bmu, dtype=x.dtype)
    )
    sums = torch.zeros_like(weight).index_add_(0, bmu, x)  # (U, F) data summed per BMU
    kernel = grid_sq_distances(som).mul_(-0.5 / sigma**2).exp_()  # (U, U) h(bmu, u), symmetric
    numerator = kernel @ sums  # (U, F)
    denominator = kernel @ counts  # (U,)
    has_data = (denominator > 0)[:, None]  # (U, 1)
    mean = numerator / torch.where(has_data, denominator[:, None], torch.ones_like(denominator[:, None]))
    weight.copy_(torch.where(has_data, (1 - lr) * weight + lr * mean, weight))


@torch.no_grad()
def quantization_error(som: SOM, x: Tensor) -> Tensor:
    """0-d mean Euclidean distance of each example to its BMU's weights (MiniSom's quantization_error)."""
    bmu, _ = _bmu_and_distances(som, x)
    return torch.linalg.vector_norm(x - som.weight[bmu], dim=1).mean()


@torch.no_grad()
def topographic_error(som: SOM, x: Tensor) -> Tensor:
    """0-d share of examples whose two nearest units are not grid neighbours (8-neighbourhood; see the module
    docstring). NaN for a map of one unit, where it is not defined (as MiniSom)."""
    if som.rows * som.cols < 2:
        return torch.tensor(float("nan"), device=x.device)
    _, two = _bmu_and_distances(som, x)  # (N, 2)
    rows, cols = two // som.cols, two % som.cols  # (N, 2) each
    apart = torch.maximum((rows[:, 0] - rows[:, 1]).abs(), (cols[:, 0] - cols[:, 1]).abs()) > 1  # (N,)
    return apart.to(x.dtype).mean()


NEIGHBOUR_OFFSETS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]


@torch.no_grad()
def u_matrix(som: SOM) -> np.ndarray:
    """(rows, cols) each unit's mean weight distance to its (up to 8) grid neighbours: high ridges separate
    clusters. MiniSom's distance_map(scaling="mean") is this divided by its maximum."""
    grid = som.weight.detach().reshape(som.rows, som.cols, -1)  # (R, C, F)
    total = torch.zeros(som.rows, som.cols, device=grid.device, dtype=grid.dtype)
    count = torch.zeros_like(total)
    for dr, dc in NEIGHBOUR_OFFSETS:
        window = (slice(max(0, -dr), som.rows - max(0, dr)), slice(max(0, -dc), som.cols - max(0, dc)))  # units
        shifted = (slice(max(0, dr), som.rows + min(0, dr)), slice(max(0, dc), som.cols + min(0, dc)))  # neighbours
        total[window] += torch.linalg.vector_norm(grid[window] - grid[shifted], dim=2)
        count[window] += 1
    return (total / count.clamp(min=1)).cpu().numpy()


@torch.no_grad()
def hit_map(som: SOM, x: Tensor, labels: Tensor | None, n_classes: int) -> np.ndarray:
    """(rows, cols, n_classes) how many examples of each class have each unit as BMU (labels None: one class)."""
    bmu, _ = _bmu_and_distances(som, x)  # (N,)
    n_classes = 1 if labels is None else n_classes
    labels = torch.zeros_like(bmu) if labels is None else labels.to(bmu.device, torch.long)
    cells = bmu * n_classes + labels  # (N,) flat (unit, class)
    counts = torch.zeros(som.rows * som.cols * n_classes, device=x.device, dtype=torch.long)
    counts.scatter_add_(0, cells, torch.ones_like(cells))  # no bincount: it syncs on CUDA to size its output
    return counts.reshape(som.rows, som.cols, n_classes).cpu().numpy()


def component_planes(som: SOM) -> np.ndarray:
    """(F, rows, cols) each input feature's weight across the map."""
    return som.weight.detach().t().reshape(-1, som.rows, som.cols).cpu().numpy()
