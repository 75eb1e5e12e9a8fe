"""torch.nn.LSTM / torch.nn.GRU weights and a gate-level Recurrent (the library's lstm_cell and gru_cell).

torch packs a layer's gates in rows: weight_ih_l0 is [gates * H, F] with the rows of i, f, g, o (LSTM) or r, z, n
(GRU), weight_hh_l0 [gates * H, H], bias_ih_l0 and bias_hh_l0 [gates * H], and the backward direction's the same
with `_reverse`. A gate-level cell holds each gate's rows in two Linears of its own: `{gate}_x` (weight_ih and
bias_ih) and `{gate}_h` (weight_hh and bias_hh), gates named as in builder.library.block_library.TORCH_GATES. So:

    copy_torch_weights(gm.rnn, lstm)          # the Recurrent now computes what lstm does
    packed = packed_like(gm.rnn, lstm)        # {"weight_ih_l0": [4H, F], ...}: its weights in torch's packing
    grads = packed_like(gm.rnn, lstm, grad=True)  # the same for the gradients, to compare with lstm's

which is also how a user checks a gate-level cell against torch's fused one.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from builder.library.block_library import TORCH_GATES
from engine.compile.layers import Recurrent
from engine.errors import NetCanvasError

TORCH_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


class CellWeightsError(NetCanvasError):
    """A torch recurrent layer whose weights do not fit a gate-level Recurrent."""


def _gates(rnn: nn.Module) -> tuple[str, ...]:
    if isinstance(rnn, nn.LSTM):
        return TORCH_GATES["lstm_cell"]
    if isinstance(rnn, nn.GRU):
        return TORCH_GATES["gru_cell"]
    raise CellWeightsError(f"expected a torch.nn.LSTM or torch.nn.GRU; got {type(rnn).__name__}")


def _cells(recurrent: Recurrent) -> dict[str, nn.Module]:
    """torch's name suffix -> the cell of that direction."""
    backward = {"_reverse": recurrent.cell_reverse} if recurrent.cell_reverse is not None else {}
    return {"": recurrent.cell, **backward}


def _parts(cell: nn.Module, gates: tuple[str, ...], name: str) -> list[nn.Parameter]:
    """The gate Linears' tensors that torch's `name` (weight_ih_l0, ...) packs, in torch's row order."""
    side = "x" if "_ih_" in name else "h"
    kind = "weight" if name.startswith("weight") else "bias"
    parts = []
    for gate in gates:
        linear = getattr(cell, f"{gate}_{side}", None)
        if not isinstance(linear, nn.Linear) or linear.bias is None:
            raise CellWeightsError(f"the cell has no Linear '{gate}_{side}' with a bias (torch's {name} rows)")
        parts.append(getattr(linear, kind))
    return parts


def _check_fits(recurrent: Recurrent, rnn: nn.RNNBase) -> None:
    ours = (recurrent.hidden, recurrent.cell_reverse is not None)
    if rnn.num_layers != 1 or not rnn.bias or rnn.proj_size or (rnn.hidden_size, rnn.bidirectional) != ours:
        raise CellWeightsError(
            f"expected a one-layer {type(rnn).__name__} with biases, hidden_size {ours[0]} and bidirectional "
            f"{ours[1]}; got num_layers {rnn.num_layers}, bias {rnn.bias}, hidden_size {rnn.hidden_size}, "
            f"bidirectional {rnn.bidirectional}, proj_size {rnn.proj_size}"
        )


def copy_torch_weights(recurrent: Recurrent, rnn: nn.RNNBase) -> None:
    """Set the gate Linears of every direction of `recurrent` to the rows of `rnn`'s packed weights."""
    gates = _gates(rnn)
    _check_fits(recurrent, rnn)
    with torch.no_grad():
        for suffix, cell in _cells(recurrent).items():
            for name in TORCH_NAMES:
                source = getattr(rnn, name + suffix)  # [gates * H, ...]
                for part, rows in zip(_parts(cell, gates, name), source.chunk(len(gates))):
                    if part.shape != rows.shape:
                        message = f"{name + suffix} rows are {list(rows.shape)}; the cell's are {list(part.shape)}"
                        raise CellWeightsError(message)
                    part.copy_(rows)


def packed_like(recurrent: Recurrent, rnn: nn.RNNBase, grad: bool = False) -> dict[str, Tensor]:
    """`recurrent`'s weights (or, with `grad`, their gradients) packed as `rnn`'s parameters are: name -> tensor."""
    gates = _gates(rnn)
    packed = {}
    for suffix, cell in _cells(recurrent).items():
        for name in TORCH_NAMES:
            parts = _parts(cell, gates, name)
            if grad and any(p.grad is None for p in parts):
                raise CellWeightsError(f"the cell's {name + suffix} rows have no gradient yet (run backward first)")
            packed[name + suffix] = torch.cat([p.grad if grad else p.detach() for p in parts])
    return packed
