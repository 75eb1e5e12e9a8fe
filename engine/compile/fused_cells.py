"""A gate-level Recurrent at near fused speed: the same cell, its Linears batched (issue 23).

layers.Recurrent calls its cell's GraphModule once per step, and every gate's Linear runs inside the loop. A
FusedRecurrent holds the same cells (the same modules and Parameters, so the state-dict keys are the Recurrent's:
`rnn.cell.input_gate_x.weight`) and, from each cell's fx graph, a plan (`plan_cell`):

- hoisted: the Linears fed only by x_t (the cell's first Input, directly) run once over the whole sequence before
  the loop, as one F.linear of [B, T, F] with their weights and biases concatenated (torch.cat at forward time,
  so the gradients flow back to each Linear's own Parameters), then split per Linear and per step;
- per step: the Linears fed by one same value (h, the state read from the list) run as one F.linear per step with
  their weights concatenated, then split;
- everything else (the Adds, the gates' activations, the Multiplies, a Linear fed by both x_t and h through a
  Concat) runs as in the cell, node for node, by a step function generated from the cell's graph with those
  Linears replaced (it is called with the cell as `self`, so it calls the cell's own modules).

The arithmetic is the cell's (each output is W x + b, each Add and activation the same), so the values and the
gradients equal the loop's to float rounding (~1e-7). The loop of layers.Recurrent still runs where something must
see each step's call of the cell or of its modules: a hook on the cell or any module in it (the recurrent probes
hook the gates and the cell), a global module hook, torch.jit tracing and torch.export (the ONNX export); and
torch.jit.script scripts a plain Recurrent over the same cells (`__prepare_scriptable__`), so model.ts, model.onnx
and model.py (whose source is the Recurrent's) are what they were.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.nn.modules import module as module_hooks

from engine.compile.layers import Recurrent


@dataclass(frozen=True)
class LinearGroup:
    """Linears of a cell (their attribute names, in concatenation order) that read one same value."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]  # each one's out_features: how the fused output splits
    bias: bool  # all with a bias, or all without


@dataclass(frozen=True)
class CellPlan:
    """How a FusedRecurrent runs one cell (module doc)."""

    hoisted: tuple[LinearGroup, ...]  # fed by x_t: one F.linear over [B, T, F] each, before the loop
    per_step: tuple[LinearGroup, ...]  # fed by one same value in the step: one F.linear per step each
    hoisted_used: tuple[int, ...]  # what the step reads of x_t's projections: each Linear's, then each group's
    uses_x: bool  # whether anything in the step still reads x_t itself
    step: Callable  # step(cell, x_t, state, hoisted_parts, weights, biases) -> new state (list)


def _linear_input(cell: fx.GraphModule, node: fx.Node) -> fx.Node | None:
    """The one value a plain nn.Linear node reads; None for any other node."""
    if node.op != "call_module" or type(cell.get_submodule(node.target)) is not nn.Linear:
        return None
    if len(node.args) != 1 or node.kwargs or not isinstance(node.args[0], fx.Node):
        return None
    return node.args[0]


def _groups(cell: fx.GraphModule) -> tuple[list[LinearGroup], list[LinearGroup]]:
    """(hoisted, per-step) groups: the Linears on x_t; those sharing another input, two or more."""
    x_node = next(n for n in cell.graph.nodes if n.op == "placeholder")
    by_input: dict[tuple[fx.Node, bool], list[fx.Node]] = {}
    for node in cell.graph.nodes:
        source = _linear_input(cell, node)
        if source is not None:
            has_bias = cell.get_submodule(node.target).bias is not None
            by_input.setdefault((source, has_bias), []).append(node)
    hoisted, per_step = [], []
    for (source, has_bias), nodes in by_input.items():
        group = LinearGroup(
            tuple(n.target for n in nodes), tuple(cell.get_submodule(n.target).out_features for n in nodes), has_bias
        )
        if source is x_node:
            hoisted.append(group)
        elif len(nodes) > 1:
            per_step.append(group)
    return hoisted, per_step


