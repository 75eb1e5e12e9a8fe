"""A training worker's memory limit (issue 20, item 2): derived from the run's activation estimate, weights and
data, never above the activation cap; a real run that allocates past its limit ends with the one-line message
and a checkpoint of its last good weights, and the app and its next run go on."""

from __future__ import annotations

import re

import pytest

from builder.spec.limits import MB, limits
from builder.spec.spec import parse_spec
from engine.child_limits import GiB
from engine.runs.bundle import read_bundle
from engine.runs.manager import RunManager
from engine.runs.store import RunStore
from engine.runs.worker_memory import (
    DATA_BYTES,
    SLACK_BYTES,
    STATE_FACTOR,
    is_allocation_failure,
    limit_message,
    on_cpu,
    run_budget,
    worker_limit,
)
from engine.train.config import TrainConfig
from tests.test_run_queue import SHORT, XOR, fork_server  # noqa: F401

WIDE = {
    "version": 2,
    "name": "wide",
    "nodes": [
        {"id": "x", "op": "Input", "params": {"shape": [4]}},
        {"id": "fc1", "op": "Linear", "params": {"out_features": 250_000}},
        {"id": "act1", "op": "ReLU"},
        {"id": "fc2", "op": "Linear", "params": {"out_features": 3}},
    ],
    "edges": [{"source": a, "target": b} for a, b in (("x", "fc1"), ("fc1", "act1"), ("act1", "fc2"))],
}
WIDE_CONFIG = TrainConfig(dataset="iris", batch_size=64, epochs=5, device="cpu")  # 64 MB per wide activation
PARAMS = 4 * 250_000 + 250_000 + 250_000 * 3 + 3


def test_the_budget_follows_the_estimate_and_never_passes_the_activation_cap(monkeypatch):
    small = run_budget(WIDE, {**WIDE_CONFIG.to_dict(), "batch_size": 1})
    large = run_budget(WIDE, WIDE_CONFIG.to_dict())
    state = STATE_FACTOR * 4 * PARAMS
    assert small >= state + DATA_BYTES + SLACK_BYTES and large - small >= 3 * 63 * 500_003 * 4  # 3 x activations
    with monkeypatch.context() as patch:
        patch.setenv("NETCANVAS_MAX_ACTIVATION_MB", "1")
        limits.cache_clear()
        try:
            assert run_budget(WIDE, WIDE_CONFIG.to_dict()) == 1 * MB + state + DATA_BYTES  # the cap + weights' state
        finally:
            limits.cache_clear()
    assert run_budget({"nodes": "not a spec"}, WIDE_CONFIG.to_dict()) == 0
    limit = worker_limit(WIDE, WIDE_CONFIG.to_dict())
    assert limit is not None and limit.budget == large and limit.total > limit.base > 0
    assert worker_limit(WIDE, {**WIDE_CONFIG.to_dict(), "device": "cuda"}) is None  # CUDA reserves address space
    assert on_cpu({"device": "cpu"}) and not on_cpu({"device": "cuda:1"})


def test_allocation_failures_are_told_apart_from_other_errors():
    assert is_allocation_failure(MemoryError())
    assert is_allocation_failure(RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't"))
    assert not is_allocation_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert limit_message("1.50 GB", 41) == (
        "ran out of its memory limit of 1.50 GB at step 42; the last checkpoint is kept; lower the batch size"
    )


@pytest.fixture
def tight_manager(tmp_path):
    manager = RunManager(RunStore(tmp_path), workers=1, worker_memory=96 * MB)
    yield manager
    for record in manager.store.list_runs():
        if record.active:
            manager.stop(record.id)
        manager.wait(record.id, 30)
    manager.close()


def test_a_run_over_its_memory_limit_ends_with_the_message_and_a_checkpoint(tight_manager):
    manager = tight_manager
    spec, _ = parse_spec(WIDE)
    run = manager.start_run("ann", spec, WIDE_CONFIG)
    ended = manager.wait(run, 120)
    words = f"{96 * MB / GiB:.2f} GB"
    assert ended.status == "stopped", ended.message
    assert re.fullmatch(
        rf"ran out of its memory limit of {words} at step \d+; the last checkpoint is kept; lower the batch size",
        ended.message,
    )
    bundle = read_bundle(manager.store.bundle_dir(run))  # the last good weights: whole and finite
    assert tuple(bundle.state_dict["fc1.weight"].shape) == (250_000, 4)
    assert all(t.isfinite().all() for t in bundle.state_dict.values())
    assert f"memory limit: {words} above" in manager.store.log_path(run).read_text()

    after = manager.start_run("bob", XOR, SHORT)  # the app goes on, and so does a run that fits
    assert manager.wait(after, 60).status == "finished"
