"""What watching a run costs: probes, the run store, and a page polling it (issue #4's speed targets).

    python -m bench.bench_probes                     # all three, on the digits MLP, CPU
    python -m bench.bench_probes --repeats 9 --epochs 60

1. In-process cost of the probes by sampling interval: the training loop as the worker drives it (the run's
   step snapshots planned at its start, taken and armed at every event, epoch snapshots, JSON of every
   snapshot), with probes every k steps and no time floor (besides the run's min_snapshots milestones), and
   with the default settings, each against the same loop without probes run right beside it.
2. Worker with probes at their default settings vs the same worker without probes (target >= 0.9).
3. Worker with default probes while a reader polls the store every 0.5 s the way the Train page does
   (status, new metrics, newest snapshots) vs the same run through the CLI's training path
   (`engine.cli.train_cmd`, in its own process; target >= 0.9). Also: time from start_run to the first loss
   row in the store (the page shows it at its next poll).
4. Recurrent probes (engine.probes.recurrent_probes) on lstm_cells_sine: one measurement (a forward and backward
   of one sample with hooks on the gates, the JSON of its numbers) against one training step at the template's
   batch size, in this process; and the worker's loop (RunLoop, store writes included) with them at their default
   pace against the same loop without them. `--only-recurrent` runs this part alone.

Throughput is optimizer steps per second of the whole training loop (validation, probes and store writes
included, set-up left out), per wall-clock second and per CPU second of the process. On a small machine
shared with other work the wall-clock numbers swing with the neighbours' load; CPU seconds do not, so
both ratios are given (medians of interleaved repeats). Every process measured runs torch on --threads
threads (default 1): torch's default pool of one thread per core slows down erratically whenever another
process wants a core.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import torch

from builder.library.templates import TEMPLATES
from engine.probes.epoch_probes import EpochProbes
from engine.probes.recurrent_probes import RecurrentProbes
from engine.probes.step_probes import DEFAULT_PROBES, ProbeSettings, StepProbes
from engine.runs.manager import RunManager
from engine.runs.store import RunStore
from engine.runs.worker_loop import RunLoop, start_step_probes
from engine.threads import ThreadChoice, apply_threads
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run

TEMPLATE = "mlp_digits"
RECURRENT_TEMPLATE = "lstm_cells_sine"
EVERY = (10, 20, 50, 100)  # a step event comes every log_every = 10 steps: probes arm there
Rate = tuple[float, float]  # (steps per wall second, steps per CPU second)


def config(epochs: int) -> TrainConfig:
    return TrainConfig(**{**TEMPLATES[TEMPLATE].train, "epochs": epochs, "device": "cpu"})


def loop_rate(epochs: int, settings: ProbeSettings | None) -> Rate:
    """The training loop in this process, driven the way the worker drives it."""
    run = prepare_run(TEMPLATES[TEMPLATE].spec(), config(epochs))
    trainer, ops = run.trainer, {n.id: n.op for n in run.spec.nodes}
    step_probes = StepProbes(trainer.model, ops, settings) if settings else None
    epoch_probes = EpochProbes(trainer, settings) if settings else None
    wall, cpu = time.perf_counter(), time.process_time()
    if step_probes is not None:
        start_step_probes(step_probes, trainer)
    for event in trainer.run():
        if step_probes is None or event["kind"] not in ("step", "epoch"):
            continue
        json.dumps(step_probes.at_event(event["step"]))
        if event["kind"] == "epoch":
            json.dumps(epoch_probes.collect(final=event["epoch"] == epochs))
    return trainer.step / (time.perf_counter() - wall), trainer.step / (time.process_time() - cpu)


def sampling_settings() -> dict[str, ProbeSettings]:
    rows = {
        f"every {k} steps, no time floor": dataclasses.replace(DEFAULT_PROBES, every=k, min_seconds=0.0) for k in EVERY
    }
    default = f"every {DEFAULT_PROBES.every} steps, at most every {DEFAULT_PROBES.min_seconds} s (default)"
    return {**rows, default: DEFAULT_PROBES}


def ratio_line(label: str, rates: list[Rate], bases: list[Rate]) -> str:
    wall = statistics.median(r[0] / b[0] for r, b in zip(rates, bases))
    cpu = statistics.median(r[1] / b[1] for r, b in zip(rates, bases))
    return f"   {label:<52} wall {wall:.3f}   cpu {cpu:.3f}"


def bench_sampling(epochs: int, repeats: int) -> None:
    print(f"1. probes in the training loop, {TEMPLATE}, {epochs} epochs, {repeats} interleaved repeats")
    settings = sampling_settings()
    rates: dict[str, list[Rate]] = {name: [] for name in settings}
    bases: dict[str, list[Rate]] = {name: [] for name in settings}
    loop_rate(1, DEFAULT_PROBES)  # warm up
    for _ in range(repeats):
        for name, probes in settings.items():
            bases[name].append(loop_rate(epochs, None))  # each ratio against a run right beside it
            rates[name].append(loop_rate(epochs, probes))
    every_base = [b for values in bases.values() for b in values]
    print(f"   without probes: {_rates(every_base)}; ratio with probes / without:")
    for name in settings:
        print(ratio_line(name, rates[name], bases[name]))


def _rates(rates: list[Rate]) -> str:
    wall, cpu = statistics.median(r[0] for r in rates), statistics.median(r[1] for r in rates)
    return f"{wall:.0f} steps/s wall, {cpu:.0f} per CPU s"


def worker_rate(manager: RunManager, epochs: int, poll: bool) -> tuple[Rate, float]:
    """(rate, seconds from start_run to the first loss row) of one worker run."""
    started = time.perf_counter()
    run_id = manager.start_run("bench", TEMPLATES[TEMPLATE].spec(), config(epochs))
    while not manager.metrics(run_id):
        time.sleep(0.01)
    first_point = time.perf_counter() - started
    done = threading.Event()
    reader = threading.Thread(target=poll_like_the_page, args=(manager.store.root, run_id, done))
    if poll:
        reader.start()
    record = manager.wait(run_id, timeout=600)
    done.set()
    if poll:
        reader.join()
    assert record.status == "finished", record.message
    final = record.final
    return (final["steps"] / final["active_seconds"], final["steps"] / final["cpu_seconds"]), first_point


def poll_like_the_page(root, run_id: str, done: threading.Event) -> None:
    store, since = RunStore(root), 0
    while not done.wait(0.5):
        store.get(run_id)
        rows = store.metrics(run_id, since)
        since = rows[-1].seq if rows else since
        store.snapshots(run_id, "step", limit=20)
        store.snapshots(run_id, "epoch", limit=1)


def cli_child(epochs: int) -> None:
    """In a fresh process: the CLI's training path (engine.cli.train_cmd), its event lines thrown away."""
    from engine.cli.train_cmd import _run

    run = prepare_run(TEMPLATES[TEMPLATE].spec(), config(epochs))
    wall, cpu = time.perf_counter(), time.process_time()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        last = _run(run, as_json=True)
    rate = (last["step"] / (time.perf_counter() - wall), last["step"] / (time.process_time() - cpu))
    print(json.dumps(rate))


