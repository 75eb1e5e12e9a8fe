"""First render of the canvas component with a big graph, and panning it (issue 12: 500 nodes within 2 s).

    python -m bench.bench_canvas_render                 # 500 nodes against the 8-node fixture, 3 repeats
    python -m bench.bench_canvas_render --nodes 1000 --repeats 5

Runs devtools/canvas_demo.py in the system Chromium (a fresh browser context per load, so nothing is cached)
and reports, as medians over the repeats:
- component ms: from the bundle's first call to the first frame with every node measured (the component writes it
  on its pane as data-first-render-ms);
- page ms: from navigation to every card on the page;
- pan frame ms: the median and the 95th percentile of the frame intervals while the pane is dragged;
each for the fixture (the reference, same process) and the big graph, with the big graph's ratio to it.
"""

from __future__ import annotations

import argparse
import statistics
import time

from devtools.app_server import launch_chromium
from devtools.canvas_demo_server import running_demo

FRAMES_JS = """() => new Promise((resolve) => {
  const stamps = []; const until = performance.now() + 1200;
  const tick = (t) => { stamps.push(t); if (t < until) requestAnimationFrame(tick); else resolve(stamps); };
  requestAnimationFrame(tick);
})"""


def one_load(browser, url: str, nodes: int) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    query = f"?nodes={nodes}" if nodes else ""
    started = time.perf_counter()
    page.goto(f"{url}/{query}")
    page.wait_for_function(
        "(n) => { const host = [...document.querySelectorAll('*')].find((e) => e.shadowRoot);"
        " return host && host.shadowRoot.querySelectorAll('.nc-card').length >= n; }",
        arg=nodes or 8,
    )
    page_ms = (time.perf_counter() - started) * 1000
    pane = page.locator("[data-testid='canvas-pane']")
    page.wait_for_function(
        "() => { const host = [...document.querySelectorAll('*')].find((e) => e.shadowRoot);"
        " return host.shadowRoot.querySelector('[data-first-render-ms]'); }"
    )
    component_ms = float(pane.get_attribute("data-first-render-ms"))
    frames = pan_frames(page)
    context.close()
    return {"component": component_ms, "page": page_ms, **frames}


def pan_frames(page) -> dict:
    box = page.locator(".react-flow__pane").bounding_box()
    x, y = box["x"] + 30, box["y"] + box["height"] - 40
    stamps = page.evaluate_handle(FRAMES_JS)
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(40):
        page.mouse.move(x + 6 * i, y - 3 * i)
    page.mouse.up()
    times = stamps.json_value()
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    return {"pan_median": statistics.median(gaps), "pan_p95": gaps[int(0.95 * (len(gaps) - 1))]}


def medians(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with running_demo() as url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        one_load(browser, url, 0)  # warm the server (first script run, bundle read)
        reference = medians([one_load(browser, url, 0) for _ in range(args.repeats)])
        big = medians([one_load(browser, url, args.nodes) for _ in range(args.repeats)])
        browser.close()
    print(f"{'':24}{'fixture (8)':>14}{f'{args.nodes} nodes':>14}{'ratio':>8}")
    for key, label in [("component", "component ms"), ("page", "page ms"), ("pan_median", "pan frame ms (median)"),
                       ("pan_p95", "pan frame ms (p95)")]:  # fmt: skip
        print(f"{label:24}{reference[key]:14.0f}{big[key]:14.0f}{big[key] / reference[key]:8.2f}")


if __name__ == "__main__":
    main()
