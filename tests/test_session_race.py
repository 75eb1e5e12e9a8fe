"""A session loading its saved work while the same key's other session saves (issue 25: the reload race).

A reload makes a new Streamlit session that restores the work from state.json (ui.session_keep._restore) while
the old tab's session may still be writing its last change. save_state used to move state.json to .prev and
then rename the new file in: a load between the two renames found no state.json, took the previous save for a
failed one ("the last save did not finish"), renamed it back and restored older work. These tests run a load
at each step of a save, in order (no timing): every load must find the old state or the new one, whole, with
no notice, and the save must end with the new state and the old one as .prev.
"""

from __future__ import annotations

import json
import threading

from builder.analysis.upload import saved_text
from builder.editor.edit import starter_spec
from engine.runs import session_state
from engine.runs.session_state import PREV_FILE, STATE_FILE, load_state, save_state, session_dir
from ui.session_keep import state_problem

KEY = "racekey"


def state(n: int) -> dict:
    return {"graph": saved_text(starter_spec()), "n": n}


def test_a_load_at_any_step_of_a_save_finds_the_old_state_or_the_new(tmp_path, monkeypatch):
    save_state(tmp_path, KEY, state(1), check=state_problem)
    save_state(tmp_path, KEY, state(2), check=state_problem)
    real_replace, seen, loading = session_state.os.replace, [], []

    def replace_after_a_load(src, dst):  # the other session's load lands just before each rename of the save
        if not loading:  # (the load's own renames, if any, go straight through)
            loading.append(True)
            seen.append(load_state(tmp_path, KEY, check=state_problem))
            loading.clear()
        real_replace(src, dst)

    monkeypatch.setattr(session_state.os, "replace", replace_after_a_load)
    save_state(tmp_path, KEY, state(3), check=state_problem)
    monkeypatch.setattr(session_state.os, "replace", real_replace)
    assert seen, "the save renamed nothing"
    assert [(loaded.get("n"), problem) for loaded, problem in seen] == [(2, None)] * len(seen)
    folder = session_dir(tmp_path, KEY)
    assert sorted(p.name for p in folder.iterdir()) == [STATE_FILE, PREV_FILE]  # nothing set aside, no temporary
    assert json.loads((folder / STATE_FILE).read_text())["n"] == 3
    assert json.loads((folder / PREV_FILE).read_text())["n"] == 2
    assert load_state(tmp_path, KEY, check=state_problem)[0]["n"] == 3


def test_loads_beside_a_stream_of_saves_never_miss_the_state(tmp_path):
    """The same with real threads: one session saving 300 times, another loading all the while."""
    save_state(tmp_path, KEY, state(0), check=state_problem)
    done, problems = threading.Event(), []

    def saving():
        for n in range(1, 301):
            save_state(tmp_path, KEY, state(n), check=state_problem)
        done.set()

    writer = threading.Thread(target=saving)
    writer.start()
    last = 0
    while not done.is_set():
        loaded, problem = load_state(tmp_path, KEY, check=state_problem)
        if problem or loaded.get("n", -1) < last:  # a notice, or older work than a load before it found
            problems.append((loaded.get("n"), problem))
        last = max(last, loaded.get("n", -1))
    writer.join()
    assert problems == []
    assert load_state(tmp_path, KEY, check=state_problem) == (state(300), None)


def test_a_restore_that_fails_once_is_tried_again_and_never_saved_over(tmp_path, monkeypatch):
    """The page's side of the race: when the load raised (as the old save let it: state.json gone between its
    check and its read), the session was marked restored anyway, so every later run showed the starter and
    saved it over the work on disk. Now the next run restores, and nothing is written before it has."""
    import pathlib

    from streamlit.testing.v1 import AppTest

    from builder.library.templates import TEMPLATES
    from engine.runs.store import RUNS_DIR_ENV
    from ui import session_keep

    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path))
    work = TEMPLATES["mlp_iris"].spec()
    save_state(tmp_path, KEY, {"graph": saved_text(work), "baseline": ""}, check=state_problem)
    real_load, calls = session_keep.load_state, []

    def load_failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise FileNotFoundError("state.json vanished between the check and the read")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(session_keep, "load_state", load_failing_once)
    at = AppTest.from_file(str(pathlib.Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    at.query_params["owner"] = KEY
    at.run()
    assert at.exception  # the first run fails: the page says so
    at.run()  # the next run (any click)
    assert not at.exception, at.exception
    assert at.session_state["build_editor"].spec.to_dict() == work.to_dict()
    saved = json.loads((session_dir(tmp_path, KEY) / STATE_FILE).read_text())
    assert json.loads(saved["graph"])["name"] == "mlp_iris"
