"""Contrastive divergence for engine.compile.layers.RBM, and the numbers and pictures of a trained RBM.

A trainer drives it one mini-batch at a time (the functions read and write the parameters' .data, in place:
no autograd graph, no torch optimizer):

    chain = start_chain(rbm, batch_size, generator) if persistent else None   # PCD: (P, V) fantasy particles
    velocity = None
    for v0 in batches:                                                          # v0: (B, V) on rbm's device
        result = cd_update(rbm, v0, lr, k, chain, weight_decay, momentum, velocity, generator)
        chain, velocity = result.chain, result.velocity                          # carry both to the next batch
        errors.append(result.reconstruction_error)                               # 0-d tensor: no host sync

The rule (Hinton, "A Practical Guide to Training Restricted Boltzmann Machines", 2010):
- positive phase: hidden probabilities p(h | v0) of the data (never samples: less noise, same expectation);
- negative phase: k Gibbs steps. Hidden units are always sampled (binary) on the way, and the last hidden
  step uses probabilities. Under CD-k the chain starts at the data and the visible units use their
  probabilities (Gaussian: their means) at every step, which lowers the sampling noise (guide, §3.2). Under
  persistent CD (Tieleman 2008; what scikit-learn's BernoulliRBM runs) the chain starts from the `chain` the
  last update returned and the visible units are sampled, so the particles stay a true Markov chain;
- update, with lr the rate per example: W += lr * (<h v>_data - <h v>_model - weight_decay * W), the same
  difference of means for h_bias and v_bias (no weight decay on the biases); with momentum each increment
  is velocity = momentum * velocity + increment (on weights and biases).

Gaussian visible units have unit variance: standardise the data first (zero mean, unit variance per
feature) and use a smaller lr (the guide suggests 10 to 100 times smaller than for binary units).

The persistent chain is a (P, V) tensor of visible states (P particles, usually the batch size; P may differ
from B). Start it with start_chain (a sample of the visible units with every hidden unit off, as
scikit-learn's zero hidden start) and pass each result.chain to the next update; a checkpoint that keeps it
(and the velocity) resumes exactly, one that does not restarts the chain. Under CD-k, result.chain is None.

Random numbers come from `generator`, a torch.Generator on the data's device (None: torch's global one).

Speed: a CD-1 update of a digits batch (10 x 64, 64 hidden units) is 17 small tensor operations, no host sync.
On the CPU run torch on one thread for it (engine.runs.worker does): on a busy 2-core machine the default pool
of two threads took 0.1 to 10 s an epoch against 40 to 70 ms on one (bench/bench_rules.py measures the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.compile.layers import RBM


class Velocity(NamedTuple):
    """The last increment of each parameter, for momentum; its tensors are updated in place by cd_update."""

    weight: Tensor  # (H, V)
    h_bias: Tensor  # (H,)
    v_bias: Tensor  # (V,)

    @staticmethod
    def zeros_like(rbm: RBM) -> Velocity:
        return Velocity(*(torch.zeros_like(p) for p in (rbm.weight, rbm.h_bias, rbm.v_bias)))


class CDResult(NamedTuple):  # a NamedTuple: built every update, and a frozen dataclass costs 3x as much
    reconstruction_error: Tensor  # 0-d, on the device: mean over the batch and units of (v0 - reconstruction)^2
    chain: Tensor | None  # (P, V) the persistent chain's visible states after this update; None under CD-k
    velocity: Velocity | None  # None when momentum is 0 and no velocity was given


@dataclass(frozen=True)
class GibbsSamples:
    state: Tensor  # (B, V) the chain's last visible sample: pass it back as `start` to run the chain on
    means: np.ndarray  # (B, V) the last step's visible probabilities (Gaussian: means), for display


# The kernels below take the parameters' .data, looked up once per update and straight from the module's
# _parameters dict (nn.Module.__getattr__ is a Python fallback that costs as much as a tiny op, three of them 10 %
# of a CD-1 update on digits). .data does not require grad, so the ops on it build no autograd graph without
# torch.no_grad() (whose per-call cost is that of two tiny ops) and the in-place updates skip autograd's checks.


def _tensors(rbm: RBM) -> tuple[Tensor, Tensor, Tensor, bool]:
    params = rbm._parameters
    return params["weight"].data, params["h_bias"].data, params["v_bias"].data, rbm.visible == "bernoulli"


def _hidden_probs(v: Tensor, weight: Tensor, h_bias: Tensor) -> Tensor:
    return torch.addmm(h_bias, v, weight.t()).sigmoid_()  # (B, H); F.linear adds a dispatch layer


def _visible_mean(h: Tensor, weight: Tensor, v_bias: Tensor, binary: bool) -> Tensor:
    activation = torch.addmm(v_bias, h, weight)  # (B, V)
    return activation.sigmoid_() if binary else activation


def _sample_visible(mean: Tensor, binary: bool, generator: torch.Generator | None) -> Tensor:
    if binary:
        return torch.bernoulli(mean, generator=generator)  # (B, V)
    return mean + torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)


@torch.no_grad()
def start_chain(rbm: RBM, n_particles: int, generator: torch.Generator | None = None) -> Tensor:
    """(P, V) visible states to start persistent CD: a sample of p(v | h = 0)."""
    weight, _, v_bias, binary = _tensors(rbm)
    hidden_off = torch.zeros(n_particles, rbm.n_hidden, device=weight.device, dtype=weight.dtype)  # (P, H)
    return _sample_visible(_visible_mean(hidden_off, weight, v_bias, binary), binary, generator)  # (P, V)


def _add_gradient(weight, h_bias, v_bias, stats, v_gap: Tensor | None, lr: float) -> None:
    """(weight, h_bias, v_bias) += lr * (<h v>_data - <h v>_model), each a mean over its own rows.
    v_gap: v_pos - v_neg when both have B rows (one reduction instead of two), else None."""
    v_pos, h_pos, v_neg, h_neg = stats  # (B, V), (B, H), (P, V), (P, H)
    s_pos, s_neg = lr / v_pos.shape[0], lr / v_neg.shape[0]
    weight.addmm_(h_pos.t(), v_pos, alpha=s_pos).addmm_(h_neg.t(), v_neg, alpha=-s_neg)  # (H, V)
    if v_gap is not None:  # P == B: the hot path of CD-k
        h_bias.add_((h_pos - h_neg).sum(0), alpha=s_pos)  # (H,)
        v_bias.add_(v_gap.sum(0), alpha=s_pos)  # (V,)
    else:
        h_bias.add_(h_pos.sum(0), alpha=s_pos).add_(h_neg.sum(0), alpha=-s_neg)
        v_bias.add_(v_pos.sum(0), alpha=s_pos).add_(v_neg.sum(0), alpha=-s_neg)


def _momentum_step(rbm: RBM, stats, v_gap, lr: float, weight_decay: float, momentum: float, velocity) -> Velocity:
    """velocity = momentum * velocity + lr * (gradient - weight_decay * W) (no decay on biases); params += velocity."""
    velocity = Velocity.zeros_like(rbm) if velocity is None else velocity
    weight, h_bias, v_bias, _ = _tensors(rbm)
    for step in velocity:
        step.mul_(momentum)
    if weight_decay:
        velocity.weight.add_(weight, alpha=-lr * weight_decay)
    _add_gradient(*velocity, stats, v_gap, lr)
    for param, step in zip((weight, h_bias, v_bias), velocity):
        param.add_(step)
    return velocity


def cd_update(
    rbm: RBM,
    v0: Tensor,
    lr: float,
    k: int | None = None,
    chain: Tensor | None = None,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    velocity: Velocity | None = None,
    generator: torch.Generator | None = None,
) -> CDResult:
    """One CD-k update from the batch v0 (B, V); persistent CD when `chain` (P, V) is given. k: rbm.k if None.

    The returned reconstruction error compares v0 with the reconstruction CD-1 learns from, p(v | h) for h
    sampled from p(h | v0); it is the training signal Hinton's guide says to watch, not a likelihood.
    Written as one straight function on purpose: on digits a CD-1 update is 17 tensor operations of a few
    microseconds each, and every helper call or lookup more is a percent of the epoch.
    """
    weight, h_bias, v_bias, binary = _tensors(rbm)
    weight_t = weight.t()  # (V, H)
    v0 = v0.detach() if v0.requires_grad else v0  # a DBN's upper layer may be fed a tensor with a graph behind it
    h_pos = torch.addmm(h_bias, v0, weight_t).sigmoid_()  # (B, H) positive phase: probabilities
    h_data = torch.bernoulli(h_pos, generator=generator)  # (B, H)
    reconstruction = _visible_mean(h_data, weight, v_bias, binary)  # (B, V) p(v | h): CD's first negative step
    v_neg = reconstruction
    if chain is not None:  # persistent CD: one step from where the chain was, sampling the visible units too
        chain_hidden = torch.bernoulli(torch.addmm(h_bias, chain.detach(), weight_t).sigmoid_(), generator=generator)
        v_neg = _sample_visible(_visible_mean(chain_hidden, weight, v_bias, binary), binary, generator)  # (P, V)
    h_neg = torch.addmm(h_bias, v_neg, weight_t).sigmoid_()  # (P, H)
    for _ in range((rbm.k if k is None else k) - 1):  # CD-k: the hidden units sampled on the way
        v_mean = _visible_mean(torch.bernoulli(h_neg, generator=generator), weight, v_bias, binary)
        v_neg = v_mean if chain is None else _sample_visible(v_mean, binary, generator)
        h_neg = torch.addmm(h_bias, v_neg, weight_t).sigmoid_()  # the last one stays probabilities
    v_gap = v0 - v_neg if v_neg.shape[0] == v0.shape[0] else None  # (B, V)
    miss = v_gap if reconstruction is v_neg else v0 - reconstruction  # (B, V); CD-1: the same difference
    error = miss.square().mean()  # 0-d, before the weights move (F.mse_loss: 2x slower here)
    stats = (v0, h_pos, v_neg, h_neg)
    if velocity is not None or momentum:
        velocity = _momentum_step(rbm, stats, v_gap, lr, weight_decay, momentum, velocity)
    else:
        if weight_decay:
            weight.mul_(1.0 - lr * weight_decay)  # the statistics were taken with W before this update
        _add_gradient(weight, h_bias, v_bias, stats, v_gap, lr)
    return CDResult(error, v_neg if chain is not None else None, velocity)


@torch.no_grad()
def pseudo_log_likelihood_at(rbm: RBM, v: Tensor, flip: Tensor) -> Tensor:
    """(B,) n_visible * log sigmoid(F(v with unit flip[b] flipped) - F(v)): the per-example estimate of
    scikit-learn's BernoulliRBM.score_samples, for the given unit indices flip (B,) int64."""
    rows = torch.arange(v.shape[0], device=v.device)
    flipped = v.clone()
    flipped[rows, flip] = 1.0 - flipped[rows, flip]
    gap = rbm.free_energy(flipped) - rbm.free_energy(v)  # (B,)
    return rbm.n_visible * F.logsigmoid(gap)


