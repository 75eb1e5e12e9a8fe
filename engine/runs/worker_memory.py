"""A training worker's memory limit: what its run may allocate, set as the process's address-space limit
(engine.child_limits) before the run is prepared, so a run that needs more ends with a message and a
checkpoint instead of taking the machine's memory from the server and every other run.

    limit = worker_limit(record.spec, record.config)   # None: not limited (a GPU run, see below)
    limit.apply()                                       # first thing in the worker
    ... MemoryError or "DefaultCPUAllocator: can't allocate memory" -> is_allocation_failure(err) ...
    limit_message(limit.words, step)                    # the run's one-line ending

The budget, above the address space the worker maps when it starts (current_address_space(): the
interpreter, torch and its libraries, an allowance of THREAD_BYTES per torch thread for its stack and malloc
arena), is the activation estimate of builder.analysis.summary.memory_estimate at the run's batch size times
ACTIVATION_FACTOR (forward outputs, their gradients, the step's temporaries) plus the weights with their
gradients, optimizer moments and a checkpoint's copy (STATE_FACTOR x weights), the data (a CSV's file size x
CSV_FACTOR, else DATA_BYTES) and SLACK_BYTES. It is never above the activation cap
(NETCANVAS_MAX_ACTIVATION_MB) plus the weights' state and the data: the network's own estimate decides,
within the cap the server already checked before queueing the run.

A run on a GPU is not limited this way: the CUDA driver reserves far more address space than it uses, so an
address-space limit breaks CUDA itself; its device memory has its own out-of-memory ending.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from builder.analysis.summary import memory_estimate
from builder.analysis.validate import analyze
from builder.library.datasets import CSV_PREFIX
from builder.spec.limits import MB, limits
from builder.spec.spec import parse_spec
from engine.child_limits import ChildLimits, GiB, current_address_space
from engine.train.config import TrainConfig

ACTIVATION_FACTOR = 3
STATE_FACTOR = 6  # weights, gradients, two Adam moments, a checkpoint's copy while it is written, one spare
CSV_FACTOR = 8  # a CSV's text parsed into columns, then float tensors, split into training and validation
DATA_BYTES = 64 * MB  # the built-in datasets are small (digits: 1,797 x 64 values)
SLACK_BYTES = 512 * MB  # the allocator, autograd's bookkeeping, probes, SQLite, Python objects
THREAD_BYTES = 72 * MB  # per torch thread: a 64 MB malloc arena reserved and an 8 MB stack
ALLOCATION_FAILURES = ("can't allocate memory", "DefaultCPUAllocator")


@dataclass(frozen=True)
class WorkerLimit:
    budget: int  # bytes the run may map above the worker's start
    base: int  # bytes mapped at the start, with the threads' allowance

    @property
    def total(self) -> int:
        return self.base + self.budget

    @property
    def words(self) -> str:
        return f"{self.budget / GiB:.2f} GB"

    def apply(self) -> None:
        ChildLimits(memory_bytes=self.total).apply()


def run_budget(spec: dict, config: dict) -> int:
    """Bytes a run of `spec` with `config` may allocate (see the module doc); 0 when they do not parse (the
    worker's own preparation then fails with the message that says why)."""
    parsed, _ = parse_spec(spec)
    settings, _ = TrainConfig.from_dict(config)
    if parsed is None or settings is None:
        return 0
    analysis = analyze(parsed)
    if not analysis.ok:
        return 0
    estimate = memory_estimate(analysis, settings.batch_size)
    state = STATE_FACTOR * estimate["weights"]
    data = _data_bytes(settings)
    need = ACTIVATION_FACTOR * estimate["activations"] + state + data + SLACK_BYTES
    return min(need, limits().max_activation_mb * MB + state + data)


def _data_bytes(config: TrainConfig) -> int:
    if not config.dataset.startswith(CSV_PREFIX):
        return DATA_BYTES
    try:
        return CSV_FACTOR * os.stat(config.dataset[len(CSV_PREFIX) :]).st_size + DATA_BYTES
    except OSError:
        return DATA_BYTES  # the worker's data loading says what is wrong with the file


def on_cpu(config: dict) -> bool:
    """Whether the run trains on the CPU (its device, or "auto" on a machine with no GPU)."""
    device = str(config.get("device", "auto"))
    if device == "cpu":
        return True
    if device != "auto":
        return False
    mps = getattr(torch.backends, "mps", None)
    return not torch.cuda.is_available() and not (mps is not None and mps.is_available())


def worker_limit(spec: dict, config: dict, budget: int | None = None) -> WorkerLimit | None:
    """The limit for a worker about to prepare this run (`budget`: instead of run_budget's); None on a GPU
    or when no budget can be worked out."""
    if not on_cpu(config):
        return None
    budget = budget if budget is not None else run_budget(spec, config)
    if budget <= 0:
        return None
    return WorkerLimit(budget, current_address_space() + THREAD_BYTES * max(1, torch.get_num_threads()))


def is_allocation_failure(err: BaseException) -> bool:
    """Python's MemoryError, or torch's CPU allocator refusing (a RuntimeError naming it)."""
    if isinstance(err, MemoryError):
        return True
    return isinstance(err, RuntimeError) and any(text in str(err) for text in ALLOCATION_FAILURES)


def limit_message(limit_words: str, step: int) -> str:
    """The run's ending when it ran out of its memory limit in step `step` + 1."""
    what = f"its memory limit of {limit_words}" if limit_words else "memory"
    return f"ran out of {what} at step {step + 1}; the last checkpoint is kept; lower the batch size"