def cli_rate(epochs: int) -> Rate:
    command = [sys.executable, "-m", "bench.bench_probes", "--cli-child", str(epochs)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    wall, cpu = json.loads(out.strip().splitlines()[-1])
    return wall, cpu


def bench_worker(epochs: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as root:
        probed, bare = RunManager(RunStore(root)), RunManager(RunStore(root), probes=None)
        probed.warm_up()
        worker_rate(probed, 1, poll=False)  # the fork server's imports are not part of any measurement
        with_probes, without, polled, cli, first = [], [], [], [], []
        for _ in range(repeats):
            rate, latency = worker_rate(probed, epochs, poll=False)
            with_probes.append(rate)
            first.append(latency)
            without.append(worker_rate(bare, epochs, poll=False)[0])
            polled.append(worker_rate(probed, epochs, poll=True)[0])
            cli.append(cli_rate(epochs))
    print(f"2. worker, {TEMPLATE}, {epochs} epochs, {repeats} interleaved repeats")
    print(f"   default probes: {_rates(with_probes)}; no probes: {_rates(without)}")
    print(ratio_line("default probes / no probes", with_probes, without))
    print("3. worker with default probes while a reader polls the store every 0.5 s, vs the CLI's path")
    print(f"   polled worker: {_rates(polled)}; CLI: {_rates(cli)}")
    print(ratio_line("polled worker / CLI", polled, cli))
    med = statistics.median(first)
    print(f"   start_run -> first loss row in the store: median {med:.2f} s, max {max(first):.2f} s")


def recurrent_config(epochs: int) -> TrainConfig:
    return TrainConfig(**{**TEMPLATES[RECURRENT_TEMPLATE].train, "epochs": epochs, "device": "cpu"})


def _seconds(action, times: int) -> float:
    started = time.perf_counter()
    for _ in range(times):
        action()
    return (time.perf_counter() - started) / times


def recurrent_measure_vs_step(repeats: int, times: int = 20) -> tuple[list[float], int]:
    """(measurement seconds / training step seconds per repeat, bytes of one measurement's JSON)."""
    run = prepare_run(TEMPLATES[RECURRENT_TEMPLATE].spec(), recurrent_config(1))
    trainer = run.trainer
    probes = RecurrentProbes.for_trainer(trainer)
    batch = trainer.config.batch_size
    x, y = trainer.x_train[:batch], trainer.y_train[:batch]  # [B, T, F], [B, 1]

    def train_step() -> None:
        loss = trainer.objective.loss(trainer.model(x), y)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()

    def measure() -> None:
        json.dumps(probes.measure(trainer.step))

    train_step(), measure()  # warm up
    ratios = [_seconds(measure, times) / _seconds(train_step, times) for _ in range(repeats)]
    return ratios, len(json.dumps(probes.measure(trainer.step)))


def recurrent_loop_rate(root: str, epochs: int, with_recurrent: bool) -> Rate:
    """Steps per active and per CPU second of the worker's loop on lstm_cells_sine, with default step probes."""
    store, t = RunStore(root), TEMPLATES[RECURRENT_TEMPLATE]
    run_id = store.create_run("bench", t.spec().to_dict(), recurrent_config(epochs).to_dict())
    run = prepare_run(t.spec(), recurrent_config(epochs))
    ops = {n.id: n.op for n in run.spec.nodes}
    probes = StepProbes(run.trainer.model, ops, DEFAULT_PROBES), EpochProbes(run.trainer, DEFAULT_PROBES)
    loop = RunLoop(store, store.get(run_id), run, probes, None)
    if not with_recurrent:
        loop.recurrent = None
    loop.run()
    final = store.get(run_id).final
    return final["steps"] / final["active_seconds"], final["steps"] / final["cpu_seconds"]


def bench_recurrent(epochs: int, repeats: int) -> None:
    ratios, size = recurrent_measure_vs_step(repeats)
    print(f"4. recurrent probes, {RECURRENT_TEMPLATE}, {repeats} repeats")
    print(
        f"   one measurement / one training step (batch {recurrent_config(1).batch_size}): median "
        f"{statistics.median(ratios):.2f} (all: {', '.join(f'{r:.2f}' for r in ratios)}); {size:,} bytes of JSON"
    )
    with tempfile.TemporaryDirectory() as root:
        recurrent_loop_rate(root, 1, True)  # warm up
        rates, bases = [], []
        for _ in range(repeats):
            bases.append(recurrent_loop_rate(root, epochs, False))
            rates.append(recurrent_loop_rate(root, epochs, True))
    print(f"   worker loop, {epochs} epochs, default step probes without recurrent ones: {_rates(bases)}")
    print(ratio_line("with recurrent probes / without", rates, bases))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in every process measured")
    parser.add_argument("--skip-sampling", action="store_true", help="only the worker measurements (2 and 3)")
    parser.add_argument("--only-recurrent", action="store_true", help="only the recurrent probes (4)")
    parser.add_argument("--recurrent-epochs", type=int, default=4)
    parser.add_argument("--cli-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the CLI child and the fork server inherit it
    apply_threads(ThreadChoice(args.threads, "--threads of this bench"))  # the CLI child's start event says it
    if args.cli_child:
        cli_child(args.cli_child)
        return
    print(f"torch {torch.__version__}, {args.threads} torch thread(s) per process, {os.cpu_count()} CPUs")
    if not args.only_recurrent:
        if not args.skip_sampling:
            bench_sampling(args.epochs, args.repeats)
        bench_worker(args.epochs, args.repeats)
    bench_recurrent(args.recurrent_epochs, args.repeats)


if __name__ == "__main__":
    main()
