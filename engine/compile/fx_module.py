"""GraphSpec -> torch.fx.GraphModule, by building the fx Graph directly (no tracing).

The graph is: one placeholder named after the Input node, then every node in topological order as a
call_module (the submodule's attribute is the node id, so state-dict keys read `fc.weight`; validation
refuses ids that clash with a Python keyword or a torch module attribute, like `code` or `train`) or a
call_function (Add, Multiply, Concat, Flatten, Reshape), then the output. `gm.code` is readable Python
with the node ids as variable names; nothing is computed in place. How each op compiles is its record in
engine/compile/op_records.py.

A Block node compiles to one call_module whose submodule is a GraphModule of the block's body (built the same
way from the body's analysis, its placeholders the body's Inputs in port order, its result the Output's value,
or a tuple of them for several), attribute named after the node id: state-dict keys read `res2.conv1.weight`.
Each use gets its own weights; the body's analysis is shared between uses with the same inputs and values.

A Recurrent node compiles to a layers.Recurrent (attribute named after the node id) holding its cell's body compiled
as a cell: `forward(self, x_t, state: List[Tensor]) -> List[Tensor]`, the state Inputs read from the list
(`h = state[0]`) and the Outputs returned as one, so that TorchScript calls every cell with one signature; a second
cell, `cell_reverse`, for the backward direction. State-dict keys read `rnn.cell.input_gate_x.weight`. It is
a fused_cells.FusedRecurrent, a subclass that runs the same cells with their Linears batched (the Linears on x_t
once over the sequence, those on h as one matmul per step), whenever a cell has Linears to batch.

Every node's fx meta carries `spec_id`, `spec_op` and `spec_shape` (its output shape without the batch dim);
a module node also `spec_args`, the keyword arguments its module was built with (`layer(**spec_args)`), from
which engine/export/python_source.py writes model.py.

    gm = compile_spec(spec)           # raises SpecInvalid (carrying the builder Issues) for a bad spec
    y = gm(x)                         # x: (B, *input_shape) -> y: (B, *output_shape)
"""

from __future__ import annotations

import functools
import keyword
import operator
import re

import torch
from torch import fx, nn

from builder.analysis.validate import Analysis, analyze
from builder.ops.ops_recurrent import directions
from builder.spec.spec import GraphSpec
from engine.compile.fused_cells import recurrent_module
from engine.compile.op_records import PLACEHOLDER_OPS, emit_function, module_args, op_record
from engine.errors import SpecInvalid


def compile_spec(spec: GraphSpec) -> fx.GraphModule:
    """Validate `spec` and compile it; raises SpecInvalid with the issues when it is not valid."""
    return compile_analysis(analyze(spec))


def compile_analysis(a: Analysis) -> fx.GraphModule:
    """Compile an analysed spec (shapes and resolved params come from `a`)."""
    if not a.ok:
        raise SpecInvalid(a.issues)
    return _compile_graph(a, class_name(a.spec.name))


CELL_STATE = "state"  # a compiled cell's second argument: its state, a list of tensors


def _compile_graph(a: Analysis, name: str, cell: bool = False) -> fx.GraphModule:
    """The network, or a block's body (a.body): placeholders in port order, then every node in order. A `cell`
    (a body a Recurrent runs) takes x_t and its state as a list, and returns the new state as a list."""
    graph = fx.Graph()
    modules: dict[str, nn.Module] = {}
    # node id -> the fx node holding its output; first the Inputs, by port: the order a use passes them in
    values = _cell_inputs(graph, a) if cell else {node_id: graph.placeholder(node_id) for node_id in a.input_ids}
    op_of = {n.id: n.op for n in a.spec.nodes}
    for node_id in a.order:
        op_name = op_of[node_id]
        if op_name in PLACEHOLDER_OPS:
            value = values[node_id]
        elif op_name == "Output":
            values[node_id] = values[a.inputs[node_id][0]]  # the result is its input's value: no fx node
            continue
        else:
            args = [values[src] for src in a.inputs[node_id]]
            value = _emit_node(graph, modules, node_id, op_name, args, a)
        value.meta.update(spec_id=node_id, spec_op=op_name, spec_shape=a.shapes[node_id])
        values[node_id] = value
    results = [values[node_id] for node_id in a.output_ids]
    graph.output(results if cell else results[0] if len(results) == 1 else tuple(results))
    graph.lint()
    return fx.GraphModule(modules, graph, class_name=name)


