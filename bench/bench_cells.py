"""How much slower the gate-level cells are than torch's fused layers, before and after the fused compile (issue 23).

    python -m bench.bench_cells                     # per epoch (the templates) and per batch; median of 3 rounds
    python -m bench.bench_cells --rounds 5 --epochs 3 --steps 50 --hidden 128 --batch 64

One thread (torch.set_num_threads(1), set here explicitly). Two tables, each with "before" (the compiled network's
Recurrent swapped for the plain layers.Recurrent loop over the same cells: today's code path, FusedRecurrent.as_loop)
and "after" (the FusedRecurrent that compile_spec now gives, engine/compile/fused_cells.py) beside torch's layer:

- per epoch: training lstm_cells_sine against lstm_sine and gru_cells_parity against gru_parity with each template's
  own settings (Trainer, the training steps alone: the epoch event's train_seconds), all three variants in every
  round, interleaved; the median over rounds;
- per batch: forward, sum of the output, backward of `x -> Recurrent` against torch.nn.LSTM / torch.nn.GRU holding
  the same weights (the median of `repeats` steps after warm-up).

The machine's load (`uptime`'s 1-minute average) is printed before and after: other work on the cores slows
every variant, and the ratios are taken within one round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import fx, nn

from builder.analysis.validate import analyze
from builder.library.block_library import cell_net
from builder.library.templates import TEMPLATES
from builder.spec.spec import parse_spec
from engine.compile.cell_weights import copy_torch_weights
from engine.compile.fused_cells import FusedRecurrent
from engine.compile.fx_module import compile_analysis, compile_spec
from engine.data.datasets import fit_to_analysis, load_dataset
from engine.train.backprop import Trainer, seed_everything
from engine.train.config import TrainConfig

TORCH_LAYERS = {"lstm_cell": nn.LSTM, "gru_cell": nn.GRU}
EPOCH_PAIRS = (("lstm_cells_sine", "lstm_sine"), ("gru_cells_parity", "gru_parity"))  # gate-level, torch's layer


def as_loop(model: fx.GraphModule) -> fx.GraphModule:
    """`model` with each FusedRecurrent swapped for the plain Recurrent over the same cells (the code before)."""
    for name, module in list(model.named_children()):
        if isinstance(module, FusedRecurrent):
            setattr(model, name, module.as_loop())
    return model


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


# --- per epoch: the templates -------------------------------------------------------------------------------


def epoch_seconds(template: str, loop: bool, epochs: int) -> float:
    """Seconds of training steps per epoch of `template` with its own settings (the mean over `epochs`)."""
    t = TEMPLATES[template]
    analysis = analyze(t.spec())
    data = fit_to_analysis(load_dataset(t.train["dataset"], seed=0), analysis)
    seed_everything(0)
    model = compile_analysis(analysis)
    model = as_loop(model) if loop else model
    config = TrainConfig(**{**t.train, "epochs": epochs, "seed": 0, "device": "cpu", "log_every": 10**6})
    events = [e for e in Trainer(model, data, config).run() if e.get("kind") == "epoch"]
    return sum(e["train_seconds"] for e in events) / len(events)


def epoch_table(rounds: int, epochs: int) -> list[str]:
    lines = [
        f"per epoch ({epochs} epoch(s) a run, median of {rounds} rounds), seconds; ratio = gate-level / torch",
        f"{'cells template':18} {'torch':>8} {'before':>8} {'after':>8} {'before x':>9} {'after x':>8}",
    ]
    for cells, fused in EPOCH_PAIRS:
        times: dict[str, list[float]] = {"torch": [], "before": [], "after": []}
        for _ in range(rounds):
            times["torch"].append(epoch_seconds(fused, False, epochs))
            times["before"].append(epoch_seconds(cells, True, epochs))
            times["after"].append(epoch_seconds(cells, False, epochs))
        med = {k: statistics.median(v) for k, v in times.items()}
        lines.append(
            f"{cells:18} {med['torch']:8.3f} {med['before']:8.3f} {med['after']:8.3f} "
            f"{med['before'] / med['torch']:8.2f}x {med['after'] / med['torch']:7.2f}x"
        )
    return lines


# --- per batch: x -> Recurrent alone -------------------------------------------------------------------------


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


def batch_table(args: argparse.Namespace) -> list[str]:
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.steps, args.features)  # (B, T, F)
    lines = [
        f"per batch, forward + backward (T {args.steps}, F {args.features}, H {args.hidden}, batch {args.batch}), ms",
        f"{'cell':18} {'torch':>8} {'before':>8} {'after':>8} {'before x':>9} {'after x':>8}",
    ]
    for cell in TORCH_LAYERS:
        after, reference = gate_level_and_torch(cell, args.steps, args.features, args.hidden)
        before = as_loop(fx.GraphModule(after, after.graph))  # the same modules and weights, the loop in rnn's place
        torch.testing.assert_close(after(x), reference(x)[0], atol=1e-5, rtol=0)  # the same network
        torch.testing.assert_close(before(x), reference(x)[0], atol=1e-5, rtol=0)
        times: dict[str, list[float]] = {"torch": [], "before": [], "after": []}
        for _ in range(args.rounds):
            times["torch"].append(median_step_seconds(reference, x, args.repeats))
            times["before"].append(median_step_seconds(before, x, args.repeats))
            times["after"].append(median_step_seconds(after, x, args.repeats))
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        lines.append(
            f"{cell:18} {med['torch']:8.2f} {med['before']:8.2f} {med['after']:8.2f} "
            f"{med['before'] / med['torch']:8.2f}x {med['after'] / med['torch']:7.2f}x"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--features", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--skip-epochs", action="store_true", help="the per-batch table only")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one thread, explicitly (issue 23: the cells are compared on one thread)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, load {load()} at start")
    lines = [] if args.skip_epochs else epoch_table(args.rounds, args.epochs)
    lines += ["", *batch_table(args)]
    print("\n".join(lines))
    print(f"load {load()} at end")


if __name__ == "__main__":
    main()
