"""Start devtools/canvas_demo.py (the canvas component alone) the way devtools.app_server starts the app.

with running_demo(log_path="tests/artifacts/canvas_demo.log") as url:
    page.goto(f"{url}/?nodes=500")
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from devtools.app_server import ROOT, free_port, stop, streamlit_command, wait_healthy

DEMO = "devtools/canvas_demo.py"


def demo_command(port: int) -> list[str]:
    command = streamlit_command(port)
    command[command.index("app.py")] = DEMO
    return command


@contextmanager
def running_demo(log_path: str | os.PathLike | None = None) -> Iterator[str]:
    """The demo's URL (no trailing slash) while it runs on a free port of 127.0.0.1."""
    port = free_port()
    with ExitStack() as stack:
        output = subprocess.DEVNULL
        if log_path is not None:
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
            output = stack.enter_context(open(log_path, "w"))
        process = subprocess.Popen(demo_command(port), cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        stack.callback(stop, process)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        yield url
