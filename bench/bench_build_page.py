"""Speed of the Build page with a 200-node graph on the canvas.

    python -m bench.bench_build_page               # server time of a rerun after a parameter edit (AppTest)
    python -m bench.bench_build_page --browser     # the same in a real `streamlit run` driven by Chromium

Server: the page records how long each rerun takes (`ui.build.editor_state.record_run_time`). AppTest loads the graph,
selects a Linear and edits its `out_features` --edits times; the numbers are those reruns.

Browser: the graph is opened from a file in a real session; per edit the bench measures the time from
pressing Enter in the inspector to the new shape appearing on the canvas's edge label (what the user
waits for), and reads the server times of every rerun the edit caused: the page rerun of the edit, and
the canvas-only reruns of the component's echo (the canvas is a fragment).
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import time

from bench.big_graph import WIDTH, residual_mlp

ROOT = pathlib.Path(__file__).resolve().parents[1]
EDITED = "fc_30"  # a Linear in the middle of the graph


def _stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):.0f} ms · p95 {p95:.0f} ms · max {ordered[-1]:.0f} ms (n={len(values)})"


def bench_server(n_nodes: int, edits: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    from builder.session import EditorSession

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    editor = EditorSession(spec=residual_mlp(n_nodes))
    editor.selected = EDITED
    at.session_state["build_editor"] = editor
    at.run()
    at.run()  # warm: first-run imports are not what a user waits for on an edit
    for k in range(edits):
        widget = next(w for w in at.number_input if w.label == "out_features *")
        widget.set_value(WIDTH + 1 + k % 2).run()
        assert not at.exception, at.exception
    return [ms for kind, ms in at.session_state["run_times_ms"][-edits:] if kind == "page"]


def _server_times(page) -> tuple[int, list[tuple[str, float]]]:
    """(number of reruns so far, [(kind, ms)] of the last ones) from the page's debug caption."""
    text = page.get_by_text("reruns:").inner_text()
    counts, times = text.removeprefix("reruns: ").split(" · server ms: ")
    pages, canvases = (int(part.split()[0]) for part in counts.split(", "))
    kinds = {"p": "page", "c": "canvas"}
    return pages + canvases, [(kinds[t[0]], float(t[1:])) for t in times.split(", ")]


def bench_browser(n_nodes: int, edits: int) -> tuple[list[float], list[tuple[str, float]], list[int]]:
    from playwright.sync_api import expect

    from devtools.app_server import app_page
    from tests.browser.build_page import click_node, edge_label, open_file, settle

    spec_file = pathlib.Path(tempfile.mkdtemp()) / "big.json"
    spec_file.write_text(residual_mlp(n_nodes).to_json())
    latencies, server_ms, reruns = [], [], []
    with app_page({"width": 1500, "height": 1000}, timeout_ms=30_000) as (app, page):
        page.goto(f"{app.url}/?debug=1")
        settle(page)
        open_file(page, spec_file)
        click_node(page, EDITED)
        for k in range(edits):
            value = WIDTH + 1 + k % 2
            before, _ = _server_times(page)
            box = page.get_by_role("spinbutton", name="out_features *")
            box.fill(str(value))
            started = time.perf_counter()
            box.press("Enter")
            expect(edge_label(page, EDITED, EDITED.replace("fc", "relu"))).to_have_text(f"[{value}]")
            latencies.append((time.perf_counter() - started) * 1000)
            settle(page)
            page.get_by_role("button", name="Deselect").hover()  # nothing: lets the caption catch up
            after, times = _server_times(page)
            caused = times[-(after - before) :] if after > before else []
            reruns.append(len(caused))
            server_ms += caused
    return latencies, server_ms, reruns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--browser", action="store_true", help="also measure in a real session in Chromium")
    args = parser.parse_args()
    print(f"graph: {len(residual_mlp(args.nodes).nodes)} nodes ({residual_mlp(args.nodes).name})")
    print(f"server, AppTest, rerun after a parameter edit: {_stats(bench_server(args.nodes, args.edits))}")
    if args.browser:
        latencies, server_ms, reruns = bench_browser(args.nodes, args.edits)
        print(f"browser, Enter -> new shape on the canvas: {_stats(latencies)}")
        for kind, what in (("page", "the page rerun of the edit"), ("canvas", "canvas-only echo reruns")):
            print(f"browser, server time of {what}: {_stats([ms for k, ms in server_ms if k == kind])}")
        print(f"browser, reruns per edit: {statistics.mean(reruns):.1f} (min {min(reruns)}, max {max(reruns)})")


if __name__ == "__main__":
    main()
