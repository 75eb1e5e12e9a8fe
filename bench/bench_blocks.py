"""How long validation takes for ResNet-18 built from blocks (issue 10: under 50 ms), against the same network
written flat (every block use replaced by its body) in the same process.

    python -m bench.bench_blocks                 # [3, 224, 224], 1000 classes, 30 repeats
    python -m bench.bench_blocks --repeats 100

Timed (median wall seconds after two warm-up runs): analyze() of the 12-node block spec, which analyses each
distinct (block, values, input shapes) body once; analyze() of the flat 94-node spec (the reference); and
compile_analysis() of the block spec. Prints the parameter counts too (both must be 11,689,512).
"""

from __future__ import annotations

import argparse
import statistics
import time

from builder.analysis.validate import analyze
from builder.library.block_library import resnet18
from builder.spec.spec import Edge, GraphSpec, Node, parse_spec
from engine.compile.fx_module import compile_analysis
from engine.threads import ThreadChoice, apply_threads


def flattened(spec: GraphSpec) -> GraphSpec:
    """The spec with every Block use replaced by its body (inner ids prefixed by the use's id), recursively."""
    a = analyze(spec)
    nodes, edges, result_of = [], [], {}  # result_of: a use's id -> the inner node holding its result
    for node in spec.nodes:
        if node.id not in a.uses:
            nodes.append(Node(node.id, node.op, dict(node.params)))
            continue
        use = a.uses[node.id]
        inner_nodes = [_plain_input(n) for n in use.body.spec.nodes]  # an Input's shape, without its port
        body = flattened(GraphSpec(node.id, inner_nodes, use.body.spec.edges, blocks=spec.blocks))
        sources = [result_of.get(s, s) for s in spec.inputs_of(node.id)]  # an earlier use's result
        inner_input, inner_output = use.body.input_id, use.body.output_id
        feeds_output = body.inputs_of(inner_output)[0]
        for inner in body.nodes:
            if inner.id not in (inner_input, inner_output):
                nodes.append(Node(f"{node.id}_{inner.id}", inner.op, dict(inner.params)))
        for e in body.edges:
            if e.target == inner_output:
                continue
            source = sources[0] if e.source == inner_input else f"{node.id}_{e.source}"
            edges.append(Edge(source, f"{node.id}_{e.target}", e.port))
        result_of[node.id] = sources[0] if feeds_output == inner_input else f"{node.id}_{feeds_output}"
    for e in spec.edges:
        if e.target not in a.uses:
            edges.append(Edge(result_of.get(e.source, e.source), e.target, e.port))
    return GraphSpec(spec.name, nodes, edges)


def _plain_input(node: Node) -> Node:
    return Node(node.id, node.op, {k: v for k, v in node.params.items() if k != "port"})


def median_seconds(fn, repeats: int) -> float:
    fn(), fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    import torch

    count = torch.get_num_threads()  # torch's default, as this bench measured before (issue 23), now said
    threads = apply_threads(ThreadChoice(count, "torch's default count, set by this bench"))
    print(f"torch threads: {threads.threads} ({threads.why})")
    spec, issues = parse_spec(resnet18("resnet18", [3, 224, 224], 1000))
    assert spec is not None, issues
    flat = flattened(spec)
    blocks_a, flat_a = analyze(spec), analyze(flat)
    assert blocks_a.ok and flat_a.ok, (blocks_a.issues, flat_a.issues)
    print(f"nodes: {len(spec.nodes)} with blocks, {len(flat.nodes)} flat; expanded count {blocks_a.expanded_nodes}")
    print(f"parameters: {blocks_a.total_params:,} with blocks, {flat_a.total_params:,} flat")
    with_blocks = median_seconds(lambda: analyze(spec), args.repeats)
    reference = median_seconds(lambda: analyze(flat), args.repeats)
    compiled = median_seconds(lambda: compile_analysis(blocks_a), max(3, args.repeats // 10))
    ratio = with_blocks / reference
    print(f"analyze, blocks: {with_blocks * 1e3:.2f} ms (flat reference {reference * 1e3:.2f} ms, ratio {ratio:.2f})")
    print(f"compile_analysis, blocks: {compiled * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
