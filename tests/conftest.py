"""Shared fixtures, and how the suite splits over two processes.

`bash scripts/test.sh` runs pytest with pytest-xdist, `-n 2`: the scheduler below keeps the browser tests
together, so one worker runs them all against one app server and one Chromium, while the other worker takes the
rest, test by test. Each worker keeps the runs that tests make without naming a folder in
a folder of its own (NETCANVAS_RUNS_DIR), so two workers never share a run store.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

BROWSER_PREFIX = "tests/browser"  # how the browser tests' ids begin (ids are relative to the repository root)


_WORKER_RUNS: list[str] = []  # the runs folder this xdist worker made, removed when it ends


def pytest_configure(config):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and "NETCANVAS_RUNS_DIR" not in os.environ:
        _WORKER_RUNS.append(tempfile.mkdtemp(prefix=f"netcanvas-runs-{worker}-"))
        os.environ["NETCANVAS_RUNS_DIR"] = _WORKER_RUNS[0]


def pytest_unconfigure(config):
    for folder in _WORKER_RUNS:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist: every browser test in one work unit (so one worker, one app server, one Chromium),
    every other test a unit of its own. (xdist's own `--dist loadgroup` does not group under pytest 9: it renames
    the tests' `_nodeid`, which pytest 9 no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class BrowserTestsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "browser" if nodeid.startswith(f"{BROWSER_PREFIX}/") else nodeid

    return BrowserTestsTogether(config, log)


@pytest.fixture
def single_thread_torch():
    """Run torch on one thread: the tests' tensors are tiny, and on a small shared machine the thread pool's
    contention costs more than it gains (measured: 14 s -> 4 s for the op and compile tests on 2 cores)."""
    import torch  # here, so collecting torch-free tests does not pay for importing torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _keep_main_module():
    """AppTest runs a page as `__main__` and leaves it there; a later test that spawns processes (torch's spawn,
    multiprocessing) would then run that page again in every child. Put the real `__main__` back after each test."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture
def make_manager(tmp_path):
    """RunManager(**settings) on a fresh store (`root=` another folder); every manager closed and every run
    stopped after (tests/test_run_queue.py, tests/test_fair_queue.py)."""
    from engine.runs.manager import RunManager  # here: collecting torch-free tests does not import torch
    from engine.runs.store import RunStore

    made = []

    def make(**settings) -> RunManager:
        manager = RunManager(RunStore(settings.pop("root", tmp_path)), **settings)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        for record in manager.store.list_runs():
            if record.active:
                manager.stop(record.id)
        for record in manager.store.list_runs():
            manager.wait(record.id, 30)
        manager.close()
