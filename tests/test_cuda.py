"""The CUDA path: these tests run only where torch sees a CUDA device (CI has none; bench/device_check.py
runs the same checks, and more, on a GPU machine). Without CUDA only the last test runs: the check script
skips cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from builder.library.templates import TEMPLATES
from engine.cli.main import main
from engine.export.exporter import export_bundle
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run
from tests.bundles import ROOT

CHECK_SCRIPT = ROOT / "bench" / "device_check.py"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@needs_cuda
@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
def test_a_template_trains_on_cuda_in_each_precision(amp):
    template = TEMPLATES["lenet"]
    config = TrainConfig(**{**template.train, "epochs": 1, "device": "cuda", "amp": amp})
    run = prepare_run(template.spec(), config)
    events = list(run.trainer.run())
    assert events[-1]["kind"] == "done", events[-1]
    assert all(p.is_cuda and p.dtype == torch.float32 for p in run.trainer.model.parameters())


@needs_cuda
def test_a_cuda_out_of_memory_ends_with_a_batch_size_hint():
    env = {**_env(), "NETCANVAS_MAX_ACTIVATION_MB": "100000"}
    done = subprocess.run(
        [sys.executable, str(CHECK_SCRIPT), "--oom-child", "1437"], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "lower batch_size (try 718)" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@needs_cuda
def test_a_bundle_trained_on_cuda_exports_to_every_format(tmp_path):
    out = tmp_path / "lenet"
    assert main(["train", "--template", "lenet", "--epochs", "1", "--device", "cuda", "--out", str(out)]) == 0
    report = export_bundle(out)
    assert report.ok, {fmt: r.problem for fmt, r in report.results.items()}


@needs_cuda
def test_ddp_trains_with_nccl_one_process_per_gpu(tmp_path):
    processes = min(2, torch.cuda.device_count())
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command += ["-m", "engine", "train", "--template", "mlp_iris", "--epochs", "3", "--ddp", "--json"]
    command += ["--device", "cuda", "--out", str(tmp_path / "iris")]
    done = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and events[-1]["kind"] == "done", done.stdout + done.stderr
    assert "nccl" in events[0]["message"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the script runs its checks instead")
def test_the_device_check_script_skips_every_check_cleanly_without_cuda():
    done = subprocess.run([sys.executable, str(CHECK_SCRIPT)], env=_env(), capture_output=True, text=True)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines[0].startswith("device_check: no CUDA device here") and len(lines) > 5
    assert all(line.startswith("SKIP ") for line in lines[1:])
