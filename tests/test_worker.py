"""The worker's life cycle in real processes: start, pause, resume, stop, finish, NaN, crashes, restart,
two owners, edit and continue."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import types

import pytest

from builder.library.templates import TEMPLATES
from engine.errors import BundleError, ConfigError, DataError, SpecInvalid
from engine.runs.bundle import WEIGHTS_FILE, read_bundle
from engine.runs.manager import RunManager
from engine.runs.store import RunStore
from engine.train.config import TrainConfig
from tests.helpers import chain

IRIS = TrainConfig(dataset="iris", batch_size=16, epochs=100_000, device="cpu", lr=0.01)
MLP = TEMPLATES["mlp_iris"].spec()


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    return RunManager(RunStore(tmp_path_factory.mktemp("runs")))


def running(manager, run_id, after_step: int = 0):
    return manager.wait(run_id, 60, until=lambda r: r.status == "running" and r.progress.get("step", 0) > after_step)


def test_start_pause_resume_stop(manager):
    run = manager.start_run("alice", MLP, IRIS)
    assert manager.status(run).status in ("queued", "running")
    running(manager, run)
    manager.pause(run)
    paused = manager.wait(run, 30, until=lambda r: r.status == "paused")
    assert paused.message.startswith("paused at step")
    rows = len(manager.metrics(run))
    # a paused worker takes no steps: send it another pause and wait until its paused loop has taken that
    # command (an event, not a time), then nothing may have moved
    manager.pause(run)
    manager.wait(run, 30, until=lambda r: not manager.store.has_commands(run))
    assert len(manager.metrics(run)) == rows and manager.status(run).progress["step"] == paused.progress["step"]
    assert read_bundle(manager.store.bundle_dir(run)).meta["metrics"]["status"] == "paused"  # pausing checkpoints

    manager.resume(run)
    running(manager, run, after_step=paused.progress["step"])
    manager.stop(run)
    stopped = manager.wait(run, 30)
    assert stopped.status == "stopped" and "stopped on request at step" in stopped.message
    bundle = read_bundle(manager.store.bundle_dir(run))
    assert bundle.meta["metrics"]["steps"] == stopped.progress["step"] and bundle.meta["metrics"]["status"] == "stopped"
    assert set(bundle.state_dict) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}


def test_a_short_run_finishes_with_metrics_and_probes(manager):
    config = TrainConfig(dataset="xor", optimizer="adam", lr=0.05, batch_size=4, epochs=40, device="cpu")
    run = manager.start_run("alice", TEMPLATES["mlp_xor"].spec(), config)
    done = manager.wait(run, 60)
    assert done.status == "finished" and done.message.startswith("trained 40 epochs")
    assert done.final["epochs"] == 40 and done.final["status"] == "finished" and "val_accuracy" in done.final
    epochs = [r for r in manager.metrics(run) if r.kind == "epoch"]
    assert [r.epoch for r in epochs] == list(range(1, 41)) and "val_loss" in epochs[-1].data
    last = manager.snapshots(run, "epoch")[-1]
    assert last.epoch == 40 and "surface" in last.data and len(last.data["confusion"]) == 2
    assert manager.snapshots(run, "step"), "step probes were taken"
    sampled = [(r.step, r.epoch) for r in manager.snapshots(run, "step")]
    assert len(sampled) >= 20 and sampled[-1] == (40, 40)  # a 40-step run: 20 snapshots or more, the last step's
    assert (manager.store.bundle_dir(run) / WEIGHTS_FILE).is_file()


def test_nan_loss_stops_naming_the_step_and_keeps_good_weights(manager):
    spec = chain(("x", "Input", {"shape": [20, 1]}), ("flat", "Flatten"), ("fc", "Linear", {"out_features": 1}))
    config = TrainConfig(dataset="sine", optimizer="sgd", lr=1e6, batch_size=32, epochs=5, log_every=4, device="cpu")
    run = manager.start_run("alice", spec, config)
    ended = manager.wait(run, 60)
    assert ended.status == "stopped"
    assert (
        "loss became" in ended.message and "at step" in ended.message and "kept the last good weights" in ended.message
    )
    weights = read_bundle(manager.store.bundle_dir(run)).state_dict
    assert all(math.isfinite(v) for t in weights.values() for v in t.flatten().tolist())


def test_a_killed_worker_marks_its_run_failed_and_the_manager_goes_on(manager):
    run = manager.start_run("alice", MLP, IRIS)
    pid = running(manager, run).pid
    os.kill(pid, signal.SIGKILL)
    failed = manager.wait(run, 30)
    assert failed.status == "failed" and "killed by SIGKILL" in failed.message

    again = manager.start_run("alice", MLP, IRIS.__class__(**{**IRIS.to_dict(), "epochs": 2}))
    assert manager.wait(again, 60).status == "finished"


def test_an_exception_in_the_worker_fails_the_run_with_its_message(manager):
    run = manager.start_run("alice", MLP, IRIS)
    running(manager, run)
    manager.stop(run)
    manager.wait(run, 30)
    (manager.store.bundle_dir(run) / WEIGHTS_FILE).write_bytes(b"not a safetensors file")
    manager.store.set_status(run, "queued", "continuing")
    bundle = str(manager.store.bundle_dir(run))
    manager._launch(run, weights_from=bundle, resume=True)  # the page would refuse: continue_run reads it first
    failed = manager.wait(run, 30)
    assert failed.status == "failed" and "Error" in failed.message
    assert "Traceback" in manager.store.log_path(run).read_text()
    with pytest.raises(BundleError, match="the checkpoint of run .* cannot be read"):
        manager.continue_run(run, MLP)


def test_user_mistakes_are_refused_before_a_run_starts(manager, tmp_path):
    before = len(manager.list_runs("carol"))
    with pytest.raises(ConfigError, match="lr must be > 0, got -1"):
        manager.start_run("carol", MLP, TrainConfig(dataset="iris", lr=-1))
    with pytest.raises(DataError, match="Input 'x' has shape \\[4\\] but dataset 'digits' gives \\[64\\]"):
        manager.start_run("carol", MLP, TrainConfig(dataset="digits"))
    bad = chain(("x", "Input", {"shape": [4]}), ("fc", "Linear", {"out_features": 0}))
    with pytest.raises(SpecInvalid, match="fc"):
        manager.start_run("carol", bad, TrainConfig(dataset="iris"))
    csv = tmp_path / "words.csv"
    csv.write_text("a,b,label\n1,x,0\n2,3,1\n")
    with pytest.raises(DataError, match="column 'b' row 1"):
        manager.start_run("carol", MLP, TrainConfig(dataset=f"csv:{csv}"))
    assert len(manager.list_runs("carol")) == before


def test_owners_do_not_see_each_others_runs(manager):
    config = TrainConfig(dataset="iris", batch_size=16, epochs=2, device="cpu")
    mine, theirs = manager.start_run("dave", MLP, config), manager.start_run("erin", MLP, config)
    assert [r.id for r in manager.list_runs("dave")] == [mine]
    assert manager.status(theirs, owner="dave") is None and manager.status(mine, owner="dave").id == mine
    for run in (mine, theirs):
        assert manager.wait(run, 60).status == "finished"


def test_a_restarted_app_finds_the_runs_and_fails_orphans(manager):
    run = manager.start_run("frank", MLP, TrainConfig(dataset="iris", batch_size=16, epochs=2, device="cpu"))
    manager.wait(run, 60)
    gone = subprocess.Popen(["true"])
    gone.wait()
    orphan = manager.store.create_run("frank", MLP.to_dict(), IRIS.to_dict())
    manager.store.set_status(orphan, "running", "training", pid=gone.pid)

    restarted = RunManager(RunStore(manager.store.root))  # a new app process on the same runs directory
    runs = {r.id: r for r in restarted.list_runs("frank")}
    assert runs[run].status == "finished" and restarted.metrics(run) == manager.metrics(run)
    assert runs[orphan].status == "failed" and "worker process is gone" in runs[orphan].message


def test_edit_and_continue_keeps_trained_nodes_and_counts_on(manager):
    config = TrainConfig(dataset="iris", batch_size=16, epochs=3, device="cpu")
    run = manager.start_run("gina", MLP, config)
    first = manager.wait(run, 60)
    assert first.status == "finished"
    with pytest.raises(ConfigError, match="epochs must be more than the 3 already trained"):
        manager.continue_run(run, MLP)

    nodes = [(n.id, n.op, n.params) for n in MLP.nodes]
    edited = chain(*nodes[:3], ("fc_mid", "Linear", {"out_features": 16}), ("act_mid", "Tanh"), nodes[3])
    plan = manager.continue_run(run, edited, TrainConfig(**{**config.to_dict(), "epochs": 5}))
    assert plan.kept == ("fc1", "fc2") and dict(plan.fresh) == {"fc_mid": "new node"}
    done = manager.wait(run, 60)
    assert done.status == "finished" and done.final["epochs"] == 5
    assert "fc_mid.weight" in read_bundle(manager.store.bundle_dir(run)).state_dict
    [edit] = manager.edits(run)
    assert edit.step == first.progress["step"] and edit.epoch == 3 and edit.data["kept"] == ["fc1", "fc2"]
    epochs = [r.epoch for r in manager.metrics(run) if r.kind == "epoch"]
    steps = [r.step for r in manager.metrics(run)]
    assert epochs == [1, 2, 3, 4, 5] and steps == sorted(steps)


def test_workers_do_not_run_the_parents_main_script(manager, tmp_path, monkeypatch):
    """Under Streamlit, __main__ is the app script: a worker must not execute it (multiprocessing would)."""
    marker = tmp_path / "ran"
    script = tmp_path / "app_script.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    run = manager.start_run("hank", MLP, TrainConfig(dataset="iris", batch_size=16, epochs=1, device="cpu"))
    assert manager.wait(run, 60).status == "finished"
    assert not marker.exists() and sys.modules["__main__"] is fake_main


def test_a_run_can_start_from_a_bundles_trained_weights(manager):
    config = TrainConfig(dataset="iris", batch_size=16, epochs=3, device="cpu")
    trained = manager.start_run("ivy", MLP, config)
    assert manager.wait(trained, 60).status == "finished"
    bundle = str(manager.store.bundle_dir(trained))
    again = manager.start_run("ivy", MLP, config, weights_from=bundle)
    assert manager.wait(again, 60).status == "finished"
    [edit] = manager.edits(again)
    assert (edit.step, edit.data["kept"], edit.data["weights_from"]) == (0, ["fc1", "fc2"], bundle)

    def first_epoch_loss(run):
        return next(r.data["loss"] for r in manager.metrics(run) if r.kind == "epoch")

    assert first_epoch_loss(again) < 0.8 * first_epoch_loss(trained)  # it starts where the other ended
