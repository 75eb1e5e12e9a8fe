"""Session keys stay secret and sessions stay apart (issue 20, item 4): a CSV run's bundle and every file the
Export page serves name the data by its file name and digest, never by the upload's path (which holds the
session key); messages name the file the same way; new keys are long random tokens; sessions and uploads unused
for NETCANVAS_SESSION_DAYS days are removed (engine.runs.session_cleanup), never one with an active run."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import threading
import time
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from builder.library.templates import TEMPLATES
from builder.spec.limits import limits, limits_from
from engine.data.csv_dataset import read_csv
from engine.errors import DataError
from engine.runs import session_cleanup
from engine.runs.session_cleanup import sweep_sessions, sweep_soon
from engine.runs.session_state import save_state, save_upload, session_dir
from engine.runs.store import RUNS_DIR_ENV, RunStore

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")
TRAIN = "app_pages/train.py"
DAY = 86_400


@pytest.fixture
def runs_root(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("secret_runs")
    monkeypatch.setenv(RUNS_DIR_ENV, str(root))
    return root


def wine_csv(rows: int = 60) -> bytes:
    lines = [f"{i % 7},{(i * 3) % 5},{(i * 5) % 11},{i % 4},c{i % 3}\n" for i in range(rows)]  # mlp_iris: 4 in, 3 out
    return ("f0,f1,f2,f3,kind\n" + "".join(lines)).encode()


def open_app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def all_bytes(path: pathlib.Path, data: bytes | None = None) -> dict[str, bytes]:
    """Every file's bytes, the members of zips (nested ones too: model.ts is a zip) besides the zip itself."""
    data = path.read_bytes() if data is None else data
    found = {str(path): data}
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                found.update(all_bytes(path / name, archive.read(name)))
    return found


def holding(files: dict[str, bytes], secrets: list[str]) -> list[str]:
    return [f"{name} holds {s!r}" for name, data in files.items() for s in secrets if s.encode() in data]


# --- a CSV run through the app, its bundle and its exports ---------------------------------------------


def test_a_csv_runs_bundle_and_its_exports_hold_no_key_and_no_server_path(runs_root):
    from engine.export.exporter import export_bundle
    from engine.export.formats import FORMATS
    from ui.train.page_state import _manager, manager

    _manager.clear()  # the manager of this test's runs directory
    at = open_app()
    key = at.session_state["train_owner"]
    at.session_state["build_editor"].load(TEMPLATES["mlp_iris"].spec(), "mlp_iris")
    at.switch_page(TRAIN).run()
    at.selectbox(key="ts_dataset").set_value("csv").run()
    data = wine_csv()
    at.file_uploader(key="ts_csv").set_value(("wine.csv", data, "text/csv")).run()
    at.number_input(key="ts_epochs").set_value(1).run()
    assert not at.exception and not at.button(key="train_start").disabled
    at.button(key="train_start").click().run()
    run_id = at.session_state["train_run"]
    deadline = time.monotonic() + 120
    while manager().status(run_id).status != "finished":
        assert time.monotonic() < deadline, manager().status(run_id)
        time.sleep(0.2)
    record = manager().status(run_id)
    upload = pathlib.Path(record.config["dataset"].removeprefix("csv:"))
    assert upload.is_file() and key in str(upload)  # the store keeps the real path, for the worker

    bundle = manager().store.bundle_dir(run_id)
    report = export_bundle(bundle, FORMATS, make_zip=True)
    assert report.ok and report.zip_path.is_file() and report.pytorch_zip.is_file(), report
    files = {}
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        files.update(all_bytes(path))
    assert any(name.endswith("_pytorch/model.py") for name in files) and any("model.ts" in n for n in files)
    secrets = [key, str(pathlib.Path(runs_root).resolve()), str(runs_root), "sessions/", "uploads/"]
    assert holding(files, secrets) == []

    train = json.loads((bundle / "train.json").read_text())
    meta = json.loads((bundle / "meta.json").read_text())
    assert train["dataset"] == "csv:wine.csv" and meta["dataset_source"] == "csv:wine.csv"
    assert meta["dataset"] == "wine.csv" and meta["dataset_digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    at.run()
    shown = [
        str(e.value)
        for kind in ("error", "warning", "success", "info", "caption", "markdown")
        for e in getattr(at, kind)
    ]
    shown += [str(d.value.to_dict()) for d in at.dataframe]  # the runs table
    assert not [s for s in shown if str(upload.parent) in s or "uploads/" in s]
    other = open_app()  # another session lists none of these runs
    assert other.session_state["train_owner"] != key and manager().list_runs(other.session_state["train_owner"]) == []
    _manager.clear()


# --- messages ------------------------------------------------------------------------------------------


def test_a_csv_message_names_the_file_not_the_folder_it_is_kept_in(tmp_path):
    key = "K" * 43
    kept = save_upload(tmp_path, key, "wine.csv", b"a,b,kind\n1,x,c0\n2,3,c1\n")
    cases = {
        str(kept.path): "column 'b' row 1 (line 2): 'x' is not a finite number",
        str(kept.path.parent / "gone.csv"): "does not exist",
        str(kept.path.parent): "is a directory",  # str(OSError) would add the path
    }
    for path, expected in cases.items():
        with pytest.raises(DataError) as caught:
            read_csv(path)
        message = str(caught.value)
        assert expected in message and key not in message and str(tmp_path) not in message, message
    assert "CSV file 'wine.csv'" in str(pytest.raises(DataError, read_csv, str(kept.path)).value)


# --- keys ----------------------------------------------------------------------------------------------


def test_a_new_session_gets_a_long_random_key_and_an_old_short_key_still_works(runs_root):
    keys = {open_app().query_params["owner"] for _ in range(2)}
    assert len(keys) == 2 and all(len(k) >= 43 for k in keys), keys
    old = open_app({"owner": "abc_12-x"})  # a key made before (12 characters)
    assert old.query_params["owner"] == "abc_12-x" == old.session_state["train_owner"]


# --- removing unused sessions --------------------------------------------------------------------------


def age(folder: pathlib.Path, days: float) -> None:
    """Set every mtime under `folder` (and its own) `days` days back."""
    when = time.time() - days * DAY
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (when, when))


