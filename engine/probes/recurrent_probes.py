"""Recurrent probes: inside the recurrent nodes of a network, on one sample sequence (issue 10 item 4).

    probes = RecurrentProbes.for_trainer(trainer)  # None when the network has no recurrent node
    entry = probes.measure(step)                   # {node id: {...}}, plain numbers, one host transfer

One forward and one backward of the loss on one sample (the first validation row, fitted as the run's data; the
first training row when there is no validation set), in evaluation mode, with the weights as they are now:

- for every recurrent node (Recurrent, LSTM, GRU, RNN at the network's top level): `grad_norm`, the L2 norm of
  ∂L/∂x_t, the gradient of the loss with respect to the node's input at step t (over its features). A forward
  pre-hook hands the node an input that requires grad (the data itself is a leaf that does not); the gradients
  come from torch.autograd.grad, so no parameter's .grad is touched. Early steps with tiny norms are a gradient
  vanishing through time.
- for a Recurrent node (a gate-level cell, builder/ops/ops_recurrent.py), its forward direction: `gates`, each Sigmoid
  node of the cell (lstm_cell: input_gate, forget_gate, output_gate; gru_cell: reset_gate, update_gate) per step,
  by forward hooks on those nodes' modules (the cell's GraphModule is called once per step); and `state`, the
  cell's last state output per step (lstm_cell: the cell state c_next; gru_cell: h_next), by a forward hook on
  the cell itself.

Kept small for the run store: at most MAX_STEPS time steps, spread evenly over the sequence with its first and
last (`steps` lists which), and the first MAX_UNITS units (`units`, of `hidden`); values rounded to 3 digits.

    {"rnn": {"op": "Recurrent", "step": 120, "total_steps": 20, "steps": [0, ..., 19], "hidden": 32, "units": 32,
             "bidirectional": False,                                  # gates and state: the forward direction's
             "grad_norm": [T floats or None],                       # None: a zero or non-finite gradient
             "gates": {"input_gate": [[units floats] per shown step], ...},
             "state": {"name": "c_next", "values": [[units floats] per shown step]}}}

A fused LSTM, GRU or RNN has `grad_norm` and no `gates` or `state` (its gates never leave torch's kernel).
On CUDA the probe runs with cuDNN off: cuDNN's RNN has no backward in evaluation mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, fx, nn

from engine.compile.fused_cells import FusedRecurrent
from engine.compile.layers import Recurrent
from engine.probes.step_probes import DEFAULT_PROBES, Gather, ProbeSettings, rounded

RECURRENT_OPS = ("Recurrent", "LSTM", "GRU", "RNN")
GATE_OP = "Sigmoid"  # a gate is a sigmoid: what it multiplies is let through by a share in 0..1
MAX_STEPS = 64  # time steps kept per node
MAX_UNITS = 32  # units kept per gate and state
DIGITS = 3


def recurrent_nodes(model: nn.Module) -> dict[str, tuple[str, nn.Module]]:
    """Node id -> (op, module) of every top-level recurrent node of a compiled network, in graph order."""
    graph = getattr(model, "graph", None)
    if not isinstance(graph, fx.Graph):
        return {}
    return {
        n.meta["spec_id"]: (n.meta["spec_op"], model.get_submodule(n.target))
        for n in graph.nodes
        if n.op == "call_module" and n.meta.get("spec_op") in RECURRENT_OPS
    }


def gate_modules(cell: nn.Module) -> dict[str, nn.Module]:
    """Node id -> module of each Sigmoid node of a compiled cell, in graph order."""
    graph = getattr(cell, "graph", None)
    if not isinstance(graph, fx.Graph):
        return {}
    return {
        n.meta["spec_id"]: cell.get_submodule(n.target)
        for n in graph.nodes
        if n.op == "call_module" and n.meta.get("spec_op") == GATE_OP
    }


def state_name(cell: nn.Module) -> str:
    """The node whose value is a compiled cell's last state output (lstm_cell: c_next; gru_cell: h_next)."""
    graph = getattr(cell, "graph", None)
    outputs = [n for n in graph.nodes if n.op == "output"] if isinstance(graph, fx.Graph) else []
    results = outputs[0].args[0] if outputs else []
    last = results[-1] if isinstance(results, list | tuple) and results else None
    return last.meta.get("spec_id", last.name) if isinstance(last, fx.Node) else "state"


def shown_steps(total: int, most: int = MAX_STEPS) -> list[int]:
    """At most `most` step indices of 0..total-1, evenly spread, the first and the last among them."""
    if total <= most:
        return list(range(total))
    return sorted({round(k * (total - 1) / (most - 1)) for k in range(most)})


class _Recording:
    """What the hooks of one measurement collect: inputs that take a gradient, per-step gate and state values."""

    def __init__(self):
        self.inputs: dict[str, Tensor] = {}  # node id -> its input [1, T, F], requiring grad
        self.gates: dict[str, dict[str, list[Tensor]]] = {}  # node id -> gate -> T x [1, H]
        self.states: dict[str, list[Tensor]] = {}  # node id -> T x [1, H]
        self.grads: dict[str, Tensor] = {}  # node id -> dL/d(its input) [1, T, F], after the backward

    def input_hook(self, node_id: str):
        def hook(module: nn.Module, args: tuple):
            x = args[0]
            if not x.is_floating_point():
                return None  # no gradient to measure (a valid network gives a recurrent node float features)
            if not x.requires_grad:  # the data itself: a leaf of its own that takes a gradient
                x = x.detach().requires_grad_()
            self.inputs[node_id] = x
            return (x, *args[1:])

        return hook

    def gate_hook(self, node_id: str, gate: str):
        values = self.gates.setdefault(node_id, {}).setdefault(gate, [])
        return lambda module, args, output: values.append(output.detach())

    def state_hook(self, node_id: str):
        values = self.states.setdefault(node_id, [])
        return lambda module, args, output: values.append(output[-1].detach())


