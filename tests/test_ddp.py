"""Training with DistributedDataParallel: two CPU processes under torchrun (gloo), data sharded across the ranks,
rank 0 prints and writes the bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from builder.library.templates import TEMPLATES
from engine.cli.main import main
from engine.cli.train_ddp import World, backend_and_device, shard_indices
from engine.errors import ConfigError, DataError
from engine.export.exporter import load_trained
from engine.runs.bundle import read_bundle
from tests.bundles import ROOT


def test_two_cpu_processes_train_with_ddp_the_loss_goes_down_and_the_bundle_loads(tmp_path):
    out = tmp_path / "iris"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "engine",
        "train",
        "--template",
        "mlp_iris",
        "--epochs",
        "8",
        "--ddp",
        "--json",
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    start = events[0]
    assert start["kind"] == "start" and start["processes"] == 2 and "gloo" in start["message"]
    assert start["train_samples"] == 120  # 150 iris samples, 20 % held out; two shards of 60
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert [e["epoch"] for e in epochs] == list(range(1, 9))  # printed once: only rank 0 prints
    assert epochs[-1]["loss"] < 0.8 * epochs[0]["loss"]
    assert events[-1]["kind"] == "done" and "on 2 processes" in events[-1]["message"]
    bundle = read_bundle(out)
    assert bundle.meta["metrics"]["processes"] == 2 and bundle.meta["metrics"]["loss"] == epochs[-1]["loss"]
    assert not any(key.startswith("module.") for key in bundle.state_dict)  # the plain model's keys
    load_trained(out)  # compiles and takes the weights strictly


def test_shards_are_disjoint_equal_and_the_same_on_every_rank():
    shards = [shard_indices(121, World(rank, rank, 3), seed=7) for rank in range(3)]
    assert [len(s) for s in shards] == [40, 40, 40]  # the remainder is dropped, so every rank takes as many steps
    together = torch.cat(shards)
    assert len(set(together.tolist())) == 120
    assert torch.equal(shard_indices(121, World(1, 1, 3), seed=7), shards[1])  # same seed, same shard
    with pytest.raises(DataError, match="fewer than the 8 processes"):
        shard_indices(4, World(0, 0, 8), seed=0)


def test_cpu_uses_gloo_and_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    world = World(0, 0, 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert backend_and_device("auto", world) == ("gloo", "cpu")
    assert backend_and_device("cpu", world) == ("gloo", "cpu")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        backend_and_device("cuda", world)
    with pytest.raises(ConfigError, match="mps"):
        backend_and_device("mps", world)


def test_ddp_without_torchrun_says_how_to_launch(capsys, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert main(["train", "--template", "mlp_iris", "--ddp"]) == 2
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("error: --ddp needs the variables torchrun sets") and "torchrun --nproc_per_node=N" in line


def test_a_network_with_a_parameter_the_output_never_uses_trains_under_ddp(tmp_path):
    """dbn_digits' RBMs keep a visible bias that only their own learning rule uses: DDP must be told, or its
    second step fails waiting for that gradient."""
    from engine.cli.train_ddp import unused_parameters
    from engine.compile.fx_module import compile_spec

    model = compile_spec(TEMPLATES["dbn_digits"].spec())
    assert unused_parameters(model, torch.rand(2, 64)) == ["rbm1.v_bias", "rbm2.v_bias"]
    assert all(p.grad is None for p in model.parameters())  # the check leaves nothing behind
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "engine"]
    command += ["train", "--template", "dbn_digits", "--epochs", "2", "--ddp", "--json", "--device", "cpu"]
    command += ["--trainer", "backprop"]  # the template's own rule (DBN pretraining) runs in one process
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [e["epoch"] for e in events if e["kind"] == "epoch"] == [1, 2] and events[-1]["kind"] == "done"
