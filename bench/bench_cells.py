"""How much slower the gate-level cells are than torch's fused layers: forward + backward of one batch on the CPU.

    python -m bench.bench_cells                          # the lstm_cells_sine size: T 20, F 1, H 32, batch 32
    python -m bench.bench_cells --steps 50 --features 16 --hidden 128 --batch 64

For the LSTM and the GRU: a network `x -> Recurrent(lstm_cell | gru_cell)` compiled from a spec (a Python loop
over the steps calling the cell's GraphModule, whose gates are separate Linears and element-wise ops), against
torch.nn.LSTM / torch.nn.GRU (batch first) holding the same weights, in the same process on the same batch; each
the median wall time of `repeats` steps of forward, sum of the output, backward, after warm-up. Prints the
seconds per batch and the ratio gate-level / torch.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from builder.block_library import cell_net
from builder.spec import parse_spec
from engine.compile.cell_weights import copy_torch_weights
from engine.compile.fx_module import compile_spec

TORCH_LAYERS = {"lstm_cell": nn.LSTM, "gru_cell": nn.GRU}


def median_step_seconds(model: nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median seconds of forward + backward of one batch (the output's sum as the loss)."""

    def step() -> None:
        model.zero_grad(set_to_none=True)
        out = model(x)
        (out[0] if isinstance(out, tuple) else out).sum().backward()

    for _ in range(3):  # warm-up
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gate_level_and_torch(cell: str, steps: int, features: int, hidden: int) -> tuple[nn.Module, nn.Module]:
    """The compiled gate-level network (its Recurrent node `rnn` returns the sequence) and torch's layer, with
    the same weights."""
    raw = cell_net(cell, [steps, features], cell, hidden, True, 1)
    raw["nodes"], raw["edges"] = raw["nodes"][:2], raw["edges"][:1]  # x -> rnn: the Recurrent alone
    spec, issues = parse_spec(raw)
    assert spec is not None, issues
    gate_level = compile_spec(spec)
    fused = TORCH_LAYERS[cell](features, hidden, batch_first=True)
    copy_torch_weights(gate_level.rnn, fused)
    return gate_level, fused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--features", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.steps, args.features)  # (B, T, F)
    print(f"T {args.steps}, F {args.features}, H {args.hidden}, batch {args.batch}, {args.threads} thread(s)")
    for cell in TORCH_LAYERS:
        gate_level, fused = gate_level_and_torch(cell, args.steps, args.features, args.hidden)
        torch.testing.assert_close(gate_level(x), fused(x)[0], atol=1e-5, rtol=0)  # the same network
        ours = median_step_seconds(gate_level, x, args.repeats)
        reference = median_step_seconds(fused, x, args.repeats)
        print(
            f"{cell}: gate-level {ours * 1e3:.2f} ms, torch.nn.{TORCH_LAYERS[cell].__name__} {reference * 1e3:.2f} ms "
            f"per batch (forward + backward): {ours / reference:.1f}x"
        )


if __name__ == "__main__":
    main()
