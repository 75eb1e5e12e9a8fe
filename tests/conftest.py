"""Shared fixtures."""

from __future__ import annotations

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
