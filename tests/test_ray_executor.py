"""Runs through the ray executor against a real local Ray (started here, stopped at the end of the module): the
same rows as the local executor, pause / resume / stop, an actor killed mid-run (interrupted, then continued from
its checkpoint), a manager made anew mid-run (reattached, no row twice or missing), a GPU run on a CPU-only
cluster (waits, saying why, and can be stopped), and `train --ray`.

Each actor start costs a Ray worker process that imports torch (15-20 s on the 2 shared cores this was written
on), so the runs here are few and short."""

from __future__ import annotations

import dataclasses
import time

import pytest
import ray

from builder.library.templates import TEMPLATES
from engine.cli.main import main as cli_main
from engine.runs.bundle import read_bundle
from engine.runs.executor_types import RAY_NAMESPACE
from engine.runs.manager import RunManager, available_devices
from engine.runs.store import RunStore
from engine.train.config import TrainConfig

MLP = TEMPLATES["mlp_iris"].spec()
SHORT = TrainConfig(dataset="iris", batch_size=16, epochs=4, device="cpu", lr=0.01, seed=7)
LONG = dataclasses.replace(SHORT, epochs=100_000)
START_S = 240  # an actor's start: a Ray worker process, torch imported, the data read, on a busy machine


@pytest.fixture(scope="module")
def cluster():
    ray.init(
        num_cpus=2,
        num_gpus=0,  # a CPU-only cluster, whatever this machine has
        include_dashboard=False,
        object_store_memory=80 * 1024**2,
        namespace="netcanvas-tests",
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def manager(cluster, tmp_path_factory):
    made = RunManager(RunStore(tmp_path_factory.mktemp("ray_runs")), ray_address="auto")
    yield made
    for record in made.store.list_runs():
        if record.active:
            made.stop(record.id)
    made.close()


def running(manager, run_id, after_step: int = 0):
    return manager.wait(
        run_id, START_S, until=lambda r: r.status == "running" and r.progress.get("step", 0) > after_step
    )


def actor_goes(run_id: str, limit_s: float = 60.0) -> bool:
    """Whether the run's named actor leaves the cluster within `limit_s`: it ends itself once its last event is
    written, and Ray drops the name a moment later (longer on a busy machine)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            ray.get_actor(run_id, namespace=RAY_NAMESPACE)
        except ValueError:  # no actor by that name any more
            return True
        time.sleep(0.2)
    return False


def rows_without_clocks(manager, run_id) -> list:
    """The run's metric rows without what a clock measured (seconds)."""
    return [
        (r.step, r.epoch, r.kind, {k: v for k, v in r.data.items() if "seconds" not in k})
        for r in manager.metrics(run_id)
    ]


def test_a_run_through_ray_gives_the_local_executors_rows(manager, tmp_path, monkeypatch):
    monkeypatch.setenv("NETCANVAS_RAY_ADDRESS", "auto")  # what the Train page offers: the cluster's devices
    assert manager.executor.name == "ray" and available_devices() == manager.devices() == ["cpu"]
    monkeypatch.delenv("NETCANVAS_RAY_ADDRESS")
    run = manager.start_run("alice", MLP, SHORT)
    local = RunManager(RunStore(tmp_path / "local"))
    try:
        local_run = local.start_run("alice", MLP, SHORT)
        assert local.wait(local_run, START_S).status == "finished"
    finally:
        local.close()
    done = manager.wait(run, START_S)
    assert done.status == "finished" and done.message.startswith("trained 4 epochs")
    assert rows_without_clocks(manager, run) == rows_without_clocks(local, local_run)
    assert len([r for r in manager.metrics(run) if r.kind == "epoch"]) == 4
    assert manager.snapshots(run, "epoch") and manager.snapshots(run, "step")  # probes came back too
    bundle = read_bundle(manager.store.bundle_dir(run))  # the final checkpoint, copied as bytes by the app
    assert bundle.meta["metrics"]["status"] == "finished" and bundle.meta["metrics"]["epochs"] == 4
    assert manager.executor.status(run).state == "ended"
    assert actor_goes(run), "its actor is still there after its last event was written"


def test_pause_resume_and_stop_reach_the_actor(manager):
    run = manager.start_run("alice", MLP, LONG)
    running(manager, run)
    manager.pause(run)
    paused = manager.wait(run, 60, until=lambda r: r.status == "paused")
    assert paused.message.startswith("paused at step") and manager.executor.status(run).state == "paused"
    saved = read_bundle(manager.store.bundle_dir(run)).meta["metrics"]  # pausing checkpoints: its bytes are here
    assert saved["status"] == "paused" and saved["steps"] == paused.progress["step"]
    manager.resume(run)
    running(manager, run, after_step=paused.progress["step"])
    manager.stop(run)
    stopped = manager.wait(run, 60)
    assert stopped.status == "stopped" and "stopped on request at step" in stopped.message
    saved = read_bundle(manager.store.bundle_dir(run)).meta["metrics"]
    assert saved["status"] == "stopped" and saved["steps"] == stopped.progress["step"]


def test_a_killed_actor_interrupts_its_run_which_continues_from_its_checkpoint(manager):
    run = manager.start_run("alice", MLP, LONG)
    manager.wait(run, START_S, until=lambda r: r.progress.get("epoch", 0) >= 2 and manager.has_checkpoint(run))
    ray.kill(ray.get_actor(run, namespace=RAY_NAMESPACE), no_restart=True)
    ended = manager.wait(run, 60)
    assert ended.status == "interrupted" and ended.message.startswith("interrupted: its Ray actor was lost at step")
    assert "Continue resumes it from there" in ended.message
    assert manager.executor.status(run).state == "interrupted"
    saved = read_bundle(manager.store.bundle_dir(run)).meta["metrics"]
    assert ended.progress["step"] == saved["steps"] and ended.progress["epoch"] == saved["epochs"]
    assert max(r.step for r in manager.metrics(run)) <= saved["steps"]  # what is trained again is not kept twice

    more = dataclasses.replace(LONG, epochs=saved["epochs"] + 2)
    manager.continue_run(run, MLP, more)
    done = manager.wait(run, START_S)
    assert done.status == "finished" and done.progress["epoch"] == saved["epochs"] + 2
    epochs = [r.epoch for r in manager.metrics(run) if r.kind == "epoch"]
    assert epochs == list(range(1, saved["epochs"] + 3))
    steps = [r.step for r in manager.metrics(run) if r.kind == "step"]
    assert steps == sorted(set(steps))


def test_a_manager_made_anew_mid_run_reattaches_without_a_row_twice_or_missing(cluster, tmp_path):
    """A store of its own: the module's manager must not be the one collecting."""
    first = RunManager(RunStore(tmp_path), ray_address="auto")
    run = first.start_run("bob", MLP, LONG)
    at = running(first, run).progress["step"]
    first.close()  # the app goes away; its actor goes on
    again = RunManager(RunStore(tmp_path), ray_address="auto")
    try:
        running(again, run, after_step=at + 50)
        again.stop(run)
        assert again.wait(run, 60).status == "stopped"
    finally:
        again.close()
    rows = again.metrics(run)
    epochs = [r.epoch for r in rows if r.kind == "epoch"]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= 2
    steps = [r.step for r in rows if r.kind == "step"]
    assert steps == sorted(set(steps))
    per_epoch = again.status(run).progress["steps_per_epoch"]
    assert [r.step for r in rows if r.kind == "epoch"] == [per_epoch * e for e in epochs]


def test_a_gpu_run_on_a_cpu_only_cluster_waits_saying_why_and_can_be_stopped(manager):
    run = manager.start_run("carol", MLP, dataclasses.replace(SHORT, device="cuda"))
    waiting = manager.wait(run, 60, until=lambda r: r.message.startswith("waiting for the cluster"))
    assert waiting.status == "queued" and "needs 1 GPU" in waiting.message
    assert "the cluster has no GPU" in waiting.message
    state = manager.executor.status(run)
    assert state.state == "waiting" and "needs 1 GPU" in state.why
    manager.stop(run)
    stopped = manager.wait(run, 30)
    assert stopped.status == "stopped" and "waiting for the cluster" in stopped.message
    with pytest.raises(ValueError):
        ray.get_actor(run, namespace=RAY_NAMESPACE)


def test_train_with_ray_prints_the_local_lines_and_writes_the_bundle(cluster, capsys, tmp_path):
    flags = ["train", "--template", "mlp_iris", "--epochs", "3", "--seed", "7", "--device", "cpu"]
    assert cli_main([*flags, "--out", str(tmp_path / "local")]) == 0
    local = capsys.readouterr().out.splitlines()
    assert cli_main([*flags, "--out", str(tmp_path / "ray"), "--ray", "auto"]) == 0
    remote = capsys.readouterr().out.splitlines()

    def epoch_lines(lines):  # without the seconds each epoch took
        return [line.rsplit("  (", 1)[0] for line in lines if line.startswith("epoch ")]

    assert epoch_lines(remote) == epoch_lines(local) and len(epoch_lines(local)) == 3
    assert remote[-1] == f"bundle written to {tmp_path / 'ray'}"
    assert any("on a Ray actor" in line for line in remote[:2])  # the start line (after a wait line, if any)
    assert read_bundle(tmp_path / "ray").state_dict.keys() == read_bundle(tmp_path / "local").state_dict.keys()


def test_with_auto_resume_a_lost_actor_continues_once_by_itself(manager, monkeypatch):
    monkeypatch.setenv("NETCANVAS_RAY_AUTO_RESUME", "1")
    run = manager.start_run("dave", MLP, LONG)
    manager.wait(run, START_S, until=lambda r: r.progress.get("epoch", 0) >= 2 and manager.has_checkpoint(run))
    ray.kill(ray.get_actor(run, namespace=RAY_NAMESPACE), no_restart=True)

    def second_actor_training(record) -> bool:
        return manager.executor.runs.row(run)["incarnation"] == 2 and record.status == "running"

    manager.wait(run, START_S, until=second_actor_training)
    ray.kill(ray.get_actor(run, namespace=RAY_NAMESPACE), no_restart=True)
    ended = manager.wait(run, 60)
    assert ended.status == "interrupted" and ended.message.startswith("interrupted:")
    assert "Continue resumes it from there" in ended.message  # once only
    manager.dispatch()  # once only: nothing starts it a third time
    assert manager.status(run).status == "interrupted" and manager.executor.runs.row(run)["incarnation"] == 2
    assert len(manager.edits(run)) == 1  # the one continue, recorded as a Continue press records it
