"""Torch's threads: engine.threads' automatic choice against one thread, every core and torch's default (issue 23).

    .venv/bin/python -m bench.bench_threads                  # every case, 3 repeats, with and without a neighbour
    .venv/bin/python -m bench.bench_threads --repeats 5 --only mlp_digits resnet_mini
    .venv/bin/python -m bench.bench_threads --epochs 1            # a busy machine: all cores can be 100x slower

Each case trains a template through the command line (`python -m engine train --json`, a fresh process per run,
OMP_NUM_THREADS removed from its environment so that the rule decides) with `--threads 1`, `--threads N` (N: the
cores this process may run on), no flag (auto: engine.threads chooses, and its start event says what and why) and
`--threads D` (D: torch's own default in a fresh process, what the command line used before the rule: "today"; where
D is N, the same runs fill both columns). The time is the run's training seconds from its `done` event (the choice,
made before, is not in it: reading the cores costs 0.1 s, once, and only for a network large enough to use them).
Every case runs without and then with a neighbour: `python3 -c "while True: pass"`, started by this bench before the
case's runs and killed after them. The four ways run in turn within each repeat, so a change in the machine's load
falls on all of them; each cell is the median of the repeats. The goal: auto within 1.2x of the better of 1 thread
and N. The load average is printed at the start and at the end: other work on the machine changes every number.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.2


@dataclass(frozen=True)
class Case:
    name: str  # the template
    label: str
    epochs: int
    batch: int | None = None  # None: the template's


CASES = (
    Case("mlp_digits", "digits MLP (batch 32)", 4),
    Case("rbm_digits", "RBM digits (batch 10)", 2),
    Case("som_digits", "SOM digits (online)", 2),
    Case("lenet", "LeNet (batch 256)", 6, 256),
    Case("resnet_mini", "Mini ResNet (batch 256)", 2, 256),
)


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    return {**env, "PYTHONPATH": str(ROOT)}


def torch_default() -> int:
    code = "import torch; print(torch.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def train(case: Case, threads: int | None) -> tuple[float, int, str]:
    """(training seconds, threads used, why) of one run of `case` through the command line."""
    command = [sys.executable, "-m", "engine", "train", "--template", case.name, "--epochs", str(case.epochs)]
    command += ["--json", "--device", "cpu"]
    command += ["--batch-size", str(case.batch)] if case.batch else []
    command += ["--threads", str(threads)] if threads is not None else []
    done = subprocess.run(command, env=child_env(), cwd=ROOT, capture_output=True, text=True, timeout=600)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not events or events[-1]["kind"] != "done":
        raise RuntimeError(f"{case.name} --threads {threads}: exit {done.returncode}: {done.stdout[-300:]}")
    return events[-1]["train_seconds"], events[0]["threads"], events[0]["threads_why"]


def measure(case: Case, cores: int, default: int, repeats: int) -> dict:
    ways = {"one": 1, "all": cores, "auto": None, "today": default}
    if default == cores:  # the same runs: measured once, shown in both columns
        del ways["today"]
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    chosen: Counter = Counter()
    why = ""
    for _ in range(repeats):
        for way, threads in ways.items():
            took, used, said = train(case, threads)
            seconds[way].append(took)
            if way == "auto":
                chosen[used] += 1
                why = said
    row = {way: statistics.median(values) for way, values in seconds.items() if values}
    row.setdefault("today", row["all"])
    row["chosen"] = "/".join(f"{n}" + (f" (x{k})" if len(chosen) > 1 else "") for n, k in chosen.most_common())
    row["why"] = why
    row["ratio"] = row["auto"] / min(row["one"], row["all"])
    return row


def with_neighbour(case: Case, cores: int, default: int, repeats: int) -> dict:
    neighbour = subprocess.Popen(["python3", "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # under way before the first run reads the cores
        return measure(case, cores, default, repeats)
    finally:
        neighbour.kill()
        neighbour.wait()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=[c.name for c in CASES])
    parser.add_argument("--epochs", type=int, help="epochs of every case (default: each case's own)")
    args = parser.parse_args()
    cores, default = len(os.sched_getaffinity(0)), torch_default()
    print(f"{cores} usable cores, torch's default {default} threads; load average {load()} at the start")
    epochs = f"{args.epochs} epoch(s) each" if args.epochs else "each case's epochs"
    print(f"{epochs}; each cell: median training seconds of {args.repeats} runs; auto/best: auto / min(1, all)")
    head = f"{'case':<24} {'neighbour':<9} {'1 thread':>9} {f'all {cores}':>9} {'auto':>9} {'chose':>7}"
    print(head + f" {'auto/best':>9} {f'today ({default})':>11}")
    worst, reasons = 0.0, []
    for case in CASES:
        if args.only and case.name not in args.only:
            continue
        case = dataclasses.replace(case, epochs=args.epochs or case.epochs)
        for neighbour in ("none", "busy loop"):
            run = with_neighbour if neighbour != "none" else measure
            row = run(case, cores, default, args.repeats)
            worst = max(worst, row["ratio"])
            reasons.append(f"{case.label}, {neighbour}: {row['why']}")
            print(
                f"{case.label:<24} {neighbour:<9} {row['one']:>8.3f}s {row['all']:>8.3f}s {row['auto']:>8.3f}s "
                f"{row['chosen']:>7} {row['ratio']:>9.2f} {row['today']:>10.3f}s",
                flush=True,
            )
    print(f"worst auto/best {worst:.2f} (goal <= {GOAL}); load average {load()} at the end")
    print("auto's reasons (last run of each):")
    for line in reasons:
        print(f"  {line}")


if __name__ == "__main__":
    main()
