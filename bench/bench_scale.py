"""How analysis, auto-layout, the summary table and the CSV header check grow with the size of their input.

    python -m bench.bench_scale            # 1k, 10k and 50k nodes (chain and fan-out) and CSV columns

Linear work takes about 10x longer for 10x the input; the last column says how much longer it took. The node
cap (NETCANVAS_MAX_NODES, 10,000 by default) is lifted here so that 50k nodes are analysed, not refused.
"""

from __future__ import annotations

import os
import tempfile
import time

os.environ["NETCANVAS_MAX_NODES"] = "1000000"  # before builder.spec.limits reads it

from builder.analysis.summary import format_table  # noqa: E402
from builder.analysis.validate import analyze  # noqa: E402
from builder.editor.layout import layered_layout  # noqa: E402
from builder.spec.spec import Edge, GraphSpec, Node  # noqa: E402
from engine.data.csv_dataset import read_csv  # noqa: E402
from engine.threads import ThreadChoice, apply_threads  # noqa: E402

SIZES = (1_000, 10_000, 50_000)


def chain(n: int) -> GraphSpec:
    nodes = [Node("x", "Input", {"shape": [4]})] + [Node(f"n{k}", "ReLU") for k in range(n - 1)]
    ids = [node.id for node in nodes]
    return GraphSpec("chain", nodes, [Edge(a, b) for a, b in zip(ids, ids[1:])])


def fan_out(n: int) -> GraphSpec:
    """One Input feeding n - 1 sinks: every sink but one is an issue, the worst case for the checks."""
    nodes = [Node("x", "Input", {"shape": [4]})] + [Node(f"n{k}", "ReLU") for k in range(n - 1)]
    return GraphSpec("fan_out", nodes, [Edge("x", node.id) for node in nodes[1:]])


def csv_file(columns: int) -> str:
    path = tempfile.mktemp(suffix=".csv")
    with open(path, "w") as f:
        f.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        for r in range(4):
            f.write(",".join(str((i + r) % 7) for i in range(columns - 1)) + f",{r % 2}\n")
    return path


def seconds(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def report(name: str, times: list[float]) -> None:
    growth = " ".join(f"x{b / a:.1f}" for a, b in zip(times, times[1:]))
    shown = " ".join(f"{t:8.3f}s" for t in times)
    print(f"{name:28s} {shown}   growth per step ({'/'.join(f'{s:,}' for s in SIZES)}): {growth}")


def main() -> None:
    import torch

    count = torch.get_num_threads()  # torch's default, as this bench measured before (issue 23), now said
    threads = apply_threads(ThreadChoice(count, "torch's default count, set by this bench"))
    print(f"torch threads: {threads.threads} ({threads.why})")
    print(f"{'':28s} " + " ".join(f"{s:>9,}" for s in SIZES))
    for make in (chain, fan_out):
        specs = [make(n) for n in SIZES]
        analyses: list = []
        report(f"analyze, {make.__name__}", [seconds(lambda s=s, out=analyses: out.append(analyze(s))) for s in specs])
        report(f"auto-layout, {make.__name__}", [seconds(lambda s=s: layered_layout(s)) for s in specs])
        report(f"summary table, {make.__name__}", [seconds(lambda a=a: format_table(a)) for a in analyses])
    paths = [csv_file(n) for n in SIZES]
    try:
        report("CSV read, columns", [seconds(lambda p=p: read_csv(p)) for p in paths])
    finally:
        for path in paths:
            os.remove(path)


if __name__ == "__main__":
    main()
