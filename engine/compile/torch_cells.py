"""The standard LSTM and GRU cells recognised in a gate-level cell's graph, and run by torch's own fused op (issue 23).

A cell whose fx graph is exactly torch.nn.LSTM's or torch.nn.GRU's gate graph (checked structurally: every node,
the module types, the Linears with biases and their sizes; the names and the order of the nodes are free, and so
are the operand orders of Add and Multiply) is `standard_cell(cell, hidden) -> StandardCell`, naming which Linear
is which of torch's gates. FusedRecurrent then calls torch.lstm / torch.gru with the gate Linears' weights
concatenated at call time in torch's packing (`torch_weights`), so the Parameters, their gradients and the
state-dict keys stay the cell's own. Any other cell, and one that is almost the standard one (a Linear without a
bias, another activation, an extra node), gives None and runs by the cell's plan (fused_cells.py).

LSTM (torch's gates i, f, g, o):   c' = f * c + i * g,  h' = o * tanh(c'),  each of i, f, o = sigmoid(x_L(x) + h_L(h)),
                                   g = tanh(x_L(x) + h_L(h))
GRU (torch's gates r, z, n):       h' = (1 - z) * n + z * h,  r, z = sigmoid(x_L(x) + h_L(h)),
                                   n = tanh(x_L(x) + r * h_L(h))
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import Tensor, fx, nn

from engine.compile.gru_sequence import gru_sequence
from engine.compile.layers import OneMinus, sequence_or_last

_GATE_BY_GATE: ContextVar[bool] = ContextVar("gate_by_gate", default=False)


@contextmanager
def gate_by_gate() -> Iterator[None]:
    """Within it, standard cells run by their gate-level plans (no torch op, no GRUSequence), so each gate's
    operations are autograd nodes of their own: the Train page's autograd graph draws them."""
    token = _GATE_BY_GATE.set(True)
    try:
        yield
    finally:
        _GATE_BY_GATE.reset(token)


def takes_standard(x: Tensor) -> bool:
    """Whether a standard cell runs by torch's op / GRUSequence on this input now: not inside gate_by_gate, and
    not under autocast (there the gate-level Linears follow autocast's dtype, and torch's fused op another)."""
    return not _GATE_BY_GATE.get() and not torch.is_autocast_enabled(x.device.type)


# Pattern terms: "x" (the cell's x_t), "h" and "c" (state[0], state[1]); (kind, *operands) below; ("lin", side,
# gate): an nn.Linear with a bias reading x or h, torch's gate `gate`; ("bind", name, term) / ("ref", name): one
# node met twice.
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "one_minus": OneMinus}
FUNCTIONS = {"add": torch.add, "mul": torch.mul}  # both commutative: either operand order matches


def _gate(activation: str, gate: str) -> tuple:
    return (activation, ("add", ("lin", "x", gate), ("lin", "h", gate)))


LSTM_OUTPUTS = (
    ("mul", _gate("sigmoid", "o"), ("tanh", ("ref", "c_next"))),  # h'
    (
        "bind",
        "c_next",
        ("add", ("mul", _gate("sigmoid", "f"), "c"), ("mul", _gate("sigmoid", "i"), _gate("tanh", "g"))),
    ),
)
GRU_OUTPUTS = (
    (
        "add",
        (
            "mul",
            ("one_minus", ("bind", "z", _gate("sigmoid", "z"))),
            ("tanh", ("add", ("lin", "x", "n"), ("mul", _gate("sigmoid", "r"), ("lin", "h", "n")))),
        ),
        ("mul", ("ref", "z"), "h"),
    ),
)
# torch's op, its gates in its packing order, the outputs' pattern (matched in the order given: c' before h')
STANDARD = {
    "lstm": (("i", "f", "g", "o"), LSTM_OUTPUTS, (1, 0)),
    "gru": (("r", "z", "n"), GRU_OUTPUTS, (0,)),
}


