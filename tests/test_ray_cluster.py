"""Choosing and reaching a Ray cluster, without starting one: NETCANVAS_RAY_ADDRESS picks the executor, a bad
address is one line (fast: not ray.init's minutes of retrying), and what a run's actor asks Ray for."""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest

from builder.library.templates import TEMPLATES
from engine.cli.main import main as cli_main
from engine.errors import ConfigError
from engine.runs.executor import executor_kind, make_executor
from engine.runs.ray_cluster import resources_for, waiting_why
from engine.runs.store import RunStore
from engine.runs.worker import WorkerOptions
from engine.train.config import TrainConfig

MLP = TEMPLATES["mlp_iris"].spec()
IRIS = TrainConfig(dataset="iris", device="cpu")


def _closed_port() -> int:
    """A local port where nothing listens (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_address_setting_chooses_the_executor(tmp_path, monkeypatch):
    assert executor_kind({}) == "local" and executor_kind({"NETCANVAS_RAY_ADDRESS": " "}) == "local"
    assert executor_kind({"NETCANVAS_RAY_ADDRESS": "auto"}) == "ray"
    monkeypatch.delenv("NETCANVAS_RAY_ADDRESS", raising=False)
    assert make_executor(RunStore(tmp_path), None, WorkerOptions(), "spawn").name == "local"
    monkeypatch.setenv("NETCANVAS_RAY_ADDRESS", f"127.0.0.1:{_closed_port()}")
    with pytest.raises(ConfigError, match="cannot use the Ray cluster"):  # the setting, not the default, decides
        make_executor(RunStore(tmp_path), None, WorkerOptions(), "spawn")


@pytest.mark.parametrize("address", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}", "no-port:", "host:http"])
def test_a_bad_address_is_one_line_naming_it(tmp_path, address):
    address = address.format(port=_closed_port())
    began = time.monotonic()
    with pytest.raises(ConfigError) as refused:
        make_executor(RunStore(tmp_path), None, WorkerOptions(), "spawn", address)
    message = str(refused.value)
    assert f"cannot use the Ray cluster at {address!r}" in message and "\n" not in message
    assert time.monotonic() - began < 30  # a connection refused, not ray.init's retrying (minutes)


def test_train_with_a_bad_ray_address_is_one_line_exit_2(capsys):
    address = f"127.0.0.1:{_closed_port()}"
    assert cli_main(["train", "--template", "mlp_iris", "--epochs", "1", "--ray", address]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"error: --ray: cannot use the Ray cluster at '{address}'")
    assert "Connection refused" in out[0]


def test_what_a_run_asks_the_cluster_for():
    no_gpu, gpus = {"CPU": 8.0}, {"CPU": 8.0, "GPU": 2.0}
    assert resources_for(MLP, IRIS, gpus) == {"CPU": 1, "GPU": 0}
    assert resources_for(MLP, dataclasses.replace(IRIS, device="cuda"), no_gpu) == {"CPU": 1, "GPU": 1}
    assert resources_for(MLP, dataclasses.replace(IRIS, device="cuda:1"), gpus)["GPU"] == 1
    assert resources_for(MLP, dataclasses.replace(IRIS, device="auto"), gpus)["GPU"] == 1
    assert resources_for(MLP, dataclasses.replace(IRIS, device="auto"), no_gpu)["GPU"] == 0
    assert resources_for(MLP, dataclasses.replace(IRIS, threads=3), no_gpu)["CPU"] == 3


def test_why_an_actor_waits():
    needs = {"CPU": 1, "GPU": 1}
    assert waiting_why(needs, {"CPU": 2.0}, {"CPU": 2.0}).startswith(
        "waiting for the cluster: needs 1 GPU and 1 CPU (the cluster has no GPU"
    )
    busy = waiting_why({"CPU": 2, "GPU": 0}, {"CPU": 2.0}, {"CPU": 1.0})
    assert busy == "waiting for the cluster: needs 2 CPUs (all in use by other runs)"
    assert waiting_why({"CPU": 1}, {"CPU": 2.0}, {"CPU": 2.0}).startswith("starting its Ray actor (1 CPU)")