def pseudo_log_likelihood(rbm: RBM, v: Tensor, generator: torch.Generator | None = None) -> Tensor | None:
    """(B,) the stochastic pseudo-log-likelihood of each example, one random visible unit flipped per example.

    Only defined for binary (Bernoulli) visible units: for Gaussian visible units it returns None, and a
    trainer leaves the metric out of its events. Higher is better; the mean over a data set is the number
    scikit-learn's `BernoulliRBM.score_samples(X).mean()` reports.
    """
    if rbm.visible != "bernoulli":
        return None
    flip = torch.randint(0, rbm.n_visible, (v.shape[0],), generator=generator, device=v.device)  # (B,)
    return pseudo_log_likelihood_at(rbm, v, flip)


@torch.no_grad()
def mean_field_reconstruction(rbm: RBM, v: Tensor) -> Tensor:
    """(B, V) one deterministic v -> p(h | v) -> E[v | h] pass."""
    weight, h_bias, v_bias, binary = _tensors(rbm)
    return _visible_mean(_hidden_probs(v, weight, h_bias), weight, v_bias, binary)


@torch.no_grad()
def reconstruction_error(rbm: RBM, v: Tensor) -> Tensor:
    """0-d mean squared error of the mean-field reconstruction (deterministic, unlike cd_update's)."""
    return F.mse_loss(mean_field_reconstruction(rbm, v), v)


