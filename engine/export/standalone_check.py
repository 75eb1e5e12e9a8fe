"""The standalone check: load model.py and model.ts in a fresh Python process that has torch and safetensors
but not NetCanvas, run the check batches through them, and hand the outputs back.

The child runs with `python -I` (no PYTHONPATH, no user site, no script directory on sys.path) in an empty
temporary directory, and refuses any import of the project's packages, so an export that leans on NetCanvas
fails here instead of on the user's machine. Inputs and outputs travel as safetensors files, never pickle.

    outputs, problems, report = run_standalone([Job("lenet_python", "python", dir / "model.py", dir / WEIGHTS_FILE,
                                                    {"batch": x})])
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch

PROJECT_PACKAGES = ("engine", "builder", "ui", "app_pages")
TIMEOUT_S = 300

CHILD = r"""
import importlib.abc, importlib.util, json, sys

args = json.loads(sys.argv[1])
project = tuple(args["project_packages"])
importable = sorted(p for p in project if importlib.util.find_spec(p) is not None)


class RefuseProject(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in project:
            raise ImportError(f"the export imports '{name}', which is part of NetCanvas")
        return None


sys.meta_path.insert(0, RefuseProject())
import torch
from safetensors.torch import load_file, save_file

torch.set_num_threads(1)


def load(job):
    if job["format"] == "torchscript":
        return torch.jit.load(job["file"], map_location="cpu").eval()
    spec = importlib.util.spec_from_file_location(f"netcanvas_export_{job['key']}", job["file"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_model(job["weights"])


problems = {}
for job in args["jobs"]:
    try:
        model = load(job)
        with torch.no_grad():
            outputs = {name: model(batch).contiguous() for name, batch in load_file(job["inputs"]).items()}
        save_file(outputs, job["outputs"])
    except Exception as err:
        problems[job["key"]] = (f"{type(err).__name__}: {err}".strip().splitlines() or ["failed"])[0]
print(json.dumps({"problems": problems, "project_importable": importable, "sys_path": sys.path}))
"""


@dataclass(frozen=True)
class Job:
    """One file to load and run: `format` "python" (model.py with its weights) or "torchscript"."""

    key: str  # unique among the jobs of one run, [a-z0-9_]
    format: str
    file: Path
    weights: Path
    inputs: dict[str, torch.Tensor]


def run_standalone(jobs: list[Job]) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, str], dict]:
    """Run every job in one fresh, clean Python process.

    Returns (outputs per job key, one-line problem per job key that failed, the child's report: which project
    packages it could have imported (none, when all is well) and its sys.path).
    """
    with tempfile.TemporaryDirectory(prefix="netcanvas-check-") as work:
        work_dir = Path(work)
        described = []
        for job in jobs:
            inputs = work_dir / f"{job.key}_inputs.safetensors"
            safetensors.torch.save_file({k: v.contiguous() for k, v in job.inputs.items()}, inputs)
            described.append(
                {
                    "key": job.key,
                    "format": job.format,
                    "file": str(Path(job.file).resolve()),
                    "weights": str(Path(job.weights).resolve()),
                    "inputs": str(inputs),
                    "outputs": str(work_dir / f"{job.key}_outputs.safetensors"),
                }
            )
        report, failure = _run_child({"project_packages": list(PROJECT_PACKAGES), "jobs": described}, work_dir)
        if report is None:
            return {}, {job.key: failure for job in jobs}, {}
        problems = dict(report["problems"])
        outputs = {d["key"]: safetensors.torch.load_file(d["outputs"]) for d in described if d["key"] not in problems}
        return outputs, problems, report


def _run_child(args: dict, work_dir: Path) -> tuple[dict | None, str]:
    """(the child's JSON report, "") or (None, why the child itself failed)."""
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", CHILD, json.dumps(args)],
            cwd=work_dir,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return None, f"the check in a fresh Python process took longer than {TIMEOUT_S} s"
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"the check in a fresh Python process failed: {last}"
    return json.loads(lines[-1]), ""
