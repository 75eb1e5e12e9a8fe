"""A run's checkpoint and edit-and-continue: which trained weights a changed graph keeps.

The checkpoint is a run bundle (engine.runs.bundle) plus `optimizer.safetensors` (the optimizer's state per
parameter, keyed `<state-dict key>/<state name>`, e.g. `fc1.weight/exp_avg`; absent for a learning rule
without an optimizer, such as the perceptron rule, CD-k or the SOM rule). It is written into a fresh
directory that then replaces the old one, so a reader finds the old bundle or the new one, never a mix.

Continuing after an edit: every node whose id, op and parameter shapes (state-dict entries, buffers
included) are unchanged keeps its trained weights and, when the optimizer is the same, its optimizer
state; every other node with weights starts fresh (seeded initialisation). `plan_carry` says which.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch
from safetensors import safe_open
from torch import nn

from builder.spec.spec import GraphSpec
from engine.data.datasets import Dataset, fmt_shape
from engine.runs.bundle import CONFIG_FILE, SPEC_FILE, WEIGHTS_FILE, write_bundle
from engine.runs.bundle_files import swap_in
from engine.train.config import TrainConfig

OPTIMIZER_FILE = "optimizer.safetensors"


@dataclass(frozen=True)
class CarryPlan:
    kept: tuple[str, ...]  # node ids whose trained weights carry over
    fresh: tuple[tuple[str, str], ...]  # (node id, why it starts fresh)
    removed: tuple[str, ...]  # nodes with weights in the checkpoint that the new graph no longer has

    def to_dict(self) -> dict:
        return {
            "kept": list(self.kept),
            "fresh": [{"node": n, "why": why} for n, why in self.fresh],
            "removed": list(self.removed),
        }

    def summary(self) -> str:
        """One line for the page: "kept fc1, fc2; fresh: fc3 (new node)"."""
        fresh = "; ".join(f"{n} ({why})" for n, why in self.fresh)
        text = f"kept the trained weights of {', '.join(self.kept)}" if self.kept else "kept no trained weights"
        text += f"; initialised fresh: {fresh}" if fresh else ""
        return text + (f"; removed: {', '.join(self.removed)}" if self.removed else "")


def node_of(key: str) -> str:
    """The node id a state-dict key belongs to ("fc1.weight" -> "fc1", "blk.conv.bias" -> "blk")."""
    return key.split(".", 1)[0]


def shapes_by_node(shapes: dict[str, tuple[int, ...]]) -> dict[str, dict[str, tuple[int, ...]]]:
    grouped: dict[str, dict[str, tuple[int, ...]]] = {}
    for key, shape in shapes.items():
        grouped.setdefault(node_of(key), {})[key] = tuple(shape)
    return grouped


def plan_carry(
    old_ops: dict[str, str], old_shapes: dict[str, tuple], new_ops: dict[str, str], new_shapes: dict[str, tuple]
) -> CarryPlan:
    """Which nodes of the new graph keep their weights (ops: node id -> op; shapes: state-dict key -> shape)."""
    old, new = shapes_by_node(old_shapes), shapes_by_node(new_shapes)
    kept, fresh = [], []
    for node_id, entries in new.items():
        if node_id not in old_ops:
            fresh.append((node_id, "new node"))
        elif old_ops[node_id] != new_ops.get(node_id):
            fresh.append((node_id, f"op changed from {old_ops[node_id]} to {new_ops.get(node_id)}"))
        elif old.get(node_id) != entries:
            fresh.append((node_id, _shape_change(old.get(node_id, {}), entries)))
        else:
            kept.append(node_id)
    removed = tuple(n for n in old if n not in new)
    return CarryPlan(tuple(kept), tuple(fresh), removed)


def _shape_change(old: dict[str, tuple], new: dict[str, tuple]) -> str:
    for key, shape in new.items():
        if old.get(key) != shape:
            was = fmt_shape(old[key]) if key in old else "none"
            return f"{key.split('.', 1)[1]} {was} -> {fmt_shape(shape)}"
    return "parameters changed"


def spec_ops(spec: GraphSpec | dict) -> dict[str, str]:
    """Node id -> op, of a GraphSpec or of its JSON dict."""
    if isinstance(spec, GraphSpec):
        return {n.id: n.op for n in spec.nodes}
    return {n["id"]: n["op"] for n in spec.get("nodes", [])}


def model_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def checkpoint_shapes(bundle: Path) -> dict[str, tuple[int, ...]]:
    """State-dict key -> shape of a checkpoint's weights, read from the file's header only."""
    with safe_open(bundle / WEIGHTS_FILE, framework="pt") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


# --- writing -----------------------------------------------------------------------------------------


def optimizer_tensors(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, torch.Tensor]:
    """The optimizer's per-parameter state as named CPU tensors (`fc1.weight/exp_avg`)."""
    names = {id(p): name for name, p in model.named_parameters()}
    out = {}
    for param, state in optimizer.state.items():
        for key, value in state.items():
            tensor = value.detach() if torch.is_tensor(value) else torch.tensor(float(value))
            out[f"{names[id(param)]}/{key}"] = tensor.to("cpu").clone(memory_format=torch.contiguous_format)
    return out


