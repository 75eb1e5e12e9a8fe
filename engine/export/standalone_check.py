"""The standalone check: load model.py and model.ts in a fresh Python process that has torch and safetensors
but not NetCanvas, run the check batches through them, and hand the outputs back.

The child runs with `python -I -B` (no PYTHONPATH, no user site, no script directory on sys.path, no .pyc written
beside the bundle) in an empty temporary directory, and refuses any import of the project's packages, so an export
that leans on NetCanvas fails here instead of on the user's machine. Inputs and outputs travel as safetensors
files, never pickle.

It runs generated code, so it runs it bounded (engine/child_limits.py): a clean environment (none of the server's
variables, keys or settings), no inherited file descriptors, a wall-clock timeout (TIMEOUT_S), and limits on CPU
time, address space and file size (`child_limits`). A child stopped by one of them is one line:
"the check in a fresh Python process was stopped: it used more than 4.5 GB of memory".

    outputs, problems, report = run_standalone([Job("lenet_python", "python", dir / "model.py", dir / WEIGHTS_FILE,
                                                    {"batch": x})])
    check = start_standalone(jobs)      # the same, started now: do other work, then
    outputs, problems, report = check.result()
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch

from builder.spec.limits import MB, limits
from engine.child_limits import ChildLimits, GiB, clean_env, current_address_space

PROJECT_PACKAGES = ("engine", "builder", "ui", "app_pages")
TIMEOUT_S = 300
# The child runs torch on one thread, so its CPU time reaches the wall-clock limit only when it keeps more than one
# core busy: the CPU limit bounds what the timeout alone would not (many threads for the whole 300 s).
CPU_SECONDS = TIMEOUT_S
HEADROOM_BYTES = 2 * GiB  # above the files and activations: Python, torch, the allocator's arenas
COPIES_OF_THE_FILES = 3  # a model built, its weights read, the previous job's model not yet freed
FILE_BYTES = 1 * GiB  # the largest file the child may write: the outputs of a check batch are kilobytes
MEMORY_WORDS = ("MemoryError", "can't allocate memory", "bad_alloc", "Cannot allocate memory", "failed to map segment")

CHILD = r"""
import importlib.abc, importlib.util, json, resource, signal, sys

args = json.loads(sys.argv[1])
for name, limit in args["limits"].items():  # first, before any generated code: CPU s, address space, file size
    if limit > 0:
        which = getattr(resource, name)
        hard = resource.getrlimit(which)[1]
        limit = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(which, (limit, limit))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write is an OSError, not a kill
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
        problems[job["key"]] = (f"{type(err).__name__}: {err}".strip().splitlines() or ["failed"])[0][:300]
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


def child_limits(jobs: list[Job]) -> ChildLimits:
    """Generous bounds for checking `jobs`, sized from their files: the address space this process maps with torch
    loaded (a fresh child with torch maps less), plus three copies of every file the child reads (a network at the
    parameter cap, 200 M float32 parameters, is 0.8 GB: 2.4 GB), plus the activation cap (the check batch of 8 is
    no larger than a training batch), plus 2 GiB."""
    files = sum(Path(p).stat().st_size for job in jobs for p in {job.file, job.weights} if Path(p).is_file())
    memory = current_address_space() + COPIES_OF_THE_FILES * files + limits().max_activation_mb * MB + HEADROOM_BYTES
    return ChildLimits(cpu_seconds=CPU_SECONDS, memory_bytes=memory, file_bytes=FILE_BYTES)


def run_standalone(
    jobs: list[Job], bounds: ChildLimits | None = None
) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, str], dict]:
    """Run every job in one fresh, clean, bounded Python process (`bounds`: child_limits(jobs) unless given).

    Returns (outputs per job key, one-line problem per job key that failed, the child's report: which project
    packages it could have imported (none, when all is well) and its sys.path).
    """
    return start_standalone(jobs, bounds).result()


