"""Run counters that agree with the run: the planned total after a run continues (another batch size, the
phases of a DBN), the epoch of the stop message and of the counter, the whole run's training time, no speed
or time left while paused, Resume seen at once, and Continue offered only where weights carry over."""

from __future__ import annotations

import re

import pytest
import torch

from builder.library.templates import TEMPLATES
from engine.errors import ConfigError
from engine.runs.manager import RunManager
from engine.runs.store import RunStore
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run
from tests.helpers import chain
from ui.train.live_view import shown_epochs

MLP = TEMPLATES["mlp_iris"].spec()
IRIS = TrainConfig(dataset="iris", batch_size=16, epochs=3, device="cpu", lr=0.01)  # 120 training rows: 8 steps


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    return RunManager(RunStore(tmp_path_factory.mktemp("counter_runs")))


def run_to_end(trainer) -> None:
    for _ in trainer.run():
        pass


def with_(config: TrainConfig, **changes) -> TrainConfig:
    return TrainConfig(**{**config.to_dict(), **changes})


# --- the planned total (engine.train.trainer_base) ---------------------------------------------------------


def test_planned_steps_after_continuing_with_another_batch_size():
    torch.set_num_threads(1)
    first = prepare_run(MLP, IRIS).trainer
    run_to_end(first)
    assert first.step == first.planned_steps() == 3 * 8

    more = prepare_run(MLP, with_(IRIS, batch_size=32, epochs=5)).trainer  # 4 steps an epoch from here on
    more.resume_at(first.step, first.epoch)
    assert more.planned_steps() == 24 + 2 * 4  # the 24 steps taken, then epochs 4 and 5 (was 5 * 4 = 20)
    run_to_end(more)
    assert more.step == more.planned_steps() == 32


def test_planned_steps_cover_every_phase_of_a_dbn_continued_in_fine_tuning():
    torch.set_num_threads(1)
    config = TrainConfig(**{**TEMPLATES["dbn_digits"].train, "epochs": 1, "pretrain_epochs": 1, "device": "cpu"})
    config = with_(config, batch_size=256)
    spec = TEMPLATES["dbn_digits"].spec()
    first = prepare_run(spec, config).trainer
    assert [p.name for p in first.plan()] == ["pretrain", "pretrain", "finetune"]
    run_to_end(first)
    assert first.step == first.planned_steps()

    more = prepare_run(spec, with_(config, epochs=3, batch_size=100)).trainer  # two more fine-tuning epochs
    more.resume_at(first.step, first.epoch)
    run_to_end(more)
    assert more.epoch == 5 and more.step == more.planned_steps()


# --- the worker's counters (engine.runs.worker_loop), in real worker processes ------------------------------


def test_a_stopped_run_names_the_epoch_and_step_its_counter_shows(manager):
    config = with_(IRIS, batch_size=1, epochs=1000, log_every=1)  # 120 steps an epoch: it stops inside one
    run = manager.start_run("amy", MLP, config)
    manager.wait(run, 60, until=lambda r: r.status == "running" and r.progress.get("step", 0) > 130)
    manager.stop(run)
    stopped = manager.wait(run, 30)
    found = re.search(r"at step (\d+) in epoch ([\d,]+) \(([\d,]+) / ([\d,]+) epochs done\)", stopped.message)
    step, inside, done, total = (int(g.replace(",", "")) for g in found.groups())
    assert stopped.progress["step"] == step and stopped.progress["epoch"] == done == inside - 1 and total == 1000
    assert shown_epochs(stopped.progress) == f"{done:,} / 1,000"  # the Run tab's counter: the message's number
    assert step <= stopped.progress["total_steps"] == 1000 * 120


def test_paused_shows_no_speed_resume_is_running_at_once_and_time_is_the_whole_runs(manager):
    run = manager.start_run("bob", MLP, with_(IRIS, epochs=100_000))
    manager.wait(run, 60, until=lambda r: r.status == "running" and r.progress.get("steps_per_s"))
    manager.pause(run)
    paused = manager.wait(run, 30, until=lambda r: r.status == "paused")
    assert paused.progress["steps_per_s"] is None and paused.progress["eta_s"] is None

    manager.resume(run)
    resumed = manager.status(run)  # no wait: the page's next draw shows it running
    assert resumed.status == "running" and resumed.message.startswith(("resuming at step", "resumed at step"))
    manager.wait(run, 30, until=lambda r: r.progress.get("step", 0) > paused.progress["step"])
    manager.stop(run)
    first = manager.wait(run, 30)
    assert first.status == "stopped" and first.final["active_seconds"] > 0

    manager.continue_run(run, MLP, with_(IRIS, epochs=first.progress["epoch"] + 2, batch_size=32))
    assert manager.status(run).progress["total_steps"] is None  # not the old plan's total
    done = manager.wait(run, 60)
    assert done.status == "finished"
    assert done.progress["step"] == done.progress["total_steps"] == first.progress["step"] + 2 * 4
    assert done.progress["active_s"] == pytest.approx(done.final["active_seconds"])  # the whole run's
    assert done.progress["active_s"] > first.final["active_seconds"]


# --- what Continue is offered for (engine.runs.manager) -------------------------------------------------------


def test_continue_is_offered_only_for_the_runs_data_and_a_network_that_keeps_weights(manager):
    run = manager.start_run("cat", MLP, with_(IRIS, epochs=2))
    assert manager.wait(run, 60).status == "finished"
    more = with_(IRIS, epochs=4)
    plan, why = manager.continue_offer(run, MLP, more)
    assert plan is not None and plan.kept == ("fc1", "fc2") and why == ""

    lenet = TEMPLATES["lenet"]
    digits = TrainConfig(**{**lenet.train, "epochs": 4, "device": "cpu"})
    plan, why = manager.continue_offer(run, lenet.spec(), digits)
    assert plan is None and why == "it was trained on dataset 'iris', and the settings say dataset 'digits'"

    other = chain(("x", "Input", {"shape": [4]}), ("head", "Linear", {"out_features": 3}))
    plan, why = manager.continue_offer(run, other, more)
    assert plan is None and why.startswith("no node of this network would keep its trained weights")
    assert "removed: fc1, fc2" in why
    with pytest.raises(ConfigError, match=f"run '{run}' cannot be continued: no node of this network"):
        manager.continue_run(run, other, more)
    with pytest.raises(ConfigError, match="epochs must be more than the 2 already trained"):
        manager.continue_run(run, MLP, with_(IRIS, epochs=2))
