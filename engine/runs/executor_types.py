"""The executor seam's plain types and names (engine.runs.executor documents the seam): what both executors
return, and the settings that choose and steer them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

RAY_ADDRESS_ENV = "NETCANVAS_RAY_ADDRESS"
AUTO_RESUME_ENV = "NETCANVAS_RAY_AUTO_RESUME"
RAY_NAMESPACE = "netcanvas"  # every run's actor is named after the run in this namespace
STATES = ("queued", "waiting", "running", "paused", "ended", "interrupted")
FETCHABLE = ("checkpoint", "bundle")


@dataclass(frozen=True)
class ExecutorStatus:
    """Where a run stands for its executor: one of STATES, and why in one line ("waiting for the cluster:
    needs 1 GPU"); "" when there is nothing to add to the state."""

    state: str
    why: str = ""


@dataclass(frozen=True)
class EventBatch:
    """What one run said since the last collect: events (seq, kind, payload) with seq first_seq..last_seq, in
    order. A batch whose seqs were written already is dropped by the writer (engine.runs.ray_events)."""

    run_id: str
    first_seq: int
    last_seq: int
    events: tuple = field(default_factory=tuple)


def ray_address(environ: dict | None = None) -> str | None:
    """NETCANVAS_RAY_ADDRESS, stripped; None when unset or empty (the local executor)."""
    value = (os.environ if environ is None else environ).get(RAY_ADDRESS_ENV, "").strip()
    return value or None


def executor_kind(environ: dict | None = None) -> str:
    """ "ray" when NETCANVAS_RAY_ADDRESS is set, else "local"."""
    return "ray" if ray_address(environ) else "local"


def auto_resume(environ: dict | None = None) -> bool:
    """Whether a run whose actor was lost is continued once by itself (NETCANVAS_RAY_AUTO_RESUME=1)."""
    return (os.environ if environ is None else environ).get(AUTO_RESUME_ENV, "").strip() == "1"
