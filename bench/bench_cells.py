"""How much slower the gate-level cells are than torch's fused layers, before and after the fused compile (issue 23).

    python -m bench.bench_cells                     # per epoch (the templates) and per batch; median of 3 rounds
    python -m bench.bench_cells --rounds 5 --epochs 3 --steps 50 --hidden 128 --batch 64

One thread (torch.set_num_threads(1), set here explicitly). Two tables, each with three gate-level variants of the
same network beside torch's layer: "loop" (the compiled network's Recurrent swapped for the plain layers.Recurrent
loop over the same cells, FusedRecurrent.as_loop), "plan" (the FusedRecurrent's plans: the Linears batched, as
commit 64dbcc7 ran every cell; here under torch_cells.gate_by_gate) and "now" (what compile_spec gives today: the
library's lstm_cell and gru_cell are torch's cells, run by torch.lstm and by the GRU sequence node):

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
import contextlib
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
from engine.compile.torch_cells import gate_by_gate
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


VARIANTS = ("torch", "loop", "plan", "now")


def epoch_seconds(template: str, variant: str, epochs: int) -> float:
    """Seconds of training steps per epoch of `template` with its own settings (the mean over `epochs`); variant
    "loop" or "plan" for a gate-level template (module doc)."""
    t = TEMPLATES[template]
    analysis = analyze(t.spec())
    data = fit_to_analysis(load_dataset(t.train["dataset"], seed=0), analysis)
    seed_everything(0)
    model = compile_analysis(analysis)
    model = as_loop(model) if variant == "loop" else model
    config = TrainConfig(**{**t.train, "epochs": epochs, "seed": 0, "device": "cpu", "log_every": 10**6})
    with gate_by_gate() if variant == "plan" else contextlib.nullcontext():
        events = [e for e in Trainer(model, data, config).run() if e.get("kind") == "epoch"]
    return sum(e["train_seconds"] for e in events) / len(events)


def epoch_table(rounds: int, epochs: int) -> list[str]:
    lines = [
        f"per epoch ({epochs} epoch(s) a run, median of {rounds} rounds), seconds; ratio = gate-level / torch",
        header("cells template"),
    ]
    for cells, fused in EPOCH_PAIRS:
        times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        for _ in range(rounds):
            for variant in VARIANTS:
                times[variant].append(epoch_seconds(fused if variant == "torch" else cells, variant, epochs))
        lines.append(row(cells, {k: statistics.median(v) for k, v in times.items()}, 3))
    return lines


def header(first: str) -> str:
    columns = "".join(f"{v:>8}" for v in VARIANTS) + "".join(f"{v + ' x':>9}" for v in VARIANTS[1:])
    return f"{first:18}{columns}"


def row(name: str, med: dict[str, float], digits: int) -> str:
    values = "".join(f"{med[v]:8.{digits}f}" for v in VARIANTS)
    ratios = "".join(f"{med[v] / med['torch']:8.2f}x" for v in VARIANTS[1:])
    return f"{name:18}{values}{ratios}"


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
        header("cell"),
    ]
    for cell in TORCH_LAYERS:
        now, reference = gate_level_and_torch(cell, args.steps, args.features, args.hidden)
        loop = as_loop(fx.GraphModule(now, now.graph))  # the same modules and weights, the loop in rnn's place
        torch.testing.assert_close(now(x), reference(x)[0], atol=1e-5, rtol=0)  # the same network
        torch.testing.assert_close(loop(x), reference(x)[0], atol=1e-5, rtol=0)
        models = {"torch": reference, "loop": loop, "plan": now, "now": now}
        times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        for _ in range(args.rounds):
            for variant, model in models.items():
                with gate_by_gate() if variant == "plan" else contextlib.nullcontext():
                    times[variant].append(median_step_seconds(model, x, args.repeats))
        lines.append(row(cell, {k: statistics.median(v) * 1e3 for k, v in times.items()}, 2))
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
