"""The run queue under a class: 20 sessions press Train at once on one server.

    python -m bench.bench_queue                  # 20 sessions, mlp_iris for 20 epochs, workers = cores - 1
    python -m bench.bench_queue --sessions 30 --epochs 10 --workers 3

In one process, as in the app: the Train page's RunManager (ui.train.page_state.manager(), a temporary runs
directory) gets one start_run per session (owner) from as many threads, released together by a barrier; one
more session is a real Train page (Streamlit's AppTest) that watches its own run, which it started through the
same manager, and reruns the whole page (more than a poll, which reruns only the live fragment) every
`--every` seconds while the runs train. Reported:

1. the total time from the barrier until every run has ended, and every run's end (all must finish);
2. the most runs holding a worker (store: active and out of the queue) and the most worker processes alive
   (the manager's), sampled every 10 ms, against the cap;
3. metric rows: every run's epoch rows must be 1..epochs and its step rows every `log_every` steps, none lost;
4. the server's time for one Train page rerun while the runs train, by what the page shows (its own run
   queued, running or ended), against the same page watching its own run while that run alone trains (the
   reference, in this process just before), median and max.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time

from streamlit.testing.v1 import AppTest

from builder.library.templates import TEMPLATES
from devtools.app_server import ROOT
from engine.runs.store import RUNS_DIR_ENV
from engine.train.config import TrainConfig

TEMPLATE = "mlp_iris"


class Sampler:
    """The most runs holding a worker slot (from the store) and worker processes alive, every 10 ms."""

    def __init__(self, manager):
        self.manager, self.holding, self.alive = manager, 0, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            self.holding = max(self.holding, len(self.manager.queue.holders()))
            with self.manager.lock:
                processes = list(self.manager.processes.values())
            self.alive = max(self.alive, sum(p.is_alive() for p in processes))
            time.sleep(0.01)

    def stop(self) -> Sampler:
        self.done.set()
        self.thread.join()
        return self


def open_page(epochs: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.session_state["build_editor"].load(TEMPLATES[TEMPLATE].spec(), TEMPLATE)
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="ts_epochs").set_value(epochs).run()
    assert not at.exception, at.exception
    return at


def timed_rerun(at: AppTest) -> float:
    started = time.perf_counter()
    at.run()
    assert not at.exception, at.exception
    return time.perf_counter() - started


def reference_reruns(at: AppTest, manager, every: float, count: int = 10) -> list[float]:
    """The page watching its own run while that run alone trains: `count` timed reruns, then it is stopped."""
    at.number_input(key="ts_epochs").set_value(100_000).run()
    at.button(key="train_start").click().run()
    run_id = at.session_state["train_run"]
    manager.wait(run_id, 120, until=lambda r: r.status == "running")
    times = []
    for _ in range(count):
        time.sleep(every)
        times.append(timed_rerun(at))
    manager.stop(run_id)
    manager.wait(run_id, 60)
    return times


def start_together(manager, config: TrainConfig, sessions: int) -> list[str]:
    """One start_run per session from its own thread, all released at once; the run ids."""
    spec, barrier, ids = TEMPLATES[TEMPLATE].spec(), threading.Barrier(sessions), [None] * sessions

    def start(i: int) -> None:
        barrier.wait()
        ids[i] = manager.start_run(f"session-{i:02d}", spec, config)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids


def lost_rows(manager, run_id: str) -> list[str]:
    """What is missing from a run's metric rows: epochs 1..epochs, steps every log_every up to the last."""
    record, rows = manager.status(run_id), manager.metrics(run_id)
    config, step = record.config, record.progress["step"]
    epochs = [r.epoch for r in rows if r.kind == "epoch"]
    steps = [r.step for r in rows if r.kind == "step"]
    expected_steps = list(range(config["log_every"], step + 1, config["log_every"]))
    problems = []
    if epochs != list(range(1, config["epochs"] + 1)):
        problems.append(f"{run_id}: epoch rows {epochs}")
    if steps != expected_steps:
        problems.append(f"{run_id}: {len(steps)} step rows, expected {len(expected_steps)}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None, help="default: NETCANVAS_MAX_WORKERS or cores - 1")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between page reruns")
    args = parser.parse_args()
    print("torch threads: each run's worker chooses its own (engine.threads; the run's start message says it)")
    with tempfile.TemporaryDirectory() as runs:
        os.environ[RUNS_DIR_ENV] = runs
        report(args, runs)


def report(args, runs: str) -> None:
    from ui.train.page_state import manager as page_manager

    at = open_page(args.epochs)
    manager = page_manager()
    if args.workers:
        manager.queue.workers = args.workers
    at.button(key="train_start").click().run()  # warm-up: the fork server's imports, the first data load
    manager.wait(at.session_state["train_run"], 300)
    reference = reference_reruns(at, manager, args.every)
    at.number_input(key="ts_epochs").set_value(args.epochs).run()

    config = TrainConfig(**{**TEMPLATES[TEMPLATE].train, "epochs": args.epochs, "device": "cpu"})
    sampler, started = Sampler(manager), time.perf_counter()
    ids = start_together(manager, config, args.sessions - 1)
    at.button(key="train_start").click().run()  # the page's own session: the last to start
    ids.append(at.session_state["train_run"])
    during: dict[str, list[float]] = {}  # what the page's own run was, while the page reran: rerun times
    while any(manager.status(run_id).active for run_id in ids):
        shown = manager.status(ids[-1]).status
        during.setdefault(shown, []).append(timed_rerun(at))
        time.sleep(args.every)
    total = time.perf_counter() - started
    sampler.stop()

    ends = [manager.status(run_id).status for run_id in ids]
    problems = [p for run_id in ids for p in lost_rows(manager, run_id)]
    med = statistics.median
    print(f"{args.sessions} sessions x {TEMPLATE} for {args.epochs} epochs, {os.cpu_count()} CPUs")
    print(f"1. all runs ended in {total:.1f} s: {ends.count('finished')} finished, others {set(ends) - {'finished'}}")
    print(
        f"2. cap {manager.queue.workers} worker(s): most runs holding a worker {sampler.holding}, "
        f"most worker processes alive {sampler.alive}"
    )
    print(f"3. metric rows lost: {len(problems)}" + "".join(f"\n   {p}" for p in problems[:10]))
    print(f"4. Train page rerun (server), its own run training alone: {med(reference) * 1000:.0f} ms median")
    for shown, times in during.items():
        print(
            f"   while the {args.sessions} runs train, its own run {shown}: {med(times) * 1000:.0f} ms median, "
            f"{max(times) * 1000:.0f} ms max over {len(times)} reruns (ratio {med(times) / med(reference):.2f})"
        )
    manager.close()


if __name__ == "__main__":
    main()
