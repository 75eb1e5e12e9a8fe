"""The `Recurrent` op: a cell block run over the steps of a sequence [T, F] (GraphSpec v2: docs/ARCHITECTURE.md §3).

    {"id": "rnn", "op": "Recurrent", "params": {"cell": "lstm_cell", "hidden": 32, "return_sequences": false}}

A cell is a block whose Inputs are x_t (port 0) and then its state (ports 1..k: h, or h and c), and whose Outputs
are the new state in the same order (port 0 is h, what the Recurrent passes on at each step); every state is
[hidden]. `cell` names a block of the spec's `blocks`, `hidden` is given to the cell's parameter `hidden` (its other
parameters take their defaults), the state starts at zero, and the output is [T, hidden] (return_sequences) or
[hidden] (the last step), twice as wide when bidirectional: the forward direction's h and the backward
direction's, concatenated as torch.nn.LSTM does. The cell's body is analysed as a Block use's is
(builder/spec/blocks.py,
cached per cell, values and shapes) with x_t [F] and each state [hidden]; each direction has its own weights.

Refused, naming the node and the block: a `cell` that names no block, a block that is not a cell (its Inputs and
Outputs are not x_t and a state in, the new state out, or its new state's shape is not its state's), a cell whose
body has errors, and a cell that refers to itself (builder/spec/blocks.py finds that cycle for Block and Recurrent
nodes alike).
"""

from __future__ import annotations

from collections.abc import Callable

from builder.ops.opdef import OpDef, Param, ShapeError, fmt, resolve_params
from builder.spec import blocks
from builder.spec.blocks import BlockContext, BlockUse
from builder.spec.issues import Issue
from builder.spec.spec import BlockDef

HIDDEN = "hidden"  # the cell parameter the Recurrent's hidden size goes to
CELL_SHAPE = (
    "a cell has the Inputs x_t (port 0) and its state (ports 1.., h first) and one Output per state, the new state "
    "in the same order"
)


def _width(p: dict) -> int:
    return p[HIDDEN] * (2 if p["bidirectional"] else 1)


def _shape(p: dict, ins, srcs) -> tuple[int, ...]:
    if len(ins[0]) != 2:
        hint = " (add a Reshape to [steps, features])" if len(ins[0]) == 1 else ""
        raise ShapeError(f"Recurrent expects a sequence [steps, features]; got {fmt(ins[0])} from {srcs[0]}{hint}")
    return (ins[0][0], _width(p)) if p["return_sequences"] else (_width(p),)


def _counted_from_cell(p: dict, ins) -> int:
    raise AssertionError("a Recurrent node's parameters are its cell's, counted by builder/ops_recurrent.infer")


RECURRENT = OpDef(
    "Recurrent",
    "recurrent",
    "Runs a cell block (param `cell`, e.g. lstm_cell) over a sequence [steps, features], from a zero state.",
    _shape,
    params=(
        Param(HIDDEN, "int", min=1, help="the cell's state size"),
        Param("return_sequences", "bool", True, help="false: only the last step's h"),
        Param("bidirectional", "bool", False, help="also run a second cell backwards; the two h concatenated"),
    ),
    count=_counted_from_cell,
    key_params=("cell", HIDDEN, "return_sequences", "bidirectional"),
)
OPS = [RECURRENT]


def resolve(given: dict, defined: dict[str, BlockDef]) -> tuple[dict, list[tuple[str, str]]]:
    """A Recurrent node's params with defaults filled ({"cell": name, "hidden": ..., ...}), and [(param, message)]."""
    known = {p.name for p in RECURRENT.params} | {"cell"}
    errors = [
        (key, f"unknown parameter '{key}' for Recurrent (allowed: {', '.join(sorted(known))})")
        for key in sorted(set(given) - known)
    ]
    resolved, problems = resolve_params(RECURRENT, {k: v for k, v in given.items() if k in known and k != "cell"})
    names = ", ".join(sorted(defined)) or "none"
    cell = given.get("cell")
    if "cell" not in given:
        errors.append(("cell", f"Recurrent needs parameter 'cell', the name of a cell block (defined: {names})"))
    elif not isinstance(cell, str) or cell not in defined:
        errors.append(("cell", f"unknown block {cell!r:.40} for 'cell' (defined: {names})"))
    return {"cell": cell, **resolved}, errors + problems


def directions(params: dict) -> int:
    return 2 if params["bidirectional"] else 1