def save_checkpoint(
    bundle: Path, spec: GraphSpec, config: TrainConfig, model: nn.Module, dataset: Dataset, metrics: dict, optimizer
) -> Path:
    """Write the bundle and the optimizer state into a new directory, then swap it in for the old one."""
    fresh = bundle.with_name(bundle.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    write_bundle(fresh, spec, config, model, dataset, metrics)
    if optimizer is not None:
        safetensors.torch.save_file(optimizer_tensors(optimizer, model), fresh / OPTIMIZER_FILE)
    return swap_in(fresh, bundle)


# --- continuing --------------------------------------------------------------------------------------


def carry_weights(model: nn.Module, bundle: Path, old_ops: dict[str, str], new_ops: dict[str, str]) -> CarryPlan:
    """Load the checkpoint's weights into `model` for the nodes the plan keeps; returns the plan."""
    old_state = safetensors.torch.load_file(bundle / WEIGHTS_FILE, device="cpu")
    plan = plan_carry(old_ops, {k: tuple(v.shape) for k, v in old_state.items()}, new_ops, model_shapes(model))
    kept = set(plan.kept)
    model.load_state_dict({k: v for k, v in old_state.items() if node_of(k) in kept}, strict=False)
    return plan


def carry_optimizer_state(optimizer: torch.optim.Optimizer, model: nn.Module, bundle: Path, kept: set[str]) -> int:
    """Give the kept nodes' parameters their saved optimizer state (same optimizer only); how many got it."""
    path = bundle / OPTIMIZER_FILE
    if not path.is_file():
        return 0
    saved: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in safetensors.torch.load_file(path, device="cpu").items():
        name, state_key = key.rsplit("/", 1)
        saved.setdefault(name, {})[state_key] = tensor
    count = 0
    for name, param in model.named_parameters():
        state = saved.get(name)
        if state is None or node_of(name) not in kept:
            continue
        if any(t.dim() > 0 and t.shape != param.shape for t in state.values()):
            continue
        optimizer.state[param] = {k: (t.to(param.device) if t.dim() > 0 else t) for k, t in state.items()}
        count += 1
    return count


def same_optimizer(bundle: Path, config: TrainConfig) -> bool:
    """Whether the checkpoint was trained with the optimizer `config` asks for (else its state is not used)."""
    old, _ = TrainConfig.from_dict(_json(bundle / CONFIG_FILE))
    return old is not None and old.optimizer == config.optimizer


def checkpoint_spec(bundle: Path) -> dict:
    return _json(bundle / SPEC_FILE)


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))
