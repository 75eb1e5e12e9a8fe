"""Catalog entries: io, dense, normalisation, activation and merge ops."""

from __future__ import annotations

from builder.ops.opdef import OpDef, Param, ShapeError, fmt, numel
from builder.spec.issues import Fix

FEATURES = "expects [features] or [steps, features]"


def _input_shape(p, ins, srcs):
    return tuple(p["shape"])


def _same(p, ins, srcs):
    return ins[0]


def _flatten_fix(op: str, srcs, me: str | None = None):
    return (Fix("insert", f"insert Flatten between {srcs[0]} and this {op}", "Flatten", me or "", srcs[0]),)


def _vector_or_seq(op: str, ins, srcs) -> None:
    if len(ins[0]) not in (1, 2):
        raise ShapeError(f"{op} {FEATURES}; got {fmt(ins[0])} from {srcs[0]}", _flatten_fix(op, srcs))


def _linear(p, ins, srcs):
    _vector_or_seq("Linear", ins, srcs)
    return ins[0][:-1] + (p["out_features"],)


def _linear_count(p, ins):
    return ins[0][-1] * p["out_features"] + (p["out_features"] if p["bias"] else 0)


def _flatten(p, ins, srcs):
    return (numel(ins[0]),)


def _reshape(p, ins, srcs):
    target = tuple(p["shape"])
    if numel(target) != numel(ins[0]):
        raise ShapeError(
            f"Reshape to {fmt(target)} ({numel(target)} values) cannot take {fmt(ins[0])} "
            f"({numel(ins[0])} values) from {srcs[0]}"
        )
    return target


def _batchnorm1d(p, ins, srcs):
    if len(ins[0]) not in (1, 2):
        raise ShapeError(f"BatchNorm1d expects [features] or [channels, length]; got {fmt(ins[0])} from {srcs[0]}")
    return ins[0]


def _batchnorm2d(p, ins, srcs):
    if len(ins[0]) != 3:
        raise ShapeError(f"BatchNorm2d expects [channels, height, width]; got {fmt(ins[0])} from {srcs[0]}")
    return ins[0]


def _softmax(p, ins, srcs):
    rank = len(ins[0])
    if not -rank <= p["dim"] < rank:
        raise ShapeError(f"Softmax dim {p['dim']} is out of range for {fmt(ins[0])} from {srcs[0]}")
    return ins[0]


def _maxout(p, ins, srcs):
    _vector_or_seq("Maxout", ins, srcs)
    return ins[0][:-1] + (p["out_features"],)


def _maxout_count(p, ins):
    units = p["out_features"] * p["pieces"]
    return ins[0][-1] * units + units


def _adapter_fixes(op: str, ins, srcs) -> tuple[Fix, ...]:
    ref, fixes = ins[0], []
    for shape, src in zip(ins[1:], srcs[1:]):
        if shape == ref:
            continue
        if len(shape) == len(ref) == 1:
            fixes.append(
                Fix(
                    "insert",
                    f"insert a Linear({ref[0]}) adapter after {src}",
                    "Linear",
                    "",
                    src,
                    {"out_features": ref[0]},
                )
            )
        elif len(shape) == len(ref) == 3 and shape[1:] == ref[1:]:
            fixes.append(
                Fix(
                    "insert",
                    f"insert a 1x1 Conv2d({ref[0]}) adapter after {src}",
                    "Conv2d",
                    "",
                    src,
                    {"out_channels": ref[0], "kernel_size": 1},
                )
            )
    if all(len(s) == len(ref) and s[1:] == ref[1:] for s in ins):
        fixes.append(Fix("replace_op", f"use Concat instead of {op}", "Concat", ""))
    return tuple(fixes)


def _elementwise(op: str):
    def rule(p, ins, srcs):
        for shape, src in zip(ins[1:], srcs[1:]):
            if shape != ins[0]:
                raise ShapeError(
                    f"{op} needs equal shapes; got {fmt(ins[0])} from {srcs[0]} and {fmt(shape)} from {src}",
                    _adapter_fixes(op, ins, srcs),
                )
        return ins[0]

    return rule


def _concat(p, ins, srcs):
    rank, dim = len(ins[0]), p["dim"]
    if not -rank <= dim < rank:
        raise ShapeError(f"Concat dim {dim} is out of range for {fmt(ins[0])} from {srcs[0]}")
    d = dim % rank
    for shape, src in zip(ins[1:], srcs[1:]):
        if len(shape) != rank or shape[:d] + shape[d + 1 :] != ins[0][:d] + ins[0][d + 1 :]:
            raise ShapeError(
                f"Concat on dim {dim} needs the other dims equal; got {fmt(ins[0])} from {srcs[0]} "
                f"and {fmt(shape)} from {src}"
            )
    return ins[0][:d] + (sum(s[d] for s in ins),) + ins[0][d + 1 :]


def _inferred_by_blocks(p, ins, srcs):
    raise AssertionError("a Block node's shape is inferred from its body by builder/spec/blocks.py, not by a rule")


def _act(name: str, doc: str, *params: Param, key=()) -> OpDef:
    return OpDef(name, "activation", doc, _same, params=params, dtype_in="float32", key_params=key)


