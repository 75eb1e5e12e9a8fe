"""Torch work a page asks for, run in a child process with limits, so a crash there is a message on the page.

    result, error = run_page_job("autograd_graph", {"spec": spec.to_dict(), "config": config.to_dict()})
    if error is not None:       # a NetCanvasError: the job's own (ConfigError, SpecInvalid, DataError, ...)
        st.error(str(error))    # or JobFailed: "the autograd graph stopped: it needed more than 2,048 MB of memory"

A page job is one of the functions named in JOBS (a fixed allow-list: a name never comes from user input). It
runs in a child forked from the run manager's forkserver (engine/runs/manager.py: torch preloaded, so a job
starts in a few hundredths of a second once the server is up), bounded by engine/child_limits.py's ChildLimits
(address space: what the child maps at its start plus `memory_mb`; CPU seconds, as a CPU-time timer whose
SIGPROF ends the child even inside native code, with RLIMIT_CPU a little later behind it) and by a wall-clock
timeout.
Its inputs go in as JSON text; its result comes back as JSON written to a file in a fresh temporary folder, never
as a pickle. A user-facing error of the job (a NetCanvasError) comes back as its class name, message and, for
SpecInvalid, its issues, and is raised again as the same class with the same text. A child that dies (a
segmentation fault, SIGPROF or SIGXCPU at the CPU limit, SIGKILL), runs out of memory or passes its timeout
becomes JobFailed, one line naming what stopped and why, and the server goes on. At most
NETCANVAS_MAX_PAGE_JOBS (2) jobs run at once in a server, all sessions together, so page jobs hold at most that
many times `memory_mb`; a job waits for a slot up to its wall-clock timeout.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from builder.library.datasets import CSV_PREFIX
from engine.child_limits import ChildLimits, current_address_space
from engine.errors import BundleError, ConfigError, DataError, NetCanvasError, SpecInvalid
from engine.runs.manager import PRELOAD, Readiness, _plain_main
from engine.runs.page_job_functions import JOBS, TITLES

MB = 1024**2
RESULT_FILE = "result.json"
CPU_GRACE_SECONDS = 5  # RLIMIT_CPU (SIGKILL) this long after the CPU timer's SIGPROF, in case SIGPROF is caught
ERRORS = {cls.__name__: cls for cls in (NetCanvasError, ConfigError, DataError, BundleError)}
MEMORY_WORDS = ("can't allocate memory", "not enough memory", "out of memory", "cannot allocate memory")


MAX_JOBS_ENV = "NETCANVAS_MAX_PAGE_JOBS"
# What the forkserver loads besides the run manager's PRELOAD: torch's ONNX exporter, warm (an export's first
# ONNX file would wait ~5 s for it in each page job otherwise).
PAGE_JOB_PRELOAD = ["engine.export.onnx_warm"]


class JobFailed(NetCanvasError):
    """A page job's child crashed, ran out of memory or time: the message says which, in one line."""


@dataclass(frozen=True)
class JobLimits:
    """Bounds of one page job: CPU seconds, memory beyond what the child maps at its start, wall seconds."""

    cpu_seconds: int = 120
    memory_mb: int = 2048
    wall_seconds: float = 180.0

    @classmethod
    def from_env(cls, **defaults) -> JobLimits:
        """NETCANVAS_PAGE_JOB_CPU_SECONDS, NETCANVAS_PAGE_JOB_MEMORY_MB and NETCANVAS_PAGE_JOB_WALL_SECONDS, when
        set, replace the defaults given (or the class's)."""
        base = cls(**defaults)
        return cls(
            _env_number("NETCANVAS_PAGE_JOB_CPU_SECONDS", base.cpu_seconds, int),
            _env_number("NETCANVAS_PAGE_JOB_MEMORY_MB", base.memory_mb, int),
            _env_number("NETCANVAS_PAGE_JOB_WALL_SECONDS", base.wall_seconds, float),
        )


