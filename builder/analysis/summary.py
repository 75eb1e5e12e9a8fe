"""Model summary rows and memory estimates, from an Analysis (pure numbers for the UI and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from builder.analysis.validate import Analysis
from builder.ops.opdef import numel
from builder.ops.ops_recurrent import directions

BYTES_PER_FLOAT = 4


@dataclass(frozen=True)
class SummaryRow:
    id: str  # inside a block use: "res2.conv1"
    op: str  # a block use: "Block basic"
    output_shape: list[int] | None
    params: int
    depth: int = 0  # 0: a node of the network; 1: a node inside a block use; ...


def summary_rows(a: Analysis, inner: bool = False, prefix: str = "", depth: int = 0) -> list[SummaryRow]:
    """One row per node in order; a Block use shows its definition, output shape and the parameters of its
    whole body, and with `inner` its body's rows follow it, indented (depth + 1), ids prefixed by the use's."""
    ops = {n.id: n.op for n in a.spec.nodes}
    order = a.order or [n.id for n in a.spec.nodes]
    rows = []
    for nid in order:
        if nid not in ops or (depth and ops[nid] in ("Input", "Output")):
            continue
        op = f"Block {a.uses[nid].block}" if nid in a.uses else ops[nid]
        shape = list(a.shapes[nid]) if nid in a.shapes else None
        rows.append(SummaryRow(prefix + nid, op, shape, a.param_counts.get(nid, 0), depth))
        if inner and nid in a.uses:
            rows += summary_rows(a.uses[nid].body, True, f"{prefix}{nid}.", depth + 1)
    return rows


def summary_json(a: Analysis) -> dict:
    rows = summary_rows(a)
    return {
        "total_params": a.total_params,
        "nodes": [{"id": r.id, "op": r.op, "output_shape": r.output_shape, "params": r.params} for r in rows],
    }


def memory_estimate(a: Analysis, batch_size: int) -> dict[str, int]:
    """Bytes for weights (+ gradients and two Adam moments when training) and forward activations: an estimate of
    what the backward pass keeps, every node's output once plus what multi-step ops keep inside (INNER_VALUES);
    tests/test_memory_figures.py holds it within [1/4, 2] of what autograd saves for every template. Of these,
    `recurrent_steps` is what Recurrent cells keep for the backward pass, step by step (included in
    `activations`)."""
    weights = a.total_params * BYTES_PER_FLOAT
    activations = _activation_values(a) * batch_size * BYTES_PER_FLOAT
    steps = recurrent_step_values(a) * batch_size * BYTES_PER_FLOAT
    return {"weights": weights, "training_state": 3 * weights, "activations": activations, "recurrent_steps": steps}


def _activation_values(a: Analysis) -> int:
    """Values the forward pass holds per sample: every node's output, a block use's through its body's, a
    Recurrent's cell's once per step and direction (_cell_steps), and what RNN/GRU/LSTM/attention/Maxout nodes keep
    inside (_inner_values)."""
    passed_on = set(a.input_ids + a.output_ids) if a.body else set()  # the use's input and output, counted outside
    own = sum(numel(shape) for node_id, shape in a.shapes.items() if node_id not in a.uses.keys() | passed_on)
    return own + sum(_activation_values(use.body) for use in a.uses.values()) + _cell_steps(a) + _inner_values(a)


def _inner_values(a: Analysis) -> int:
    """Values per sample that ops built from several steps keep inside, beyond their output (counted as a node's):
    see INNER_VALUES."""
    ops = {n.id: n.op for n in a.spec.nodes}
    return sum(
        INNER_VALUES[ops[node_id]](a.params[node_id], a.in_shapes(node_id)[0])
        for node_id in a.shapes
        if ops.get(node_id) in INNER_VALUES and a.in_shapes(node_id)
    )


def _recurrent_inner(per_hidden: int):
    """Per layer, direction and step: the step's input and `per_hidden` values per hidden unit (its equations'
    gates and states; see INNER_VALUES)."""

    def count(p: dict, in_shape: tuple) -> int:
        steps, h, dirs = in_shape[0], p["hidden_size"], directions(p)
        widths = [in_shape[-1]] + [h * dirs] * (p["num_layers"] - 1)
        return sum(steps * dirs * (width + per_hidden * h) for width in widths)

    return count


def _attention_inner(p: dict, in_shape: tuple) -> int:
    """Queries, keys, values and the heads' joined result ([steps, embed] each), and the softmax's normaliser per
    head and step (the fused attention keeps that, not the [steps, steps] weights)."""
    steps, embed = in_shape
    heads = p.get("num_heads", p.get("nhead"))
    return 4 * steps * embed + heads * steps


def _encoder_inner(p: dict, in_shape: tuple) -> int:
    """The attention's, then the two residual sums and the first norm's output ([steps, embed] each), the
    feed-forward's hidden layer [steps, dim_feedforward], and each norm's mean and spread per step."""
    steps, embed = in_shape
    return _attention_inner(p, in_shape) + 3 * steps * embed + steps * p["dim_feedforward"] + 4 * steps


# Op -> values per sample it keeps for the backward pass beyond its output, by its equations (checked against what
# torch's CPU kernels keep in tests/test_memory_figures.py): an RNN step keeps its new state (1 per hidden unit), a
# GRU step its three gates, the candidate's two halves and the states before and after (7), an LSTM step its four
# gates before and after their nonlinearity and the cell state, its tanh and the output (11); a Maxout the
# `pieces` values it takes the largest of.
INNER_VALUES = {
    "RNN": _recurrent_inner(1),
    "GRU": _recurrent_inner(7),
    "LSTM": _recurrent_inner(11),
    "MultiheadAttention": _attention_inner,
    "TransformerEncoderLayer": _encoder_inner,
    "Maxout": lambda p, in_shape: p["pieces"] * p["out_features"] * (numel(in_shape) // in_shape[-1]),
}


def sequence_steps(a: Analysis, node_id: str) -> int:
    """T, the steps a Recurrent node runs its cell for: the first dimension of its input [T, F]."""
    return a.shapes[a.inputs[node_id][0]][0]


def _cell_steps(a: Analysis) -> int:
    """Values per sample that the Recurrent nodes of `a` keep for the backward pass: every output inside the
    cell's body (its own blocks and cells included), once per step (T) and per direction. The state a step
    reads is the step before's output, x_t a view of the input: neither is counted again."""
    return sum(
        sequence_steps(a, node_id) * directions(a.params[node_id]) * _activation_values(cell.body)
        for node_id, cell in a.cells.items()
    )


def recurrent_step_values(a: Analysis) -> int:
    """The part of the activation values per sample (see _activation_values) that Recurrent cells keep over
    their steps, in the network and inside its block uses."""
    return _cell_steps(a) + sum(recurrent_step_values(use.body) for use in a.uses.values())


def format_table(a: Analysis, inner: bool = False) -> str:
    """The summary as text; with `inner`, each block use's body rows indented under it."""
    rows = summary_rows(a, inner)
    cells = [
        ("  " * r.depth + r.id, r.op, "?" if r.output_shape is None else str(r.output_shape), f"{r.params:,}")
        for r in rows
    ]
    head = ("node", "op", "output shape", "params")
    widths = [max(len(c[i]) for c in cells + [head]) for i in range(4)]
    line = lambda c: "  ".join(v.ljust(w) if i < 3 else v.rjust(w) for i, (v, w) in enumerate(zip(c, widths)))  # noqa: E731
    return "\n".join([line(head), *map(line, cells), f"total parameters: {a.total_params:,}"])
