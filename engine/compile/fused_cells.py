"""A gate-level Recurrent at near fused speed: the same cell, its Linears batched (issue 23).

layers.Recurrent calls its cell's GraphModule once per step, and every gate's Linear runs inside the loop. A
FusedRecurrent holds the same cells (the same modules and Parameters, so the state-dict keys are the Recurrent's:
`rnn.cell.input_gate_x.weight`) and, from each cell's fx graph, a plan (`plan_cell`):

- hoisted: the Linears fed only by x_t (the cell's first Input, directly) run once over the whole sequence before
  the loop, as one F.linear of [B, T, F] with their weights and biases concatenated (torch.cat at forward time,
  so the gradients flow back to each Linear's own Parameters), then split and unbound per step;
- per step: the Linears fed by one same value (h, the state read from the list) run as one matmul per step with
  their weights concatenated (and transposed) once per forward: torch.addmm, F.linear's own call;
- paired: where an x Linear and an h Linear of the same size are added (a binary Add, each Linear read by it
  alone: W_x x + b_x + W_h h + b_h), the h bias goes into the hoisted projection (b_x + b_h once per forward) and
  the step's addmm adds h's matmul onto it, so the Add and the h bias cost nothing per step; an h Linear of the
  group with no x partner (the GRU's candidate_h, multiplied by the reset gate first) keeps its bias in those
  added columns. Both groups are ordered paired first, and among those the gates under one same parameter-free
  element-wise activation (ELEMENTWISE: Sigmoid, Tanh, OneMinus) adjacent, so that activation runs once over
  their columns, then splits (the LSTM's i, f, o: one sigmoid over [B, 3H]);
- everything else (the remaining activations, called as the functions their forwards call; the Multiplies; a
  Linear fed by both x_t and h through a Concat) runs as in the cell, node for node, by a step function generated
  from the cell's graph (it is called with the cell as `self`, so other modules are the cell's own).

A cell that is exactly torch's LSTM or GRU cell (the library's lstm_cell and gru_cell; torch_cells.standard_cell)
skips the plan: torch.lstm, or the GRU sequence node of gru_sequence.py, runs it with the gate Linears' weights
concatenated at call time; the plan runs it instead under autocast and inside torch_cells.gate_by_gate (the
autograd graph view). The arithmetic is the cell's but for the order of the two bias additions (torch's op and the
GRU node: the order of their sums), so the values and the gradients equal the loop's to float rounding (~1e-7).
The loop of layers.Recurrent still runs where something must
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

from engine.compile.layers import OneMinus, Recurrent
from engine.compile.torch_cells import TRAINED_BY, standard_cell, standard_forward, takes_standard

# Parameter-free element-wise modules and the call their forward makes: a step calls it directly, and where the
# gates of a fused output are adjacent and share one, it runs once over their columns (then splits).
ELEMENTWISE: dict[type, Callable[[fx.Graph, fx.Node], fx.Node]] = {
    nn.Sigmoid: lambda graph, x: graph.call_function(torch.sigmoid, (x,)),
    nn.Tanh: lambda graph, x: graph.call_function(torch.tanh, (x,)),
    OneMinus: lambda graph, x: graph.call_function(operator.sub, (1.0, x)),  # its forward: 1.0 - x
}


@dataclass(frozen=True)
class LinearGroup:
    """Linears of a cell (their attribute names, in concatenation order) that read one same value."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]  # each one's out_features: how the fused output splits
    bias: bool  # all with a bias, or all without


@dataclass(frozen=True)
class Pairing:
    """The first `count` Linears of hoisted group `hoisted` and of per-step group `per_step` are added pairwise
    (W_x x + b_x + W_h h + b_h): both biases go into the hoisted projection, and each step's one addmm of h adds
    the whole group to those columns."""

    hoisted: int
    per_step: int
    count: int


@dataclass(frozen=True)
class CellPlan:
    """How a FusedRecurrent runs one cell (module doc)."""

    hoisted: tuple[LinearGroup, ...]  # fed by x_t: one F.linear over [B, T, F] each, before the loop
    per_step: tuple[LinearGroup, ...]  # fed by one same value in the step: one addmm / mm per step each
    pairings: tuple[Pairing, ...]
    hoisted_used: tuple[int, ...]  # the slots (hoisted_slots) the step reads
    uses_x: bool  # whether anything in the step still reads x_t itself
    step: Callable  # step(cell, x_t, state, hoisted_parts, weights, biases) -> new state (list)


def hoisted_slots(hoisted, pairings) -> list:
    """What the loop hands each step of the hoisted projections, in order: per paired group its addend (the paired
    columns, biases folded in, then the per-step group's unpaired biases), then each Linear not paired."""
    paired = {p.hoisted: p.count for p in pairings}
    slots = []
    for g, group in enumerate(hoisted):
        if g in paired:
            slots.append(("addend", g))
        slots += group.names[paired.get(g, 0) :]
    return slots


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


