"""The run queue under a class: 20 sessions press Train at once on one server, with either executor.

    python -m bench.bench_queue                  # both executors, one after the other, then a table of the two
    python -m bench.bench_queue --executor local --sessions 30 --epochs 10 --workers 3
    python -m bench.bench_queue --executor ray   # a private local Ray (NETCANVAS_RAY_ADDRESS=local)
    python -m bench.bench_queue --executor ray --ray-address 10.0.0.5:6379   # a running cluster

The local executor: a worker process per run on this machine, workers = cores - 1 unless --workers. The ray
executor (engine.runs.ray_executor): an actor per run; the app does not cap the runs started, the cluster's
resources do (a run waits for the cluster while its actor is not placed), and the app writes the rows the
actors send back.

In one process, as in the app: the Train page's RunManager (ui.train.page_state.manager(), a temporary runs
directory) gets one start_run per session (owner) from as many threads, released together by a barrier; one
more session is a real Train page (Streamlit's AppTest) that watches its own run, which it started through the
same manager, and reruns the whole page (more than a poll, which reruns only the live fragment) every
`--every` seconds while the runs train. Reported:

1. the total time from the barrier until every run has ended (or --deadline has passed: runs still active are
   listed with their message), and every run's end (all must finish);
2. metric rows: every run's epoch rows must be 1..epochs and its step rows every `log_every` steps, none lost;
3. the most runs holding a worker (store: active and out of the queue), the most running at once (store:
   status running) and the most worker processes alive (the manager's; none under Ray), sampled every 10 ms,
   against the cap;
4. the server's time for one Train page rerun while the runs train, by what the page shows (its own run
   queued, running or ended), against the same page watching its own run while that run alone trains (the
   reference, in this process just before), median and max;
5. with both executors: a table of the two side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field

from streamlit.testing.v1 import AppTest

from builder.library.templates import TEMPLATES
from devtools.app_server import ROOT
from engine.runs.executor import RAY_ADDRESS_ENV
from engine.runs.store import RUNS_DIR_ENV
from engine.train.config import TrainConfig

TEMPLATE = "mlp_iris"


class Sampler:
    """The most runs holding a worker slot and running (from the store) and worker processes alive, every 10 ms."""

    def __init__(self, manager):
        self.manager, self.holding, self.running, self.alive = manager, 0, 0, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            holders = self.manager.queue.holders()
            self.holding = max(self.holding, len(holders))
            self.running = max(self.running, sum(r.status == "running" for r in holders))
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


@dataclass
class Result:
    """One executor's figures, for the table that sets the two side by side."""

    executor: str
    total_s: float
    finished: int
    runs: int
    lost: int
    reference: list[float]
    during: dict[str, list[float]] = field(default_factory=dict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", choices=("local", "ray", "both"), default="both")
    parser.add_argument("--ray-address", default="local", help="NETCANVAS_RAY_ADDRESS for --executor ray (local)")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None, help="local: NETCANVAS_MAX_WORKERS or cores - 1")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between page reruns")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds after which runs still active count")
    args = parser.parse_args()
    print("torch threads: each run's worker chooses its own (engine.threads; the run's start message says it)")
    results = []
    for executor in ("local", "ray") if args.executor == "both" else (args.executor,):
        os.environ.pop(RAY_ADDRESS_ENV, None)
        if executor == "ray":
            os.environ[RAY_ADDRESS_ENV] = args.ray_address
            connect_ray(args.ray_address)
        with tempfile.TemporaryDirectory() as runs:
            os.environ[RUNS_DIR_ENV] = runs  # a manager of its own (the page's is one per runs directory)
            where = f" ({RAY_ADDRESS_ENV}={args.ray_address})" if executor == "ray" else ""
            print(f"\n--- executor {executor}{where}")
            results.append(report(args, executor))
    print_table(args, results)


