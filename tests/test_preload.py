"""ui.preload: the engine is imported once per process, in a background thread."""

from __future__ import annotations

import sys
import threading

from ui import preload


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
    assert "email.mime.audio" in sys.modules