def _pairs(cell: fx.GraphModule, hoisted: list[LinearGroup], per_step: list[LinearGroup]) -> dict:
    """Hoisted group index -> (per-step group index, its Linears reordered, the Adds in the hoisted order) where
    every Linear of the hoisted group is added (a binary torch.add) to its own Linear of the per-step group, of the
    same size: the Adds then run as one over the two fused outputs (the LSTM's W_x x + b_x + W_h h + b_h)."""
    adds: dict[frozenset, fx.Node] = {}
    for node in cell.graph.nodes:
        if node.op == "call_function" and node.target is torch.add and len(node.args) == 2 and not node.kwargs:
            if all(isinstance(a, fx.Node) and a.op == "call_module" for a in node.args):
                adds[frozenset(a.target for a in node.args)] = node
    pairs, taken = {}, set()
    for g_index, group in enumerate(hoisted):
        for p_index, other in enumerate(per_step):
            if p_index in taken or len(other.names) != len(group.names):
                continue
            partner = {x: next((h for h in other.names if frozenset((x, h)) in adds), None) for x in group.names}
            order = [partner[x] for x in group.names]
            sizes_match = all(
                h is not None and other.sizes[other.names.index(h)] == s for h, s in zip(order, group.sizes)
            )
            if sizes_match and len(set(order)) == len(order):
                pairs[g_index] = (p_index, tuple(order), [adds[frozenset((x, h))] for x, h in zip(group.names, order)])
                taken.add(p_index)
                break
    return pairs


class _StepGraph:
    """The cell's graph with the grouped Linears replaced (and the paired Adds fused), for `step`."""

    def __init__(self, cell: fx.GraphModule, hoisted: list[LinearGroup], per_step: list[LinearGroup], pairs: dict):
        self.cell, self.graph, self.env = cell, fx.Graph(), {}
        self.originals = [n for n in cell.graph.nodes if n.op == "placeholder"]
        for node in self.originals:
            self.env[node] = self.graph.node_copy(node, lambda n: self.env[n])
        self.parts, self.weights, self.biases = map(self.graph.placeholder, ("hoisted_parts", "weights", "biases"))
        names = [name for group in hoisted for name in group.names]
        self.hoisted_index = {name: k for k, name in enumerate(names)}
        self.whole_index = {g: len(names) + g for g in range(len(hoisted))}  # a hoisted group's whole output
        self.per_step = per_step
        self.group_of = {name: g for g, group in enumerate(per_step) for name in group.names}
        self.added = {add: (g, k) for g, (_, _, adds) in pairs.items() for k, add in enumerate(adds)}
        self.pairs, self.hoisted, self.made = pairs, hoisted, {}

    def _get(self, of: fx.Node, k: int) -> fx.Node:
        return self.graph.call_function(operator.getitem, (of, k))

    def _once(self, key, make: Callable[[], fx.Node]) -> fx.Node:
        if key not in self.made:
            self.made[key] = make()
        return self.made[key]

    def _fused(self, g: int, source: fx.Node) -> fx.Node:
        """The per-step group's one F.linear of its input."""

        def make() -> fx.Node:
            bias = self._get(self.biases, g) if self.per_step[g].bias else None
            return self.graph.call_function(F.linear, (self.env[source], self._get(self.weights, g), bias))

        return self._once(("fused", g), make)

    def _split(self, key, whole: fx.Node, sizes: tuple[int, ...]) -> fx.Node:
        return self._once(key, lambda: self.graph.call_method("split", (whole, list(sizes), -1)))

    def emit(self, node: fx.Node) -> fx.Node:
        target = node.target if node.op == "call_module" else None
        if node in self.added:  # x-part + h-part of one gate: one Add of the two groups' outputs, split
            g, k = self.added[node]
            p, _, adds = self.pairs[g]
            h_node = next(a for a in node.args if a.target in self.group_of)
            total = self._once(
                ("sum", g),
                lambda: self.graph.call_function(
                    node.target, (self._get(self.parts, self.whole_index[g]), self._fused(p, h_node.args[0]))
                ),
            )
            return self._get(self._split(("sum_split", g), total, self.hoisted[g].sizes), k)
        if target in self.hoisted_index:
            return self._get(self.parts, self.hoisted_index[target])
        if target in self.group_of:
            g = self.group_of[target]
            split = self._split(("split", g), self._fused(g, node.args[0]), self.per_step[g].sizes)
            return self._get(split, self.per_step[g].names.index(target))
        if node.op == "call_module":  # the module's forward itself: no hook is on it where the steps run
            module = self.graph.get_attr(node.target)
            args = tuple(self.env[a] if isinstance(a, fx.Node) else a for a in node.args)
            return self.graph.call_method("forward", (module, *args))
        return self.graph.node_copy(node, lambda n: self.env[n])

    def build(self) -> tuple[Callable, tuple[int, ...], bool]:
        """(step function, the hoisted parts it reads, whether it reads x_t)."""
        for node in self.cell.graph.nodes:
            if node.op != "placeholder":
                self.env[node] = self.emit(node)
        self.graph.eliminate_dead_code()
        self.graph.lint()
        used = sorted(n.args[1] for n in self.graph.nodes if n.op == "call_function" and n.args[0] is self.parts)
        step = type(fx.GraphModule(self.cell, self.graph)).forward
        return step, tuple(used), bool(self.env[self.originals[0]].users)


