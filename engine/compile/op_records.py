"""The engine side of the op catalog: one OpRecord per op, in OP_RECORDS.

An op is defined in three places, once each (docs/ARCHITECTURE.md §4, "An op"):
- builder: its OpDef (parameters, arity, shape and parameter-count rules) in builder/ops/ops_basic.py, ops_conv.py or
  ops_seq.py, gathered in builder.ops.catalog.CATALOG; builder/ knows nothing of torch;
- engine: its OpRecord here, everything the engine needs to know about it;
- tests: at least two rows in tests/test_ops.py (ROWS, MERGE_ROWS), which compare the builder's shapes and
  parameter counts with torch; tests/test_export.py exports every row to model.py. tests/test_op_records.py
  checks that CATALOG and OP_RECORDS name the same ops.

How an op compiles (engine/compile/fx_module.py):
- a module op has a `layer` (an nn.Module class) and `args(params, in_shapes) -> kwargs`: the node's module is
  `layer(**kwargs)`. `params` are the node's resolved params (defaults filled by builder.analysis.validate), `in_shapes`
  its input shapes without the batch dimension; sizes that follow from the input (in_features, in_channels,
  num_features, input_size, embed_dim) come from the shapes. The kwargs are kept in the fx node's
  meta["spec_args"], and model.py (engine/export/python_source.py) writes the same call;
- a function op has an fx emitter `emit(graph, node_id, args, params)` that writes call_function nodes: ops with
  no weights and several inputs, or a pure re-view of the data (Add, Multiply, Concat, Flatten, Reshape);
- `Input` has neither: it is the graph's placeholder;
- `Block`, `Recurrent` and `Output` are graph ops (`graph=True`): a Block use compiles to a nested fx.GraphModule
  of its body named after the node (state-dict keys `res2.conv1.weight`), a Recurrent to a layers.Recurrent that
  runs its cell's body, compiled the same way, over the time steps (`rnn.cell.input_gate_x.weight`), an Output is
  the body's result.

Its traits, read by the rest of the engine instead of lists of op names:
- `relu_like`: it passes little or nothing of inputs <= 0, so the step probes count its units that are never
  positive (dead);
- `output`: what its values are when it ends the network (OutputKind), which chooses the loss
  (engine/train/losses.py) and how the epoch probes read classes from the output;
- `blocks`: the export formats one of its settings cannot be written to, and why (engine/export/formats.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import torch
from torch import fx, nn

from builder.ops.opdef import pair
from engine.compile import layers

Shape = tuple[int, ...]
ArgsFn = Callable[[dict, list[Shape]], dict]  # (params, input shapes) -> the layer's constructor kwargs
FunctionEmitter = Callable[[fx.Graph, str, list[fx.Node], dict], fx.Node]


class OutputKind(StrEnum):
    """What an op's output values are when it ends the network."""

    LOGITS = "logits"  # any real numbers: most ops
    PROBABILITIES = "probabilities"  # each unit on its own a probability in [0, 1]: Sigmoid, PiecewiseLinear
    ZERO_ONE = "zero_one"  # each unit 0 or 1: Step
    DISTRIBUTION = "distribution"  # non-negative and summing to 1 over the classes: Softmax
    BIPOLAR = "bipolar"  # each unit in (-1, 1), and (y + 1) / 2 a probability: BipolarSigmoid
    PLUS_MINUS_ONE = "plus_minus_one"  # each unit -1 or +1: BipolarStep

    @property
    def in_unit_interval(self) -> bool:
        """Each unit already lies in [0, 1], so a unit says "yes" above 0.5 (logits: above 0)."""
        return self in (OutputKind.PROBABILITIES, OutputKind.ZERO_ONE)

    @property
    def bipolar(self) -> bool:
        """Each unit lies in [-1, 1]; (y + 1) / 2 reads it as a probability or a 0/1 value."""
        return self in (OutputKind.BIPOLAR, OutputKind.PLUS_MINUS_ONE)

    @property
    def yes_above(self) -> float:
        """The value above which one unit says "yes" (class 1 of two): 0.5 in [0, 1], else 0 (logits, bipolar)."""
        return 0.5 if self.in_unit_interval else 0.0


