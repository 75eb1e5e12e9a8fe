"""The built-in blocks the canvas's palette offers (its "blocks" group): each adds one node that uses a block of
the library (builder/library/block_library.py), whose definition comes into the spec with it. A cell comes as a
`Recurrent` node running it over the sequence (a cell has several inputs and outputs, so it is not a Block node).
The starting values make each valid on a fitting input; the inspector changes them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaletteBlock:
    op: str  # the node's op: Block or Recurrent
    params: dict  # the node's starting params (naming the library block)
    block: str  # the library block whose definition comes with it
    id_base: str  # the new node's id is made from this (resblock, lstm, ...)
    doc: str


PALETTE_BLOCKS = {
    "ResNet basic block": PaletteBlock(
        "Block",
        {"block": "basic", "channels": 16},
        "basic",
        "ResBlock",
        "Two 3x3 convolutions with batch norm and the identity shortcut; input channels = `channels`.",
    ),
    "Bottleneck block": PaletteBlock(
        "Block",
        {"block": "bottleneck", "width": 16, "channels": 64},
        "bottleneck",
        "Bottleneck",
        "1x1 down to `width`, 3x3, 1x1 up to `channels`, plus the identity shortcut; input channels = `channels`.",
    ),
    "LSTM cell": PaletteBlock(
        "Recurrent",
        {"cell": "lstm_cell", "hidden": 16},
        "lstm_cell",
        "Lstm",
        "An LSTM built from its gates (input, forget, output, the cell state as an edge), run over the sequence.",
    ),
    "GRU cell": PaletteBlock(
        "Recurrent",
        {"cell": "gru_cell", "hidden": 16},
        "gru_cell",
        "Gru",
        "A GRU built from its update and reset gates, run over the sequence.",
    ),
    "Transformer encoder block": PaletteBlock(
        "Block",
        {"block": "encoder", "d_model": 16, "heads": 2, "dim_feedforward": 32},
        "encoder",
        "Encoder",
        "Self-attention, add and norm, a feed-forward pair, add and norm; `d_model` = the input's features.",
    ),
}
