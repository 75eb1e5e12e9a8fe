"""Runs started at once on a small local Ray (issue 24, the bench's 20 sessions in small): none is lost, all
finish, and the cluster's CPUs come back; a failed lookup of an actor's name is not, by itself, a lost actor.

The Ray started here has 2 CPUs, like the machine the bench ran on; each run is one epoch of iris, so the
time goes to the actors' starts (a Ray worker process importing torch each)."""

from __future__ import annotations

import contextlib
import json
import threading
import time

import pytest
import ray

from builder.library.templates import TEMPLATES
from engine.cli.main import main as cli_main
from engine.runs.bundle import META_FILE
from engine.runs.executor_types import RAY_NAMESPACE
from engine.runs.manager import RunManager
from engine.runs.ray_executor import RayExecutor
from engine.runs.store import RunStore
from engine.train.config import TrainConfig

MLP = TEMPLATES["mlp_iris"].spec()
ONE_EPOCH = TrainConfig(dataset="iris", batch_size=16, epochs=1, device="cpu", lr=0.01, seed=7, threads=1)
RUNS = 4  # twice the cluster's CPUs: half of them wait for the cluster while the others train
PAGE_READ_S = 0.01  # a page's reads, 100 a second: dense enough to race each actor's start, without
# spinning (four threads reading back to back held the GIL and a core from the runs they watched)
END_S = 420  # every run's end: two rounds of actor starts on a busy machine


@pytest.fixture(scope="module")
def cluster():
    ray.init(
        num_cpus=2,
        num_gpus=0,
        include_dashboard=False,
        object_store_memory=80 * 1024**2,
        namespace="netcanvas-tests",
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


def _start_together(manager: RunManager, owners: list[str]) -> list[str]:
    """Each owner starts its run from a thread of its own, all released at once (sessions pressing Train)."""
    gate, ids, errors = threading.Barrier(len(owners)), {}, []

    def start(owner: str) -> None:
        try:
            gate.wait()
            ids[owner] = manager.start_run(owner, MLP, ONE_EPOCH)
        except Exception as err:  # said in the assertion below, not lost in a thread
            errors.append(f"{owner}: {type(err).__name__}: {err}")

    threads = [threading.Thread(target=start, args=(owner,)) for owner in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return [ids[owner] for owner in owners]


def test_runs_started_at_once_from_threads_all_finish_none_lost_and_the_cpus_come_back(cluster, tmp_path):
    manager = RunManager(RunStore(tmp_path), ray_address="auto")
    owners = [f"session{i}" for i in range(RUNS)]
    done = threading.Event()

    def page(owner: str) -> None:  # a session's Train page, reading its runs while they start
        while not done.wait(PAGE_READ_S):
            manager.list_runs(owner)

    pages = [threading.Thread(target=page, args=(owner,), daemon=True) for owner in owners]
    for thread in pages:
        thread.start()
    try:
        runs = _start_together(manager, owners)
        ended = [manager.wait(run, END_S) for run in runs]
    finally:
        done.set()
        for thread in pages:
            thread.join()
        manager.close()
    assert [(r.status, r.message[:60]) for r in ended] == [
        (r.status, r.message[:60]) for r in ended if r.status == "finished"
    ]
    assert all(manager.executor.runs.row(run)["live"] == 0 for run in runs)
    assert not ray.util.list_named_actors(all_namespaces=True)  # each actor went once its run's end was written
    assert _free_cpus_once_settled() == 2  # and gave its CPU back


def _free_cpus_once_settled() -> float:
    """The cluster's free CPUs once the killed actors' CPUs are back (Ray returns them a moment after the kill)."""
    deadline = time.monotonic() + 60
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    return ray.available_resources().get("CPU", 0)


def test_a_name_lookup_that_finds_nothing_is_no_loss_until_the_name_stays_missing(cluster, tmp_path):
    """A run the ray_runs table says is live, whose actor's name is not (yet) found: a reattaching manager's
    lookup, or one racing the actor's registration. The run waits; only after the grace is it interrupted."""
    store = RunStore(tmp_path)
    executor = RayExecutor(store, None, "auto")
    run = store.create_run("erin", MLP.to_dict(), ONE_EPOCH.to_dict(), message="starting")
    store.set_status(run, "running", "training")
    executor.runs.register(run, {"CPU": 1, "GPU": 0})
    executor.check(store.get(run))
    assert store.get(run).status == "running" and executor.runs.live() == [run]
    executor.lookup_grace_s = 0.0  # the name stayed missing long enough
    assert executor.check(store.get(run)) is True
    record = store.get(run)
    assert record.status == "interrupted" and record.message.startswith("interrupted: its Ray actor was lost at step 0")
    assert "before its first checkpoint" in record.message and executor.status(run).state == "interrupted"
    assert executor.runs.live() == []


def test_a_lost_run_is_never_seen_ended_with_counters_past_its_checkpoint(cluster, tmp_path, monkeypatch):
    """The status and the rollback to the checkpoint land together: a page reading between them would show an
    interrupted run at a step its checkpoint never reached (a full suite's reader once did)."""
    store = RunStore(tmp_path)
    executor = RayExecutor(store, None, "auto")
    run = store.create_run("fay", MLP.to_dict(), ONE_EPOCH.to_dict(), message="starting")
    store.set_status(run, "running", "training", progress={"step": 64, "epoch": 8})
    executor.runs.register(run, {"CPU": 1, "GPU": 0})
    store.bundle_dir(run).mkdir(parents=True, exist_ok=True)
    (store.bundle_dir(run) / META_FILE).write_text(json.dumps({"metrics": {"steps": 8, "epochs": 1}}))
    seen, transaction = [], store.transaction

    @contextlib.contextmanager
    def watched():  # what a page reads after each commit
        with transaction() as conn:
            yield conn
        record = store.get(run)
        seen.append((record.status, record.progress["step"]))

    monkeypatch.setattr(store, "transaction", watched)
    executor._lost(run, "RayActorError")
    assert seen and seen[-1] == ("interrupted", 8), seen
    assert ("interrupted", 64) not in seen, seen


def _kill_the_cli_actor_once_it_trains(killed: list[str]) -> None:
    """Find `train --ray`'s actor by its name, let it train a few seconds, kill it (as a lost node would)."""
    deadline = time.monotonic() + END_S
    while time.monotonic() < deadline:
        names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith("cli-")]
        if names:
            actor = ray.get_actor(names[0], namespace=RAY_NAMESPACE)
            ray.get(actor.ready.remote(), timeout=END_S)
            time.sleep(3)
            ray.kill(actor, no_restart=True)
            killed.append(names[0])
            return
        time.sleep(0.2)


def test_train_with_ray_whose_actor_is_lost_says_interrupted_in_one_line(cluster, capsys):
    killed: list[str] = []
    killer = threading.Thread(target=_kill_the_cli_actor_once_it_trains, args=(killed,), daemon=True)
    killer.start()
    flags = ["train", "--template", "mlp_iris", "--epochs", "100000", "--device", "cpu", "--ray", "auto"]
    code = cli_main(flags)
    killer.join()
    out, err = capsys.readouterr()
    assert killed and code == 4, (code, out[-500:])
    last = out.strip().splitlines()[-1]
    assert last.startswith("error: interrupted: its Ray actor was lost at step"), last
    assert "Traceback" not in out + err