def plan_cell(cell: nn.Module) -> CellPlan | None:
    """The plan for a compiled cell (fx_module: forward(x_t, state)); None when no Linear can be batched."""
    if not isinstance(cell, fx.GraphModule):
        return None
    hoisted, per_step = _groups(cell)
    if not hoisted and not per_step:
        return None
    pairs = _pairs(cell, hoisted, per_step)
    for p, names, _ in pairs.values():  # the per-step group's Linears in their hoisted partners' order
        group = per_step[p]
        per_step[p] = LinearGroup(names, tuple(group.sizes[group.names.index(n)] for n in names), group.bias)
    step, used, uses_x = _StepGraph(cell, hoisted, per_step, pairs).build()
    return CellPlan(tuple(hoisted), tuple(per_step), used, uses_x, step)


def _concatenated(cell: nn.Module, group: LinearGroup) -> tuple[Tensor, Tensor | None]:
    """The group's weights [sum out, in] and biases [sum out] (None without), read from the cell now."""
    linears = [cell.get_submodule(name) for name in group.names]
    weight = torch.cat([linear.weight for linear in linears])
    return weight, torch.cat([linear.bias for linear in linears]) if group.bias else None


class _Direction:
    """One direction's cell over one input: its hoisted Linears already run, its fused weights formed."""

    def __init__(self, cell: nn.Module, plan: CellPlan, x: Tensor):  # x: (B, T, F)
        self.cell, self.plan = cell, plan
        per_linear, whole = [], []  # T x (B, out) per hoisted Linear; T x (B, sum out) per hoisted group
        for group in plan.hoisted:
            projected = F.linear(x, *_concatenated(cell, group))  # (B, T, sum out): one matmul of [B * T, F]
            per_linear += projected.split(list(group.sizes), -1)
            whole.append(projected)
        available = per_linear + whole
        steps = x.size(1)
        columns = [(k, available[k].unbind(1)) for k in plan.hoisted_used]  # only what the step reads
        self.parts = [[None] * len(available) for _ in range(steps)]
        for k, at_t in columns:
            for t in range(steps):
                self.parts[t][k] = at_t[t]
        fused = [_concatenated(cell, group) for group in plan.per_step]
        self.weights = [weight for weight, _ in fused]
        self.biases = [bias for _, bias in fused]
        self.x_steps = x.unbind(1) if plan.uses_x else None  # T x (B, F)

    def step(self, t: int, state: list[Tensor]) -> list[Tensor]:
        x_t = self.x_steps[t] if self.x_steps is not None else None
        return self.plan.step(self.cell, x_t, state, self.parts[t], self.weights, self.biases)


