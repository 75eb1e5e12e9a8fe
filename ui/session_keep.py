"""This browser session's key and the work kept under it (engine.runs.session_state), so that a reload or
a server restart loses nothing.

The key is a random id made on the first visit and kept in the URL of every page (`?owner=...`); the Train
page also uses it to show only this session's runs. Whoever has the key has the session (its work, uploads and
runs), so it is a long random token (secrets.token_urlsafe(32): 43 characters, 256 bits) that nothing the
server hands out holds (bundles name a CSV by its file name); sharing a session means sending its URL. Keys
of 1-64 such characters made before (shorter ones) keep working. app.py calls `start_session()` before the
page runs (key into the URL; on a new Streamlit session, the saved graph and Train settings back into place;
the session marked as used; at most once an hour per server process, a sweep in the background of the
sessions unused for NETCANVAS_SESSION_DAYS days, engine.runs.session_cleanup) and `save_session()` after it
(written only when the graph or the settings changed since the last write).
"""

from __future__ import annotations

import secrets
import time

import streamlit as st

from builder.analysis.upload import read_spec_upload, saved_text
from builder.editor.session import EditorSession, fingerprint
from builder.spec.limits import limits
from engine.runs.session_cleanup import sweep_soon, touch_session
from engine.runs.session_state import load_state, save_state, valid_owner
from engine.runs.store import resolve_runs_dir

OWNER_KEY, OWNER_PARAM = "train_owner", "owner"
EDITOR_KEY = "build_editor"  # ui.build.editor_state keeps the editor here
SETTINGS_KEY, SETTINGS_FOR_KEY = "ts_saved", "ts_for"  # ui.train.settings keeps its values here
RESTORED_KEY, WRITTEN_KEY, WRITE_FAILED_KEY = "session_restored", "session_written", "session_write_failed"
TOUCHED_KEY = "session_touched"  # time.monotonic() when this session last marked its folder as used
KEY_BYTES = 32  # secrets.token_urlsafe(32): 43 characters
TOUCH_EVERY_SECONDS = 3600.0


def runs_root() -> str:
    return str(resolve_runs_dir().resolve())


def without_server_paths(text: str) -> str:
    """`text` as a page may show it: where the server keeps the runs directory (an absolute path, and the one
    the app was given) is said as `runs`, so no page shows where the server's files are."""
    for where in sorted({runs_root(), str(resolve_runs_dir())}, key=len, reverse=True):
        if where not in (".", ""):
            text = text.replace(where, "runs")
    return text


def owner() -> str:
    """This browser session's key: kept in the session, else the URL's (a reload), else a new one."""
    key = st.session_state.get(OWNER_KEY)
    if not valid_owner(key):
        key = st.query_params.get(OWNER_PARAM)
    if not valid_owner(key):
        key = secrets.token_urlsafe(KEY_BYTES)
    st.session_state[OWNER_KEY] = key
    return key


def start_session() -> None:
    """Before a page runs: the key into the URL (every page, so a reload of any page comes back to this
    work) and, once per Streamlit session, the saved work back into place."""
    key = owner()
    if st.query_params.get(OWNER_PARAM) != key:
        st.query_params[OWNER_PARAM] = key
    if not st.session_state.get(RESTORED_KEY):
        _restore(key)  # marked done only once it has worked: a failed restore is tried again, never saved over
        st.session_state[RESTORED_KEY] = True
    _mark_used(key)


def _mark_used(key: str) -> None:
    """The session's folder marked as used (on its first page run, then at most once an hour) and, at most
    once an hour per server process, the unused sessions swept away in a background thread."""
    now = time.monotonic()
    touched = st.session_state.get(TOUCHED_KEY)
    if touched is None or now - touched >= TOUCH_EVERY_SECONDS:
        st.session_state[TOUCHED_KEY] = now
        touch_session(runs_root(), key)
    sweep_soon(runs_root(), limits().session_days)


def state_problem(state: dict) -> str | None:
    """Why a saved state (as read back) cannot be restored, or None: its graph must pass the loader."""
    graph = state.get("graph")
    if graph is None:
        return None
    if not isinstance(graph, str):
        return f"its graph is a {type(graph).__name__}, not JSON text"
    spec, error = read_spec_upload("the saved graph", graph.encode("utf-8"))
    return error if spec is None else None


def _restore(key: str) -> None:
    """The saved work back into place. A saved state that cannot be used is never replaced by the starter:
    load_state sets it aside (state.json.bad-<time>) and falls back to the save before it; the page says so."""
    state, problem = load_state(runs_root(), key, check=state_problem)
    graph = state.get("graph")
    if graph is not None and EDITOR_KEY not in st.session_state:
        spec, _ = read_spec_upload("the saved graph", str(graph).encode("utf-8"))  # state_problem passed it
        ed = EditorSession(spec=spec, baseline=str(state.get("baseline") or ""))
        ed.baseline = ed.baseline or fingerprint(spec)
        st.session_state[EDITOR_KEY] = ed
    settings, settings_for = state.get("settings"), state.get("settings_for")
    if isinstance(settings, dict) and isinstance(settings_for, str) and SETTINGS_KEY not in st.session_state:
        st.session_state[SETTINGS_KEY] = dict(settings)
        st.session_state[SETTINGS_FOR_KEY] = settings_for
    if problem:
        st.session_state.setdefault(EDITOR_KEY, EditorSession()).tell("warning", problem)
        st.toast(problem, icon=":material/warning:")
    st.session_state[WRITTEN_KEY] = _snapshot()  # what is on disk now needs no write


def _snapshot() -> tuple:
    """What would be saved, cheaply: the spec object (edits replace it), the baseline, the settings."""
    ed = st.session_state.get(EDITOR_KEY)
    settings = st.session_state.get(SETTINGS_KEY)
    return (
        ed.spec if ed is not None else None,
        ed.baseline if ed is not None else None,
        dict(settings) if isinstance(settings, dict) else None,
        st.session_state.get(SETTINGS_FOR_KEY),
    )


def _same(a: tuple, b: tuple | None) -> bool:
    return b is not None and a[0] is b[0] and a[1:] == b[1:]


def save_session() -> None:
    """After a page ran: write the graph and the settings if they changed since the last write."""
    key = st.session_state.get(OWNER_KEY)
    if not valid_owner(key) or not st.session_state.get(RESTORED_KEY):
        return
    snapshot = _snapshot()
    if _same(snapshot, st.session_state.get(WRITTEN_KEY)):
        return
    spec, baseline, settings, settings_for = snapshot
    state = {"baseline": baseline, "settings": settings, "settings_for": settings_for}
    state["graph"] = saved_text(spec) if spec is not None else None
    try:
        save_state(runs_root(), key, state, check=state_problem)
    except (OSError, TypeError, ValueError) as err:
        if not st.session_state.get(WRITE_FAILED_KEY):
            st.session_state[WRITE_FAILED_KEY] = True
            reason = err.strerror if isinstance(err, OSError) and err.strerror else err  # no path (it holds the key)
            st.toast(f"Your work could not be saved for a reload ({reason}); it stays while this tab is open.")
        return
    st.session_state[WRITTEN_KEY] = snapshot
