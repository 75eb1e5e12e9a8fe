"""Catalog entries: recurrent, attention and unsupervised ops. Sequences are [steps, features]."""

from __future__ import annotations

from builder.ops.opdef import OpDef, Param, ShapeError, fmt

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
CAUSAL = Param("causal", "bool", False, help="each step attends only to itself and earlier steps")


def _seq(op: str, shape, src: str) -> None:
    if len(shape) != 2:
        hint = " (add a Reshape to [steps, features])" if len(shape) == 1 else ""
        raise ShapeError(f"{op} expects a sequence [steps, features]; got {fmt(shape)} from {src}{hint}")


def _recurrent(op: str):
    def rule(p, ins, srcs):
        _seq(op, ins[0], srcs[0])
        width = p["hidden_size"] * (2 if p["bidirectional"] else 1)
        return (ins[0][0], width) if p["return_sequences"] else (width,)

    return rule


def _recurrent_count(op: str):
    def count(p, ins):
        h, dirs, total = p["hidden_size"], 2 if p["bidirectional"] else 1, 0
        for layer in range(p["num_layers"]):
            width_in = ins[0][-1] if layer == 0 else h * dirs
            total += dirs * GATES[op] * (h * width_in + h * h + 2 * h)
        return total

    return count


def _recurrent_params(op: str) -> tuple[Param, ...]:
    common = (
        Param("hidden_size", "int", min=1),
        Param("num_layers", "int", 1, min=1, max=8),
        Param("bidirectional", "bool", False),
        Param("return_sequences", "bool", True, help="false: only the last step's output"),
    )
    if op == "RNN":
        return common[:2] + (Param("nonlinearity", "choice", "tanh", choices=("tanh", "relu")),) + common[2:]
    return common


def _embedding(p, ins, srcs):
    return ins[0] + (p["embedding_dim"],)


def _attention(op: str, heads: str):
    def rule(p, ins, srcs):
        _seq(op, ins[0], srcs[0])
        width = ins[0][-1]
        if width % p[heads]:
            raise ShapeError(
                f"{op} needs the feature size ({width}, from {srcs[0]}) divisible by {heads}={p[heads]}",
                code="bad_param",
            )
        return ins[0]

    return rule


def _positional(p, ins, srcs):
    _seq("PositionalEmbedding", ins[0], srcs[0])
    return ins[0]


def _mha_count(p, ins):
    e = ins[0][-1]
    return 4 * e * e + 4 * e


def _encoder_count(p, ins):
    e, ff = ins[0][-1], p["dim_feedforward"]
    return _mha_count(p, ins) + (e * ff + ff) + (ff * e + e) + 4 * e


def _flat_features(op: str, shape, src: str) -> None:
    if len(shape) != 1:
        raise ShapeError(f"{op} expects [features]; got {fmt(shape)} from {src} (add a Flatten before it)")


def _rbm(p, ins, srcs):
    _flat_features("RBM", ins[0], srcs[0])
    return (p["n_hidden"],)


def _som(p, ins, srcs):
    _flat_features("SOM", ins[0], srcs[0])
    return (p["rows"] * p["cols"],)


OPS = [
    OpDef(
        op,
        "recurrent",
        f"{op} over a sequence [steps, features].",
        _recurrent(op),
        params=_recurrent_params(op),
        count=_recurrent_count(op),
        key_params=("hidden_size", "return_sequences"),
    )
    for op in ("RNN", "LSTM", "GRU")
] + [
    OpDef(
        "Embedding",
        "recurrent",
        "Looks up a vector for each int64 token id.",
        _embedding,
        params=(Param("num_embeddings", "int", min=1), Param("embedding_dim", "int", min=1)),
        count=lambda p, ins: p["num_embeddings"] * p["embedding_dim"],
        dtype_in="int64",
        key_params=("num_embeddings", "embedding_dim"),
    ),
    OpDef(
        "PositionalEmbedding",
        "attention",
        "Adds a learned vector per position to [steps, features].",
        _positional,
        count=lambda p, ins: ins[0][0] * ins[0][1],
    ),
    OpDef(
        "MultiheadAttention",
        "attention",
        "Self-attention over [steps, embed].",
        _attention("MultiheadAttention", "num_heads"),
        params=(
            Param("num_heads", "int", min=1),
            Param("dropout", "float", 0.0, min=0.0, max=1.0, exclusive_max=True),
            CAUSAL,
        ),
        count=_mha_count,
        key_params=("num_heads", "causal"),
    ),
    OpDef(
        "TransformerEncoderLayer",
        "attention",
        "Self-attention + feed-forward block (post-norm).",
        _attention("TransformerEncoderLayer", "nhead"),
        params=(
            Param("nhead", "int", min=1),
            Param("dim_feedforward", "int", 2048, min=1),
            Param("dropout", "float", 0.1, min=0.0, max=1.0, exclusive_max=True),
            CAUSAL,
        ),
        count=_encoder_count,
        key_params=("nhead", "dim_feedforward", "causal"),
    ),
    OpDef(
        "RBM",
        "unsupervised",
        "Restricted Boltzmann machine; forward gives hidden probabilities.",
        _rbm,
        params=(
            Param("n_hidden", "int", min=1),
            Param("k", "int", 1, min=1, help="Gibbs steps for CD-k"),
            Param("visible", "choice", "bernoulli", choices=("bernoulli", "gaussian")),
        ),
        count=lambda p, ins: ins[0][0] * p["n_hidden"] + p["n_hidden"] + ins[0][0],
        key_params=("n_hidden",),
    ),
    OpDef(
        "SOM",
        "unsupervised",
        "Self-organising map; forward gives each unit's negative squared distance.",
        _som,
        params=(Param("rows", "int", min=1), Param("cols", "int", min=1)),
        count=lambda p, ins: p["rows"] * p["cols"] * ins[0][0],
        key_params=("rows", "cols"),
    ),
]