OPS = [
    OpDef(
        "Input",
        "io",
        "The network's input; shape excludes the batch dimension.",
        _input_shape,
        params=(
            Param("shape", "shape", help="e.g. [64], [1, 8, 8] or [20, 1]"),
            Param(
                "dtype",
                "choice",
                "float32",
                choices=("float32", "int64"),
                help="int64 for token ids feeding an Embedding",
            ),
        ),
        min_inputs=0,
        max_inputs=0,
        key_params=("shape",),
    ),
    OpDef(
        "Output",
        "block",  # not a palette group yet: the canvas adds block editing (issue 10, item 2)
        "Inside a block only: one of the block's results (results are ordered by `port`).",
        _same,
        params=(Param("port", "int", 0, min=0, help="0 for the first result"),),
        dtype_in="any",
        key_params=("port",),
    ),
    OpDef(
        "Block",
        "block",
        "Uses a block definition from the spec's `blocks`: params are `block` (its name) and the block's own.",
        _inferred_by_blocks,
        min_inputs=1,
        max_inputs=None,
        dtype_in="any",
        key_params=("block",),
    ),
    OpDef(
        "Linear",
        "dense",
        "Fully connected layer on the last dimension.",
        _linear,
        params=(Param("out_features", "int", min=1), Param("bias", "bool", True)),
        count=_linear_count,
        key_params=("out_features",),
    ),
    OpDef("Flatten", "dense", "Flattens everything but the batch dimension.", _flatten, dtype_in="any"),
    OpDef(
        "Reshape",
        "dense",
        "Reshapes to `shape` (same number of values).",
        _reshape,
        params=(Param("shape", "shape"),),
        dtype_in="any",
        key_params=("shape",),
    ),
    OpDef(
        "Dropout",
        "dense",
        "Zeroes a fraction p of values while training.",
        _same,
        params=(Param("p", "float", 0.5, min=0.0, max=1.0, exclusive_max=True),),
        key_params=("p",),
    ),
    OpDef("Identity", "dense", "Passes its input through.", _same, dtype_in="any"),
    OpDef(
        "BatchNorm1d",
        "normalisation",
        "Batch normalisation over [features] or [channels, length].",
        _batchnorm1d,
        count=lambda p, ins: 2 * ins[0][0],
    ),
    OpDef(
        "BatchNorm2d",
        "normalisation",
        "Batch normalisation over image channels.",
        _batchnorm2d,
        count=lambda p, ins: 2 * ins[0][0],
    ),
    OpDef(
        "LayerNorm",
        "normalisation",
        "Layer normalisation over the last dimension.",
        _same,
        count=lambda p, ins: 2 * ins[0][-1],
    ),
    _act("ReLU", "max(0, x)"),
    _act(
        "LeakyReLU",
        "x if x > 0 else slope * x",
        Param("negative_slope", "float", 0.01, min=0.0),
        key=("negative_slope",),
    ),
    _act("ELU", "x if x > 0 else alpha * (exp(x) - 1)", Param("alpha", "float", 1.0, min=0.0), key=("alpha",)),
    _act("Sigmoid", "1 / (1 + exp(-x))"),
    _act("Tanh", "tanh(x)"),
    _act("GELU", "x * Phi(x)"),
    OpDef(
        "Softmax",
        "activation",
        "Normalises to probabilities along `dim` (non-batch dims).",
        _softmax,
        params=(Param("dim", "int", -1),),
        key_params=("dim",),
    ),
    _act(
        "Step",
        "Heaviside step (1 if x >= 0 else 0, firing at 0 as Rosenblatt's unit); gradient passes straight through.",
    ),
    _act("BipolarStep", "Bipolar step (+1 if x > 0 else -1, so -1 at 0); gradient passes straight through."),
    _act(
        "PiecewiseLinear",
        "Saturating linear unit clamp(x / width + 1/2, 0, 1): 0 below -width/2, 1 above width/2; "
        "gradient 1/width between, 0 outside.",
        Param("width", "float", 1.0, min=0.01, help="width of the linear part, centred on 0"),
        key=("width",),
    ),
    _act("BipolarSigmoid", "2 * sigmoid(x) - 1 = tanh(x / 2), in (-1, 1); gradient (1 - y^2) / 2."),
    _act("OneMinus", "1 - x: what a gate in [0, 1] leaves to the other side (a GRU keeps 1 - z of its candidate)."),
    OpDef(
        "Maxout",
        "activation",
        "Max over `pieces` linear pieces per output unit.",
        _maxout,
        params=(Param("out_features", "int", min=1), Param("pieces", "int", 2, min=1)),
        count=_maxout_count,
        key_params=("out_features", "pieces"),
    ),
    OpDef(
        "Add",
        "merge",
        "Element-wise sum of 2+ inputs of equal shape.",
        _elementwise("Add"),
        min_inputs=2,
        max_inputs=None,
    ),
    OpDef(
        "Multiply",
        "merge",
        "Element-wise product of 2+ inputs of equal shape.",
        _elementwise("Multiply"),
        min_inputs=2,
        max_inputs=None,
    ),
    OpDef(
        "Concat",
        "merge",
        "Joins 2+ inputs along `dim` (counting non-batch dims).",
        _concat,
        params=(Param("dim", "int", 0),),
        min_inputs=2,
        max_inputs=None,
        key_params=("dim",),
    ),
]
