"""ui.preload: the engine is imported once per process, in a background thread."""

from __future__ import annotations

import gc
import sys
import threading
from pathlib import Path

from ui import preload

ROOT = Path(__file__).resolve().parents[1]


def test_preload_imports_the_module_once_in_a_background_thread(monkeypatch):
    started: list[threading.Thread] = []

    class RecordedThread(threading.Thread):
        def start(self):
            started.append(self)
            super().start()

    monkeypatch.setattr(preload, "_started", threading.Event())
    monkeypatch.setattr(preload.threading, "Thread", RecordedThread)
    monkeypatch.setattr(preload, "PRELOADED", "email.mime.audio")  # light, and not imported by the test run
    monkeypatch.delitem(sys.modules, "email.mime.audio", raising=False)
    preload.preload_engine()
    preload.preload_engine()  # a second page run starts nothing
    assert len(started) == 1 and started[0].daemon and started[0] is not threading.current_thread()
    started[0].join(timeout=30)
    gc.unfreeze()  # the preload froze this test process's objects: give them back to the collector
    assert "email.mime.audio" in sys.modules


def test_app_starts_the_preload_once_the_first_page_run_is_over(monkeypatch, tmp_path):
    """Importing torch beside the first page run would share its interpreter lock: the preload waits for it."""
    from streamlit.testing.v1 import AppTest

    from ui.build.editor_state import RUN_TIMES_KEY

    seen: list[bool] = []

    def record() -> None:  # what the Build page had done when the preload was asked for
        import streamlit as st

        seen.append(RUN_TIMES_KEY in st.session_state)

    monkeypatch.setenv("NETCANVAS_RUNS_DIR", str(tmp_path))
    monkeypatch.setattr(preload, "preload_engine", record)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert seen == [True]  # asked once, after the Build page had drawn everything (its run time is recorded last)


def test_the_first_page_runs_imports_are_frozen_before_the_preload_starts(monkeypatch):
    """Streamlit's collection after the first page run then walks the session's objects, not the modules'."""
    held: list[threading.Thread] = []

    class HeldThread(threading.Thread):
        def start(self):  # not run: what matters is what preload_engine did before starting it
            held.append(self)

    monkeypatch.setattr(preload, "_started", threading.Event())
    monkeypatch.setattr(preload.threading, "Thread", HeldThread)
    gc.unfreeze()  # an earlier test's preload may have frozen everything already
    try:
        assert any(o is preload.__dict__ for o in gc.get_objects())
        preload.preload_engine()
        walked = gc.get_objects()
        assert len(held) == 1 and gc.get_freeze_count() > 0
        assert not any(o is preload.__dict__ for o in walked)  # a module imported before the call
    finally:
        gc.unfreeze()