TRAINED_BY = {  # what a standard cell runs as where no step must be seen (said on the Train page)
    "lstm": "its cell is torch's LSTM cell, so training runs it as torch's fused LSTM op (torch.lstm)",
    "gru": "its cell is torch's GRU cell, so training runs it as one GRU node over the whole sequence (its "
    "backward through time written out)",
}


@dataclass(frozen=True)
class StandardCell:
    """A cell recognised as torch's `kind` ("lstm" or "gru"): per torch gate, the names of its x and h Linears."""

    kind: str
    x_linears: tuple[str, ...]  # in torch's gate order
    h_linears: tuple[str, ...]


class _Matcher:
    """Matches pattern terms against one cell's graph, binding Linears and shared nodes (backtracking)."""

    def __init__(self, cell: fx.GraphModule, leaves: dict[str, fx.Node]):
        self.cell, self.leaves = cell, leaves

    def match(self, term, node, bound: dict) -> Iterator[dict]:
        """Every extension of `bound` under which `node` computes `term`."""
        if isinstance(term, str):
            if self.leaves.get(term) is node:
                yield bound
            return
        kind = term[0]
        if kind == "ref":
            if bound.get(("node", term[1])) is node:
                yield bound
        elif kind == "bind":
            for found in self.match(term[2], node, bound):
                yield {**found, ("node", term[1]): node}
        elif kind == "lin":
            yield from self._linear(term, node, bound)
        elif kind in ACTIVATIONS:
            if self._module_call(node, ACTIVATIONS[kind]):
                yield from self.match(term[1], node.args[0], bound)
        elif node.op == "call_function" and node.target is FUNCTIONS[kind] and len(node.args) == 2 and not node.kwargs:
            a, b = node.args
            for first, second in ((a, b), (b, a)):
                for found in self.match(term[1], first, bound):
                    yield from self.match(term[2], second, found)

    def _module_call(self, node: fx.Node, kind: type) -> bool:
        if node.op != "call_module" or len(node.args) != 1 or node.kwargs or not isinstance(node.args[0], fx.Node):
            return False
        return type(self.cell.get_submodule(node.target)) is kind

    def _linear(self, term: tuple, node: fx.Node, bound: dict) -> Iterator[dict]:
        _, side, gate = term
        key = ("lin", side, gate)
        if not self._module_call(node, nn.Linear) or self.cell.get_submodule(node.target).bias is None:
            return
        if node.args[0] is not self.leaves[side] or bound.get(key, node) is not node:
            return
        if any(k != key and k[0] == "lin" and v is node for k, v in bound.items()):
            return  # one Linear cannot be two gates
        yield {**bound, key: node}


def _leaves(cell: fx.GraphModule, num_states: int) -> tuple[dict[str, fx.Node], list] | None:
    """{"x", "h", "c"...: their nodes} and the output's values, where the graph reads them as a compiled cell does."""
    placeholders = [n for n in cell.graph.nodes if n.op == "placeholder"]
    outputs = [n for n in cell.graph.nodes if n.op == "output"]
    if len(placeholders) != 2 or len(outputs) != 1 or not isinstance(outputs[0].args[0], (list, tuple)):
        return None
    x, state = placeholders
    leaves = {"x": x}
    for user in state.users:
        index = user.args[1] if user.target is operator.getitem and len(user.args) == 2 else None
        if not isinstance(index, int) or not 0 <= index < num_states or "hc"[index] in leaves:
            return None
        leaves["hc"[index]] = user
    values = list(outputs[0].args[0])
    return (leaves, values) if len(values) == num_states else None


def _sizes_fit(cell: fx.GraphModule, bound: dict, hidden: int) -> bool:
    """Every x Linear reads one same width; every Linear gives `hidden`; the h Linears read `hidden`."""
    linears = {key: cell.get_submodule(node.target) for key, node in bound.items() if key[0] == "lin"}
    widths = {m.in_features for (_, side, _), m in linears.items() if side == "x"}
    if len(widths) != 1 or any(m.out_features != hidden for m in linears.values()):
        return False
    return all(m.in_features == hidden for (_, side, _), m in linears.items() if side == "h")