@dataclass(frozen=True)
class Blocker:
    """A setting of an op that the export format `format` cannot express. `applies(params)` says whether a node
    is affected; `because(params)` ends the sentence "op 'node' blocks FORMAT because ..."."""

    format: str  # one of engine.export.formats.FORMATS
    applies: Callable[[dict], bool]
    because: Callable[[dict], str]


@dataclass(frozen=True)
class OpRecord:
    """Everything the engine knows about one op (see the module doc)."""

    op: str
    layer: type[nn.Module] | None = None  # module ops: the class built as layer(**args(params, in_shapes))
    args: ArgsFn | None = None
    emit: FunctionEmitter | None = None  # function ops: writes the fx call_function node(s)
    relu_like: bool = False
    output: OutputKind = OutputKind.LOGITS
    blocks: tuple[Blocker, ...] = ()
    graph: bool = False  # Block (a nested GraphModule of its body) or Output (a body's result)

    def __post_init__(self):
        assert (self.layer is None) == (self.args is None), f"{self.op}: a module op needs both layer and args"
        assert self.layer is None or self.emit is None, f"{self.op}: a module op or a function op, not both"

    @property
    def is_module(self) -> bool:
        return self.layer is not None

    @property
    def is_function(self) -> bool:
        return self.emit is not None

    @property
    def is_placeholder(self) -> bool:
        return not self.is_module and not self.is_function and not self.graph


def torch_dim(dim: int) -> int:
    """A dim counted over non-batch dims (as in the spec) as a torch dim: d >= 0 -> d + 1, negative stays."""
    return dim + 1 if dim >= 0 else dim


# --- constructor arguments of the module ops -------------------------------------------------------------


def _features(in_shapes: list[Shape]) -> int:
    return in_shapes[0][-1]


def _channels(in_shapes: list[Shape]) -> int:
    return in_shapes[0][0]


def _no_args(p: dict, ins: list[Shape]) -> dict:
    return {}


def _conv(size=pair, transposed: bool = False) -> ArgsFn:
    """Conv1d (size=int), Conv2d and ConvTranspose2d (with output_padding)."""

    def args(p: dict, ins: list[Shape]) -> dict:
        extra = {"output_padding": size(p["output_padding"])} if transposed else {}
        return {
            "in_channels": _channels(ins),
            "out_channels": p["out_channels"],
            "kernel_size": size(p["kernel_size"]),
            "stride": size(p["stride"]),
            "padding": size(p["padding"]),
            **extra,
            "dilation": size(p["dilation"]),
            "groups": p["groups"],
            "bias": p["bias"],
        }

    return args


def _pool(size=pair) -> ArgsFn:
    def args(p: dict, ins: list[Shape]) -> dict:
        stride = p["stride"] if p["stride"] is not None else p["kernel_size"]
        return {"kernel_size": size(p["kernel_size"]), "stride": size(stride), "padding": size(p["padding"])}

    return args


def _recurrent(p: dict, ins: list[Shape]) -> dict:
    extra = {"nonlinearity": p["nonlinearity"]} if "nonlinearity" in p else {}  # RNN only
    return {
        "input_size": _features(ins),
        "hidden_size": p["hidden_size"],
        "num_layers": p["num_layers"],
        **extra,
        "bidirectional": p["bidirectional"],
        "return_sequences": p["return_sequences"],
    }


def _linear(p: dict, ins: list[Shape]) -> dict:
    return {"in_features": _features(ins), "out_features": p["out_features"], "bias": p["bias"]}


def _maxout(p: dict, ins: list[Shape]) -> dict:
    return {"in_features": _features(ins), "out_features": p["out_features"], "pieces": p["pieces"]}


def _attention(p: dict, ins: list[Shape]) -> dict:
    return {"embed_dim": _features(ins), "num_heads": p["num_heads"], "dropout": p["dropout"], "causal": p["causal"]}


def _encoder(p: dict, ins: list[Shape]) -> dict:
    return {
        "d_model": _features(ins),
        "nhead": p["nhead"],
        "dim_feedforward": p["dim_feedforward"],
        "dropout": p["dropout"],
        "causal": p["causal"],
    }


def _rbm(p: dict, ins: list[Shape]) -> dict:
    return {"n_visible": _features(ins), "n_hidden": p["n_hidden"], "k": p["k"], "visible": p["visible"]}


# --- function ops --------------------------------------------------------------------------------------------


