"""The torch side of the op catalog: one entry per op, either a module factory or a function emitter.

A module factory takes the node's resolved params (defaults filled by builder.validate) and its input
shapes (no batch dimension) and returns an nn.Module; sizes that follow from the input (in_features,
in_channels, num_features, input_size, embed_dim) come from the shapes. A function emitter writes fx
call_function nodes for ops with no weights and several inputs or a pure re-view of the data (Add,
Multiply, Concat, Flatten, Reshape). `Input` is the graph's placeholder and has neither.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import fx, nn

from builder.opdef import pair
from engine.compile import layers

Shape = tuple[int, ...]
ModuleFactory = Callable[[dict, list[Shape]], nn.Module]
FunctionEmitter = Callable[[fx.Graph, str, list[fx.Node], dict], fx.Node]

PLACEHOLDER_OPS = frozenset({"Input"})


def torch_dim(dim: int) -> int:
    """A dim counted over non-batch dims (as in the spec) as a torch dim: d >= 0 -> d + 1, negative stays."""
    return dim + 1 if dim >= 0 else dim


def _features(in_shapes: list[Shape]) -> int:
    return in_shapes[0][-1]


def _channels(in_shapes: list[Shape]) -> int:
    return in_shapes[0][0]


def _conv_kwargs(p: dict, size=pair) -> dict:
    return {
        "kernel_size": size(p["kernel_size"]),
        "stride": size(p["stride"]),
        "padding": size(p["padding"]),
        "dilation": size(p["dilation"]),
        "groups": p["groups"],
        "bias": p["bias"],
    }


def _pool_kwargs(p: dict, size=pair) -> dict:
    stride = p["stride"] if p["stride"] is not None else p["kernel_size"]
    return {"kernel_size": size(p["kernel_size"]), "stride": size(stride), "padding": size(p["padding"])}


def _recurrent(cls: type[nn.Module]) -> ModuleFactory:
    def build(p: dict, ins: list[Shape]) -> nn.Module:
        extra = {"nonlinearity": p["nonlinearity"]} if "nonlinearity" in p else {}  # RNN only
        return cls(
            _features(ins),
            p["hidden_size"],
            num_layers=p["num_layers"],
            bidirectional=p["bidirectional"],
            return_sequences=p["return_sequences"],
            **extra,
        )

    return build


def _no_params(cls: type[nn.Module]) -> ModuleFactory:
    return lambda p, ins: cls()


MODULE_FACTORIES: dict[str, ModuleFactory] = {
    # dense
    "Linear": lambda p, ins: nn.Linear(_features(ins), p["out_features"], bias=p["bias"]),
    "Dropout": lambda p, ins: nn.Dropout(p["p"]),
    "Identity": _no_params(nn.Identity),
    # normalisation
    "BatchNorm1d": lambda p, ins: nn.BatchNorm1d(_channels(ins)),
    "BatchNorm2d": lambda p, ins: nn.BatchNorm2d(_channels(ins)),
    "LayerNorm": lambda p, ins: nn.LayerNorm(_features(ins)),
    # activation
    "ReLU": _no_params(nn.ReLU),
    "LeakyReLU": lambda p, ins: nn.LeakyReLU(p["negative_slope"]),
    "ELU": lambda p, ins: nn.ELU(p["alpha"]),
    "Sigmoid": _no_params(nn.Sigmoid),
    "Tanh": _no_params(nn.Tanh),
    "GELU": _no_params(nn.GELU),
    "Softmax": lambda p, ins: nn.Softmax(dim=torch_dim(p["dim"])),
    "Step": _no_params(layers.Step),
    "Maxout": lambda p, ins: layers.Maxout(_features(ins), p["out_features"], p["pieces"]),
    # convolution
    "Conv1d": lambda p, ins: nn.Conv1d(_channels(ins), p["out_channels"], **_conv_kwargs(p, int)),
    "Conv2d": lambda p, ins: nn.Conv2d(_channels(ins), p["out_channels"], **_conv_kwargs(p)),
    "ConvTranspose2d": lambda p, ins: nn.ConvTranspose2d(
        _channels(ins), p["out_channels"], output_padding=pair(p["output_padding"]), **_conv_kwargs(p)
    ),
    "MaxPool1d": lambda p, ins: nn.MaxPool1d(**_pool_kwargs(p, int)),
    "MaxPool2d": lambda p, ins: nn.MaxPool2d(**_pool_kwargs(p)),
    "AvgPool2d": lambda p, ins: nn.AvgPool2d(**_pool_kwargs(p)),
    "AdaptiveAvgPool2d": lambda p, ins: nn.AdaptiveAvgPool2d(pair(p["output_size"])),
    # recurrent
    "RNN": _recurrent(layers.RNNLayer),
    "LSTM": _recurrent(layers.LSTMLayer),
    "GRU": _recurrent(layers.GRULayer),
    "Embedding": lambda p, ins: nn.Embedding(p["num_embeddings"], p["embedding_dim"]),
    # attention
    "PositionalEmbedding": lambda p, ins: layers.PositionalEmbedding(*ins[0]),
    "MultiheadAttention": lambda p, ins: layers.SelfAttention(
        _features(ins), p["num_heads"], p["dropout"], p["causal"]
    ),
    "TransformerEncoderLayer": lambda p, ins: layers.EncoderLayer(
        _features(ins), p["nhead"], p["dim_feedforward"], p["dropout"], p["causal"]
    ),
    # unsupervised
    "RBM": lambda p, ins: layers.RBM(_features(ins), p["n_hidden"], p["k"], p["visible"]),
    "SOM": lambda p, ins: layers.SOM(_features(ins), p["rows"], p["cols"]),
}


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


FUNCTION_EMITTERS: dict[str, FunctionEmitter] = {
    "Add": _fold(torch.add),
    "Multiply": _fold(torch.mul),
    "Concat": _concat,
    "Flatten": _flatten,
    "Reshape": _reshape,
}


def build_module(op_name: str, params: dict, in_shapes: list[Shape]) -> nn.Module | None:
    """The module for one node, or None for ops that compile to function calls (and for Input)."""
    if op_name in FUNCTION_EMITTERS or op_name in PLACEHOLDER_OPS:
        return None
    return MODULE_FACTORIES[op_name](params, in_shapes)


def emit_function(graph: fx.Graph, node_id: str, op_name: str, args: list[fx.Node], params: dict) -> fx.Node:
    """Append the call_function node(s) of a function op to `graph`; the returned node is named node_id."""
    return FUNCTION_EMITTERS[op_name](graph, node_id, args, params)
