"""A learning rule other than backprop in the worker's real process: events, pause, resume, stop, checkpoint."""

import dataclasses

import pytest

from builder.library.templates import TEMPLATES
from engine.runs.bundle import read_bundle
from engine.runs.checkpoint import OPTIMIZER_FILE
from engine.runs.manager import RunManager
from engine.runs.store import RunStore
from engine.train.config import TrainConfig

pytestmark = pytest.mark.usefixtures("single_thread_torch")
RBM_DIGITS = TrainConfig(**{**TEMPLATES["rbm_digits"].train, "device": "cpu"})


def test_an_rbm_run_through_the_worker_pauses_resumes_stops_and_keeps_both_biases(tmp_path):
    manager = RunManager(RunStore(tmp_path / "runs"))
    try:
        config = dataclasses.replace(RBM_DIGITS, epochs=10_000, log_every=5)
        run = manager.start_run("alice", TEMPLATES["rbm_digits"].spec(), config)
        manager.wait(run, 60, until=lambda r: r.status == "running" and r.progress.get("epoch", 0) >= 1)
        manager.pause(run)
        paused = manager.wait(run, 30, until=lambda r: r.status == "paused")
        assert read_bundle(manager.store.bundle_dir(run)).meta["metrics"]["status"] == "paused"
        manager.resume(run)
        manager.wait(run, 30, until=lambda r: r.status == "running" and r.progress["step"] > paused.progress["step"])
        manager.stop(run)
        stopped = manager.wait(run, 30)
        assert stopped.status == "stopped" and stopped.final["trainer"] == "rbm"
        assert "contrastive divergence" in stopped.message or stopped.message.startswith("stopped on request")
        epochs = [r for r in manager.metrics(run) if r.kind == "epoch"]
        assert {"reconstruction_error", "pseudo_log_likelihood", "free_energy_gap"} <= set(epochs[-1].data)
        assert [r for r in manager.metrics(run) if r.kind == "step"][0].data["reconstruction_error"] > 0
        assert "rbm" in manager.snapshots(run, "epoch")[-1].data["panels"]
        bundle_dir = manager.store.bundle_dir(run)
        state = read_bundle(bundle_dir).state_dict
        assert set(state) == {"rbm.weight", "rbm.h_bias", "rbm.v_bias"} and state["rbm.v_bias"].abs().sum() > 0
        assert not (bundle_dir / OPTIMIZER_FILE).exists()  # the rule has no optimizer
    finally:
        manager.close()