def _activation(cell: fx.GraphModule, node: fx.Node) -> type | None:
    """The ELEMENTWISE module type that alone reads `node`; None otherwise."""
    (user,) = node.users if len(node.users) == 1 else (None,)
    if user is None or user.op != "call_module" or len(user.args) != 1 or user.kwargs:
        return None
    kind = type(cell.get_submodule(user.target))
    return kind if kind in ELEMENTWISE else None


def _adds(cell: fx.GraphModule) -> dict[frozenset, fx.Node]:
    """{the two Linears: their binary torch.add}, where each Linear's only use is that Add."""
    adds = {}
    for node in cell.graph.nodes:
        if node.op == "call_function" and node.target is torch.add and len(node.args) == 2 and not node.kwargs:
            a, b = node.args
            if all(isinstance(v, fx.Node) and v.op == "call_module" and len(v.users) == 1 for v in (a, b)) and a != b:
                adds[frozenset(v.target for v in node.args)] = node
    return adds


def _pair(cell: fx.GraphModule, hoisted: list[LinearGroup], per_step: list[LinearGroup]) -> list[Pairing]:
    """Pair each hoisted group with a per-step group whose Linears are added to its own (same size), reordering
    both: the paired first, in the same order, those under one same activation adjacent (module doc)."""
    adds = _adds(cell)
    pairings, taken = [], set()
    for g, group in enumerate(hoisted):
        for p, other in enumerate(per_step):
            if p in taken:
                continue
            sizes = dict(zip(other.names, other.sizes))
            partner = {}
            for x_name, size in zip(group.names, group.sizes):
                h = next((h for h in other.names if frozenset((x_name, h)) in adds and sizes[h] == size), None)
                if h is not None and h not in partner.values():
                    partner[x_name] = h
            if not partner:
                continue
            kinds = {x: _activation(cell, adds[frozenset((x, h))]) for x, h in partner.items()}
            first = {}  # each activation's first place: the paired Linears grouped by it, stably
            for x in partner:
                first.setdefault(kinds[x] or x, len(first))
            paired_x = sorted(partner, key=lambda x: first[kinds[x] or x])
            paired_h = [partner[x] for x in paired_x]
            hoisted[g] = _reordered(group, paired_x + [n for n in group.names if n not in partner])
            per_step[p] = _reordered(other, paired_h + [n for n in other.names if n not in paired_h])
            pairings.append(Pairing(g, p, len(partner)))
            taken.add(p)
            break
    return pairings


def _reordered(group: LinearGroup, names: list[str]) -> LinearGroup:
    sizes = dict(zip(group.names, group.sizes))
    return LinearGroup(tuple(names), tuple(sizes[n] for n in names), group.bias)


def _segments(cell: fx.GraphModule, plan_groups: tuple, pairing: Pairing | None, adds: dict) -> list[list[tuple]]:
    """A per-step group's fused output cut into column segments, each [(node, size, activation)]: a run of paired
    Adds under one same ELEMENTWISE activation (run once over the run), or one Add, or one unpaired Linear."""
    hoisted, per_step, p = plan_groups
    group, segments = per_step[p], []
    nodes = {n.target: n for n in cell.graph.nodes if n.op == "call_module"}
    count = pairing.count if pairing is not None else 0
    for i in range(count):
        add = adds[frozenset((hoisted[pairing.hoisted].names[i], group.names[i]))]
        kind = _activation(cell, add)
        if segments and kind is not None and segments[-1][-1][2] is kind:
            segments[-1].append((add, group.sizes[i], kind))
        else:
            segments.append([(add, group.sizes[i], kind)])
    segments += [[(nodes[name], size, None)] for name, size in zip(group.names[count:], group.sizes[count:])]
    return segments