def session(root, key: str, days: float, uploads: tuple[str, ...] = ("data.csv",), chosen: str | None = None):
    """A session `days` days unused: state.json (a graph a visit leaves as it is) and uploads; `chosen`: the
    upload its saved settings name."""
    kept = [save_upload(root, key, name, f"x,y\n1,{name}\n".encode()) for name in uploads]
    settings = {"epochs": 3}
    if chosen is not None:
        settings["upload"] = str(next(u.path for u in kept if u.name == chosen))
    graph = TEMPLATES["mlp_iris"].spec().to_json()
    save_state(root, key, {"graph": graph, "baseline": "", "settings": settings, "settings_for": "net"})
    age(session_dir(root, key), days)
    return kept


def run_of(root, owner: str, status: str, dataset: str = "xor", updated_days_ago: float = 0.0) -> str:
    store = RunStore(root)
    run_id = store.create_run(owner, {"name": "n"}, {"dataset": dataset})
    if status != "queued":
        store.set_status(run_id, status)
    when = time.time() - updated_days_ago * DAY
    with store.transaction() as conn:
        conn.execute("UPDATE runs SET updated = ? WHERE id = ?", (when, run_id))
    store.close()
    return run_id


def test_the_sweep_removes_old_sessions_and_keeps_recent_ones_and_ones_with_active_runs(tmp_path):
    root = tmp_path
    session(root, "old_one", 40)
    session(root, "recent", 3)
    for status in ("queued", "running", "paused"):
        session(root, f"old_{status}", 40)
        run_of(root, f"old_{status}", status, updated_days_ago=40)
    session(root, "old_finished", 40)
    run_of(root, "old_finished", "finished", updated_days_ago=40)
    session(root, "ran_lately", 40)
    run_of(root, "ran_lately", "finished", updated_days_ago=2)  # a run updated lately is a use
    result = sweep_sessions(root, 30)
    left = sorted(p.name for p in (root / "sessions").iterdir())
    assert left == ["old_paused", "old_queued", "old_running", "ran_lately", "recent"], left
    assert (result.sessions_removed, result.skipped) == (2, "")
    assert RunStore(root).list_runs("old_finished")  # the runs stay (unreachable without the key)


def test_in_a_session_in_use_only_uploads_nothing_names_are_removed(tmp_path):
    root = tmp_path
    kept = session(root, "alive", 40, uploads=("a.csv", "chosen.csv", "trained.csv", "new.csv"), chosen="chosen.csv")
    by_name = {u.name: u.path for u in kept}
    run_of(root, "alive", "finished", dataset=f"csv:{by_name['trained.csv']}", updated_days_ago=5)
    now = time.time()
    os.utime(by_name["new.csv"], (now, now))  # uploaded again today
    os.utime(session_dir(root, "alive"), (now, now))  # visited today
    result = sweep_sessions(root, 30)
    assert sorted(p.name for p in (session_dir(root, "alive") / "uploads").glob("*/*")) == [
        "chosen.csv",
        "new.csv",
        "trained.csv",
    ]
    assert (result.sessions_removed, result.uploads_removed) == (0, 1)
    assert not by_name["a.csv"].parent.exists()


def test_the_setting_is_honoured_and_a_sweep_starts_at_most_once_an_hour(tmp_path):
    assert limits().session_days == 30
    assert limits_from({"NETCANVAS_SESSION_DAYS": "7"})[0].session_days == 7
    session(tmp_path, "ten_days", 10)
    assert sweep_sessions(tmp_path, 30).sessions_removed == 0
    assert sweep_sessions(tmp_path, 7).sessions_removed == 1
    session(tmp_path, "again", 10)
    first = sweep_soon(tmp_path, 30)
    first.join(10)
    assert sweep_soon(tmp_path, 7) is None and session_dir(tmp_path, "again").is_dir()  # not an hour since
    session_cleanup._LAST_SWEEP.clear()
    sweep_soon(tmp_path, 7).join(10)
    assert not session_dir(tmp_path, "again").exists()


def _join_sweeps() -> None:
    for thread in threading.enumerate():
        if thread.name == "netcanvas-session-sweep":
            thread.join(10)


def test_the_app_sweeps_with_the_setting_and_a_visit_keeps_a_session(runs_root, monkeypatch):
    session(runs_root, "ten_days", 10)
    session(runs_root, "visited", 40)
    monkeypatch.setenv("NETCANVAS_SESSION_DAYS", "7")
    limits.cache_clear()
    try:
        open_app({"owner": "visited"})  # the visit marks its session as used, then the sweep runs
        _join_sweeps()
    finally:
        limits.cache_clear()
    assert sorted(p.name for p in (runs_root / "sessions").iterdir()) == ["visited"]
