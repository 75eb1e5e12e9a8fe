"""Hostile specs that are small as files and huge as work: shared by tests/test_caps.py and the measurements in
the issue 20 report (`python -m tests.spec_bombs nested 8 6` writes one to stdout)."""

from __future__ import annotations

import json
import sys


def _level_zero() -> dict:
    """x -> Concat(x, Linear(out_features=$w)(x)) -> out: a block whose output is $w wider than its input."""
    return {
        "params": {"w": None},
        "nodes": [
            {"id": "x", "op": "Input"},
            {"id": "fc", "op": "Linear", "params": {"out_features": "$w"}},
            {"id": "cat", "op": "Concat", "params": {"dim": 0}},
            {"id": "out", "op": "Output"},
        ],
        "edges": [
            {"source": "x", "target": "fc"},
            {"source": "x", "target": "cat", "port": 0},
            {"source": "fc", "target": "cat", "port": 1},
            {"source": "cat", "target": "out"},
        ],
    }


def _level(k: int, uses: int) -> dict:
    """x -> use_1 -> ... -> use_m -> out, each a use of level k-1 adding its own width (1, 2, ..., then $w): the
    input grows along the whole expansion, so every use sees a shape of its own and no two share a body analysis."""
    nodes = [{"id": "x", "op": "Input"}]
    for i in range(1, uses + 1):
        width = "$w" if i == uses else i
        nodes.append({"id": f"u{i}", "op": "Block", "params": {"block": f"level_{k - 1}", "w": width}})
    nodes.append({"id": "out", "op": "Output"})
    chain = [n["id"] for n in nodes]
    edges = [{"source": a, "target": b} for a, b in zip(chain, chain[1:])]
    return {"params": {"w": None}, "nodes": nodes, "edges": edges}


def nested_block_bomb(levels: int = 8, uses: int = 6) -> dict:
    """A raw v2 spec: Input [3] -> one use of level_`levels`, each level a chain of `uses` uses of the level
    below, each use's input wider than the one before. About 7 KB at (8, 6); over (uses + 2) ** levels nodes
    expanded."""
    blocks = {"level_0": _level_zero()}
    for k in range(1, levels + 1):
        blocks[f"level_{k}"] = _level(k, uses)
    return {
        "version": 2,
        "name": "bomb",
        "nodes": [
            {"id": "x", "op": "Input", "params": {"shape": [3]}},
            {"id": "top", "op": "Block", "params": {"block": f"level_{levels}", "w": 2}},
        ],
        "edges": [{"source": "x", "target": "top"}],
        "blocks": blocks,
    }


def duplicate_edge_bomb(copies: int = 100_000, op: str = "Add") -> dict:
    """A raw v1 spec of 3 nodes: x -> a ReLU, and `copies` edges relu -> `op` (the same edge over and over)."""
    return {
        "version": 1,
        "name": "edges",
        "nodes": [
            {"id": "x", "op": "Input", "params": {"shape": [4]}},
            {"id": "relu", "op": "ReLU"},
            {"id": "add", "op": op},
        ],
        "edges": [{"source": "x", "target": "relu"}] + [{"source": "relu", "target": "add"}] * copies,
    }


def wide_merge_net(relus: int = 4_999, adds: int = 5_000, fan_in: int = 3) -> dict:
    """A raw v1 spec at the default caps: x -> a chain of `relus` ReLUs, and `adds` Add nodes each reading `fan_in`
    of them (10,000 nodes and 19,999 edges by default, just within the caps): the canvas's bookkeeping must stay
    linear on it."""
    nodes = [{"id": "x", "op": "Input", "params": {"shape": [4]}}]
    nodes += [{"id": f"r{i}", "op": "ReLU"} for i in range(relus)]
    nodes += [{"id": f"a{j}", "op": "Add"} for j in range(adds)]
    chain = ["x"] + [f"r{i}" for i in range(relus)]
    edges = [{"source": s, "target": t} for s, t in zip(chain, chain[1:])]
    edges += [{"source": f"r{(j + k) % relus}", "target": f"a{j}"} for j in range(adds) for k in range(fan_in)]
    return {"version": 1, "name": "wide", "nodes": nodes, "edges": edges}


if __name__ == "__main__":
    kind, *numbers = sys.argv[1:]
    maker = {"nested": nested_block_bomb, "edges": duplicate_edge_bomb, "wide": wide_merge_net}[kind]
    print(json.dumps(maker(*(int(n) if n.isdigit() else n for n in numbers))))