def _fold(target: Callable) -> FunctionEmitter:
    """Element-wise merge of 2+ inputs as a chain of binary calls; the last call carries the node id."""

    def emit(graph: fx.Graph, node_id: str, args: list[fx.Node], p: dict) -> fx.Node:
        acc = args[0]
        for k, arg in enumerate(args[1:-1], start=1):
            acc = graph.create_node("call_function", target, (acc, arg), name=f"{node_id}_partial{k}")
        return graph.create_node("call_function", target, (acc, args[-1]), name=node_id)

    return emit


def _concat(graph: fx.Graph, node_id: str, args: list[fx.Node], p: dict) -> fx.Node:
    return graph.create_node("call_function", torch.cat, (list(args),), {"dim": torch_dim(p["dim"])}, name=node_id)


def _flatten(graph: fx.Graph, node_id: str, args: list[fx.Node], p: dict) -> fx.Node:
    return graph.create_node("call_function", torch.flatten, (args[0], 1), name=node_id)  # (B, prod(shape))


def _reshape(graph: fx.Graph, node_id: str, args: list[fx.Node], p: dict) -> fx.Node:
    shape = (-1, *p["shape"])  # the batch dim is kept
    return graph.create_node("call_function", torch.reshape, (args[0], shape), name=node_id)


# --- blockers ------------------------------------------------------------------------------------------------


def _output_padding_reaches_stride(p: dict) -> bool:
    return any(o >= s for o, s in zip(pair(p["output_padding"]), pair(p["stride"])))


def _output_padding_reason(p: dict) -> str:
    return (
        "ONNX Runtime's ConvTranspose needs output_padding smaller than stride on every axis "
        f"(here output_padding {pair(p['output_padding'])}, stride {pair(p['stride'])}; PyTorch also accepts "
        "output_padding smaller than dilation); lower output_padding or raise stride"
    )


# --- the records ---------------------------------------------------------------------------------------------


def _module(op: str, layer: type[nn.Module], args: ArgsFn = _no_args, **traits) -> OpRecord:
    return OpRecord(op, layer=layer, args=args, **traits)


def _function(op: str, emit: FunctionEmitter) -> OpRecord:
    return OpRecord(op, emit=emit)