def _env_number(name: str, default, kind):
    text = os.environ.get(name, "").strip()
    try:
        value = kind(text) if text else default
    except ValueError:
        return default
    return value if value > 0 else default


MAX_JOBS = _env_number(MAX_JOBS_ENV, 2, int)
SLOTS = threading.BoundedSemaphore(MAX_JOBS)  # page jobs at once in this server, all sessions together
# Jobs whose result depends only on their inputs and the data file they name: a success is given again for
# REUSE_SECONDS. The pre-run check runs when the Train page is drawn and again when Train is pressed (the run
# manager's check): the second one, with the same network, settings and data file, is answered at once.
REUSED_JOBS = frozenset({"preflight"})
REUSE_SECONDS = 120.0
REUSE_ENTRIES = 64
_reused: dict[str, tuple[float, str]] = {}  # key -> (when, the result as JSON)
_reused_lock = threading.Lock()


def run_page_job(name: str, args: dict, limits: JobLimits | None = None) -> tuple[object, NetCanvasError | None]:
    """(the job's JSON result, None), or (None, the error to show). `name` must be a key of JOBS."""
    if name not in JOBS:
        raise ValueError(f"no page job named {name!r}")  # our bug: names are fixed in the code
    key = _reuse_key(name, args)
    known = _known(key)
    if known is not None:
        return known, None
    limits = limits or JobLimits.from_env()
    if not SLOTS.acquire(timeout=limits.wall_seconds):
        return None, JobFailed(
            f"{TITLES[name]} could not start within {limits.wall_seconds:g} s: {MAX_JOBS} page jobs are running "
            f"on this server ({MAX_JOBS_ENV}); try again in a moment"
        )
    try:
        result, error = _run(name, args, limits)
    finally:
        SLOTS.release()
    if error is None and key is not None:
        _remember(key, result)
    return result, error


def _reuse_key(name: str, args: dict) -> str | None:
    """What a reusable job's result depends on: its name, its inputs and the stamp (modification time, size) of
    a CSV file its settings name; None for a job that is run every time, or a file that cannot be read now."""
    if name not in REUSED_JOBS:
        return None
    dataset = str((args.get("config") or {}).get("dataset", ""))
    stamp = None
    if dataset.startswith(CSV_PREFIX):
        try:
            stat = Path(dataset[len(CSV_PREFIX) :]).stat()
        except OSError:
            return None
        stamp = [stat.st_mtime_ns, stat.st_size]
    return json.dumps([name, args, stamp], sort_keys=True, default=str)


def _known(key: str | None):
    """The result remembered under `key` within REUSE_SECONDS (a fresh copy), or None."""
    if key is None:
        return None
    with _reused_lock:
        entry = _reused.get(key)
    if entry is None or time.monotonic() - entry[0] > REUSE_SECONDS:
        return None
    return json.loads(entry[1])


def _remember(key: str, result: object) -> None:
    with _reused_lock:
        _reused[key] = (time.monotonic(), json.dumps(result))
        for old in list(_reused)[: max(0, len(_reused) - REUSE_ENTRIES)]:
            del _reused[old]


def _run(name: str, args: dict, limits: JobLimits) -> tuple[object, NetCanvasError | None]:
    with tempfile.TemporaryDirectory(prefix="netcanvas-job-") as folder:
        result_path = Path(folder) / RESULT_FILE
        process = _context().Process(
            target=job_main,
            args=(name, json.dumps(args), limits, str(result_path)),
            name=f"netcanvas-page-job-{name}",
            daemon=True,
        )
        with _plain_main():
            process.start()
        process.join(limits.wall_seconds)
        if process.is_alive():
            process.kill()
            process.join()
            return None, JobFailed(f"{TITLES[name]} stopped: it took longer than {limits.wall_seconds:g} s")
        return _outcome(name, process.exitcode, result_path, limits)


def _context():
    context = multiprocessing.get_context("forkserver")  # the one forkserver of this process: the run manager's
    context.set_forkserver_preload(PRELOAD + PAGE_JOB_PRELOAD)
    return context


