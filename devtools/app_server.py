"""The one way to start the app for the browser tests, the benchmarks and the docs' screenshots.

    with running_app(runs_dir=tmp, log_path="tests/artifacts/streamlit.log") as app:
        page.goto(f"{app.url}/train")           # app.port, app.process (a subprocess.Popen) too

`running_app` starts `python -m streamlit run app.py` in the repository root, headless, on a free port of
127.0.0.1, with no file watcher and no usage statistics; NETCANVAS_RUNS_DIR points at `runs_dir` when one is
given. It returns once `/_stcore/health` answers and on leaving terminates the server (kills it if it does
not end within `stop_timeout` seconds). Its output goes to `log_path`, or nowhere.

No browser is downloaded: `launch_chromium(playwright)` starts the system's /usr/bin/chromium (Debian's;
`scripts/setup.sh --dev` installs it) with CHROMIUM_ARGS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.runs.store import RUNS_DIR_ENV

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class AppServer:
    url: str  # http://127.0.0.1:<port>, no trailing slash
    port: int
    process: subprocess.Popen


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
    ]


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = START_TIMEOUT_S) -> None:
    """Return once `url`/_stcore/health answers 200; RuntimeError if the process ends or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer on {url} within {timeout:g} s")


def stop(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """Terminate the process; kill it if it has not ended within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_app(
    runs_dir: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    log_path: str | os.PathLike | None = None,
    start_timeout: float = START_TIMEOUT_S,
    stop_timeout: float = STOP_TIMEOUT_S,
) -> Iterator[AppServer]:
    """A fresh `streamlit run app.py` (see the module doc). `env` is added to this process's environment;
    `log_path` (its folder is made) receives the server's stdout and stderr, else they are dropped."""
    environment = {**os.environ, **(env or {})}
    if runs_dir is not None:
        environment[RUNS_DIR_ENV] = str(runs_dir)
    port = free_port()
    with ExitStack() as stack:
        if log_path is not None:
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
            output = stack.enter_context(open(log_path, "w"))  # closed by the stack, after the server stops
        else:
            output = subprocess.DEVNULL
        process = subprocess.Popen(
            streamlit_command(port), cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, env=environment
        )
        stack.callback(stop, process, stop_timeout)
        server = AppServer(url=f"http://127.0.0.1:{port}", port=port, process=process)
        wait_healthy(server.url, process, start_timeout)
        yield server


def launch_chromium(playwright, **options):
    """The system Chromium through Playwright (`sync_playwright()`'s object); `options` go to `launch`."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, **options)


@contextmanager
def app_page(
    viewport: dict,
    runs_dir: str | os.PathLike | None = None,
    stop_timeout: float = STOP_TIMEOUT_S,
    timeout_ms: float = 60_000,
    **page_options,
) -> Iterator[tuple[AppServer, object]]:
    """(app, page): a fresh app (`running_app`) and a Playwright page of the system Chromium with this viewport,
    not yet on the app, whose actions wait up to `timeout_ms`; for benchmarks and screenshots (the browser tests
    keep one browser for the session, see tests/browser/conftest.py)."""
    from playwright.sync_api import sync_playwright  # a dev dependency: the app never needs it

    with running_app(runs_dir=runs_dir, stop_timeout=stop_timeout) as app, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=viewport, **page_options)
            page.set_default_timeout(timeout_ms)
            yield app, page
        finally:
            browser.close()
