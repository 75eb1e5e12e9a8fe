"""Nothing lost on a reload or a restart: the working graph, the Train settings and the uploads kept per session
key in the runs directory (engine.runs.session_state, ui.session_keep), a Load over unsaved work that one Undo
takes back, and the Train page's one-click fixes where the data and the network disagree. Pages through
Streamlit's AppTest; runs go to a temporary runs directory."""

from __future__ import annotations

import json
import os
import pathlib
import time

import pytest
from streamlit.testing.v1 import AppTest

from builder.editor.session import EditorSession
from builder.library.datasets import dataset_label
from builder.library.templates import TEMPLATES
from engine.runs import session_state
from engine.runs.session_state import (
    list_uploads,
    load_state,
    remove_upload,
    save_state,
    save_upload,
    session_dir,
)
from engine.runs.store import RUNS_DIR_ENV

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")
TRAIN = "app_pages/train.py"
BUILD = "app_pages/build.py"


@pytest.fixture(autouse=True)
def runs_dir(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("session_runs")
    monkeypatch.setenv(RUNS_DIR_ENV, str(root))
    return root


def wine_csv(n_features: int = 13, n_classes: int = 3, rows: int = 60) -> bytes:
    header = ",".join(f"f{j}" for j in range(n_features)) + ",kind\n"
    lines = [",".join(str((i * (j + 3)) % 11) for j in range(n_features)) + f",c{i % n_classes}\n" for i in range(rows)]
    return (header + "".join(lines)).encode()


def open_app(query: dict | None = None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    if page is not None:
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    kinds = ("error", "warning", "success", "info", "caption", "markdown", "toast")
    return "\n".join(str(e.value) for kind in kinds for e in getattr(at, kind))


def owner_of(at: AppTest) -> str:
    return at.session_state["train_owner"]


def restart_server() -> None:
    """What a server restart forgets: the app-wide run manager (the session's own state goes with its AppTest)."""
    from ui.train.page_state import _manager

    _manager.clear()


# --- the store of a session's work ------------------------------------------------------------------


def test_state_is_written_whole_and_read_back_and_a_bad_key_is_never_a_path(tmp_path):
    save_state(tmp_path, "abc_12-x", {"graph": "{}", "settings": {"epochs": 7}})
    assert load_state(tmp_path, "abc_12-x") == ({"graph": "{}", "settings": {"epochs": 7}}, None)
    assert [p.name for p in session_dir(tmp_path, "abc_12-x").iterdir()] == ["state.json"]  # no temporary left
    assert load_state(tmp_path, "nobody") == ({}, None)
    for bad in ("../x", "a/b", "", "x" * 65):
        with pytest.raises(ValueError, match="session key must be"):
            session_dir(tmp_path, bad)


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"version": 99}', b"\xff\xfe"])
def test_a_corrupt_state_is_ignored_with_one_line(tmp_path, content):
    path = session_dir(tmp_path, "k") / "state.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    state, problem = load_state(tmp_path, "k")
    assert state == {} and "\n" not in problem and "state.json.bad-" in problem and str(path.parent) not in problem


def test_uploads_keep_their_original_names_and_the_same_content_is_one_file(tmp_path):
    first = save_upload(tmp_path, "k", "wine.csv", b"a,b\n1,2\n")
    second = save_upload(tmp_path, "k", "../../etc/other data.CSV", b"a,b\n3,4\n")
    now = time.time()  # the order is the files' times, set here: no wait between the saves
    os.utime(first.path, (now - 60, now - 60))
    os.utime(second.path, (now - 30, now - 30))
    again = save_upload(tmp_path, "k", "wine.csv", b"a,b\n1,2\n")  # the same content: the same file, untouched
    assert first == again and first.path.name == "wine.csv" and first.path.read_bytes() == b"a,b\n1,2\n"
    assert second.name == "other data.CSV" and session_dir(tmp_path, "k") in second.path.parents
    assert [u.name for u in list_uploads(tmp_path, "k")] == ["other data.CSV", "wine.csv"]
    assert dataset_label(f"csv:{first.path}") == "wine.csv" and dataset_label("iris") == "iris"


def test_a_kept_upload_can_be_removed_and_nothing_else_can(tmp_path):
    wine = save_upload(tmp_path, "k", "wine.csv", b"a,b\n1,2\n")
    other = save_upload(tmp_path, "other", "wine.csv", b"a,b\n1,2\n")
    outside = tmp_path / "notes.csv"
    outside.write_text("x")
    assert not remove_upload(tmp_path, "k", other.path)  # another session's
    assert not remove_upload(tmp_path, "k", outside)  # not an upload at all
    assert remove_upload(tmp_path, "k", wine.path)
    assert list_uploads(tmp_path, "k") == [] and not wine.path.parent.exists() and other.path.exists()
    assert not remove_upload(tmp_path, "k", wine.path)  # gone already


def test_the_train_page_removes_a_kept_upload_from_its_list():
    at = open_app()
    at.session_state["build_editor"].load(TEMPLATES["mlp_iris"].spec(), "mlp_iris")
    at.switch_page(TRAIN).run()
    upload(at, "small.csv", wine_csv(4, 2))
    upload(at, "wine.csv", wine_csv(4, 3))
    at.button(key="ts_remove_upload").click().run()
    chosen = at.selectbox(key="ts_upload")
    assert [pathlib.Path(p).name for p in chosen.options] == ["small.csv"] and chosen.value.endswith("small.csv")
    assert any("Removed wine.csv" in t.value for t in at.toast)


def test_load_over_unsaved_work_says_one_undo_brings_it_back():
    ed = EditorSession()
    ed.load(TEMPLATES["mlp_iris"].spec(), "mlp_iris")
    assert ed.notice.kind == "success" and not ed.unsaved  # the starter network was nobody's work
    ed.set_param("fc1", "out_features", 32)
    edited = ed.spec
    assert ed.unsaved
    ed.load(TEMPLATES["lenet"].spec(), "lenet")
    assert ed.notice.text == "Loaded lenet; the previous network is one Undo away."
    ed.undo()
    assert ed.spec.to_dict() == edited.to_dict()


# --- the pages --------------------------------------------------------------------------------------


def test_every_page_has_the_session_key_in_its_url_from_the_first_visit():
    at = open_app()
    key = owner_of(at)
    assert at.query_params["owner"] == key
    at.switch_page(TRAIN).run()
    assert at.query_params["owner"] == key
    at.switch_page(BUILD).run()
    assert at.query_params["owner"] == key


def edit_graph_and_settings(at: AppTest) -> None:
    at.session_state["build_editor"].load(TEMPLATES["mlp_iris"].spec(), "mlp_iris")
    at.session_state["build_editor"].set_param("fc1", "out_features", 24)
    at.switch_page(TRAIN).run()
    at.number_input(key="ts_epochs").set_value(7).run()
    at.number_input(key="ts_lr").set_value(0.003).run()
    assert not at.exception, at.exception


@pytest.mark.parametrize("restart", [False, True], ids=["reload", "restart"])
def test_a_reload_or_a_restart_brings_back_the_graph_and_the_settings(restart):
    at = open_app()
    edit_graph_and_settings(at)
    spec = at.session_state["build_editor"].spec
    if restart:
        restart_server()
    for page in (TRAIN, BUILD):  # a reload of either page
        again = open_app({"owner": owner_of(at)}, page=page)
        assert again.session_state["build_editor"].spec.to_dict() == spec.to_dict()
    again.switch_page(TRAIN).run()
    assert again.number_input(key="ts_epochs").value == 7 and again.number_input(key="ts_lr").value == 0.003
    assert "Network **mlp_iris**" in texts(again)
    stranger = open_app(page=TRAIN)  # another session key starts afresh
    assert stranger.session_state["build_editor"].spec.name != "mlp_iris"


def test_reruns_that_change_nothing_write_nothing(monkeypatch):
    writes = []
    monkeypatch.setattr("ui.session_keep.save_state", lambda root, key, state, **kw: writes.append(state))
    at = open_app(page=TRAIN)
    at.run()
    at.run()
    before = len(writes)
    at.run()
    at.run()
    assert len(writes) == before
    at.number_input(key="ts_epochs").set_value(9).run()
    assert len(writes) == before + 1 and writes[-1]["settings"]["epochs"] == 9


def test_a_corrupt_saved_state_is_a_notice_and_a_fresh_start(runs_dir):
    key = "corruptkey"
    path = session_dir(runs_dir, key) / "state.json"
    path.parent.mkdir(parents=True)
    path.write_text("{ half written")
    at = open_app({"owner": key})
    assert "could not be read" in texts(at) and at.session_state["build_editor"].spec.nodes
    at.switch_page(TRAIN).run()
    assert not at.exception
    assert json.loads(path.read_text())["version"] == session_state.STATE_VERSION  # replaced by a good one


def upload(at: AppTest, name: str, data: bytes) -> None:
    at.selectbox(key="ts_dataset").set_value("csv").run()
    at.file_uploader(key="ts_csv").set_value((name, data, "text/csv")).run()
    assert not at.exception, at.exception


def test_an_upload_is_kept_listed_and_named_by_its_name_everywhere():
    at = open_app()
    at.session_state["build_editor"].load(TEMPLATES["mlp_iris"].spec(), "mlp_iris")
    at.switch_page(TRAIN).run()
    upload(at, "small.csv", wine_csv(4, 2))
    upload(at, "wine.csv", wine_csv(4, 3))
    assert at.selectbox(key="ts_upload").value.endswith("wine.csv")
    at.selectbox(key="ts_target").set_value("kind").run()
    at.switch_page(BUILD).run()
    at.switch_page(TRAIN).run()  # the uploader forgets its file; the upload is kept
    chosen = at.selectbox(key="ts_upload")
    assert chosen.value.endswith("wine.csv") and [pathlib.Path(p).name for p in chosen.options] == [
        "wine.csv",
        "small.csv",
    ]
    assert "Task **classification**, 3 classes" in texts(at)
    again = open_app({"owner": owner_of(at)}, page=TRAIN)  # a reload
    assert again.selectbox(key="ts_dataset").value == "csv"
    assert again.selectbox(key="ts_upload").value.endswith("wine.csv")
    assert again.selectbox(key="ts_target").value == "kind"

    at.number_input(key="ts_epochs").set_value(1).run()
    at.button(key="train_start").click().run()
    from ui.train.page_state import manager

    run_id = at.session_state["train_run"]
    deadline = time.monotonic() + 60
    while manager().status(run_id).status != "finished":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    at.run()
    (table,) = [d.value for d in at.dataframe if "dataset" in d.value.columns]  # the runs table
    assert list(table["dataset"]) == ["wine.csv"]
    meta = json.loads((manager().store.bundle_dir(run_id) / "meta.json").read_text())
    assert meta["dataset"] == "wine.csv" and meta["dataset_source"].startswith("csv:")


def test_the_train_page_fixes_the_input_shape_and_the_output_width_in_one_click_each():
    at = open_app()
    at.session_state["build_editor"].load(TEMPLATES["mlp_iris"].spec(), "mlp_iris")
    at.switch_page(TRAIN).run()
    upload(at, "wine.csv", wine_csv(13, 5))
    assert "set Input shape to [13]" in texts(at) and at.button(key="train_start").disabled
    at.button(key="train_fix_0").click().run()
    ed = at.session_state["build_editor"]
    assert ed.spec.node("x").params["shape"] == [13] and ed.history.can_undo
    assert "wine.csv' has 5 classes; set out_features to 5" in texts(at)
    assert at.button(key="train_fix_0").label == "Set 'fc2' out_features to 5"
    at.button(key="train_fix_0").click().run()
    assert ed.spec.node("fc2").params["out_features"] == 5
    assert "Task **classification**, 5 classes" in texts(at) and not at.button(key="train_start").disabled
    ed.undo()  # the same history as the Build page's
    assert ed.spec.node("fc2").params["out_features"] == 3


def test_the_build_page_shows_that_the_replaced_network_is_one_undo_away():
    at = open_app()
    at.session_state["build_editor"].set_param("fc1", "out_features", 5)  # the starter network, edited
    at.session_state["build_editor"].load(TEMPLATES["lenet"].spec(), "lenet")
    at.run()
    assert [i.value for i in at.info] == ["Loaded lenet; the previous network is one Undo away."]
    at.button[[b.label for b in at.button].index("Undo")].click().run()
    assert at.session_state["build_editor"].spec.node("fc1").params["out_features"] == 5
