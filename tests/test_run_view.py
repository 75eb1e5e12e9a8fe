"""The run view's helpers for the gradient replay: the snapshot at a step, its norms and its node statistics."""

from __future__ import annotations

import math

from engine.runs.store import Row
from ui.train.run_view import NodeStats, latest_norms, log_range, norms_at, snapshot_at, stats_at, steps_summary


def snapshot(seq: int, step: int, nodes: dict) -> Row:
    return Row(seq=seq, step=step, epoch=0, kind="step", data={"nodes": nodes})


def relu(scale: float) -> dict:
    return {"mean": 0.5 * scale, "std": scale, "dead": 0.25, "out_grad": 0.125 * scale, "grad": None}


def linear(scale: float) -> dict:
    return {"mean": -scale, "std": 2 * scale, "dead": None, "out_grad": 0.25 * scale, "grad": 3 * scale}


SNAPSHOTS = [snapshot(k + 1, 10 * (k + 1), {"fc": linear(k + 1), "act": relu(k + 1)}) for k in range(5)]
OPS = {"fc": "Linear", "act": "ReLU", "x": "Input"}


def test_the_snapshot_at_a_step_is_that_step_or_the_newest_before_it():
    assert snapshot_at(SNAPSHOTS, 30).step == 30
    assert snapshot_at(SNAPSHOTS, 34).step == 30
    assert snapshot_at(SNAPSHOTS, 1000).step == 50
    assert snapshot_at(SNAPSHOTS, 9) is None
    assert snapshot_at([], 10) is None


def test_norms_at_a_step_are_that_snapshots_and_skip_nodes_without_the_number():
    assert norms_at(SNAPSHOTS, 20, "grad") == {"fc": 6.0}  # act has no parameters
    assert norms_at(SNAPSHOTS, 20, "out_grad") == {"fc": 0.5, "act": 0.25}
    assert norms_at(SNAPSHOTS, 5, "grad") == {}
    assert norms_at(SNAPSHOTS, 50, "out_grad") == latest_norms(SNAPSHOTS, "out_grad")


def test_stats_at_a_step_list_every_probed_node_in_graph_order_with_its_op():
    assert stats_at(SNAPSHOTS, 30, OPS) == [
        NodeStats("fc", "Linear", grad=9.0, out_grad=0.75, mean=-3.0, std=6.0, dead=None),
        NodeStats("act", "ReLU", grad=None, out_grad=0.375, mean=1.5, std=3.0, dead=0.25),
    ]
    assert stats_at(SNAPSHOTS, 0, OPS) == []
    unknown = stats_at([snapshot(1, 1, {"mystery": {"mean": "n/a"}})], 1, OPS)
    assert unknown == [NodeStats("mystery", "?", None, None, None, None, None)]  # not a number: none


def test_steps_summary_names_all_steps_or_both_ends():
    assert steps_summary([5, 10, 15]) == "5, 10, 15"
    assert steps_summary(list(range(1, 21)), most=6) == "1, 2, 3, …, 18, 19, 20"
    assert steps_summary([1000, 2000]) == "1,000, 2,000"
    assert steps_summary([]) == ""


def test_log_range_spans_every_snapshot_so_colours_of_two_steps_compare():
    assert log_range(SNAPSHOTS, "grad") == (math.log10(3.0), math.log10(15.0))
    assert log_range(SNAPSHOTS[:1], "out_grad") == (math.log10(0.125), math.log10(0.25))
    assert log_range([snapshot(1, 1, {"fc": {"grad": 0.0}})], "grad") is None  # log of zero: no range
    assert log_range([], "grad") is None
