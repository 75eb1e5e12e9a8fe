"""The ray executor (engine.runs.executor): one detached Ray actor per run, named after the run in the
`netcanvas` namespace (engine.runs.ray_actor), its events written to the store by the app (engine.runs.ray_events).

- submit: the run's bundle to start from is read here and sent as bytes; the actor asks for the resources of
  engine.runs.ray_cluster.resources_for, so Ray, not the app's queue, decides when it starts (the manager's
  worker cap is lifted; the per-session and per-address caps stay).
- collect (the manager's queue thread, every QUEUE_POLL_SECONDS while a Ray run is live): one drain call in
  flight per actor, never waited on; what came back is written in order (RayRuns.apply), a checkpoint's bytes
  copied under runs/<id>/bundle, and an ended run's actor killed once its last event is written.
- an actor found dead (its node lost, ray.kill, out of memory): the run ends "interrupted" (a status of its own),
  its message starting "interrupted:", with its last checkpoint (Continue resumes it, on whatever node Ray picks,
  as it resumes a stopped run; without a checkpoint there is nothing to continue); with
  NETCANVAS_RAY_AUTO_RESUME=1 it is continued once by itself (`on_interrupted`). Its actor, if Ray still has it,
  is killed, so its CPUs go back to the cluster.
- a run counts as lost only when Ray says its actor died (a call on the handle raises RayActorError). The handle
  made by submit is kept from before the run counts as live, so a name lookup never races the actor's
  registration; a lookup by name (a manager reattaching) that finds nothing counts as loss only once the name
  has stayed missing for LOOKUP_GRACE_S.
- a new manager (an app restart) finds the live runs in ray_runs and their actors by name, and drains each from
  the last event it wrote: nothing twice, nothing lost.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from builder.spec.spec import parse_spec
from engine.probes.step_probes import ProbeSettings
from engine.runs.bundle import META_FILE
from engine.runs.bundle_files import read_bundle_files
from engine.runs.executor_types import RAY_NAMESPACE, EventBatch, ExecutorStatus, auto_resume
from engine.runs.ray_cluster import cluster_devices, connect, resources_for, waiting_why
from engine.runs.ray_events import RayRuns
from engine.runs.store import RunRecord, RunStore, to_json
from engine.train.config import TrainConfig

CALL_TIMEOUT_S = 60.0  # an answer from a live actor's quick methods (bundle pieces) comes within this
INTERRUPTED = "interrupted:"  # how an interrupted run's message starts (its status is "interrupted")
LOOKUP_GRACE_S = 30.0  # a live run's actor name missing this long (a reattaching manager's lookups) means it is gone


class RayExecutor:
    """Runs as Ray actors (see the module doc); `address` as NETCANVAS_RAY_ADDRESS. `on_interrupted(run_id)` is
    set by the manager: continue a run whose actor was lost (NETCANVAS_RAY_AUTO_RESUME=1)."""

    name = "ray"

    def __init__(self, store: RunStore, probes: ProbeSettings | None, address: str):
        self.ray = connect(address)
        from engine.runs.ray_actor import RUN_ACTOR, read_actor_bundle  # the actor class: needs ray

        self.actor_class, self.address, self.read_bundle = RUN_ACTOR, address, read_actor_bundle
        self.store, self.probes, self.runs = store, probes, RayRuns(store)
        self.handles: dict = {}  # run id -> actor handle
        self.ready: dict = {}  # run id -> the ref of its ready() call (answered once Ray placed the actor)
        self.drains: dict = {}  # run id -> the ref of its drain call in flight
        self.missing: dict = {}  # run id -> when a lookup of its actor's name first found nothing (monotonic)
        self.lookup_grace_s = LOOKUP_GRACE_S
        self.lock = threading.RLock()  # one collect at a time (the queue thread, a page's status call)
        self.on_interrupted: Callable[[str], None] = lambda run_id: None
        self.to_resume: list[str] = []  # lost runs that NETCANVAS_RAY_AUTO_RESUME continues

    def close(self) -> None:
        """Nothing to let go: the actors are detached and go on; the next manager reattaches."""

    # --- the seam ------------------------------------------------------------------------------------------

    def submit(self, record: RunRecord, weights_from: str | None, resume: bool) -> None:
        spec, _ = parse_spec(record.spec)
        config, _ = TrainConfig.from_dict(record.config)
        needs = resources_for(spec, config, self.ray.cluster_resources())
        start_files = read_bundle_files(Path(weights_from)) if weights_from else None
        with self.lock:  # no collect or status check sees the run live before its handle is kept
            self._kill(record.id)  # an actor of an earlier stretch of this run, if any is left
            handle = self.actor_class.options(
                name=record.id,
                namespace=RAY_NAMESPACE,
                lifetime="detached",  # an app restart finds it by name
                num_cpus=needs["CPU"],
                num_gpus=needs["GPU"],
                max_restarts=0,  # a lost actor is reported as interrupted; Continue makes a new one
            ).remote(record, start_files, resume, self.probes, needs["CPU"])
            self.handles[record.id] = handle
            self.ready[record.id] = handle.ready.remote()
            self.missing.pop(record.id, None)
            self.runs.register(record.id, needs)
        handle.run.remote()

    def command(self, run_id: str, command: str) -> None:
        """To the actor; a stop before Ray placed the actor ends the run at once and removes the actor."""
        if command == "stop" and self.placed(run_id) is False:
            self._kill(run_id)
            self.runs.set_live(run_id, False)
            self._end_if_active(run_id, "stopped", "stopped before it started (it was waiting for the cluster)")
            return
        handle = self._handle(run_id)
        if handle is not None:
            handle.command.remote(command)

    def status(self, run_id: str) -> ExecutorStatus | None:
        record = self.store.get(run_id)
        if record is None:
            return None
        if record.waiting:
            return ExecutorStatus("queued", record.message)
        if not record.active:
            return ExecutorStatus("interrupted" if record.status == "interrupted" else "ended", record.message)
        if self.placed(run_id) is False:
            return ExecutorStatus("waiting", self.why_waiting(run_id))
        return ExecutorStatus("paused" if record.status == "paused" else "running", record.message)

    def fetch(self, run_id: str, what: str) -> dict[str, bytes]:
        """The last checkpoint's files from the live actor ("bundle": the same, the final one once it ended); from
        runs/<id>/bundle when the actor has gone (the app copied it there)."""
        handle = self._handle(run_id)
        if handle is None:
            return read_bundle_files(self.store.bundle_dir(run_id))
        files = self.read_bundle(handle, CALL_TIMEOUT_S)
        if files is not None:
            return files
        return read_bundle_files(self.store.bundle_dir(run_id))

    def devices(self) -> list[str]:
        return cluster_devices(self.address)

    def has_active(self) -> bool:
        return bool(self.runs.live() or self.to_resume)

    # --- collecting ------------------------------------------------------------------------------------------

    def collect(self) -> list[EventBatch]:
        """The batches of events that came back since the last call (not yet written); starts the next drains."""
        batches = []
        with self.lock:
            for run_id in self.runs.live():
                batch = self._take_drain(run_id)
                if batch is not None and batch.events:
                    batches.append(batch)
        return batches

    def write(self, batches: list[EventBatch]) -> None:
        """Write `batches` to the store (each event once), and let the actors of ended runs go."""
        for batch in batches:
            self.runs.apply(batch.run_id, list(batch.events), lambda r=batch.run_id: self.fetch(r, "checkpoint"))
            record = self.store.get(batch.run_id)
            if record is None or not record.active:
                self._finish(batch.run_id)

    def reap_slots(self) -> frozenset[str]:
        """collect and write (the manager's dispatch calls it first); no worker slots to count under Ray."""
        with self.lock:
            self.write(self.collect())
            resume, self.to_resume = self.to_resume, []
        for run_id in resume:
            self.on_interrupted(run_id)
        return frozenset()

    def _take_drain(self, run_id: str) -> EventBatch | None:
        """The answer of the drain call in flight, if it came (then the next one is sent); None otherwise."""
        ref = self.drains.get(run_id)
        if ref is not None:
            done, _ = self.ray.wait([ref], timeout=0)
            if not done:
                return None
            try:
                events = self.ray.get(ref)
            except self.ray.exceptions.ActorUnavailableError:
                events = None  # for now (a network blip, its node restarting): ask again
            except self.ray.exceptions.RayActorError as err:
                self.drains.pop(run_id, None)
                self._lost(run_id, type(err).__name__)
                return None
        else:
            events = None
        handle = self._handle(run_id)
        if handle is None:
            return None
        self.drains[run_id] = handle.drain.remote(self.runs.applied(run_id))
        if not events:
            return None
        return EventBatch(run_id, events[0][0], events[-1][0], tuple(events))

    # --- actors ----------------------------------------------------------------------------------------------

    def _handle(self, run_id: str):
        """The run's actor: ours, or found by name (reattaching after an app restart); None when none is found.
        A live run whose name stays missing for lookup_grace_s is lost (a failed lookup alone proves nothing)."""
        with self.lock:
            handle = self.handles.get(run_id)
            if handle is not None:
                return handle
            try:
                handle = self.ray.get_actor(run_id, namespace=RAY_NAMESPACE)
            except ValueError:  # no such actor now: it died, or its registration is not visible yet
                if run_id in self.runs.live():
                    since = self.missing.setdefault(run_id, time.monotonic())
                    if time.monotonic() - since >= self.lookup_grace_s:
                        self._lost(run_id, f"no actor of that name for {self.lookup_grace_s:.0f} s")
                return None
            self.missing.pop(run_id, None)
            self.handles[run_id] = handle
            self.ready[run_id] = handle.ready.remote()
            return handle

    def placed(self, run_id: str) -> bool | None:
        """Whether Ray has placed the run's actor (it answered ready); None when it has no actor."""
        handle = self._handle(run_id)
        ref = self.ready.get(run_id)
        if handle is None or ref is None:
            return None
        done, _ = self.ray.wait([ref], timeout=0)
        return bool(done)

    def why_waiting(self, run_id: str) -> str:
        row = self.runs.row(run_id)
        needs = {} if row is None else json.loads(row["resources"])
        return waiting_why(needs, self.ray.cluster_resources(), self.ray.available_resources())

    def check(self, record: RunRecord) -> bool:
        """Put why a started run waits for the cluster into its message; notice a lost actor. True if it
        changed the record."""
        if not record.active or record.waiting or record.id not in self.runs.live():
            return False
        placed = self.placed(record.id)
        if placed is None:
            return record.id not in self.runs.live()  # True when _handle found it gone and marked it
        if not placed and record.status == "queued":
            why = self.why_waiting(record.id)
            if why != record.message:
                self.store.set_status(record.id, "queued", why)
                return True
        return False

    def _lost(self, run_id: str, why: str) -> None:
        """The run's actor is gone without saying it ended: the run is interrupted, with its last checkpoint.
        Whatever Ray still holds of the actor is killed, so its CPUs and GPUs go back to the cluster."""
        self.missing.pop(run_id, None)
        self._kill(run_id)
        self.runs.set_live(run_id, False)
        record = self.store.get(run_id)
        if record is None or not record.active:
            return
        step = int(record.progress.get("step", 0))
        meta = self.store.bundle_dir(run_id) / META_FILE
        if meta.is_file():
            saved = json.loads(meta.read_text(encoding="utf-8")).get("metrics", {})
            at, epoch = int(saved.get("steps", 0)), int(saved.get("epochs", 0))
            again = auto_resume() and self.runs.take_auto_resume(run_id)  # once per run
            then = "it continues from there by itself" if again else "Continue resumes it from there"
            message = (
                f"{INTERRUPTED} its Ray actor was lost at step {step} ({why}); {then} (its last checkpoint, step {at})"
            )
            self._end_if_active(run_id, "interrupted", message, back_to=(record.progress, at, epoch))
            if again:
                self.to_resume.append(run_id)  # continued by reap_slots, outside this collect
        else:
            message = (
                f"{INTERRUPTED} its Ray actor was lost at step {step} ({why}), before its first checkpoint: "
                "nothing to continue, start it again"
            )
            self._end_if_active(run_id, "interrupted", message)

    def _end_if_active(self, run_id: str, status: str, message: str, back_to: tuple | None = None) -> bool:
        """End the run `status` with `message` unless it has ended already (its own last event came first).
        `back_to` (progress, step, epoch): its checkpoint's, in the same transaction, so no reader sees the run
        ended with counters or rows past the checkpoint (those are trained again when it continues)."""
        now = time.time()
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status = ?, message = ?, updated = ?, ended = ?, ticket = NULL "
                "WHERE id = ? AND status IN ('queued', 'running', 'paused')",
                (status, message, now, now, run_id),
            )
            if cursor.rowcount and back_to is not None:
                _back_to(conn, run_id, *back_to)
        return cursor.rowcount > 0

    def _finish(self, run_id: str) -> None:
        """An ended run: its last event is written, so its actor goes (its scratch folder first)."""
        self.runs.set_live(run_id, False)
        handle = self._handle(run_id)
        if handle is not None:
            try:
                self.ray.get(handle.close.remote(), timeout=CALL_TIMEOUT_S)
            except Exception:  # gone meanwhile, or too slow: killed all the same (its node's /tmp keeps the folder)
                pass
        self._kill(run_id)

    def _kill(self, run_id: str) -> None:
        with self.lock:
            handle = self.handles.pop(run_id, None)
            self.ready.pop(run_id, None)
            self.drains.pop(run_id, None)
        if handle is None:
            try:
                handle = self.ray.get_actor(run_id, namespace=RAY_NAMESPACE)
            except ValueError:
                return
        try:
            self.ray.kill(handle, no_restart=True)
        except Exception:  # dead already (its node lost): nothing holds its resources
            pass


def _back_to(conn, run_id: str, progress: dict, step: int, epoch: int) -> None:
    """The run's counters and rows as of its checkpoint at `step`: the rows past it go (none is counted twice)."""
    progress = {**progress, "step": step, "epoch": epoch, "steps_per_s": None, "eta_s": None}
    conn.execute("DELETE FROM metrics WHERE run = ? AND step > ?", (run_id, step))
    conn.execute("DELETE FROM snapshots WHERE run = ? AND step > ?", (run_id, step))
    conn.execute("UPDATE runs SET progress = ? WHERE id = ?", (to_json(progress), run_id))
