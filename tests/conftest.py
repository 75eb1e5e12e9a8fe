"""Shared fixtures."""

from __future__ import annotations

import sys

import pytest


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