def print_table(args, results: list[Result]) -> None:
    """The executors side by side: total time, runs finished, rows lost, the page's rerun times."""
    med = statistics.median
    print(f"\n{args.sessions} sessions x {TEMPLATE} for {args.epochs} epochs, {os.cpu_count()} CPUs; page reruns in ms")
    header = (
        "| executor | all ended (s) | finished | runs with rows lost | page rerun, own run alone | while all train |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in results:
        times = [t for ts in r.during.values() for t in ts]
        during = f"{med(times) * 1000:.0f} median, {max(times) * 1000:.0f} max ({len(times)})" if times else "-"
        print(
            f"| {r.executor} | {r.total_s:.1f} | {r.finished} of {r.runs} | {r.lost} | "
            f"{med(r.reference) * 1000:.0f} median | {during} |"
        )


def report(args, executor: str) -> Result:
    from ui.train.page_state import manager as page_manager

    at = open_page(args.epochs)
    manager = page_manager()
    assert manager.executor.name == executor, (manager.executor.name, executor)
    if args.workers and executor == "local":
        manager.queue.workers = args.workers
    at.button(key="train_start").click().run()  # warm-up: the fork server's imports (Ray: the actors'), the data
    manager.wait(at.session_state["train_run"], 300)
    reference = reference_reruns(at, manager, args.every)
    at.number_input(key="ts_epochs").set_value(args.epochs).run()

    config = TrainConfig(**{**TEMPLATES[TEMPLATE].train, "epochs": args.epochs, "device": "cpu"})
    sampler, started = Sampler(manager), time.perf_counter()
    ids = start_together(manager, config, args.sessions - 1)
    at.button(key="train_start").click().run()  # the page's own session: the last to start
    ids.append(at.session_state["train_run"])
    during: dict[str, list[float]] = {}  # what the page's own run was, while the page reran: rerun times
    deadline = started + args.deadline  # a run that never ends is reported, not waited for forever
    while any(manager.status(run_id).active for run_id in ids) and time.perf_counter() < deadline:
        shown = shown_as(manager.status(ids[-1]))
        during.setdefault(shown, []).append(timed_rerun(at))
        time.sleep(args.every)
    total = time.perf_counter() - started
    sampler.stop()

    result = Result(executor, total, 0, len(ids), 0, reference, during)
    print_ends(args, manager, ids, result)
    cap = f"cap {manager.queue.workers} worker(s)" if executor == "local" else f"cluster {cluster_cpus()} CPUs"
    print(
        f"3. {cap}: most runs holding a worker {sampler.holding}, most running at once {sampler.running}, "
        f"most worker processes alive {sampler.alive}"
    )
    med = statistics.median
    print(f"4. Train page rerun (server), its own run training alone: {med(reference) * 1000:.0f} ms median")
    for shown, times in during.items():
        print(
            f"   while the {args.sessions} runs train, its own run {shown}: {med(times) * 1000:.0f} ms median, "
            f"{max(times) * 1000:.0f} ms max over {len(times)} reruns (ratio {med(times) / med(reference):.2f})"
        )
    manager.close()
    return result


def print_ends(args, manager, ids: list[str], result: Result) -> None:
    """Items 1 and 2: how the runs ended (each one that did not finish, with its message) and the rows lost by
    the runs that finished (one that did not has fewer rows by itself); kept in `result`."""
    records = [manager.status(run_id) for run_id in ids]
    ends = [r.status for r in records]
    lost = {r.id: lost_rows(manager, r.id) for r in records if r.status == "finished"}
    result.finished, result.lost = ends.count("finished"), sum(bool(problems) for problems in lost.values())
    print(f"{args.sessions} sessions x {TEMPLATE} for {args.epochs} epochs, {os.cpu_count()} CPUs")
    ended = "deadline, runs still active," if any(r.active for r in records) else "all runs ended"
    others = {end: ends.count(end) for end in set(ends) - {"finished"}}
    print(f"1. {ended} in {result.total_s:.1f} s: {result.finished} finished, others {others}")
    for record in records:
        if record.status != "finished":
            print(f"   {record.id}: {record.status}: {record.message}")
    problems = [p for run_problems in lost.values() for p in run_problems]
    print(f"2. finished runs with metric rows lost: {result.lost}" + "".join(f"\n   {p}" for p in problems[:10]))


def shown_as(record) -> str:
    """What the page's own run is: queued (in the app's queue), waiting for the cluster (Ray), running..."""
    if record.status == "queued" and not record.waiting and record.message.startswith("waiting for the cluster"):
        return "waiting for the cluster"
    return record.status


def connect_ray(address: str) -> None:
    """Connect (`local`: start the private Ray) from the main thread, before the page makes its manager: Ray's
    processes started by ray.init get the starting thread's death signal, and AppTest runs the page in a
    thread that ends after each run (the manager then finds Ray initialized and uses it as it is)."""
    from engine.runs.ray_cluster import connect

    connect(address)


def cluster_cpus() -> int:
    import ray

    return int(ray.cluster_resources().get("CPU", 0))


if __name__ == "__main__":
    main()
