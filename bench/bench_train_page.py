"""The Train page in a real browser: time to the first loss point, and the worker's pace with the page open.

    python -m bench.bench_train_page                 # mlp_digits on CPU, 5 repeats
    python -m bench.bench_train_page --repeats 3 --epochs 150

Starts `streamlit run app.py` (runs in a temporary directory) and drives it with the system Chromium:

1. First loss point: from the click on Train to the first loss point drawn in the page's chart (the page
   polls every 0.5 s until the first point, then every 2 s). Target: within 3 s on CPU.
2. Throughput with the page open: the run trains `--epochs` epochs while the page polls and redraws its
   charts; its steps per second (the worker's active seconds) against the same run through the CLI's
   training path in its own process (bench.bench_probes.cli_rate). Interleaved repeats, medians.
3. `--server-only`: the server's share without a browser: AppTest reruns the whole page every 2 s (a poll
   reruns only the live fragments, so this asks more of the server than a page does), against the CLI.

Note that here the browser runs on the same machine as the server and the worker, so its chart drawing
(several hundred ms of CPU per redraw in headless Chromium without a GPU) competes with the worker; with
the browser on the user's own machine only the server's share (the store reads and the figures) remains.
CPU seconds of the server and of Chromium during one run are printed to show the split.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page

from bench.bench_probes import cli_rate
from devtools.app_server import ROOT, app_page
from engine.runs.store import RunStore
from tests.browser.build_page import load_template, press, settle

TEMPLATE = "mlp_digits"
NEW_RUN = "old => { const m = location.search.match(/run=([\\w-]+)/); return !!m && m[1] !== old; }"
FIRST_POINT = """run => {
    const fresh = el => el.closest('[data-stale="true"]') === null;
    const shown = [...document.querySelectorAll('code')].some(c => c.textContent === run && fresh(c));
    const plot = [...document.querySelectorAll('.js-plotly-plot')]
        .find(p => fresh(p) && p.layout && p.layout.title && String(p.layout.title.text).includes('Loss'));
    return shown && !!plot && plot.data.some(t => t.x && t.x.length > 0);
}"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children that have ended."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def chromium_cpu() -> float:
    out = subprocess.run(["ps", "-eo", "pid,comm"], capture_output=True, text=True).stdout.splitlines()[1:]
    pids = [int(line.split()[0]) for line in out if "chrom" in line.split()[1]]
    return sum(cpu_seconds(p) for p in pids if Path(f"/proc/{p}").exists())


def open_train_page(page: Page, url: str, template: str = TEMPLATE) -> None:
    page.goto(url)
    page.locator("[data-testid='flow-canvas'] [data-testid^='node-']").first.wait_for()
    load_template(page, template)
    page.get_by_role("link", name="Train").click()
    settle(page)


def set_epochs(page: Page, epochs: int) -> None:
    box = page.get_by_role("spinbutton", name="Epochs")
    box.fill(str(epochs))
    box.press("Enter")
    settle(page)


def new_run_id(page: Page, old: str | None) -> str:
    """The run id in the URL once it names a run other than `old`."""
    page.wait_for_function(NEW_RUN, arg=old or "")
    return re.search(r"run=([\w-]+)", page.url).group(1)


def first_point_seconds(page: Page) -> float:
    """Click Train, wait for the new run's first loss point in the chart, stop the run; the seconds it took."""
    old = re.search(r"run=([\w-]+)", page.url)
    started = time.perf_counter()
    press(page, "train_start")
    run_id = new_run_id(page, old.group(1) if old else None)
    page.wait_for_function(FIRST_POINT, arg=run_id, polling=50, timeout=30_000)
    seconds = time.perf_counter() - started
    press(page, "train_stop")
    page.get_by_text(re.compile(r"stopped on request")).first.wait_for(timeout=30_000)
    settle(page)
    return seconds


