"""A fresh server's first Build page (issue 23 item 3): what its run imports, and what the garbage collector
still walks after it.

The first page run happens in a fresh interpreter (a subprocess), as in a fresh server: this test process has
imported torch and most of the app already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Not needed to draw the Build page; each takes ~0.3-2 s to import. (plotly is imported by Streamlit itself.)
NOT_ON_THE_FIRST_PAGE = ("torch", "sklearn", "scipy", "onnx", "onnxruntime", "engine.compile")
# Not needed to send the canvas its picture (~0.5-1 s together): Streamlit imports them to look for a dataframe in
# a top-level list or dict of a component's data (ui/build/canvas.py sends lists as tuples).
NOT_BEFORE_THE_CANVAS = ("pandas", "pyarrow", "numpy")

FIRST_RUN = """
import gc, json, sys, threading
from streamlit.testing.v1 import AppTest
import ui.build.canvas as canvas
from ui import preload

preload.PRELOADED = "email.mime.audio"  # light; the forkserver's start (warm_up) imports torch here anyway
heavy, before_canvas = sys.argv[1].split(","), sys.argv[3].split(",")
seen, seen_at_canvas = {}, {}
draw_canvas = canvas.flow_canvas

def canvas_then_record(*args, **kwargs):  # the real component: its data serialized, then what it imported
    result = draw_canvas(*args, **kwargs)
    if not seen_at_canvas:
        seen_at_canvas.update({name: name in sys.modules for name in before_canvas})
    return result

canvas.flow_canvas = canvas_then_record
start_preload = preload.preload_engine

def record_then_start():
    seen.update({name: name in sys.modules for name in heavy})
    start_preload()

preload.preload_engine = record_then_start
at = AppTest.from_file(sys.argv[2], default_timeout=120)
at.run()
for thread in threading.enumerate():
    if thread.name == "netcanvas-preload":
        thread.join(timeout=60)
print(json.dumps({
    "exception": [str(e.value) for e in at.exception],
    "imported_at_the_end_of_the_first_run": seen,
    "imported_once_the_canvas_was_sent": seen_at_canvas,
    "frozen": gc.get_freeze_count(),
    "walked": len(gc.get_objects()),
}))
"""


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> dict:
    env_runs = tmp_path_factory.mktemp("runs")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            FIRST_RUN,
            ",".join(NOT_ON_THE_FIRST_PAGE),
            str(ROOT / "app.py"),
            ",".join(NOT_BEFORE_THE_CANVAS),
        ],
        cwd=ROOT,
        env={**os.environ, "NETCANVAS_RUNS_DIR": str(env_runs), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["exception"] == []
    return result


def test_the_first_build_page_run_imports_no_torch_sklearn_or_onnx(first_run):
    seen = first_run["imported_at_the_end_of_the_first_run"]
    assert seen and not [name for name, imported in seen.items() if imported], seen


def test_the_canvas_picture_is_sent_before_pandas_pyarrow_or_numpy_is_imported(first_run):
    """The summary's table below imports them later in the run; the canvas, at the top, does not wait for it."""
    seen = first_run["imported_once_the_canvas_was_sent"]
    assert seen and not [name for name, imported in seen.items() if imported], seen


def test_after_the_first_page_run_a_collection_walks_the_session_not_the_modules(first_run):
    """Streamlit runs gc.collect(2) after every script run; the modules imported by then are frozen out of it."""
    assert first_run["frozen"] > 50_000  # Streamlit, the builder, the page's modules
    assert first_run["walked"] < first_run["frozen"] / 5, first_run
