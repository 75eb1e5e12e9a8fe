"""Proves the GPU path in one run, one line per check: python bench/device_check.py [--device cuda|cpu]

    PASS templates/off: 24 templates, 1 epoch each on cuda:0 (...)       every template trains on the device
    PASS templates/bf16, templates/fp16                                   and again under mixed precision
    PASS ddp: 2 processes (nccl) ...                                      torchrun --ddp, one process per GPU
    PASS out_of_memory: ...                                               a CUDA OOM ends with a batch-size hint,
                                                                          and the hinted batch size then trains
    PASS export: ...                                                      a bundle trained on the device exports
                                                                          to every format with parity checked
    PASS deterministic: ...                                               --deterministic repeats a run exactly

Without a CUDA device every check prints SKIP and the script exits 0 (CI runs it so). `--device cpu` runs the
same checks on the CPU (fp16 autocast, gloo for DDP; the OOM check needs CUDA and is skipped) to test the
script itself. Exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from builder.library.templates import TEMPLATES  # noqa: E402
from engine.errors import ConfigError  # noqa: E402
from engine.train.config import TrainConfig  # noqa: E402
from engine.train.pipeline import prepare_run  # noqa: E402

OOM_MEMORY_GB = 2.0  # the OOM check caps its process at this much device memory
OOM_WIDTH = 150_000  # this wide on a batch of 1,437 digits: ~2.6 GB in a step; evaluation (1,024 rows) ~1.2 GB


def _train_template(name: str, device: str, amp: str) -> dict:
    template = TEMPLATES[name]
    config = TrainConfig(**{**template.train, "epochs": 1, "device": device, "amp": amp})
    run = prepare_run(template.spec(), config)
    events = list(run.trainer.run())
    return {"status": run.trainer.status, "last": events[-1], "device": str(run.trainer.device)}


def check_templates(device: str, amp: str) -> str:
    failed, refused, devices = [], [], set()
    for name in TEMPLATES:
        try:
            result = _train_template(name, device, amp)
        except ConfigError as err:
            if device == "cpu" and "recurrent kernel" in str(err):  # documented: no low-precision RNN on a CPU
                refused.append(name)
            else:
                failed.append(f"{name}: {err}")
            continue
        except Exception as err:  # every template is tried; the line lists each that failed
            failed.append(f"{name}: {type(err).__name__}: {str(err).splitlines()[0]}")
            continue
        devices.add(result["device"])
        if result["status"] != "done":
            failed.append(f"{name}: {result['status']} ({result['last'].get('message', '')})")
    if failed:
        raise AssertionError("; ".join(failed))
    trained = len(TEMPLATES) - len(refused)
    note = f" ({', '.join(refused)} refused as documented: recurrent, on the CPU)" if refused else ""
    return f"{trained} templates, 1 epoch each on {', '.join(sorted(devices))} with amp {amp}{note}"


def _engine(args: list[str], env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(args, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def check_ddp(device: str) -> str:
    processes = 2 if device == "cpu" else max(1, min(2, torch.cuda.device_count()))
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        command += ["-m", "engine", "train", "--template", "mlp_iris", "--epochs", "3", "--ddp", "--json"]
        command += ["--device", device, "--out", str(Path(tmp) / "bundle")]
        done = _engine(command, {"OMP_NUM_THREADS": "1"})
        events = _events(done.stdout)
        if done.returncode != 0 or not events or events[-1]["kind"] != "done":
            raise AssertionError(f"exit {done.returncode}: {(done.stdout + done.stderr).strip()[-400:]}")
        if not (Path(tmp) / "bundle" / "meta.json").exists():
            raise AssertionError("no bundle written")
    return f"{events[0]['message']}; {events[-1]['message']}"


def _oom_child(memory_gb: float, batch_size: int) -> None:
    """Runs in its own process: caps the device memory, trains a too-wide network, prints the CLI's lines."""
    from engine.cli.main import main

    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, memory_gb * 2**30 / total))
    spec = {
        "version": 1,
        "name": "too_wide",
        "nodes": [
            {"id": "x", "op": "Input", "params": {"shape": [64]}},
            {"id": "wide", "op": "Linear", "params": {"out_features": OOM_WIDTH}},
            {"id": "act", "op": "ReLU", "params": {}},
            {"id": "out", "op": "Linear", "params": {"out_features": 10}},
        ],
        "edges": [{"source": "x", "target": "wide"}, {"source": "wide", "target": "act"}],
    }
    spec["edges"].append({"source": "act", "target": "out"})
    path = Path(tempfile.mkdtemp()) / "too_wide.json"
    path.write_text(json.dumps(spec))
    args = [str(path), "--dataset", "digits", "--epochs", "1", "--device", "cuda", "--batch-size", str(batch_size)]
    sys.exit(main(["train", *args, "--optimizer", "sgd"]))