class _StepGraph:
    """The cell's graph with the grouped Linears replaced by one addmm per group (plus the hoisted addend), the
    paired Adds and their shared activations run once per segment, then split (module doc)."""

    def __init__(self, cell: fx.GraphModule, hoisted: list, per_step: list, pairings: list[Pairing]):
        self.cell, self.graph, self.env, self.made = cell, fx.Graph(), {}, {}
        self.originals = [n for n in cell.graph.nodes if n.op == "placeholder"]
        for node in self.originals:
            self.env[node] = self.graph.node_copy(node, lambda n: self.env[n])
        self.parts, self.weights, self.biases = map(self.graph.placeholder, ("hoisted_parts", "weights", "biases"))
        self.slot = {key: k for k, key in enumerate(hoisted_slots(hoisted, pairings))}
        self.per_step, self.pairing_of = per_step, {p.per_step: p for p in pairings}
        adds, self.segments, self.place = _adds(cell), {}, {}  # place: node -> (group, segment, index in it)
        for p in range(len(per_step)):
            self.segments[p] = _segments(cell, (hoisted, per_step, p), self.pairing_of.get(p), adds)
            for s, segment in enumerate(self.segments[p]):
                for i, (node, _, kind) in enumerate(segment):
                    self.place[node] = (p, s, i)
                    if len(segment) > 1:
                        self.place[next(iter(node.users))] = (p, s, i, kind)  # its activation
        self.skipped = {name for p in pairings for name in hoisted[p.hoisted].names[: p.count]}
        self.skipped |= {name for p in pairings for name in per_step[p.per_step].names[: p.count]}
        self.sources = {p: self._source(group) for p, group in enumerate(per_step)}

    def _source(self, group: LinearGroup) -> fx.Node:
        return next(n.args[0] for n in self.cell.graph.nodes if n.op == "call_module" and n.target == group.names[0])

    def _get(self, of: fx.Node, k: int) -> fx.Node:
        return self.graph.call_function(operator.getitem, (of, k))

    def _once(self, key, make: Callable[[], fx.Node]) -> fx.Node:
        if key not in self.made:
            self.made[key] = make()
        return self.made[key]

    def _split(self, key, whole: fx.Node, sizes: list[int]) -> fx.Node:
        # Tensor.split_with_sizes: the op Tensor.split calls, without its Python wrapper
        return self._once(key, lambda: self.graph.call_method("split_with_sizes", (whole, sizes, -1)))

    def _fused(self, p: int) -> fx.Node:
        """The per-step group's one matmul of its input, plus the hoisted addend or its bias (F.linear's addmm)."""

        def make() -> fx.Node:
            source, weight = self.env[self.sources[p]], self._get(self.weights, p)
            if p in self.pairing_of:
                addend = self._get(self.parts, self.slot[("addend", self.pairing_of[p].hoisted)])
                return self.graph.call_function(torch.addmm, (addend, source, weight))
            if self.per_step[p].bias:
                return self.graph.call_function(torch.addmm, (self._get(self.biases, p), source, weight))
            return self.graph.call_function(torch.mm, (source, weight))

        return self._once(("fused", p), make)

    def _segment(self, p: int, s: int) -> fx.Node:
        if len(self.segments[p]) == 1:
            return self._fused(p)
        sizes = [sum(size for _, size, _ in segment) for segment in self.segments[p]]
        return self._get(self._split(("segments", p), self._fused(p), sizes), s)

    def _placed(self, node: fx.Node) -> fx.Node:
        """A paired Add, an unpaired per-step Linear, or an activation shared by a run: its columns."""
        p, s, i, *kind = self.place[node]
        segment = self.segments[p][s]
        if len(segment) == 1:
            return self._segment(p, s)
        sizes = [size for _, size, _ in segment]
        whole = self._segment(p, s)
        if kind:  # the activation once over the run's columns
            whole = self._once(("act", p, s), lambda: ELEMENTWISE[kind[0]](self.graph, self._segment(p, s)))
        return self._get(self._split(("split", whole), whole, sizes), i)

    def emit(self, node: fx.Node) -> fx.Node | None:
        if node in self.place:
            return self._placed(node)
        if node.op != "call_module":
            return self.graph.node_copy(node, lambda n: self.env[n])
        if node.target in self.skipped:  # a paired Linear: its Add reads the fused output
            return None
        if node.target in self.slot:  # a hoisted Linear not paired
            return self._get(self.parts, self.slot[node.target])
        module = self.cell.get_submodule(node.target)
        args = tuple(self.env[a] if isinstance(a, fx.Node) else a for a in node.args)
        if type(module) in ELEMENTWISE and len(args) == 1 and not node.kwargs:
            return ELEMENTWISE[type(module)](self.graph, args[0])
        # the module's forward itself: no hook is on it where the steps run
        return self.graph.call_method("forward", (self.graph.get_attr(node.target), *args))

    def build(self) -> tuple[Callable, tuple[int, ...], bool]:
        """(step function, the hoisted slots it reads, whether it reads x_t)."""
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
    pairings = _pair(cell, hoisted, per_step)
    step, used, uses_x = _StepGraph(cell, hoisted, per_step, pairings).build()
    return CellPlan(tuple(hoisted), tuple(per_step), tuple(pairings), used, uses_x, step)


def _module(cell: nn.Module, name: str) -> nn.Module:
    """The cell's module `name` (a direct child looked up in its dict: this runs at every forward)."""
    module = cell._modules.get(name)
    return module if module is not None else cell.get_submodule(name)