def _cell_inputs(graph: fx.Graph, a: Analysis) -> dict[str, fx.Node]:
    """A cell's placeholders: x_t (its Input of port 0), then the list of its state; each state Input is an item."""
    x_id, *state_ids = a.input_ids
    values = {x_id: graph.placeholder(x_id)}
    state = graph.placeholder(CELL_STATE, type_expr=list[torch.Tensor])
    for k, node_id in enumerate(state_ids):
        values[node_id] = graph.create_node("call_function", operator.getitem, (state, k), name=node_id)
    return values


def _emit_recurrent(graph: fx.Graph, modules: dict, node_id: str, args: list[fx.Node], a: Analysis) -> fx.Node:
    """A layers.Recurrent running the node's cell (compiled once per direction: each has its own weights)."""
    use, params = a.cells[node_id], a.params[node_id]
    cells = [_compile_graph(use.body, class_name(use.block), cell=True) for _ in range(directions(params))]
    recurrent_args = {
        "hidden": params["hidden"],
        "num_states": len(use.body.input_ids) - 1,
        "return_sequences": params["return_sequences"],
    }
    reverse = cells[1] if len(cells) == 2 else None
    modules[node_id] = recurrent_module(cells[0], **recurrent_args, cell_reverse=reverse)  # fused_cells.py
    node = graph.create_node("call_module", node_id, tuple(args), name=node_id)
    node.meta.update(spec_cell=use.block, spec_args=recurrent_args)  # model.py: Recurrent(cell=..., **spec_args)
    return node


def _emit_node(graph: fx.Graph, modules: dict, node_id: str, op_name: str, args: list[fx.Node], a: Analysis) -> fx.Node:
    if op_name == "Recurrent":
        return _emit_recurrent(graph, modules, node_id, args, a)
    if op_name == "Block":
        use = a.uses[node_id]
        modules[node_id] = _compile_graph(use.body, class_name(use.block))  # its own weights, from the body
        node = graph.create_node("call_module", node_id, tuple(args), name=node_id)
        node.meta["spec_block"] = use.block
        return node
    kwargs = module_args(op_name, a.params[node_id], a.in_shapes(node_id))
    if kwargs is None:
        return emit_function(graph, node_id, op_name, args, a.params[node_id])
    assert len(args) == 1, f"{op_name} modules take one input, got {len(args)}"  # the catalog's arity says so
    modules[node_id] = op_record(op_name).layer(**kwargs)
    node = graph.create_node("call_module", node_id, tuple(args), name=node_id)
    node.meta["spec_args"] = kwargs
    return node


@functools.cache
def reserved_names() -> frozenset[str]:
    """Names a submodule cannot take: Python keywords and attributes every compiled module already has.
    builder.spec.reserved.RESERVED_IDS must cover these (tests/test_compile_names.py checks it)."""
    instance = fx.GraphModule(nn.Module(), fx.Graph())
    return frozenset(keyword.kwlist) | frozenset(dir(instance))


def class_name(spec_name: str) -> str:
    """The spec's name as a CamelCase Python class name ("lenet_5" -> "Lenet5")."""
    words = re.findall(r"[A-Za-z0-9]+", spec_name)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    return name if name and not name[0].isdigit() else f"Net{name}"


def node_modules(gm: fx.GraphModule) -> dict[str, nn.Module]:
    """Node id -> its submodule, for every node compiled to a module (in topological order)."""
    return {
        node.meta.get("spec_id", node.target): gm.get_submodule(node.target)
        for node in gm.graph.nodes
        if node.op == "call_module"
    }


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
