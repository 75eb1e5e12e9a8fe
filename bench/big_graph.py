"""A large valid network for speed measurements: residual blocks of Linear -> ReLU -> Add (skip)."""

from __future__ import annotations

from builder.editor.layout import layered_layout
from builder.spec.spec import Edge, GraphSpec, Node

WIDTH = 64


def residual_mlp(n_nodes: int = 200) -> GraphSpec:
    """Input, then blocks fc_k -> relu_k -> add_k (add_k also takes the block's input), then a head.

    Has exactly `n_nodes` nodes when n_nodes % 3 == 2 (Input + 3 per block + head); close otherwise.
    """
    nodes = [Node("x", "Input", {"shape": [WIDTH]})]
    edges, last = [], "x"
    for k in range(max(1, (n_nodes - 2) // 3)):
        fc, relu, add = f"fc_{k}", f"relu_{k}", f"add_{k}"
        nodes += [Node(fc, "Linear", {"out_features": WIDTH}), Node(relu, "ReLU"), Node(add, "Add")]
        edges += [Edge(last, fc), Edge(fc, relu), Edge(relu, add), Edge(last, add)]
        last = add
    nodes.append(Node("head", "Linear", {"out_features": 10}))
    edges.append(Edge(last, "head"))
    return layered_layout(GraphSpec(name=f"residual_mlp_{len(nodes)}", nodes=nodes, edges=edges))