def _hoisted_weights(cell: nn.Module, group: LinearGroup, partner: LinearGroup | None, count: int) -> tuple:
    """The hoisted group's weights [sum out, in] and biases [sum out] (None without), its paired partners' biases
    added in, read from the cell now."""
    weight = torch.cat([_module(cell, name).weight for name in group.names])
    bias = torch.cat([_module(cell, name).bias for name in group.names]) if group.bias else None
    if partner is None or not partner.bias:
        return weight, bias
    h_biases = [_module(cell, name).bias for name in partner.names[:count]]
    rest = sum(group.sizes[count:])
    h_bias = torch.cat(h_biases + ([weight.new_zeros(rest)] if rest else []))
    return weight, h_bias if bias is None else bias + h_bias


class _Direction:
    """One direction's cell over one input: its hoisted Linears already run, its fused weights formed."""

    def __init__(self, cell: nn.Module, plan: CellPlan, x: Tensor):  # x: (B, T, F)
        self.cell, self.plan = cell, plan
        per_step, available = plan.per_step, []  # what the slots hold: (B, T, columns) each
        paired = {p.hoisted: p for p in plan.pairings}
        for g, group in enumerate(plan.hoisted):
            pairing = paired.get(g)
            partner = per_step[pairing.per_step] if pairing is not None else None
            count = pairing.count if pairing is not None else 0
            projected = F.linear(x, *_hoisted_weights(cell, group, partner, count))  # one matmul of [B * T, F]
            if pairing is None:
                available += projected.split_with_sizes(list(group.sizes), -1)
                continue
            addend, *rest = projected.split_with_sizes([sum(group.sizes[:count]), *group.sizes[count:]], -1)
            if len(partner.names) > count:  # the per-step group's unpaired columns: their biases (or zeros)
                tail = [_module(cell, name).bias for name in partner.names[count:]] if partner.bias else []
                tail = torch.cat(tail) if tail else x.new_zeros(sum(partner.sizes[count:]))
                addend = torch.cat([addend, tail.expand(*addend.shape[:2], -1)], -1)
            available += [addend, *rest]
        steps, used = x.size(1), set(plan.hoisted_used)
        columns = [part.unbind(1) if k in used else (None,) * steps for k, part in enumerate(available)]
        self.parts = list(zip(*columns))  # T x (one (B, columns) a slot)
        self.weights = [torch.cat([_module(cell, n).weight for n in group.names]).t() for group in per_step]
        paired_steps = {p.per_step for p in plan.pairings}  # their biases are in the addend
        self.biases = [
            torch.cat([_module(cell, n).bias for n in group.names]) if group.bias else None for group in per_step
        ]
        self.biases = [None if p in paired_steps else bias for p, bias in enumerate(self.biases)]
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


def hooked(cells: list[nn.Module]) -> bool:
    """Whether a hook would see the cells' modules called: on any module in them, or a global module hook."""
    if any(getattr(module_hooks, name, None) for name in _GLOBAL_HOOKS):
        return True
    return any(_hooked(cell) for cell in cells)


def _hooked(module: nn.Module) -> bool:
    """Whether a hook is on `module` or any module in it (the dicts read directly: this runs at every forward)."""
    if module._forward_hooks or module._forward_pre_hooks or module._backward_hooks or module._backward_pre_hooks:
        return True
    for child in module._modules.values():
        if child is not None and _hooked(child):
            return True
    return False


class FusedRecurrent(Recurrent):
    """A layers.Recurrent whose steps run by its cells' plans (module doc); the loop where steps must be seen."""

    written_as = Recurrent  # model.py carries layers.Recurrent's source (engine/export/python_source.py)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cells = [self.cell] + ([self.cell_reverse] if self.cell_reverse is not None else [])
        self.plans = [plan_cell(cell) for cell in cells]  # plain data: no module, no Parameter of its own
        standards = [standard_cell(cell, self.hidden) for cell in cells]  # torch's LSTM / GRU cell, or None
        same = all(s is not None and s.kind == standards[0].kind for s in standards)
        self.standards = standards if same and self.num_states == (2 if standards[0].kind == "lstm" else 1) else None

    def runs_loop(self) -> bool:
        """Whether this call goes through layers.Recurrent's loop (module doc)."""
        if any(plan is None for plan in self.plans) or torch.jit.is_tracing() or torch.compiler.is_exporting():
            return True
        return hooked([self.cell] + ([self.cell_reverse] if self.cell_reverse is not None else []))

    def forward(self, x: Tensor) -> Tensor:  # (B, T, F)
        if self.runs_loop():
            return super().forward(x)
        if self.standards is not None and takes_standard(x):  # torch's LSTM op or GRUSequence (torch_cells.py)
            cells = [self.cell] + ([self.cell_reverse] if self.cell_reverse is not None else [])
            return standard_forward(cells, self.standards, x, self.hidden, self.return_sequences, self.training)
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

    def trained_by(self) -> str | None:
        """What runs the cells where no step must be seen, when they are torch's LSTM or GRU cell; None: the plans."""
        return TRAINED_BY[self.standards[0].kind] if self.standards is not None else None

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
