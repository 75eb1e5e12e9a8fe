"""Load torch once per server process in a background thread, so that the first page run that needs it (the
inspector's activation curve, the Train page) does not stop for the ~2 s import.

That matters most on the Build page: its canvas is a fragment, and Streamlit runs a fragment's rerun only after
a page run in progress has finished, so a canvas gesture made during a cold import would wait for it.
The same thread then starts the forkserver that page jobs and runs start from (engine.runs.page_jobs.warm_up).

app.py starts it once the first page run of the process has ended: beside that run the import would take its
share of the interpreter lock and the CPU and delay the first picture (about 1 s of a fresh server's first Build
page, issue 23's bench/bench_pages.py).
"""

from __future__ import annotations

import importlib
import threading

PRELOADED = "engine.compile.activation_curves"  # imports torch
_started = threading.Event()


def preload_engine() -> None:
    """Start importing the engine in a daemon thread, once per process (later calls return at once)."""
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_preload, name="netcanvas-preload", daemon=True).start()


def _preload() -> None:
    importlib.import_module(PRELOADED)
    from engine.runs.page_jobs import warm_up

    warm_up()  # the forkserver every page job and run starts from: the Train page's first check needs it
