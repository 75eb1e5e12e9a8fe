"""Parts of a compiled graph the phased rules train one at a time (engine.train.phased).

    below = prefix_module(model, "rbm1")           # x -> rbm1's output, sharing model's layers (and weights)
    nodes = module_nodes(analysis, ["m1_out", "m2_out"])  # {"m1_out": {"m1_hidden", "m1_out"}, "m2_out": {...}}

A prefix is a new fx.GraphModule over the same layer objects, so training through it trains the model itself.
"""

from __future__ import annotations

import torch
from torch import fx

from builder.analysis.validate import Analysis


def prefix_module(model: fx.GraphModule, node_id: str) -> fx.GraphModule:
    """The graph from its Input up to node `node_id`'s output (what it returns), on the model's own layers."""
    fx_nodes = [n for n in model.graph.nodes if n.meta.get("spec_id") == node_id]
    assert fx_nodes, f"node {node_id!r} is not in the compiled graph"
    target = fx_nodes[-1]  # a node of several fx steps (a 3-input Add) ends with its last
    graph, env = fx.Graph(), {}
    for n in model.graph.nodes:
        env[n] = graph.node_copy(n, lambda arg: env[arg])
        if n is target:
            break
    graph.output(env[target])
    prefix = fx.GraphModule(model, graph)
    prefix.graph.eliminate_dead_code()  # branches the target does not need
    prefix.recompile()
    return prefix


def ancestors(analysis: Analysis, node_id: str) -> set[str]:
    """`node_id` and every node it depends on."""
    seen, todo = set(), [node_id]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(analysis.inputs.get(node, []))
    return seen


def module_nodes(analysis: Analysis, outputs: list[str]) -> dict[str, set[str]]:
    """The weighted nodes each module owns: those its output depends on that no earlier module's output does."""
    weighted = {n for n, count in analysis.param_counts.items() if count > 0}
    owned, below = {}, set()
    for out in outputs:
        mine = ancestors(analysis, out)
        owned[out] = (mine - below) & weighted
        below |= mine
    return owned


def set_trainable(model: torch.nn.Module, nodes: set[str] | None) -> list[torch.nn.Parameter]:
    """Let only the parameters of `nodes` (None: all) take gradients; those parameters."""
    chosen = []
    for name, param in model.named_parameters():
        param.requires_grad_(nodes is None or name.split(".", 1)[0] in nodes)
        if param.requires_grad:
            chosen.append(param)
    return chosen


def labelled_rows(y: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Indices of `fraction` of the rows of labels `y` ([N] class indices), the same share of every class
    (at least one row of each), chosen with `seed`; all rows, in order, when fraction is 1. Targets that are
    not class indices (regression) get a plain seeded sample."""
    if fraction >= 1:
        return torch.arange(len(y))
    generator = torch.Generator().manual_seed(seed)
    if y.dim() != 1 or y.is_floating_point():
        return torch.sort(torch.randperm(len(y), generator=generator)[: max(1, round(fraction * len(y)))]).values
    kept = []
    for label in torch.unique(y):
        rows = torch.nonzero(y == label).flatten()  # [n_c]
        take = max(1, round(fraction * len(rows)))
        kept.append(rows[torch.randperm(len(rows), generator=generator)[:take]])
    return torch.sort(torch.cat(kept)).values