def _outcome(name: str, exitcode: int | None, result_path: Path, limits: JobLimits):
    try:
        data = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, JobFailed(f"{TITLES[name]} stopped: {_death(exitcode, limits)}")
    if "result" in data:
        return data["result"], None
    if "error" in data:
        return None, _error_from(data["error"])
    return None, JobFailed(f"{TITLES[name]} stopped: {data.get('failure', _death(exitcode, limits))}")


def _death(exitcode: int | None, limits: JobLimits) -> str:
    """Why a child that wrote no result ended, in words."""
    if exitcode in (-signal.SIGPROF, -signal.SIGXCPU):
        return f"it needed more than {limits.cpu_seconds:,} s of CPU time"
    if exitcode == -signal.SIGSEGV:
        return "it crashed (segmentation fault in native code)"
    if exitcode == -signal.SIGKILL:
        return "it was killed (SIGKILL: out of memory on this machine, or past its CPU limit)"
    if exitcode is not None and exitcode < 0:
        return f"it was ended by signal {signal.Signals(-exitcode).name}"
    return f"it ended without a result (exit code {exitcode})"


def _error_from(data: dict) -> NetCanvasError:
    if data.get("class") == "SpecInvalid":
        from builder.spec.issues import Issue

        return SpecInvalid([Issue(**issue) for issue in data.get("issues", [])])
    return ERRORS.get(data.get("class"), NetCanvasError)(data.get("message", ""))


def _error_dict(err: NetCanvasError) -> dict:
    data = {"class": type(err).__name__, "message": str(err)}
    if isinstance(err, SpecInvalid):
        fields = ("node", "code", "message", "field", "severity")
        data["issues"] = [{f: getattr(issue, f, None) for f in fields} for issue in err.issues]
    return data


# --- in the child ------------------------------------------------------------------------------------------


def job_main(name: str, args_json: str, limits: JobLimits, result_path: str) -> None:
    """The child: bound itself, run the job, write {"result": ...}, {"error": ...} or {"failure": "..."}."""
    memory = current_address_space() + limits.memory_mb * MB if limits.memory_mb else 0
    ChildLimits(cpu_seconds=limits.cpu_seconds + CPU_GRACE_SECONDS, memory_bytes=memory).apply()
    if limits.cpu_seconds:  # SIGPROF, left at its default action, ends the child at the limit (see _death)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)
        signal.setitimer(signal.ITIMER_PROF, limits.cpu_seconds)
    try:
        outcome = {"result": JOBS[name](json.loads(args_json))}
    except NetCanvasError as err:
        outcome = {"error": _error_dict(err)}
    except MemoryError:
        outcome = {"failure": f"it needed more than {limits.memory_mb:,} MB of memory"}
    except Exception as err:  # a failed allocation in torch is a RuntimeError; anything else is our bug
        outcome = {"failure": _failure(err, limits)}
    text = json.dumps(outcome)
    temporary = Path(result_path + ".part")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(result_path)


def _failure(err: Exception, limits: JobLimits) -> str:
    text = str(err).strip()
    if any(words in text.lower() for words in MEMORY_WORDS):
        return f"it needed more than {limits.memory_mb:,} MB of memory"
    traceback.print_exc()  # the server's log gets the whole story; the page one line
    first = text.splitlines()[0] if text else ""
    return f"it failed ({type(err).__name__}: {first})"


def preflight_in_child(spec, config):
    """engine.runs.manager.preflight run as a page job: the same Readiness or the same error, but the data are
    loaded and fitted in a child with limits (the app's RunManager uses this as its pre-run check)."""
    result, error = run_page_job("preflight", {"spec": spec.to_dict(), "config": config.to_dict()})
    if error is not None:
        raise error
    return Readiness(**result)


def warm_up() -> None:
    """Start this process's forkserver now (it imports torch and the engine), so the first page job (a fresh
    server's first Train page: the pre-run check) does not wait seconds for it."""
    from multiprocessing import forkserver

    _context()
    with _plain_main():
        forkserver.ensure_running()
