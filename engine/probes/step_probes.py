"""Probes: what a network is doing while it trains, keyed by node id (docs/ARCHITECTURE.md §2).

Step snapshots, one training step in `every` (and at most one per `min_seconds`):

    probes.arm()             # at a step event: one-shot forward hooks on every node's module
    ...                      # the next training forward fires them: activation statistics are computed on
                             # the device and a tensor hook waits for the gradient of each node's output
    snap = probes.collect()  # at a later event: + parameter gradient and weight norms; ONE host transfer

Epoch snapshots (engine.probes.epoch_probes): confusion matrix, weight images, decision surface.

Per node (module nodes only; Add, Flatten and the other function nodes have no module to hook):
`lo`, `hi`, `mean`, `std`, `hist` (counts over `bins` equal bins from lo to hi, from at most `max_values`
of the batch's values), `dead` (nodes whose op record is `relu_like`, engine/compile/op_records.py: the
fraction of units that are not positive for any sample of the batch; else null), `grad` (L2 norm of the
gradients of the node's parameters at the collect step; null without parameters), `out_grad` (L2 norm of
the loss's gradient with respect to the node's output at the armed step), `weight` (L2 norm of its
parameters).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.compile.fx_module import node_modules
from engine.compile.op_records import is_relu_like

STAT_NAMES = ("lo", "hi", "mean", "std", "dead")  # then the histogram counts
NO_VALUE = -1.0  # marks "not applicable" inside a packed tensor (dead fractions are >= 0)


@dataclass(frozen=True)
class ProbeSettings:
    every: int = 20  # sample one training step in this many (bench/bench_probes.py measured the cost)
    min_seconds: float = 0.25  # and at most one step snapshot this often, so the store stays small
    bins: int = 24
    max_values: int = 4096  # activation values per node that go into its histogram
    epoch_min_seconds: float = 1.0  # weight images and decision surface at most this often (and at the end)
    grid: int = 40  # decision surface: grid x grid points
    max_side: int = 40  # weight images are downsampled to at most this many rows and columns
    max_matrices: int = 8
    max_filters: int = 16
    max_points: int = 300  # validation points drawn over the decision surface


DEFAULT_PROBES = ProbeSettings()


def rounded(value: float, digits: int = 4) -> float | None:
    """A float with `digits` significant digits (compact JSON); None for NaN or inf."""
    return float(f"{value:.{digits}g}") if math.isfinite(value) else None


class Gather:
    """Device tensors collected by name and copied to the host in one transfer."""

    def __init__(self):
        self.parts: list[tuple[str, tuple[int, ...], torch.Tensor]] = []

    def add(self, name: str, tensor: torch.Tensor) -> None:
        self.parts.append((name, tuple(tensor.shape), tensor.detach().reshape(-1).float()))

    def fetch(self) -> dict[str, np.ndarray]:
        if not self.parts:
            return {}
        flat = torch.cat([t for _, _, t in self.parts]).cpu().numpy()  # the one device -> host copy
        out, start = {}, 0
        for name, shape, t in self.parts:
            out[name] = flat[start : start + t.numel()].reshape(shape)
            start += t.numel()
        return out


def activation_stats(out: torch.Tensor, bins: int, max_values: int, relu_like: bool) -> torch.Tensor:
    """[lo, hi, mean, std, dead, *counts] of a module's output, computed on its device (no host sync)."""
    x = out.detach().float()  # [B, *unit]
    flat = torch.nan_to_num(x.reshape(-1))  # [B * units]
    stride = max(1, math.ceil(flat.numel() / max_values))
    sample = flat[::stride]  # [<= max_values]
    lo, hi = sample.min(), sample.max()
    width = (hi - lo).clamp_min(1e-12)
    index = ((sample - lo) / width * bins).long().clamp(0, bins - 1)
    counts = torch.bincount(index, minlength=bins).float()  # [bins]
    if relu_like and x.dim() > 1:
        dead = 1.0 - (x.reshape(x.shape[0], -1) > 0).any(dim=0).float().mean()  # units never positive
    else:
        dead = x.new_tensor(NO_VALUE)
    stats = torch.stack([lo, hi, flat.mean(), flat.std(correction=0), dead])
    return torch.cat([stats, counts])