class RecurrentProbes:
    """Gates, cell state and per-step gradient norms of a network's recurrent nodes on one sample (module doc)."""

    def __init__(
        self,
        model: nn.Module,
        x: Tensor,
        loss: Callable[[Tensor], Tensor],
        settings: ProbeSettings = DEFAULT_PROBES,
    ):
        self.model, self.x, self.loss = model, x, loss  # x: [1, *features]; loss: output -> 0-d
        self.settings = settings
        self.nodes = recurrent_nodes(model)
        self.started: float | None = None  # the time of the first `due` (training time is counted from there)
        self.last_time = -math.inf

    @classmethod
    def for_trainer(cls, trainer, settings: ProbeSettings = DEFAULT_PROBES) -> RecurrentProbes | None:
        """Probes on the first validation row of a backprop trainer's data; None without a recurrent node."""
        if not recurrent_nodes(trainer.model):
            return None
        has_val = len(trainer.x_val) > 0
        x = (trainer.x_val if has_val else trainer.x_train)[:1]  # [1, *features]
        objective = trainer.objective
        y = x if objective.targets_are_inputs else (trainer.y_val if has_val else trainer.y_train)[:1]
        return cls(trainer.model, x, lambda out: objective.loss(out, y), settings)

    def due(self, now: float, last: bool = False) -> bool:
        """Whether a snapshot taken at time `now` gets a measurement: the run's last always, else at most one every
        max(recurrent_min_seconds, seconds since the first / recurrent_spread) (ProbeSettings)."""
        s = self.settings
        self.started = now if self.started is None else self.started
        gap = max(s.recurrent_min_seconds, (now - self.started) / s.recurrent_spread)
        if last or now - self.last_time >= gap:
            self.last_time = now
            return True
        return False

    def measure(self, step: int) -> dict:
        """{node id: {...}} (module doc) with the weights as they are at training step `step`."""
        recording = self._run()
        gather = Gather()
        for node_id, grad in recording.grads.items():  # grad: [1, T, F]
            gather.add(f"grad_norm/{node_id}", torch.linalg.vector_norm(grad[0].float(), dim=-1))  # [T]
            for gate, values in recording.gates.get(node_id, {}).items():
                gather.add(f"gate/{node_id}/{gate}", torch.cat(values)[:, :MAX_UNITS])  # [T, units]
            if node_id in recording.states:
                gather.add(f"state/{node_id}", torch.cat(recording.states[node_id])[:, :MAX_UNITS])  # [T, units]
        return self._entries(gather.fetch(), step)

    def _run(self) -> _Recording:
        """One forward and backward of the sample's loss with the hooks on; the model's mode is restored."""
        model, recording, handles = self.model, _Recording(), []
        for node_id, (_, module) in self.nodes.items():
            handles.append(module.register_forward_pre_hook(recording.input_hook(node_id)))
            if isinstance(module, Recurrent):
                for gate, gate_module in gate_modules(module.cell).items():
                    handles.append(gate_module.register_forward_hook(recording.gate_hook(node_id, gate)))
                handles.append(module.cell.register_forward_hook(recording.state_hook(node_id)))
        was_training = model.training
        model.eval()  # dropout off; the step probes leave evaluation passes alone
        try:
            with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
                loss = self.loss(model(self.x))  # 0-d
                inputs = list(recording.inputs.values())
                grads = torch.autograd.grad(loss, inputs, allow_unused=True)
        finally:
            for handle in handles:
                handle.remove()
            model.train(was_training)
        recording.grads = {
            node_id: grad if grad is not None else torch.zeros_like(x)
            for (node_id, x), grad in zip(recording.inputs.items(), grads)
        }
        return recording

    def _entries(self, values: dict, step: int) -> dict:
        entries = {}
        for node_id, (op, module) in self.nodes.items():
            norms = values.get(f"grad_norm/{node_id}")
            if norms is None:
                continue  # not reached by this forward (cannot happen in a valid network: one sink)
            steps = shown_steps(len(norms))
            entry = {
                "op": op,
                "step": step,
                "total_steps": len(norms),
                "steps": steps,
                "hidden": _hidden(module),
                "bidirectional": _bidirectional(module),  # gates and state are the forward direction's
                "grad_norm": [_positive(norms[t]) for t in steps],
            }
            gates = {k.rsplit("/", 1)[1]: v for k, v in values.items() if k.startswith(f"gate/{node_id}/")}
            if gates:
                entry["gates"] = {gate: _grid(array, steps) for gate, array in gates.items()}
            if f"state/{node_id}" in values:
                entry["state"] = {"name": state_name(module.cell), "values": _grid(values[f"state/{node_id}"], steps)}
            entry["units"] = min(entry["hidden"], MAX_UNITS)
            if isinstance(module, FusedRecurrent) and module.trained_by():  # torch's LSTM / GRU cell (torch_cells)
                entry["trained_by"] = module.trained_by()
            entries[node_id] = entry
        return entries


def _hidden(module: nn.Module) -> int:
    return int(module.hidden if isinstance(module, Recurrent) else module.hidden_size)


def _bidirectional(module: nn.Module) -> bool:
    return module.cell_reverse is not None if isinstance(module, Recurrent) else bool(module.bidirectional)


def _positive(value) -> float | None:
    """A gradient norm for a log scale: None for zero or not finite."""
    number = rounded(float(value), 4)
    return number if number is not None and number > 0 else None


def _grid(array, steps: list[int]) -> list[list[float | None]]:
    """[T, units] -> the shown steps' rows, rounded."""
    return [[rounded(float(v), DIGITS) for v in array[t]] for t in steps]
