"""Saving a session's work never replaces a loadable state by an unloadable one (issue 20, item 6).

engine.runs.session_state: save_state writes a temporary file, reads it back, checks it (JSON, version, the
caller's check) and only then renames it over state.json, keeping the state it replaces as state.json.prev;
load_state sets an unusable state.json aside (state.json.bad-<time>) and falls back to .prev, and says so.
ui.session_keep passes the spec loader as the check, so a restore never silently swaps the saved work for the
starter. The last two tests are the reported case end to end, through the app (AppTest).
"""

from __future__ import annotations

import json
import pathlib

import pytest
from streamlit.testing.v1 import AppTest

from builder.analysis.upload import saved_text
from builder.editor.edit import starter_spec
from engine.runs.session_state import PREV_FILE, STATE_FILE, UnloadableState, load_state, save_state, session_dir
from engine.runs.store import RUNS_DIR_ENV
from tests.apptest_canvas import send_event
from ui.session_keep import state_problem

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")
KEY = "savekey"


def graph_at(x) -> str:
    """A saved graph whose first card sits at x, written the way the old code wrote it (no check)."""
    raw = starter_spec().to_dict()
    raw["nodes"][1]["ui"]["x"] = x
    return json.dumps(raw)


def files(root) -> dict[str, str]:
    folder = session_dir(root, KEY)
    return {p.name: p.read_text() for p in folder.iterdir() if p.is_file()} if folder.exists() else {}


def test_a_save_keeps_the_state_it_replaces_as_prev(tmp_path):
    save_state(tmp_path, KEY, {"graph": saved_text(starter_spec()), "n": 1}, check=state_problem)
    save_state(tmp_path, KEY, {"graph": saved_text(starter_spec()), "n": 2}, check=state_problem)
    kept = files(tmp_path)
    assert sorted(kept) == [STATE_FILE, PREV_FILE]  # no temporary file left
    assert json.loads(kept[STATE_FILE])["n"] == 2 and json.loads(kept[PREV_FILE])["n"] == 1
    assert load_state(tmp_path, KEY, check=state_problem)[0]["n"] == 2


@pytest.mark.parametrize("x", [1e300, 10**400, "left"], ids=["1e300", "10**400", "a string"])
def test_a_state_the_loader_would_refuse_is_never_saved(tmp_path, x):
    save_state(tmp_path, KEY, {"graph": saved_text(starter_spec())}, check=state_problem)
    before = files(tmp_path)
    with pytest.raises(UnloadableState, match=r"would not load back \(the saved graph .*nodes\[1\]\.ui\.x"):
        save_state(tmp_path, KEY, {"graph": graph_at(x)}, check=state_problem)
    assert files(tmp_path) == before  # state.json untouched, no .prev made from it, no temporary left


def write(root, name: str, text: str) -> None:
    folder = session_dir(root, KEY)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def good_state(n: int) -> str:
    return json.dumps({"version": 1, "graph": saved_text(starter_spec()), "n": n})


@pytest.mark.parametrize("bad", ["{ half written", json.dumps({"version": 1, "graph": graph_at(1e300)})])
def test_an_unusable_state_is_set_aside_and_the_previous_save_restored(tmp_path, bad):
    write(tmp_path, STATE_FILE, bad)
    write(tmp_path, PREV_FILE, good_state(1))
    state, problem = load_state(tmp_path, KEY, check=state_problem)
    assert state["n"] == 1 and "could not be read" in problem and "the save before it was restored" in problem
    kept = files(tmp_path)
    (aside,) = [name for name in kept if name.startswith("state.json.bad-")]
    assert kept[aside] == bad and json.loads(kept[STATE_FILE])["n"] == 1 and PREV_FILE not in kept
    assert aside in problem and str(tmp_path) not in problem and "\n" not in problem
    assert load_state(tmp_path, KEY, check=state_problem) == (state, None)  # the next visit: all well


def test_when_both_saves_are_unusable_both_are_kept_aside_and_the_session_starts_afresh(tmp_path):
    write(tmp_path, STATE_FILE, "[1, 2]")
    write(tmp_path, PREV_FILE, json.dumps({"version": 1, "graph": graph_at(float("nan"))}))
    state, problem = load_state(tmp_path, KEY, check=state_problem)
    assert state == {} and problem.endswith("starting afresh.") and "could not be used either" in problem
    kept = files(tmp_path)
    assert sorted(kept.values()) == sorted(["[1, 2]", json.dumps({"version": 1, "graph": graph_at(float("nan"))})])
    assert all(name.startswith(("state.json.bad-", "state.json.prev.bad-")) for name in kept)


def test_a_save_cut_off_between_its_two_renames_finds_the_previous_state(tmp_path):
    write(tmp_path, PREV_FILE, good_state(3))  # state.json moved to .prev, the new one never renamed in
    state, problem = load_state(tmp_path, KEY, check=state_problem)
    assert state["n"] == 3 and "last save did not finish" in problem
    assert json.loads(files(tmp_path)[STATE_FILE])["n"] == 3


# --- the reported case, through the app ----------------------------------------------------------------


@pytest.fixture
def runs_dir(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("save_runs")
    monkeypatch.setenv(RUNS_DIR_ENV, str(root))
    return root


def open_app(owner: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if owner:
        at.query_params["owner"] = owner
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_card_moved_to_1e300_comes_back_on_the_next_visit(runs_dir):
    at = open_app()
    send_event(at, "move_end", positions={"fc1": [1e300, 120]})
    assert not at.exception, at.exception
    moved = at.session_state["build_editor"].spec
    again = open_app(at.session_state["train_owner"])  # a reload
    assert not [t for t in again.toast if "could not" in str(t.value)]
    assert again.session_state["build_editor"].spec.to_dict() == moved.to_dict()
    assert moved.node("fc1").ui == {"x": 1_000_000, "y": 120}


def test_a_saved_graph_that_cannot_be_loaded_is_kept_aside_not_overwritten_by_the_starter(runs_dir):
    bad = json.dumps({"version": 1, "graph": graph_at(1e300), "baseline": "", "settings": None})
    write(runs_dir, STATE_FILE, bad)
    at = open_app(KEY)
    shown = "\n".join(str(t.value) for t in at.toast)
    send_event(at, "move_end", positions={"fc2": [5, 5]})  # one more edit: the session saves again
    assert not at.exception, at.exception
    kept = files(runs_dir)
    assert [name for name in kept if kept[name] == bad][0].startswith("state.json.bad-")  # kept, for a look
    assert "could not be read" in shown and "state.json.bad-" in shown and str(runs_dir) not in shown
