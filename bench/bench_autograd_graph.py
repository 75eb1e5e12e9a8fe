"""How long the autograd graph of one step takes for a ResNet-18-sized network (issue 11: under 2 s).

    python -m bench.bench_autograd_graph                   # ResNet-18 (2, 2, 2, 2) blocks and a deeper one
    python -m bench.bench_autograd_graph --blocks 2 2 2 2 --batch 8 --repeats 3

The network is built from Conv2d / BatchNorm2d / ReLU / Add nodes with ResNet-18's widths (64 to 512) on a
3x32x32 input, projection shortcuts where a stage downsamples. Timed separately (median CPU seconds of the repeats):
a plain forward and backward of the same model (the reference), the step (one forward through the recording
interpreter, the loss, the backward with hooks, grouping), and the canvas component's payload
(ui/train/autograd_picture.py) with its JSON, collapsed and with every node expanded (the layout itself is made
by ELK in the browser: tests/browser/test_autograd_view.py reads its time from the page).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from builder.analysis.validate import analyze
from builder.spec.spec import Edge, GraphSpec, Node
from engine.compile.fx_module import compile_analysis
from engine.probes.autograd_graph import trace_step
from engine.threads import ThreadChoice, apply_threads
from ui.train.autograd_picture import autograd_payload

WIDTHS = (64, 128, 256, 512)


class SpecBuilder:
    def __init__(self, shape: list[int]):
        self.nodes = [Node("x", "Input", {"shape": shape})]
        self.edges: list[Edge] = []

    def add(self, node_id: str, op: str, inputs: list[str], **params) -> str:
        self.nodes.append(Node(node_id, op, params))
        self.edges += [Edge(source, node_id) for source in inputs]
        return node_id

    def conv_bn(self, prefix: str, source: str, channels: int, stride: int = 1, kernel: int = 3) -> str:
        conv = {
            "out_channels": channels,
            "kernel_size": kernel,
            "padding": kernel // 2,
            "bias": False,
            "stride": stride,
        }
        self.add(f"{prefix}_conv", "Conv2d", [source], **conv)
        return self.add(f"{prefix}_bn", "BatchNorm2d", [f"{prefix}_conv"])

    def block(self, prefix: str, source: str, channels: int, stride: int) -> str:
        a = self.add(f"{prefix}a_relu", "ReLU", [self.conv_bn(f"{prefix}a", source, channels, stride)])
        b = self.conv_bn(f"{prefix}b", a, channels)
        shortcut = self.conv_bn(f"{prefix}_proj", source, channels, stride, kernel=1) if stride != 1 else source
        return self.add(f"{prefix}_relu", "ReLU", [self.add(f"{prefix}_add", "Add", [b, shortcut])])


def resnet_spec(blocks: list[int], shape: list[int] | None = None) -> GraphSpec:
    """ResNet-18's layout with `blocks` basic blocks per stage, on a 3x32x32 input unless `shape` is given."""
    build = SpecBuilder(shape or [3, 32, 32])
    last = build.add("stem_relu", "ReLU", [build.conv_bn("stem", "x", WIDTHS[0])])
    for stage, (channels, count) in enumerate(zip(WIDTHS, blocks, strict=True)):
        for k in range(count):
            last = build.block(f"s{stage}b{k}", last, channels, 2 if stage > 0 and k == 0 else 1)
    last = build.add("pool", "AdaptiveAvgPool2d", [last], output_size=1)
    build.add("fc", "Linear", [build.add("flat", "Flatten", [last])], out_features=10)
    return GraphSpec(name="resnet_bench", nodes=build.nodes, edges=build.edges)


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median CPU seconds of the process (steady when neighbours load the machine; torch runs on --threads)."""
    times, result = [], None
    for _ in range(repeats):
        started = time.process_time()
        result = fn()
        times.append(time.process_time() - started)
    return statistics.median(times), result


def measure(blocks: list[int], batch: int, repeats: int) -> None:
    analysis = analyze(resnet_spec(blocks))
    assert analysis.ok, analysis.issues
    torch.manual_seed(0)
    model = compile_analysis(analysis).train()
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    convs = sum(1 for n in analysis.spec.nodes if n.op == "Conv2d")
    plain_s, _ = timed(lambda: torch.nn.functional.cross_entropy(model(x), y).backward(), repeats)
    step_s, graph = timed(lambda: trace_step(model, x, y, torch.nn.functional.cross_entropy), repeats)
    drawn_s, collapsed = timed(lambda: json.dumps(autograd_payload(graph, set(), "light")), repeats)
    everything = set(graph.groups)
    expanded_s, expanded = timed(lambda: json.dumps(autograd_payload(graph, everything, "light")), repeats)
    print(
        f"blocks {blocks}: {len(analysis.spec.nodes)} nodes, {convs} convs, {analysis.total_params:,} parameters, "
        f"{len(graph.operations)} ops; plain forward + backward {plain_s:.2f} s; step + grouping {step_s:.2f} s "
        f"({step_s / plain_s:.2f}x the plain step), collapsed payload {drawn_s:.3f} s ({len(collapsed) // 1024} KB), "
        f"all expanded {expanded_s:.3f} s ({len(expanded) // 1024} KB); total {step_s + drawn_s:.2f} s "
        f"(batch {batch}, torch threads {torch.get_num_threads()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, nargs=4, help="basic blocks per stage (default: 2 2 2 2, then 7 7 7 7)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one: steadier on a shared machine)")
    args = parser.parse_args()
    apply_threads(ThreadChoice(args.threads, "--threads of this bench"))  # printed with each line
    for blocks in [args.blocks] if args.blocks else [[2, 2, 2, 2], [7, 7, 7, 7]]:
        measure(blocks, args.batch, args.repeats)


if __name__ == "__main__":
    main()