def group_norm(tensors: list[torch.Tensor]) -> torch.Tensor | None:
    """L2 norm of several tensors taken together, on their device; None for an empty list."""
    if not tensors:
        return None
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.detach().float()) for t in tensors]))


class StepProbes:
    """One-shot activation and gradient probes on a compiled network (see the module doc)."""

    def __init__(self, model: nn.Module, ops: dict[str, str], settings: ProbeSettings = DEFAULT_PROBES):
        self.settings, self.ops = settings, ops
        self.modules = node_modules(model) if hasattr(model, "graph") else {}
        self.params = {nid: [p for p in m.parameters() if p.requires_grad] for nid, m in self.modules.items()}
        self.handles: dict[str, object] = {}  # node id -> its forward hook's handle, until the hook fires
        self.acts: dict[str, torch.Tensor] = {}  # node id -> packed stats, on the device
        self.out_grads: dict[str, torch.Tensor] = {}  # node id -> 0-d norm, on the device
        self.sampled = False  # a training forward has run since arming
        self.last_time = -math.inf
        self.last_step = -(10**9)

    @property
    def armed(self) -> bool:
        return bool(self.handles) or self.sampled

    def due(self, step: int, now: float | None = None) -> bool:
        """Whether to arm at this step: `every` steps and `min_seconds` since the last arming."""
        now = time.perf_counter() if now is None else now
        s = self.settings
        return step - self.last_step >= s.every and now - self.last_time >= s.min_seconds

    def arm(self, step: int) -> None:
        self.disarm()
        self.last_step, self.last_time = step, time.perf_counter()
        for node_id, module in self.modules.items():
            self.handles[node_id] = module.register_forward_hook(self._hook(node_id))

    def disarm(self) -> None:
        for handle in self.handles.values():
            handle.remove()
        self.handles, self.acts, self.out_grads, self.sampled = {}, {}, {}, False

    def _hook(self, node_id: str):
        s, relu_like = self.settings, is_relu_like(self.ops.get(node_id))

        def hook(module: nn.Module, inputs, output) -> None:
            if not module.training:
                return  # evaluation passes are not what training sees: wait for the next training step
            self.handles.pop(node_id).remove()  # one shot: the steps after this one run without hooks
            self.sampled = True
            if not isinstance(output, torch.Tensor) or not output.is_floating_point() or output.numel() == 0:
                return
            self.acts[node_id] = activation_stats(output, s.bins, s.max_values, relu_like)
            if output.requires_grad:
                output.register_hook(grad_hook)

        def grad_hook(grad: torch.Tensor) -> None:
            self.out_grads[node_id] = torch.linalg.vector_norm(grad.detach().float())  # 0-d, on the device

        return hook

    def fired(self) -> bool:
        """Whether a training forward has run since arming (so collect has something to say)."""
        return self.sampled

    def collect(self) -> dict:
        """The snapshot, JSON-ready: {"nodes": {id: {...}}}; disarms. One device -> host transfer."""
        gather = Gather()
        for node_id, packed in self.acts.items():
            gather.add(f"act/{node_id}", packed)
        for node_id, norm in self.out_grads.items():
            gather.add(f"out_grad/{node_id}", norm)
        for node_id, params in self.params.items():
            grad = group_norm([p.grad for p in params if p.grad is not None])
            if grad is not None:
                gather.add(f"grad/{node_id}", grad)
            weight = group_norm(params)
            if weight is not None:
                gather.add(f"weight/{node_id}", weight)
        self.disarm()
        return {"nodes": self._unpack(gather.fetch())}

    def _unpack(self, values: dict[str, np.ndarray]) -> dict:
        nodes: dict[str, dict] = {nid: {} for nid in self.modules}
        for key, array in values.items():
            kind, node_id = key.split("/", 1)
            entry = nodes[node_id]
            if kind == "act":
                stats = dict(zip(STAT_NAMES, (float(v) for v in array[: len(STAT_NAMES)])))
                entry.update({k: rounded(v) for k, v in stats.items() if k != "dead"})
                entry["dead"] = rounded(stats["dead"]) if stats["dead"] != NO_VALUE else None
                entry["hist"] = [int(c) for c in array[len(STAT_NAMES) :]]
            else:
                entry[kind] = rounded(float(array))
        return {nid: entry for nid, entry in nodes.items() if entry}
