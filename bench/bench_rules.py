"""The classic learning rules' kernels against their references (issue #9's speed targets).

    python -m bench.bench_rules                      # RBM and SOM, 5 interleaved repeats, medians
    python -m bench.bench_rules --repeats 9 --only som

(a) RBM on digits (1,437 x 64 pixels scaled to [0, 1], batch 10, 64 and 100 hidden units, learning rate 0.06,
    10 epochs): seconds per epoch of engine.train.rules.rbm.cd_update driven the way a trainer drives it (a new
    order each epoch, one call per batch, the reconstruction errors kept on the device) against scikit-learn's
    BernoulliRBM.fit(n_iter=10) / 10, and the mean pseudo-log-likelihood of the data after the 10 epochs
    (score_samples for scikit-learn, our estimate for ours). scikit-learn runs persistent CD (its chain of
    hidden samples carries over between batches); ours is shown both as CD-1 and as persistent CD-1. Goal:
    ours / scikit-learn <= 1.0.
(b) SOM: the online rule for the same iterations as MiniSom's train_random (same map, sigma, learning rate,
    asymptotic schedule, the same initial weights, every example visited equally often in a random order),
    ours fed in steps of 32 examples as a trainer feeds it (the grid's distance table built once); seconds and
    the final quantization error of both.
    On iris (standardised, 7 x 7 map) and on digits (10 x 10). Goal: time ratio <= 1.0, errors comparable.

Time is wall-clock and CPU seconds of this process; both sides run on one thread (torch.set_num_threads(1) and
threadpoolctl for NumPy's BLAS): the tensors are tiny, and on a small shared machine a pool of one thread per
core slows down erratically whenever a neighbour wants a core. The CPU-seconds ratio is the steadier one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from minisom import MiniSom
from sklearn.datasets import load_digits, load_iris
from sklearn.neural_network import BernoulliRBM
from threadpoolctl import threadpool_limits

from engine.compile.layers import RBM, SOM
from engine.threads import ThreadChoice, apply_threads
from engine.train.rules.rbm import cd_update, pseudo_log_likelihood, start_chain
from engine.train.rules.som import SomSchedule, grid_sq_distances, online_updates, quantization_error

RBM_EPOCHS, RBM_BATCH, RBM_LR = 10, 10, 0.06
SOM_SIGMA, SOM_LR, SOM_ITERATIONS, SOM_STEP = 2.0, 0.5, 10_000, 32


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def digits01() -> np.ndarray:
    return load_digits().data[:1437] / 16.0  # (1437, 64)


def train_ours_rbm(x: torch.Tensor, n_hidden: int, persistent: bool, seed: int) -> float:
    """10 epochs of CD-1 (or PCD-1); returns the mean pseudo-log-likelihood of x after them."""
    torch.manual_seed(seed)
    rbm = RBM(x.shape[1], n_hidden)
    generator = torch.Generator().manual_seed(seed)
    chain = start_chain(rbm, RBM_BATCH, generator) if persistent else None
    for _ in range(RBM_EPOCHS):
        batches = x[torch.randperm(x.shape[0], generator=generator)].split(RBM_BATCH)
        errors = []
        for v0 in batches:
            result = cd_update(rbm, v0, RBM_LR, chain=chain, generator=generator)
            chain = result.chain
            errors.append(result.reconstruction_error)  # stays on the device, as a trainer keeps it
        torch.stack(errors).mean().item()  # the epoch's one host read
    return pseudo_log_likelihood(rbm, x, generator).mean().item()


def train_sklearn_rbm(x: np.ndarray, n_hidden: int, seed: int) -> float:
    rbm = BernoulliRBM(n_components=n_hidden, learning_rate=RBM_LR, batch_size=RBM_BATCH, n_iter=RBM_EPOCHS)
    rbm.set_params(random_state=seed).fit(x)
    return float(rbm.score_samples(x).mean())


def bench_rbm(repeats: int) -> list[dict]:
    x_np = digits01()
    x = torch.tensor(x_np, dtype=torch.float32)
    rows = []
    for n_hidden in (64, 100):
        runs = {"sklearn": [], "ours CD-1": [], "ours PCD-1": []}
        for seed in range(repeats):  # interleaved, so a neighbour's load falls on all three alike
            runs["sklearn"].append(timed(partial(train_sklearn_rbm, x_np, n_hidden, seed)))
            runs["ours CD-1"].append(timed(partial(train_ours_rbm, x, n_hidden, False, seed)))
            runs["ours PCD-1"].append(timed(partial(train_ours_rbm, x, n_hidden, True, seed)))
        reference = runs["sklearn"]
        for name, measured in runs.items():
            rows.append(
                {
                    "bench": "rbm",
                    "hidden": n_hidden,
                    "who": name,
                    "s_per_epoch": statistics.median(m[0] for m in measured) / RBM_EPOCHS,
                    "cpu_s_per_epoch": statistics.median(m[1] for m in measured) / RBM_EPOCHS,
                    "wall_ratio": statistics.median(m[0] / r[0] for m, r in zip(measured, reference)),
                    "cpu_ratio": statistics.median(m[1] / r[1] for m, r in zip(measured, reference)),
                    "pll_after_10": statistics.median(m[2] for m in measured),
                }
            )
    return rows


def iris_standardised() -> np.ndarray:
    data = load_iris().data
    return (data - data.mean(0)) / data.std(0)


def train_minisom(x: np.ndarray, rows: int, cols: int, initial: np.ndarray, seed: int) -> float:
    som = MiniSom(rows, cols, x.shape[1], sigma=SOM_SIGMA, learning_rate=SOM_LR, random_seed=seed)
    som._weights = initial.copy()
    som.train_random(x, SOM_ITERATIONS)
    return float(som.quantization_error(x))


def train_ours_som(x: torch.Tensor, rows: int, cols: int, initial: np.ndarray, seed: int) -> float:
    som = SOM(x.shape[1], rows, cols)
    som.weight.data.copy_(torch.from_numpy(initial.reshape(rows * cols, -1)))
    generator = torch.Generator().manual_seed(seed)
    visits = torch.arange(SOM_ITERATIONS) % x.shape[0]  # every example equally often, as MiniSom's train_random
    sequence = x[visits[torch.randperm(SOM_ITERATIONS, generator=generator)]]  # (T, F)
    schedule = SomSchedule(SOM_SIGMA, SOM_LR, "asymptotic", SOM_ITERATIONS)
    sq_grid = grid_sq_distances(som)  # once per run, as the module docstring suggests
    for t0 in range(0, SOM_ITERATIONS, SOM_STEP):
        online_updates(som, sequence[t0 : t0 + SOM_STEP], schedule, t0, sq_grid)
    return quantization_error(som, x).item()


def bench_som(repeats: int) -> list[dict]:
    rows_out = []
    for name, x_np, rows, cols in (("iris", iris_standardised(), 7, 7), ("digits", digits01(), 10, 10)):
        x = torch.tensor(x_np, dtype=torch.float32)
        runs = {"minisom": [], "ours": []}
        for seed in range(repeats):
            initial = MiniSom(rows, cols, x_np.shape[1], random_seed=seed)._weights  # (R, C, F), MiniSom's init
            runs["minisom"].append(timed(partial(train_minisom, x_np, rows, cols, initial, seed)))
            runs["ours"].append(timed(partial(train_ours_som, x, rows, cols, initial.astype(np.float32), seed)))
        for who, measured in runs.items():
            rows_out.append(
                {
                    "bench": "som",
                    "data": f"{name} {rows}x{cols}",
                    "who": who,
                    "seconds": statistics.median(m[0] for m in measured),
                    "cpu_seconds": statistics.median(m[1] for m in measured),
                    "wall_ratio": statistics.median(m[0] / r[0] for m, r in zip(measured, runs["minisom"])),
                    "cpu_ratio": statistics.median(m[1] / r[1] for m, r in zip(measured, runs["minisom"])),
                    "quantization_error": statistics.median(m[2] for m in measured),
                }
            )
    return rows_out


def print_rows(rows: list[dict]) -> None:
    for row in rows:
        if row["bench"] == "rbm":
            print(
                f"RBM digits H={row['hidden']:<3} {row['who']:<11} {1e3 * row['s_per_epoch']:6.1f} ms/epoch"
                f" (cpu {1e3 * row['cpu_s_per_epoch']:6.1f})  ratio wall {row['wall_ratio']:.2f} cpu"
                f" {row['cpu_ratio']:.2f}  pseudo-log-likelihood after {RBM_EPOCHS} epochs {row['pll_after_10']:.2f}"
            )
        else:
            print(
                f"SOM {row['data']:<13} {row['who']:<8} {row['seconds']:6.2f} s for {SOM_ITERATIONS} iterations"
                f" (cpu {row['cpu_seconds']:5.2f})  ratio wall {row['wall_ratio']:.2f} cpu {row['cpu_ratio']:.2f}"
                f"  quantization error {row['quantization_error']:.4f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=("rbm", "som"))
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args()
    threads = apply_threads(ThreadChoice(1, "one thread, set by this bench for both sides"))
    print(f"torch threads: {threads.threads} ({threads.why})")
    rows = []
    with threadpool_limits(limits=1):
        if args.only in (None, "rbm"):
            rows += bench_rbm(args.repeats)
        if args.only in (None, "som"):
            rows += bench_som(args.repeats)
    print_rows(rows)
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
