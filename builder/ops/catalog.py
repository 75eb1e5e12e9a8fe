"""The op catalog (docs/ARCHITECTURE.md §3, §4): every op's schema, arity, shape rule and parameter count."""

from __future__ import annotations

from builder.ops import ops_basic, ops_conv, ops_recurrent, ops_seq
from builder.ops.opdef import OpDef

GROUPS = (
    "io",
    "dense",
    "normalisation",
    "convolution",
    "activation",
    "recurrent",
    "merge",
    "attention",
    "unsupervised",
)
CATALOG: dict[str, OpDef] = {op.name: op for op in ops_basic.OPS + ops_conv.OPS + ops_seq.OPS + ops_recurrent.OPS}


def ops_by_group() -> dict[str, list[OpDef]]:
    return {g: [op for op in CATALOG.values() if op.group == g] for g in GROUPS}
