"""A run as a Ray actor (engine.runs.ray_executor starts it): the same run loop as a local worker's, writing to
an in-actor buffer of numbered events (engine.runs.ray_buffer) instead of the run store.

    actor = RUN_ACTOR.options(name=run_id, namespace="netcanvas", lifetime="detached", num_cpus=..,
                              num_gpus=..).remote(record, start_files, resume, probes, threads)
    actor.run.remote()            # prepares the run and trains it to its end (one of the actor's threads)
    actor.command.remote("pause") # while it trains: the actor runs its methods on several threads
    actor.drain.remote(after)     # the events past `after` (the app wrote the rest)
    actor.bundle_info.remote(); actor.bundle_chunk.remote(version, name, index)   # the last checkpoint's bytes
    read_actor_bundle(actor)      # those bytes, piece by piece: {file name: bytes}

`record` is the run's RunRecord as the app's store has it; `start_files` the bytes of the bundle it starts from
(its own checkpoint when continued, another run's bundle for "start from"), written into the actor's scratch
folder, since the actor's node need not share a filesystem with the app. The actor's scratch folder is a
temporary directory on its node, removed when the actor's process ends.
"""

from __future__ import annotations

import os
import tempfile
import threading
import traceback
from pathlib import Path

import ray

from builder.spec.spec import parse_spec
from engine.errors import NetCanvasError
from engine.probes.step_probes import ProbeSettings
from engine.runs.bundle_files import CHUNK_BYTES, chunks, write_bundle_files
from engine.runs.ray_buffer import ActorBuffer
from engine.runs.store_schema import RunRecord
from engine.runs.worker import fail_run, prepare_from_record, run_probes
from engine.runs.worker_loop import RunLoop
from engine.threads import apply_threads, choose_threads, read_cores, threads_for_spec
from engine.train.config import TrainConfig

ACTOR_THREADS = 4  # the run loop, and the app's drain, command and bundle calls beside it


class ActorRunLoop(RunLoop):
    """The run loop, telling the buffer after each checkpoint so its bytes can go to the app."""

    def checkpoint(self, status: str = "running") -> None:
        super().checkpoint(status)
        self.store.checkpointed()


class RunActor:
    """One run (see the module doc). Its methods other than run() answer at once."""

    def __init__(
        self,
        record: RunRecord,
        start_files: dict[str, bytes] | None,
        resume: bool,
        probes: ProbeSettings | None,
        threads: int,
    ):
        self.record, self.start_files, self.resume = record, start_files, resume
        self.probes, self.threads = probes, threads
        self.scratch = tempfile.TemporaryDirectory(prefix=f"netcanvas-{record.id}-")
        self.buffer = ActorBuffer(record.id, Path(self.scratch.name))
        self.started = threading.Event()

    def ready(self) -> dict:
        """Where the actor runs: its process and node (an answer means Ray has placed it)."""
        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}

    def run(self) -> str:
        """Prepare the run and train it to its end; never raises (the ending is in the events)."""
        if self.started.is_set():
            return "already running"
        self.started.set()
        record, buffer, loop = self.record, self.buffer, None
        try:
            choice = apply_threads(self._threads())
            weights_from = None
            if self.start_files:
                weights_from = str(write_bundle_files(Path(self.scratch.name) / "start", self.start_files))
            prepared, kept = prepare_from_record(buffer, record, weights_from, self.resume)
            prepared.trainer.device_message += f"; {choice.why}; on a Ray actor"
            loop = ActorRunLoop(buffer, record, prepared, run_probes(prepared, self.probes), kept)
            loop.run()
        except NetCanvasError as err:
            fail_run(buffer, record.id, str(err), loop)
        except BaseException as err:  # the run must end "failed" with its error, whatever happened
            traceback.print_exc()
            fail_run(buffer, record.id, f"{type(err).__name__}: {err}", loop)
        return "ended"

    def _threads(self):
        """The run's threads setting, else engine.threads' choice, at most the CPUs Ray gave the actor."""
        spec, _ = parse_spec(self.record.spec)
        config, _ = TrainConfig.from_dict(self.record.config)
        if spec is None or config is None:
            return choose_threads(None, read_cores, cap=self.threads)
        return threads_for_spec(spec, config, cap=self.threads)

    def close(self) -> None:
        """Remove the scratch folder (its checkpoints): the app has what it needs; it kills the actor next."""
        self.scratch.cleanup()

    def command(self, command: str) -> None:
        self.buffer.add_command(command)

    def drain(self, after: int) -> list:
        return self.buffer.drain(after)

    def bundle_info(self) -> tuple[int, dict[str, int]]:
        """(version, {file name: pieces}) of the last checkpoint kept in memory; version 0: none yet."""
        with self.buffer.lock:
            files, version = self.buffer.bundle, self.buffer.bundle_version
        return version, {name: len(chunks(data, CHUNK_BYTES)) for name, data in files.items()}

    def bundle_chunk(self, version: int, name: str, index: int) -> bytes | None:
        """Piece `index` of file `name` of checkpoint `version`; None when a newer checkpoint replaced it."""
        with self.buffer.lock:
            if version != self.buffer.bundle_version:
                return None
            data = self.buffer.bundle[name]
        return data[index * CHUNK_BYTES : (index + 1) * CHUNK_BYTES]


RUN_ACTOR = ray.remote(max_concurrency=ACTOR_THREADS)(RunActor)


def read_actor_bundle(handle, timeout: float = 60.0) -> dict[str, bytes] | None:
    """The files of the actor's last checkpoint, piece by piece ({} when it has none); None when a newer
    checkpoint kept replacing the one being read (three tries)."""
    for _ in range(3):
        version, pieces = ray.get(handle.bundle_info.remote(), timeout=timeout)
        files = {}
        for name, count in pieces.items():
            parts = ray.get([handle.bundle_chunk.remote(version, name, i) for i in range(count)], timeout=timeout)
            if any(part is None for part in parts):
                break
            files[name] = b"".join(parts)
        else:
            return files
    return None
