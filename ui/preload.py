"""Load torch once per server process in a background thread, so that the first page run that needs it (the
inspector's activation curve, the Train page) does not stop for the ~2 s import.

That matters most on the Build page: its canvas is a fragment, and Streamlit runs a fragment's rerun only after
a page run in progress has finished, so a canvas gesture made during a cold import would wait for it.
The same thread then starts the forkserver that page jobs and runs start from (engine.runs.page_jobs.warm_up).

app.py starts it once the first page run of the process has ended: beside that run the import would take its
share of the interpreter lock and the CPU and delay the first picture (about 1 s of a fresh server's first Build
page, issue 23's bench/bench_pages.py).

Imported modules are moved out of the garbage collector's sight (`gc.freeze`): once when the first page run ends
(Streamlit, the builder, the page's modules) and once the preload has imported torch. Streamlit collects all
generations after every script run (`runner.postScriptGC`) and holds the interpreter lock while it does; a
collection walks every tracked object, and with torch imported that is ~274,000 objects (0.33 s measured on this
2-core machine at load 9, 1.6 s at load 23; a few objects and ~0 ms once frozen), paid again after each run: between
a dialog's run and the page run it asks for (a template's Load), after each canvas gesture's fragment run, and after
the first page run while the browser is still fetching the canvas. Frozen objects are still freed by their reference
counts; a reference cycle among objects alive at a freeze (the modules', and those of a session open at that moment)
is no longer collected: a bounded, one-time cost per server process.
"""

from __future__ import annotations

import gc
import importlib
import threading

PRELOADED = "engine.compile.activation_curves"  # imports torch
_started = threading.Event()


def preload_engine() -> None:
    """Freeze what is imported so far and start importing the engine in a daemon thread, once per process (later
    calls return at once)."""
    if _started.is_set():
        return
    _started.set()
    gc.freeze()
    threading.Thread(target=_preload, name="netcanvas-preload", daemon=True).start()


def _preload() -> None:
    importlib.import_module(PRELOADED)
    from engine.runs.page_jobs import warm_up

    warm_up()  # the forkserver every page job and run starts from: the Train page's first check needs it
    gc.freeze()  # torch's objects: a collection after a page run no longer walks them
