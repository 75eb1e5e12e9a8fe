"""A Ray run's events without Ray: the in-actor buffer (engine.runs.ray_buffer) and the app's writer
(engine.runs.ray_events) give each event to the store once, in order, whatever is drained twice or by two
managers at once. tests/test_ray_executor.py runs the same through real actors."""

from __future__ import annotations

from engine.runs.bundle_files import read_bundle_files, write_bundle_files
from engine.runs.ray_buffer import ActorBuffer
from engine.runs.ray_events import RayRuns
from engine.runs.store import RunStore, Write

SPEC = {"nodes": [], "edges": []}


def _buffer_with_rows(tmp_path, rows: int) -> ActorBuffer:
    buffer = ActorBuffer("r", tmp_path / "actor")
    buffer.set_status("r", "running", "training", started=1.0, pid=4242)
    for step in range(1, rows + 1):
        buffer.write("r", Write([(step, 0, "step", {"loss": 1.0 / step})], [], {"step": step}))
    return buffer


def _store_with_run(tmp_path) -> tuple[RunStore, str, RayRuns]:
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run("alice", SPEC, {"dataset": "iris"})
    runs = RayRuns(store)
    runs.register(run_id, {"CPU": 1, "GPU": 0})
    return store, run_id, runs


def test_an_event_drained_twice_is_written_once(tmp_path):
    buffer = _buffer_with_rows(tmp_path, 5)
    store, run_id, runs = _store_with_run(tmp_path)
    first = buffer.drain(0)
    assert [seq for seq, _, _ in first] == [1, 2, 3, 4, 5, 6]
    assert runs.apply(run_id, first[:4], dict) == 4
    # the app died before acknowledging: the next drain (from the last seq written) brings 5 and 6, and a stale
    # copy of the whole first batch comes too
    assert runs.apply(run_id, first, dict) == 6
    assert runs.apply(run_id, buffer.drain(runs.applied(run_id)), dict) == 6
    rows = store.metrics(run_id)
    assert [r.step for r in rows] == [1, 2, 3, 4, 5]
    record = store.get(run_id)
    assert record.status == "running" and record.message == "training" and record.progress == {"step": 5}
    assert record.pid is None  # the actor's pid means nothing on the app's machine
    assert buffer.drain(6) == []  # acknowledged: the actor lets them go


def test_a_gap_stops_the_batch_and_the_next_drain_fills_it(tmp_path):
    """Two managers on one store: one has drained 1..3 and not written them yet; the other's drain already
    starts at 4. Writing 4 first would lose 1..3 (the first manager's writes would then be refused)."""
    buffer = _buffer_with_rows(tmp_path, 5)
    store, run_id, runs = _store_with_run(tmp_path)
    everything = buffer.drain(0)
    assert runs.apply(run_id, everything[3:], dict) == 0  # 4.. without 1..3: nothing written
    assert store.metrics(run_id) == []
    assert runs.apply(run_id, everything[:3], dict) == 3
    assert runs.apply(run_id, everything[3:], dict) == 6
    assert [r.step for r in store.metrics(run_id)] == [1, 2, 3, 4, 5]


def test_a_checkpoint_event_copies_the_actors_bundle_before_it_counts(tmp_path):
    buffer = ActorBuffer("r", tmp_path / "actor")
    write_bundle_files(buffer.bundle_dir("r"), {"meta.json": b"{}", "weights.safetensors": b"w" * 10})
    buffer.checkpointed()
    store, run_id, runs = _store_with_run(tmp_path)
    events = buffer.drain(0)
    assert [kind for _, kind, _ in events] == ["checkpoint"]
    assert runs.apply(run_id, events, lambda: dict(buffer.bundle)) == 1
    assert read_bundle_files(store.bundle_dir(run_id)) == {"meta.json": b"{}", "weights.safetensors": b"w" * 10}


def test_commands_reach_the_loop_once_and_an_actor_never_gives_its_place_up(tmp_path):
    buffer = ActorBuffer("r", tmp_path / "actor")
    assert not buffer.has_commands("r")
    buffer.add_command("pause")
    buffer.add_command("resume")
    assert buffer.has_commands("r") and buffer.take_commands("r") == ["pause", "resume"]
    assert buffer.take_commands("r") == []
    assert buffer.release_worker("r", "", {}, {}) is False and buffer.has_waiting() is False


def test_a_large_checkpoint_crosses_in_pieces_of_one_version():
    from engine.runs.bundle_files import CHUNK_BYTES
    from engine.runs.ray_actor import RunActor  # the class itself, outside Ray: its methods are plain
    from engine.runs.store_schema import RunRecord

    record = RunRecord("r", "alice", 0.0, 0.0, None, None, "queued", "", SPEC, {}, None, {}, None)
    actor = RunActor(record, None, False, None, 1)
    weights = bytes(range(256)) * (2 * CHUNK_BYTES // 256 + 7)  # two whole pieces and a bit
    write_bundle_files(actor.buffer.bundle_dir("r"), {"meta.json": b"{}", "weights.safetensors": weights})
    actor.buffer.checkpointed()
    version, pieces = actor.bundle_info()
    assert version == 1 and pieces == {"meta.json": 1, "weights.safetensors": 3}
    parts = [actor.bundle_chunk(version, "weights.safetensors", i) for i in range(3)]
    assert b"".join(parts) == weights and all(len(p) <= CHUNK_BYTES for p in parts)
    actor.buffer.checkpointed()  # a newer checkpoint: pieces of the old version are refused, not mixed
    assert actor.bundle_chunk(version, "weights.safetensors", 0) is None
