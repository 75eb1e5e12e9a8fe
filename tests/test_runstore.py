"""The run store: tables, incremental reads, commands, edits, WAL, everything surviving a restart, and a
corrupt or emptied database kept aside with its runs recovered from their folders."""

from __future__ import annotations

import json
import re
import sqlite3
import threading

import pytest

from engine.runs.store import RUNS_DIR_ENV, RunStore, Write, resolve_runs_dir
from engine.runs.store_recovery import UNOWNED_PREFIX

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


# --- a corrupt or emptied store ------------------------------------------------------------------------------

FINAL = {"status": "finished", "epochs": 3, "steps": 30, "loss": 0.25, "val_loss": 0.3, "val_accuracy": 0.9}
ASIDE = re.compile(r"^runs\.sqlite\.corrupt-\d{8}-\d{6}$")


def make_run_with_bundle(store: RunStore, owner: str, final: dict) -> str:
    """A run as a worker leaves it: its row and a bundle whose meta.json holds the final metrics."""
    run = store.create_run(owner, SPEC, CONFIG)
    store.write(run, Write(metrics=[(10, 1, "step", {"loss": 0.5})]))
    store.set_status(run, final["status"], "done", final=final)
    bundle = store.bundle_dir(run)
    bundle.mkdir(parents=True)
    for name, data in (("spec.json", SPEC), ("train.json", CONFIG), ("meta.json", {"task": "x", "metrics": final})):
        (bundle / name).write_text(json.dumps(data), encoding="utf-8")
    return run


def damage(path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbled":
        path.write_bytes(b"this is not SQLite at all" * 4 + data[100:])
    else:
        path.write_bytes(b"")


def aside_files(root) -> list[str]:
    return sorted(p.name for p in root.iterdir() if ".corrupt-" in p.name and not p.name.endswith(".txt"))


@pytest.mark.parametrize("how", ["truncated", "garbled", "emptied"])
def test_a_damaged_store_is_kept_aside_and_its_runs_recovered(tmp_path, how):
    store = RunStore(tmp_path)
    finished = make_run_with_bundle(store, "alice", FINAL)
    stopped = make_run_with_bundle(store, "alice", {**FINAL, "status": "stopped", "epochs": 1, "steps": 10})
    store.close()
    damage(tmp_path / "runs.sqlite", how)

    again = RunStore(tmp_path)
    recovery = again.recovery
    assert recovery is not None and set(recovery.recovered) == {finished, stopped}
    assert [p.name for p in recovery.kept_aside] == aside_files(tmp_path) and ASIDE.match(aside_files(tmp_path)[0])
    assert ("empty" if how == "emptied" else "corrupt") in recovery.text and "2 run(s) were recovered" in recovery.text
    records = {r.id: r for r in again.list_runs("alice")}
    assert set(records) == {finished, stopped}
    assert records[finished].status == "finished" and records[finished].final == FINAL
    assert records[stopped].status == "stopped" and records[stopped].final["steps"] == 10
    assert records[finished].spec == SPEC and records[finished].config == CONFIG
    assert records[finished].progress["epoch"] == 3 and records[finished].progress["total_steps"] == 30
    assert "recovered from its bundle after the run store was found" in records[finished].message
    assert "curves and probe snapshots were lost" in records[finished].message
    assert again.metrics(finished) == []  # the curves were only in the old store
    again.close()

    third = RunStore(tmp_path)  # a second opener after the recovery: sound, nothing renamed again
    assert third.recovery is None and len(aside_files(tmp_path)) == len(recovery.kept_aside)
    assert {r.id for r in third.list_runs("alice")} == {finished, stopped}


def test_a_sound_store_is_left_alone(tmp_path):
    store = RunStore(tmp_path)
    run = make_run_with_bundle(store, "alice", FINAL)
    store.close()
    again = RunStore(tmp_path)
    assert again.recovery is None and aside_files(tmp_path) == []
    assert again.get(run).message == "done" and [r.data for r in again.metrics(run)] == [{"loss": 0.5}]


def test_an_empty_store_without_run_folders_is_a_new_store(tmp_path):
    (tmp_path / "runs.sqlite").write_bytes(b"")
    (tmp_path / "imports").mkdir()  # not a run folder
    store = RunStore(tmp_path)
    assert store.recovery is None and store.list_runs() == [] and aside_files(tmp_path) == []


def test_runs_of_unknown_owner_are_shown_to_no_one_and_folders_without_bundle_are_skipped(tmp_path):
    store = RunStore(tmp_path)
    known = make_run_with_bundle(store, "alice", FINAL)
    unknown = make_run_with_bundle(store, "alice", FINAL)
    no_bundle = store.create_run("alice", SPEC, CONFIG)  # failed before its first checkpoint
    store.close()
    (tmp_path / unknown / "run.json").unlink()  # a run made before owners were recorded
    damage(tmp_path / "runs.sqlite", "garbled")

    again = RunStore(tmp_path)
    recovery = again.recovery
    assert recovery.unowned == 1 and [s.split(":")[0] for s in recovery.skipped] == [no_bundle]
    assert "shown to no session" in recovery.text and "1 run folder(s) had no complete bundle" in recovery.text
    assert [r.id for r in again.list_runs("alice")] == [known]
    assert again.get(unknown).owner.startswith(UNOWNED_PREFIX) and again.get(no_bundle) is None
    report = (tmp_path / (aside_files(tmp_path)[0] + ".recovery.txt")).read_text()
    assert again.get(unknown).owner in report and no_bundle in report


def test_openers_at_the_same_time_recover_once(tmp_path):
    store = RunStore(tmp_path)
    run = make_run_with_bundle(store, "alice", FINAL)
    store.close()
    damage(tmp_path / "runs.sqlite", "truncated")
    openers = [RunStore(tmp_path) for _ in range(4)]
    reports, errors = [], []

    def open_store(opener: RunStore) -> None:
        try:
            reports.append(opener.recovery)
        except Exception as err:  # pragma: no cover - the assertion below reports it
            errors.append(err)

    threads = [threading.Thread(target=open_store, args=(opener,)) for opener in openers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and sum(r is not None for r in reports) == 1 and len(aside_files(tmp_path)) == 1
    assert all([r.id for r in opener.list_runs("alice")] == [run] for opener in openers)