def _ports_problem(name: str, definition: BlockDef) -> str | None:
    """Why a block is not a cell by its Inputs, Outputs and parameters alone; None if it may be one."""
    n_in = blocks.n_inputs(definition)
    n_out = sum(1 for node in definition.nodes if node.op == "Output")
    if n_in < 2 or n_out != n_in - 1:
        return f"block '{name}' is not a cell: {CELL_SHAPE}; it has {n_in} Input(s) and {n_out} Output(s)"
    if HIDDEN not in definition.params:
        return f"block '{name}' is not a cell: it has no parameter '{HIDDEN}' (the Recurrent's hidden size goes there)"
    return None


def _state_problem(name: str, body, hidden: int) -> str | None:
    """Why an analysed cell body is not a cell: a new state whose shape is not its state's [hidden]."""
    for port, (out_id, in_id) in enumerate(zip(body.output_ids, body.input_ids[1:])):
        if body.shapes[out_id] != (hidden,):
            return (
                f"block '{name}' is not a cell: its Output '{out_id}' (port {port}) is {fmt(body.shapes[out_id])} "
                f"but its state Input '{in_id}' (port {port + 1}) is {fmt((hidden,))}; a new state has its "
                "state's shape"
            )
    return None


def _cell_body(name: str, values: dict, features: int, ctx: BlockContext, analyze_body: Callable):
    """The cell's body analysed with x_t [features] and each state [hidden] (cached in ctx.bodies)."""
    definition = ctx.blocks[name]
    shapes = [(features,)] + [(values[HIDDEN],)] * (blocks.n_inputs(definition) - 1)
    dtypes = ["float32"] * len(shapes)
    key = blocks.body_key(name, values, shapes, dtypes)
    if key not in ctx.bodies:
        ctx.bodies[key] = analyze_body(blocks.instantiate(name, definition, values, shapes, dtypes))
    return ctx.bodies[key]


def _cell_use(node_id: str, params: dict, features: int, outermost: bool, ctx: BlockContext, analyze_body, where):
    """(the cell's BlockUse, []) or (None, the issues that refuse it, each at the Recurrent node)."""
    name = params["cell"]
    if ctx.problems[name]:
        return None, blocks.problem_issues(node_id, name, outermost, ctx)
    problem = _ports_problem(name, ctx.blocks[name])
    if problem:
        return None, [Issue(node_id, "not_a_cell", problem, field=where)]
    values, errors = blocks.resolve_use({"block": name, HIDDEN: params[HIDDEN]}, ctx)
    if errors:
        return None, [Issue(node_id, "bad_param", f"cell {message}", field=where) for _, message in errors]
    body = _cell_body(name, values, features, ctx, analyze_body)
    if not body.ok:
        return None, blocks.body_issues(node_id, name, body, outermost)
    problem = _state_problem(name, body, params[HIDDEN])
    if problem:
        return None, [Issue(node_id, "not_a_cell", problem, field=where)]
    return BlockUse(name, {k: v for k, v in values.items() if k != "block"}, body), []


def infer(node_id: str, ins: list[tuple], srcs: list[str], a, ctx: BlockContext, analyze_body) -> None:
    """Shape, dtype and parameter count of Recurrent node `node_id` of Analysis `a` (its input shapes `ins` from
    `srcs`), its cell's use in `a.cells`; or issues at the node. `analyze_body(GraphSpec) -> Analysis` analyses a
    block's instantiated body (builder.analysis.validate in body mode)."""
    params = a.params[node_id]
    try:
        shape = _shape(params, ins, srcs)
    except ShapeError as err:
        a.issues.append(Issue(node_id, err.code, str(err)))
        return
    where = next(f"nodes[{i}].params.cell" for i, n in enumerate(a.spec.nodes) if n.id == node_id)
    cell, issues = _cell_use(node_id, params, ins[0][-1], not a.body, ctx, analyze_body, where)
    if cell is None:
        a.issues.extend(issues)
        return
    a.cells[node_id] = cell
    a.shapes[node_id] = shape
    a.dtypes[node_id] = "float32"
    a.param_counts[node_id] = directions(params) * cell.body.total_params


def cell_nodes(a) -> int:
    """The nodes of the cells of Analysis `a`'s Recurrent nodes, once per direction (for the node cap)."""
    return sum(directions(a.params[n]) * cell.body.expanded_nodes for n, cell in a.cells.items())