def check_out_of_memory(device: str) -> str:
    if device == "cpu":
        return "SKIP: needs CUDA (the CPU has no memory cap to run into)"
    env = {"NETCANVAS_MAX_ACTIVATION_MB": "100000"}
    child = [sys.executable, __file__, "--oom-child"]
    failed = _engine([*child, "1437"], env)
    hint = next((line for line in failed.stdout.splitlines() if "out of memory" in line), None)
    if failed.returncode == 0 or hint is None or "lower batch_size (try 718)" not in hint:
        raise AssertionError(f"expected the OOM hint, got exit {failed.returncode}: {failed.stdout[-300:]}")
    recovered = _engine([*child, "64"], env)
    if recovered.returncode != 0:
        raise AssertionError(f"batch 64 still failed: {(recovered.stdout + recovered.stderr)[-300:]}")
    return f"{hint.strip()}; then batch_size 64 trained"


def check_export(device: str) -> str:
    from engine.cli.main import main as engine_main
    from engine.export.exporter import export_bundle

    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "conv"
        args = ["train", "--template", "lenet", "--epochs", "1", "--device", device, "--out", str(bundle)]
        code = engine_main(args)
        if code != 0:
            raise AssertionError(f"training for the export check failed with exit {code}")
        report = export_bundle(bundle)
        bad = {fmt: r.problem for fmt, r in report.results.items() if not r.ok}
        if bad:
            raise AssertionError(f"formats failed: {bad}")
        diffs = {fmt: r.max_abs_diff for fmt, r in report.results.items()}
    return "exported " + ", ".join(f"{fmt} (max diff {d:.1e})" for fmt, d in diffs.items() if d is not None)


def check_deterministic(device: str) -> str:
    template = TEMPLATES["lenet"]
    losses = []
    for _ in range(2):
        config = TrainConfig(**{**template.train, "epochs": 1, "device": device, "deterministic": True})
        events = list(prepare_run(template.spec(), config).trainer.run())
        losses.append(events[-1]["loss"])
    torch.use_deterministic_algorithms(False)
    if losses[0] != losses[1]:
        raise AssertionError(f"two deterministic runs differ: {losses}")
    return f"two seeded runs gave the same loss {losses[0]:.6f}"


def checks(device: str) -> list[tuple[str, callable]]:
    return [
        ("templates/off", lambda: check_templates(device, "off")),
        ("templates/bf16", lambda: check_templates(device, "bf16")),
        ("templates/fp16", lambda: check_templates(device, "fp16")),
        ("ddp", lambda: check_ddp(device)),
        ("out_of_memory", lambda: check_out_of_memory(device)),
        ("export", lambda: check_export(device)),
        ("deterministic", lambda: check_deterministic(device)),
    ]


def run_checks(device: str) -> int:
    if device == "cuda" and not torch.cuda.is_available():
        print(f"device_check: no CUDA device here (torch {torch.__version__}); every check skipped")
        for name, _ in checks(device):
            print(f"SKIP {name}: no CUDA device")
        return 0
    if device == "cuda":
        gpus = f"{torch.cuda.device_count()} GPU(s), {torch.cuda.get_device_name(0)}"
        print(f"device_check: {gpus}, torch {torch.__version__}")
    failures = 0
    for name, check in checks(device):
        started = time.perf_counter()
        try:
            detail = check()
            word = "SKIP" if detail.startswith("SKIP") else "PASS"
            print(f"{word} {name}: {detail.removeprefix('SKIP: ')} ({time.perf_counter() - started:.1f} s)", flush=True)
        except Exception as err:  # a failed check is reported and the others still run
            failures += 1
            print(f"FAIL {name}: {type(err).__name__}: {err}", flush=True)
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--oom-child", type=int, metavar="BATCH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.oom_child:
        _oom_child(OOM_MEMORY_GB, args.oom_child)
    return run_checks(args.device)


if __name__ == "__main__":
    sys.exit(main())