class StandaloneCheck:
    """A standalone check under way: the child was started by start_standalone; `result()` waits for it (the
    exporter writes and checks the ONNX file meanwhile: the child spends most of its time importing torch)."""

    def __init__(self, jobs: list[Job], bounds: ChildLimits):
        self.jobs, self.bounds = jobs, bounds
        self._folder = tempfile.TemporaryDirectory(prefix="netcanvas-check-")
        work_dir = Path(self._folder.name)
        self.described = [_describe(job, work_dir) for job in jobs]
        limits_set = {
            "RLIMIT_CPU": bounds.cpu_seconds,
            "RLIMIT_AS": bounds.memory_bytes,
            "RLIMIT_FSIZE": bounds.file_bytes,
        }
        args = {"project_packages": list(PROJECT_PACKAGES), "jobs": self.described, "limits": limits_set}
        self._cpu_before = _children_cpu()
        try:
            self._process = _start_child(args, work_dir)
        except BaseException:
            self._folder.cleanup()
            raise

    def result(self) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, str], dict]:
        """(outputs per job key, one-line problem per job key that failed, the child's report); see run_standalone."""
        try:
            report, failure = _finish_child(self._process, self.bounds, self._cpu_before)
            if report is None:
                return {}, {job.key: failure for job in self.jobs}, {}
            problems = {
                key: _out_of_memory(problem, self.bounds) or problem for key, problem in report["problems"].items()
            }
            outputs = {
                d["key"]: safetensors.torch.load_file(d["outputs"]) for d in self.described if d["key"] not in problems
            }
            return outputs, problems, report
        finally:
            self._folder.cleanup()


def start_standalone(jobs: list[Job], bounds: ChildLimits | None = None) -> StandaloneCheck:
    """Write the jobs' inputs and start the child now; its result() is run_standalone's."""
    return StandaloneCheck(jobs, bounds or child_limits(jobs))


def _describe(job: Job, work_dir: Path) -> dict:
    """The job as the child reads it, its inputs written beside it as safetensors."""
    inputs = work_dir / f"{job.key}_inputs.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in job.inputs.items()}, inputs)
    return {
        "key": job.key,
        "format": job.format,
        "file": str(Path(job.file).resolve()),
        "weights": str(Path(job.weights).resolve()),
        "inputs": str(inputs),
        "outputs": str(work_dir / f"{job.key}_outputs.safetensors"),
    }


def _gb(n: int) -> str:
    return f"{n / GiB:.1f} GB"


def _out_of_memory(text: str, bounds: ChildLimits) -> str | None:
    """The one line for a failure that says the child ran out of its address space, or None."""
    if bounds.memory_bytes and any(word in text for word in MEMORY_WORDS):
        return f"stopped: it used more than {_gb(bounds.memory_bytes)} of memory"
    return None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stopped(returncode: int, stderr: str, bounds: ChildLimits, cpu_used: float) -> str:
    """Why the child ended without a report, in one line. At its CPU limit the kernel sends SIGXCPU, or SIGKILL
    where the soft and hard limits are one: `cpu_used` (seconds) tells that SIGKILL from another."""
    memory = _out_of_memory(stderr, bounds)
    if memory:
        return f"the check in a fresh Python process was {memory}"
    at_cpu_limit = returncode == -signal.SIGKILL and bounds.cpu_seconds and cpu_used >= bounds.cpu_seconds - 0.5
    if returncode == -signal.SIGXCPU or at_cpu_limit:
        return f"the check in a fresh Python process was stopped: it used more than {bounds.cpu_seconds} s of CPU"
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        return (
            f"the check in a fresh Python process was stopped by {name} (its limits: {bounds.cpu_seconds} s of CPU, "
            f"{_gb(bounds.memory_bytes)} of memory)"
        )
    last = (stderr.strip().splitlines() or ["no output"])[-1][:300]
    return f"the check in a fresh Python process failed: {last}"


def _start_child(args: dict, work_dir: Path) -> subprocess.Popen:
    """The child, started in an empty folder of its own, with a clean environment, no inherited descriptors and
    `bounds` set by its first lines (in args["limits"]), before it imports torch or any generated code (set
    there, not in a preexec_fn: the server has threads, and a preexec_fn may deadlock between fork and exec in a
    threaded process)."""
    cwd = work_dir / "cwd"
    cwd.mkdir()
    return subprocess.Popen(
        [sys.executable, "-I", "-B", "-c", CHILD, json.dumps(args)],
        cwd=cwd,
        env=clean_env(),
        close_fds=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )


def _finish_child(process: subprocess.Popen, bounds: ChildLimits, cpu_before: float) -> tuple[dict | None, str]:
    """(the child's JSON report, "") or (None, why the child itself failed), once it has ended (killed past
    TIMEOUT_S)."""
    with process:
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return None, f"the check in a fresh Python process took longer than {TIMEOUT_S} s"
    lines = stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        return None, _stopped(process.returncode, stderr, bounds, _children_cpu() - cpu_before)
    try:
        report = json.loads(lines[-1])
    except ValueError:
        return None, "the check in a fresh Python process failed: its report is not JSON"
    if not isinstance(report, dict) or not isinstance(report.get("problems"), dict):
        return None, "the check in a fresh Python process failed: its report is not what the check writes"
    return report, ""