@torch.no_grad()
def free_energy_gap(rbm: RBM, v_train: Tensor, v_val: Tensor) -> Tensor:
    """0-d mean F(validation) - mean F(training) over the first n rows of each, n the smaller count.

    Near 0 while the RBM generalises; growing when it overfits (the training data becomes much more probable
    than held-out data; Hinton's guide §6). Pass the same fixed subsets every epoch so the curve is comparable.
    """
    n = min(v_train.shape[0], v_val.shape[0])
    return rbm.free_energy(v_val[:n]).mean() - rbm.free_energy(v_train[:n]).mean()


def hidden_weight_images(rbm: RBM, image_shape: tuple[int, int]) -> np.ndarray:
    """(H, h, w) each hidden unit's incoming weights laid out as an image (raw values; the figure scales)."""
    height, width = image_shape
    if height * width != rbm.n_visible:
        raise ValueError(f"image shape {image_shape} holds {height * width} pixels, the RBM has {rbm.n_visible}")
    return rbm.weight.detach().reshape(rbm.n_hidden, height, width).cpu().numpy()


def reconstructions(rbm: RBM, v: Tensor) -> np.ndarray:
    """(B, V) the mean-field reconstructions of v, for the inputs-beside-reconstructions view."""
    return mean_field_reconstruction(rbm, v).cpu().numpy()


@torch.no_grad()
def gibbs_samples(rbm: RBM, start: Tensor, steps: int, generator: torch.Generator | None = None) -> GibbsSamples:
    """Run `steps` Gibbs steps v -> h -> v from start (B, V), sampling every unit.

    Start from a data batch (the chain drifts from the data towards the model's own samples) or from the
    previous result's state to keep one chain running across a run's live updates.
    """
    weight, h_bias, v_bias, binary = _tensors(rbm)
    v, v_mean = start, start
    for _ in range(steps):
        h = torch.bernoulli(_hidden_probs(v, weight, h_bias), generator=generator)  # (B, H)
        v_mean = _visible_mean(h, weight, v_bias, binary)  # (B, V)
        v = _sample_visible(v_mean, binary, generator)
    return GibbsSamples(state=v, means=v_mean.cpu().numpy())