_GLOBAL_HOOKS = (
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)
_MODULE_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


def hooked(cells: list[nn.Module]) -> bool:
    """Whether a hook would see the cells' modules called: on any module in them, or a global module hook."""
    if any(getattr(module_hooks, name, None) for name in _GLOBAL_HOOKS):
        return True
    return any(getattr(m, name, None) for cell in cells for m in cell.modules() for name in _MODULE_HOOKS)


class FusedRecurrent(Recurrent):
    """A layers.Recurrent whose steps run by its cells' plans (module doc); the loop where steps must be seen."""

    written_as = Recurrent  # model.py carries layers.Recurrent's source (engine/export/python_source.py)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cells = [self.cell] + ([self.cell_reverse] if self.cell_reverse is not None else [])
        self.plans = [plan_cell(cell) for cell in cells]  # plain data: no module, no Parameter of its own

    def runs_loop(self) -> bool:
        """Whether this call goes through layers.Recurrent's loop (module doc)."""
        if any(plan is None for plan in self.plans) or torch.jit.is_tracing() or torch.compiler.is_exporting():
            return True
        return hooked([self.cell] + ([self.cell_reverse] if self.cell_reverse is not None else []))

    def forward(self, x: Tensor) -> Tensor:  # (B, T, F)
        if self.runs_loop():
            return super().forward(x)
        steps = x.size(1)
        zero = torch.zeros(x.size(0), self.hidden, dtype=x.dtype, device=x.device)  # (B, H)
        forward_cell = _Direction(self.cell, self.plans[0], x)
        backward_cell = _Direction(self.cell_reverse, self.plans[1], x) if self.cell_reverse is not None else None
        forward_state = [zero for _ in range(self.num_states)]
        backward_state = [zero for _ in range(self.num_states)]
        forward_h, backward_h = [], []  # T x (B, H); the backward's last step first
        for t in range(steps):  # the steps in layers.Recurrent's order (a Dropout in a cell draws alike)
            forward_state = forward_cell.step(t, forward_state)
            forward_h.append(forward_state[0])
            if backward_cell is not None:
                backward_state = backward_cell.step(steps - 1 - t, backward_state)
                backward_h.append(backward_state[0])
        # what layers.Recurrent returns from the same lists
        if backward_cell is None:
            return torch.stack(forward_h, 1) if self.return_sequences else forward_state[0]  # (B, T, H) or (B, H)
        if not self.return_sequences:
            return torch.cat([forward_state[0], backward_state[0]], 1)  # (B, 2H)
        backward_h.reverse()  # step order
        return torch.cat([torch.stack(forward_h, 1), torch.stack(backward_h, 1)], 2)  # (B, T, 2H)

    def as_loop(self) -> Recurrent:
        """The plain layers.Recurrent over the same cells (the same modules and Parameters)."""
        plain = Recurrent(self.cell, self.hidden, self.num_states, self.return_sequences, self.cell_reverse)
        return plain.train(self.training)

    def __prepare_scriptable__(self) -> Recurrent:
        """torch.jit.script scripts the plain Recurrent over the same cells (it puts it in this one's place)."""
        return self.as_loop()


def recurrent_module(
    cell: nn.Module, hidden: int, num_states: int, return_sequences: bool, cell_reverse: nn.Module | None = None
) -> Recurrent:
    """A FusedRecurrent over the cells when each has a plan, else the plain Recurrent (nothing to batch)."""
    fused = FusedRecurrent(cell, hidden, num_states, return_sequences, cell_reverse)
    return fused if all(plan is not None for plan in fused.plans) else fused.as_loop()
