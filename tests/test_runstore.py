"""The run store: tables, incremental reads, commands, edits, WAL, and everything surviving a restart."""

from __future__ import annotations

import sqlite3
import threading

from engine.runs.store import RUNS_DIR_ENV, RunStore, Write, resolve_runs_dir

SPEC = {"version": 1, "name": "t", "nodes": [{"id": "x", "op": "Input", "params": {"shape": [2]}}], "edges": []}
CONFIG = {"dataset": "xor", "epochs": 3}


def test_created_on_first_use_in_wal_mode(tmp_path):
    root = tmp_path / "deep" / "runs"
    store = RunStore(root)
    assert not root.exists()  # nothing happens until the store is used
    store.list_runs("anyone")
    assert (root / "runs.sqlite").is_file()
    mode = sqlite3.connect(root / "runs.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_runs_directory_from_argument_env_or_default(tmp_path, monkeypatch):
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "from_env"))
    assert resolve_runs_dir() == tmp_path / "from_env"
    assert resolve_runs_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(RUNS_DIR_ENV)
    assert resolve_runs_dir().name == "runs"


def test_runs_are_listed_per_owner_newest_first(tmp_path):
    store = RunStore(tmp_path)
    first = store.create_run("alice", SPEC, CONFIG)
    second = store.create_run("alice", SPEC, {**CONFIG, "epochs": 5})
    other = store.create_run("bob", SPEC, CONFIG)
    assert [r.id for r in store.list_runs("alice")] == [second, first]
    assert [r.id for r in store.list_runs("bob")] == [other]
    record = store.get(second)
    assert record.status == "queued" and record.active and record.config["epochs"] == 5 and record.spec == SPEC
    assert store.get("no-such-run") is None


def test_status_metrics_snapshots_and_progress(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run("alice", SPEC, CONFIG)
    store.set_status(run, "running", "using cpu", pid=1234, started=1.0)
    store.write(run, Write(metrics=[(10, 1, "step", {"loss": 0.5})], progress={"step": 10}))
    first = store.metrics(run)
    store.write(
        run,
        Write(
            metrics=[(20, 1, "step", {"loss": float("nan")}), (25, 1, "epoch", {"loss": 0.4, "val_loss": 0.45})],
            snapshots=[(20, 1, "step", {"nodes": {}}), (25, 1, "epoch", {"confusion": [[1, 0], [0, 1]]})],
            progress={"step": 25},
        ),
    )
    new = store.metrics(run, since=first[-1].seq)
    assert [(r.step, r.kind) for r in new] == [(20, "step"), (25, "epoch")]
    assert new[0].data == {"loss": None}  # NaN is stored as null (strict JSON)
    assert [r.kind for r in store.snapshots(run)] == ["step", "epoch"]
    assert store.snapshots(run, "epoch")[0].data["confusion"] == [[1, 0], [0, 1]]
    assert [r.step for r in store.snapshots(run, limit=1)] == [25]
    assert store.last_step(run) == (25, 1)
    record = store.get(run)
    assert (record.status, record.message, record.pid, record.progress) == ("running", "using cpu", 1234, {"step": 25})
    store.set_status(run, "finished", "done", final={"loss": 0.4})
    assert store.get(run).final == {"loss": 0.4} and not store.get(run).active
    assert not store.mark_failed_if_active(run, "too late")  # an ended run keeps its own end


def test_commands_are_taken_once_in_order(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run("alice", SPEC, CONFIG)
    assert not store.has_commands(run) and store.take_commands(run) == []
    store.send_command(run, "pause")
    store.send_command(run, "resume")
    assert store.has_commands(run)
    assert store.take_commands(run) == ["pause", "resume"]
    assert store.take_commands(run) == [] and not store.has_commands(run)


def test_everything_survives_a_restart(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run("alice", SPEC, CONFIG)
    store.write(run, Write(metrics=[(10, 1, "step", {"loss": 0.5})], snapshots=[(10, 1, "step", {"a": 1})]))
    store.add_edit(run, 10, 1, {"kept": ["fc1"]})
    store.send_command(run, "stop")
    store.set_status(run, "stopped", "stopped on request")
    store.close()

    again = RunStore(tmp_path)  # a new app process opening the same directory
    assert [r.id for r in again.list_runs("alice")] == [run]
    assert again.get(run).status == "stopped" and again.get(run).message == "stopped on request"
    assert [r.data for r in again.metrics(run)] == [{"loss": 0.5}]
    assert [r.data for r in again.snapshots(run)] == [{"a": 1}]
    assert [(e.step, e.data) for e in again.edits(run)] == [(10, {"kept": ["fc1"]})]
    assert again.take_commands(run) == ["stop"]
    assert again.bundle_dir(run) == tmp_path.resolve() / run / "bundle"


def test_readers_read_while_a_writer_writes(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run("alice", SPEC, CONFIG)
    errors, seen = [], []

    def write():
        writer = RunStore(tmp_path)
        for step in range(1, 201):
            writer.write(run, Write(metrics=[(step, 1, "step", {"loss": 1.0 / step})], progress={"step": step}))

    def read():
        reader, since = RunStore(tmp_path), 0
        try:
            while len(seen) < 200:
                rows = reader.metrics(run, since)
                seen.extend(r.step for r in rows)
                since = rows[-1].seq if rows else since
                reader.get(run)
        except Exception as err:  # pragma: no cover - the assertion below reports it
            errors.append(err)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and seen == list(range(1, 201))