def page_rate(page: Page, store: RunStore, server: subprocess.Popen) -> tuple[float, float, float]:
    """Train to the end with the page open: (steps per second, server CPU s, Chromium CPU s)."""
    server_cpu, browser_cpu = cpu_seconds(server.pid), chromium_cpu()
    old = re.search(r"run=([\w-]+)", page.url)
    press(page, "train_start")
    run_id = new_run_id(page, old.group(1) if old else None)
    while store.get(run_id).active:
        page.wait_for_timeout(250)
    final = store.get(run_id).final
    settle(page)
    return final["steps"] / final["active_seconds"], cpu_seconds(server.pid) - server_cpu, chromium_cpu() - browser_cpu


def apptest_rate(runs: str, epochs: int, every: float) -> float:
    """The server's share alone: AppTest reruns the whole Train page (more than a poll does) every `every`
    seconds while the run trains, in this process, with no browser; the run's steps per second."""
    from streamlit.testing.v1 import AppTest

    from builder.library.templates import TEMPLATES

    os.environ["NETCANVAS_RUNS_DIR"] = runs
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.session_state["build_editor"].load(TEMPLATES[TEMPLATE].spec(), TEMPLATE)
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="ts_epochs").set_value(epochs).run()
    at.button(key="train_start").click().run()
    store, run_id = RunStore(runs), at.session_state["train_run"]
    while store.get(run_id).active:
        time.sleep(every)
        at.run()
    final = store.get(run_id).final
    return final["steps"] / final["active_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--server-only", action="store_true", help="no browser: AppTest reruns the page (3.)")
    args = parser.parse_args()
    print("torch threads: each run's worker chooses its own (engine.threads; the run's start message says it)")
    if args.server_only:
        server_only(args)
        return
    with (
        tempfile.TemporaryDirectory() as runs,
        app_page({"width": 1500, "height": 1000}, runs_dir=runs, stop_timeout=30) as (app, page),
    ):
        open_train_page(page, app.url)
        set_epochs(page, 100_000)
        first_point_seconds(page)  # warm: the fork server's imports and the first data load
        firsts = [first_point_seconds(page) for _ in range(args.repeats)]
        set_epochs(page, args.epochs)
        rates, cli, shares = [], [], []
        for _ in range(args.repeats):
            rate, server_cpu, browser_cpu = page_rate(page, RunStore(runs), app.process)
            rates.append(rate)
            shares.append((server_cpu, browser_cpu))
            cli.append(cli_rate(args.epochs)[0])
    med = statistics.median
    print(f"{TEMPLATE} on CPU, {args.repeats} repeats, {os.cpu_count()} CPUs")
    print(f"1. click on Train -> first loss point in the chart: median {med(firsts):.2f} s, max {max(firsts):.2f} s")
    print(
        f"2. {args.epochs} epochs with the page open: median {med(rates):.0f} steps/s; CLI path {med(cli):.0f} steps/s"
    )
    print(f"   ratio page open / CLI: {med(r / c for r, c in zip(rates, cli)):.3f}")
    server_cpu, browser_cpu = med(s for s, _ in shares), med(b for _, b in shares)
    print(f"   CPU seconds during one run: server {server_cpu:.1f}, Chromium {browser_cpu:.1f}")


def server_only(args) -> None:
    rates, cli = [], []
    with tempfile.TemporaryDirectory() as runs:
        apptest_rate(runs, 1, 2.0)  # warm: the fork server's imports
        for _ in range(args.repeats):
            rates.append(apptest_rate(runs, args.epochs, 2.0))
            cli.append(cli_rate(args.epochs)[0])
    med = statistics.median
    print(f"3. {args.epochs} epochs while AppTest reruns the whole Train page every 2 s (no browser):")
    print(f"   median {med(rates):.0f} steps/s; CLI path {med(cli):.0f} steps/s")
    print(f"   ratio / CLI: {med(r / c for r, c in zip(rates, cli)):.3f}")


if __name__ == "__main__":
    main()