_RECORDS = (
    OpRecord("Input"),  # the placeholder
    OpRecord("Output", graph=True),  # a block body's result
    OpRecord("Block", graph=True),  # model.py writes a class per body (engine/export/python_blocks.py)
    OpRecord("Recurrent", graph=True),  # a layers.Recurrent holding its cell's body, compiled (fx_module.py)
    # dense
    _module("Linear", nn.Linear, _linear),
    _function("Flatten", _flatten),
    _function("Reshape", _reshape),
    _module("Dropout", nn.Dropout, lambda p, ins: {"p": p["p"]}),
    _module("Identity", nn.Identity),
    # normalisation
    _module("BatchNorm1d", nn.BatchNorm1d, lambda p, ins: {"num_features": _channels(ins)}),
    _module("BatchNorm2d", nn.BatchNorm2d, lambda p, ins: {"num_features": _channels(ins)}),
    _module("LayerNorm", nn.LayerNorm, lambda p, ins: {"normalized_shape": _features(ins)}),
    # activation
    _module("ReLU", nn.ReLU, relu_like=True),
    _module("LeakyReLU", nn.LeakyReLU, lambda p, ins: {"negative_slope": p["negative_slope"]}, relu_like=True),
    _module("ELU", nn.ELU, lambda p, ins: {"alpha": p["alpha"]}, relu_like=True),
    _module("Sigmoid", nn.Sigmoid, output=OutputKind.PROBABILITIES),
    _module("Tanh", nn.Tanh),
    _module("GELU", nn.GELU, relu_like=True),
    _module("Softmax", nn.Softmax, lambda p, ins: {"dim": torch_dim(p["dim"])}, output=OutputKind.DISTRIBUTION),
    _module("Step", layers.Step, relu_like=True, output=OutputKind.ZERO_ONE),
    _module("BipolarStep", layers.BipolarStep, relu_like=True, output=OutputKind.PLUS_MINUS_ONE),  # dead: always -1
    _module(
        "PiecewiseLinear",
        layers.PiecewiseLinear,
        lambda p, ins: {"width": p["width"]},
        relu_like=True,  # a unit never above 0 is 0 with gradient 0
        output=OutputKind.PROBABILITIES,
    ),
    _module("BipolarSigmoid", layers.BipolarSigmoid, output=OutputKind.BIPOLAR),
    _module("OneMinus", layers.OneMinus),
    _module("Maxout", layers.Maxout, _maxout),
    # convolution
    _module("Conv1d", nn.Conv1d, _conv(int)),
    _module("Conv2d", nn.Conv2d, _conv()),
    _module(
        "ConvTranspose2d",
        nn.ConvTranspose2d,
        _conv(transposed=True),
        blocks=(Blocker("onnx", _output_padding_reaches_stride, _output_padding_reason),),
    ),
    _module("MaxPool1d", nn.MaxPool1d, _pool(int)),
    _module("MaxPool2d", nn.MaxPool2d, _pool()),
    _module("AvgPool2d", nn.AvgPool2d, _pool()),
    _module("AdaptiveAvgPool2d", nn.AdaptiveAvgPool2d, lambda p, ins: {"output_size": pair(p["output_size"])}),
    # recurrent
    _module("RNN", layers.RNNLayer, _recurrent),
    _module("LSTM", layers.LSTMLayer, _recurrent),
    _module("GRU", layers.GRULayer, _recurrent),
    _module(
        "Embedding",
        nn.Embedding,
        lambda p, ins: {"num_embeddings": p["num_embeddings"], "embedding_dim": p["embedding_dim"]},
    ),
    # merge
    _function("Add", _fold(torch.add)),
    _function("Multiply", _fold(torch.mul)),
    _function("Concat", _concat),
    # attention
    _module(
        "PositionalEmbedding", layers.PositionalEmbedding, lambda p, ins: {"steps": ins[0][0], "features": ins[0][1]}
    ),
    _module("MultiheadAttention", layers.SelfAttention, _attention),
    _module("TransformerEncoderLayer", layers.EncoderLayer, _encoder),
    # unsupervised
    _module("RBM", layers.RBM, _rbm),
    _module("SOM", layers.SOM, lambda p, ins: {"n_features": _features(ins), "rows": p["rows"], "cols": p["cols"]}),
)
OP_RECORDS: dict[str, OpRecord] = {record.op: record for record in _RECORDS}
assert len(OP_RECORDS) == len(_RECORDS), "an op has two records"

PLACEHOLDER_OPS = frozenset(op for op, r in OP_RECORDS.items() if r.is_placeholder)
MODULE_OPS = frozenset(op for op, r in OP_RECORDS.items() if r.is_module)
FUNCTION_OPS = frozenset(op for op, r in OP_RECORDS.items() if r.is_function)
GRAPH_OPS = frozenset(op for op, r in OP_RECORDS.items() if r.graph)


# --- accessors -----------------------------------------------------------------------------------------------


def op_record(op_name: str) -> OpRecord:
    record = OP_RECORDS.get(op_name)
    assert record is not None, f"op {op_name!r} has no engine record in engine/compile/op_records.py"
    return record


def output_kind(op_name: str | None) -> OutputKind:
    """What the output of an op is; logits for None (a network not compiled from a spec)."""
    return OutputKind.LOGITS if op_name is None else op_record(op_name).output


def is_relu_like(op_name: str | None) -> bool:
    return op_name is not None and op_record(op_name).relu_like


def module_args(op_name: str, params: dict, in_shapes: list[Shape]) -> dict | None:
    """The constructor kwargs of a module op's layer; None for function ops and Input."""
    record = op_record(op_name)
    return record.args(params, in_shapes) if record.is_module else None


def build_module(op_name: str, params: dict, in_shapes: list[Shape]) -> nn.Module | None:
    """The module for one node, or None for ops that compile to function calls (and for Input)."""
    kwargs = module_args(op_name, params, in_shapes)
    return None if kwargs is None else op_record(op_name).layer(**kwargs)


def emit_function(graph: fx.Graph, node_id: str, op_name: str, args: list[fx.Node], params: dict) -> fx.Node:
    """Append the call_function node(s) of a function op to `graph`; the returned node is named node_id."""
    record = op_record(op_name)
    assert record.emit is not None, f"{op_name} is not a function op"
    return record.emit(graph, node_id, args, params)
