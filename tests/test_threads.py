"""engine.threads: torch's threads chosen from the step's size and the free cores, or set (issue 23).

The cores are injected (a Cores reading), so no test depends on this machine's load or on a clock.
"""

from __future__ import annotations

import json

import pytest

from builder.analysis.validate import analyze
from builder.library.templates import TEMPLATES
from builder.ops.opdef import numel
from engine.threads import Cores, Work, choose_threads, threads_for, work_of
from engine.train.config import TrainConfig

FREE = Cores(usable=2, busy=0.0, source="injected")
ONE_BUSY = Cores(usable=2, busy=1.0, source="injected")
NO_ENV: dict[str, str] = {}


def template_work(name: str, **changes) -> Work:
    template = TEMPLATES[name]
    work = work_of(analyze(template.spec()), TrainConfig(**{**template.train, **changes}))
    assert work is not None
    return work


def unread() -> Cores:
    raise AssertionError("the cores were read for a network too small to use them")


@pytest.mark.parametrize(("name", "changes"), [("mlp_digits", {}), ("rbm_digits", {}), ("som_digits", {})])
def test_small_network_gets_one_thread_free_or_busy(name, changes):
    work = template_work(name, **changes)
    for cores in (FREE, ONE_BUSY):
        choice = choose_threads(work, lambda c=cores: c, env=NO_ENV)
        assert choice.threads == 1
        assert choice.why.startswith("small network (") and "one thread" in choice.why
    assert choose_threads(work, unread, env=NO_ENV).threads == 1  # small: the cores are not even read


def test_large_network_takes_the_free_cores_only():
    work = template_work("resnet_mini", batch_size=256)
    free = choose_threads(work, lambda: FREE, env=NO_ENV)
    assert free.threads == 2
    assert "large network" in free.why and "0 of 2 cores busy" in free.why
    busy = choose_threads(work, lambda: ONE_BUSY, env=NO_ENV)
    assert busy.threads == 1
    assert "1 of 2 cores busy" in busy.why
    many = Cores(usable=64, busy=3.0, source="injected")
    assert choose_threads(work, lambda: many, env=NO_ENV).threads == min(work.per_step // 20_000_000, 61)


def test_a_worker_share_caps_the_automatic_choice():
    work = template_work("resnet_mini", batch_size=256)
    choice = choose_threads(work, lambda: Cores(8, 0.0, "injected"), env=NO_ENV, cap=1)
    assert choice.threads == 1
    assert "at most one thread for this worker" in choice.why


@pytest.mark.parametrize(("busy", "free"), [(0.0, 2), (0.2, 2), (0.3, 1), (1.0, 1), (2.0, 1), (5.0, 1)])
def test_a_core_is_free_only_when_little_of_it_is_busy(busy, free):
    assert Cores(2, busy, "injected").free == free


def test_the_setting_then_the_environment_override_the_rule():
    small, large = template_work("mlp_digits"), template_work("resnet_mini", batch_size=256)
    assert choose_threads(small, unread, setting=3, setting_name="--threads", env=NO_ENV).threads == 3
    assert (
        choose_threads(large, lambda: ONE_BUSY, setting=2, env=NO_ENV).why == "the threads setting asks for 2 threads"
    )
    env = {"OMP_NUM_THREADS": "2"}
    assert choose_threads(small, unread, env=env).threads == 2
    assert choose_threads(small, unread, setting=1, env=env).threads == 1  # the setting first
    assert choose_threads(small, unread, env={"OMP_NUM_THREADS": ""}).threads == 1  # empty: not set


def test_the_config_setting_reaches_the_choice_and_is_checked():
    analysis = analyze(TEMPLATES["mlp_digits"].spec())
    assert threads_for(analysis, TrainConfig(dataset="digits", threads=4)).threads == 4
    assert TrainConfig(threads=0).problems() == ["threads must be in [1, 1024] (or null: chosen), got 0"]
    config, problems = TrainConfig.from_dict({"threads": "2"})
    assert config is None and problems == ["threads must be an integer or null, got '2' (str)"]


def test_work_counts_each_use_of_a_weight():
    lenet = analyze(TEMPLATES["lenet"].spec())
    work = template_work("lenet", batch_size=256)
    assert work.batch == 256 and work.params == lenet.total_params
    # by hand: conv1 (60 weights) at 6 x 8 x 8 outputs' 64 positions, conv2 (880) at 16 x 4 x 4's 16, then the
    # two Linears (4160, 650) once each; plus every value written
    multiply_adds = 60 * 64 + 880 * 16 + 4160 + 650
    assert work.per_example == multiply_adds + sum(numel(shape) for shape in lenet.shapes.values())
    assert template_work("som_digits").batch == 1  # online SOM: one example per update
    assert template_work("som_digits", som_mode="batch").batch == TEMPLATES["som_digits"].train["batch_size"]


def start_event(capsys, monkeypatch, *flags: str) -> dict:
    from engine.cli.main import main

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    code = main(["train", "--template", "mlp_iris", "--epochs", "1", "--json", *flags])
    assert code == 0
    return json.loads(capsys.readouterr().out.splitlines()[0])


def test_the_cli_start_event_says_the_choice(capsys, monkeypatch, single_thread_torch):
    import torch

    head = start_event(capsys, monkeypatch)
    assert head["kind"] == "start"
    assert head["threads"] == 1 and head["interop_threads"] == 1
    assert head["threads_why"].startswith("small network (131 params x batch 16")
    head = start_event(capsys, monkeypatch, "--threads", "2")
    assert head["threads"] == 2 and head["threads_why"] == "--threads asks for 2 threads"
    assert torch.get_num_threads() == 2  # applied, not only said


def test_the_worker_chooses_for_its_run(tmp_path, monkeypatch, single_thread_torch):
    from engine.runs.store import RunStore
    from engine.runs.worker import _threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    store = RunStore(tmp_path)
    template = TEMPLATES["mlp_digits"]
    small = store.create_run("me", template.spec().to_dict(), TrainConfig(**template.train).to_dict())
    assert _threads(store.get(small)).threads == 1
    config = TrainConfig(**{**template.train, "threads": 3}).to_dict()
    setting = store.create_run("me", template.spec().to_dict(), config)
    assert _threads(store.get(setting)).why == "the threads setting asks for 3 threads"


def test_a_run_started_by_the_app_says_its_threads_in_the_store(make_manager):
    manager = make_manager()
    config = TrainConfig(dataset="xor", batch_size=4, epochs=100_000, device="cpu", threads=1)
    run = manager.start_run("alice", TEMPLATES["mlp_xor"].spec(), config)
    started = manager.wait(run, 60, until=lambda r: r.status == "running")
    manager.stop(run)
    assert started.message.startswith("using cpu") and "the threads setting asks for one thread" in started.message