def standard_cell(cell: nn.Module, hidden: int) -> StandardCell | None:
    """The cell as torch's LSTM or GRU cell (module doc); None for any other cell."""
    if not isinstance(cell, fx.GraphModule):
        return None
    for kind, (gates, outputs, order) in STANDARD.items():
        read = _leaves(cell, len(order))
        if read is None:
            continue
        leaves, values = read
        found = _match_all(_Matcher(cell, leaves), [outputs[k] for k in order], [values[k] for k in order])
        if found is None or not _sizes_fit(cell, found, hidden) or not _covers(cell, values):
            continue
        return StandardCell(
            kind,
            tuple(found[("lin", "x", g)].target for g in gates),
            tuple(found[("lin", "h", g)].target for g in gates),
        )
    return None


def _match_all(matcher: _Matcher, terms: list, nodes: list) -> dict | None:
    """The first binding under which each node computes its term, in order."""

    def extend(k: int, bound: dict) -> Iterator[dict]:
        if k == len(terms):
            yield bound
            return
        if not isinstance(nodes[k], fx.Node):
            return
        for found in matcher.match(terms[k], nodes[k], bound):
            yield from extend(k + 1, found)

    return next(extend(0, {}), None)


def _covers(cell: fx.GraphModule, values: list) -> bool:
    """Whether every node of the graph is the output or feeds it: nothing else runs in the cell."""
    seen, stack = set(), list(values)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack += node.all_input_nodes
    return len(seen) + 1 == len(cell.graph.nodes)


def torch_weights(cell: nn.Module, standard: StandardCell) -> list[Tensor]:
    """weight_ih, weight_hh, bias_ih, bias_hh in torch's packing, concatenated from the cell's Linears now."""
    x_linears = [cell.get_submodule(name) for name in standard.x_linears]
    h_linears = [cell.get_submodule(name) for name in standard.h_linears]
    return [
        torch.cat([m.weight for m in x_linears]),
        torch.cat([m.weight for m in h_linears]),
        torch.cat([m.bias for m in x_linears]),
        torch.cat([m.bias for m in h_linears]),
    ]


def standard_forward(
    cells: list[nn.Module],
    standards: list[StandardCell],
    x: Tensor,
    hidden: int,
    return_sequences: bool,
    training: bool,
) -> Tensor:
    """What layers.Recurrent returns over these cells (one, or the forward and the backward one): the sequence
    (B, T, D * H) or the final states (B, D * H). The LSTM by torch.lstm, the GRU by gru_sequence (its module doc:
    torch.gru has no fused CPU kernel for training)."""
    weights = [torch_weights(cell, standard) for cell, standard in zip(cells, standards)]
    directions = len(cells)
    if standards[0].kind == "gru":
        runs = [gru_sequence(x, w, reverse) for w, reverse in zip(weights, (False, True))]  # (B, T, H) each
        if return_sequences:
            return torch.cat(runs, 2) if directions == 2 else runs[0]
        last = [runs[0][:, -1]] + ([runs[1][:, 0]] if directions == 2 else [])  # the backward one ends at t = 0
        return torch.cat(last, 1) if directions == 2 else last[0]
    zero = torch.zeros(directions, x.size(0), hidden, dtype=x.dtype, device=x.device)  # (D, B, H)
    flat = [w for direction in weights for w in direction]
    # (input, state, weights, has_biases, num_layers, dropout, train, bidirectional, batch_first)
    output, h_n, _ = torch.lstm(x, (zero, zero), flat, True, 1, 0.0, training, directions == 2, True)
    return sequence_or_last(output, h_n, return_sequences, directions)
