"""The executor seam (docs/ARCHITECTURE.md §2): what the RunManager hands a run to, and how it is chosen.

    executor = make_executor(store, probes, options)   # NETCANVAS_RAY_ADDRESS unset: local; else ray
    executor.submit(record, weights_from, resume)      # a run the queue has claimed: start it
    executor.command(run_id, "pause" | "resume" | "stop")
    executor.status(run_id)                            # ExecutorStatus(state, why)
    executor.collect()                                 # [EventBatch]: what the runs said since the last call
    executor.fetch(run_id, "checkpoint" | "bundle")    # {file name: bytes} of the run's last bundle
    executor.devices()                                 # the devices a run may ask for, besides "auto"

Two executors implement it:
- `local` (engine.runs.local_executor, the default, nothing to install or start): one forkserver worker process
  per run, which writes its rows to the run store itself (collect() has nothing to hand over).
- `ray` (engine.runs.ray_executor, chosen when NETCANVAS_RAY_ADDRESS is set): one Ray actor per run; its events
  are buffered in the actor with sequence numbers and written to the store by the app (collect()), so a batch
  seen twice is dropped and none is lost when the app restarts. Ray is imported only when it is chosen.

NETCANVAS_RAY_ADDRESS: `auto` (the cluster this machine belongs to, `ray start` ran here), `host:port` (a head
node's GCS address, e.g. 10.0.0.5:6379), `ray://host:10001` (Ray client), or `local` (a private Ray started inside
the app, with this machine's cores and GPUs: for trying it). NETCANVAS_RAY_AUTO_RESUME=1: a run whose actor was
lost (its node went away) is continued once from its last checkpoint without anyone pressing Continue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from engine.runs.executor_types import (  # noqa: F401 (re-exported)
    AUTO_RESUME_ENV,
    FETCHABLE,
    RAY_ADDRESS_ENV,
    RAY_NAMESPACE,
    STATES,
    EventBatch,
    ExecutorStatus,
    auto_resume,
    executor_kind,
    ray_address,
)

if TYPE_CHECKING:
    from engine.probes.step_probes import ProbeSettings
    from engine.runs.store import RunRecord, RunStore
    from engine.runs.worker import WorkerOptions


class Executor(Protocol):
    """What the RunManager asks of an executor (see the module doc)."""

    name: str

    def submit(self, record: RunRecord, weights_from: str | None, resume: bool) -> None: ...

    def command(self, run_id: str, command: str) -> None: ...

    def status(self, run_id: str) -> ExecutorStatus | None: ...

    def collect(self) -> list[EventBatch]: ...

    def fetch(self, run_id: str, what: str) -> dict[str, bytes]: ...

    def devices(self) -> list[str]: ...

    def reap_slots(self) -> frozenset[str]: ...

    def check(self, record: RunRecord) -> bool: ...

    def has_active(self) -> bool: ...

    def close(self) -> None: ...


def make_executor(
    store: RunStore,
    probes: ProbeSettings | None,
    options: WorkerOptions,
    start_method: str = "forkserver",
    address: str | None = None,
) -> Executor:
    """The executor for `address` (default: NETCANVAS_RAY_ADDRESS): the local one when there is none, else the ray
    one connected to it (engine.errors.ConfigError in one line when Ray is not installed or not reachable)."""
    address = address or ray_address()
    if address is None:
        from engine.runs.local_executor import LocalExecutor

        return LocalExecutor(store, probes, options, start_method)
    from engine.runs.ray_executor import RayExecutor

    return RayExecutor(store, probes, address)
