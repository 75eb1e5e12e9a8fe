"""The library's lstm_cell and gru_cell recognised as torch's own cells (engine/compile/torch_cells.py) and run by
torch.lstm or GRUSequence (engine/compile/gru_sequence.py, its backward through time written out), equal to the
loop; a cell that is almost the standard one is refused and runs by its plan; GRUSequence's gradients match finite
differences; the autograd graph (gate_by_gate) and autocast get the gate-level plan."""

from __future__ import annotations

import copy

import pytest
import torch

from builder.library.block_library import blocks_for
from engine.compile.gru_sequence import GRUSequence
from engine.compile.torch_cells import gate_by_gate, standard_cell
from engine.probes.recurrent_probes import RecurrentProbes
from tests.test_cells import BATCH, FEATURES, HIDDEN, STEPS, recurrent_net
from tests.test_cells_fast import TorchCalls, assert_same, fused_and_loop

pytestmark = pytest.mark.usefixtures("single_thread_torch")


def edited(cell: str, *edits) -> dict:
    """A copy of the library's blocks with `cell` edited: ("op", node, op, params) sets a node's op and params;
    ("wire", node, old source, new source) moves one of its input edges; ("swap", node, None, None) reverses the
    order of its inputs."""
    blocks = copy.deepcopy(blocks_for("lstm_cell", "gru_cell", "basic"))
    block = blocks[cell]
    for kind, node_id, a, b in edits:
        if kind == "op":
            node = next(n for n in block["nodes"] if n["id"] == node_id)
            node["op"], node["params"] = a, b
        elif kind == "swap":
            places = [k for k, e in enumerate(block["edges"]) if e["target"] == node_id]
            sources = [block["edges"][k]["source"] for k in places]
            for k, source in zip(places, reversed(sources)):
                block["edges"][k]["source"] = source
        else:
            edge = next(e for e in block["edges"] if e["target"] == node_id and e["source"] == a)
            edge["source"] = b
    return blocks


def grad_fn_names(out: torch.Tensor) -> list[str]:
    names, seen, stack = [], set(), [out.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is not None and fn not in seen:
            seen.add(fn)
            names.append(type(fn).__name__)
            stack += [next_fn for next_fn, _ in fn.next_functions]
    return names


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_standard_lstm_runs_as_one_torch_lstm_call_and_the_gru_as_one_node_a_direction(bidirectional):
    x = torch.randn(BATCH, STEPS, FEATURES)
    lstm, _ = fused_and_loop(recurrent_net("lstm_cell", bidirectional))
    with TorchCalls() as calls:
        lstm(x)
    assert calls.names.count("lstm") == 1 and "addmm" not in calls.names and "sigmoid" not in calls.names
    gru, _ = fused_and_loop(recurrent_net("gru_cell", bidirectional))
    names = grad_fn_names(gru(x))
    assert names.count("GRUSequenceBackward") == 1 + bidirectional
    assert not {"AddmmBackward0", "SigmoidBackward0", "TanhBackward0", "MulBackward0"} & set(names)


# the library's cells with their nodes wired otherwise than torch's, yet computing what torch's cell does
SAME_AS_TORCH = {
    "lstm: each Multiply's and Add's operands the other way round": (
        "lstm_cell",
        [("swap", node, None, None) for node in ("c_kept", "c_written", "c_next", "h_next", "forget_gate_sum")],
    ),
    "lstm: the input and forget gates' roles swapped (names are free)": (
        "lstm_cell",
        [("wire", "c_kept", "forget_gate", "input_gate"), ("wire", "c_written", "input_gate", "forget_gate")],
    ),
}


@pytest.mark.parametrize("case", list(SAME_AS_TORCH))
def test_a_standard_cell_wired_in_another_order_is_still_recognised_and_equal_to_the_loop(case):
    cell, edits = SAME_AS_TORCH[case]
    fused, loop = fused_and_loop(recurrent_net(cell, True, blocks=edited(cell, *edits)))
    assert [s.kind for s in fused.rnn.standards] == ["lstm", "lstm"]
    assert_same(fused, loop, torch.randn(BATCH, STEPS, FEATURES))


NO_BIAS = {"out_features": "$hidden", "bias": False}
ALMOST = {  # each one change from torch's cell
    "lstm: tanh(c') is a sigmoid": ("lstm_cell", [("op", "c_squashed", "Sigmoid", {})]),
    "lstm: forget_gate_h has no bias": ("lstm_cell", [("op", "forget_gate_h", "Linear", NO_BIAS)]),
    "lstm: h' squashes the old c": ("lstm_cell", [("wire", "c_squashed", "c_next", "c")]),
    "lstm: forget_gate_x reads h": ("lstm_cell", [("wire", "forget_gate_x", "x_t", "h")]),
    "lstm: the output gate is a tanh": ("lstm_cell", [("op", "output_gate", "Tanh", {})]),
    "gru: h' = z * n + (1 - z) * h": (
        "gru_cell",
        [
            ("wire", "new_share", "one_minus_update", "update_gate"),
            ("wire", "old_share", "update_gate", "one_minus_update"),
        ],
    ),
    "gru: the reset gate multiplies h before its Linear": (
        "gru_cell",
        [
            ("wire", "candidate_h", "h", "candidate_h_reset"),
            ("wire", "candidate_h_reset", "candidate_h", "h"),
            ("wire", "candidate_sum", "candidate_h_reset", "candidate_h"),
        ],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ALMOST))
def test_a_cell_almost_the_standard_one_is_refused_and_runs_by_its_plan_equal_to_the_loop(case):
    cell, edits = ALMOST[case]
    fused, loop = fused_and_loop(recurrent_net(cell, True, blocks=edited(cell, *edits)))
    assert fused.rnn.standards is None
    x = torch.randn(BATCH, STEPS, FEATURES)
    with TorchCalls() as calls:
        fused(x)
    assert "lstm" not in calls.names and "addmm" in calls.names  # the plan's steps
    assert_same(fused, loop, x)


@pytest.mark.parametrize("reverse", [False, True])
def test_the_gru_sequences_written_out_backward_matches_finite_differences(reverse):
    generator = torch.Generator().manual_seed(0)
    batch, steps, features, hidden = 2, 4, 3, 2

    def given(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64).requires_grad_(True)

    x, w_ih, w_hh = given(batch, steps, features), given(3 * hidden, features), given(3 * hidden, hidden)
    b_ih, b_hh = given(3 * hidden), given(3 * hidden)
    assert torch.autograd.gradcheck(lambda *a: GRUSequence.apply(*a, reverse), (x, w_ih, w_hh, b_ih, b_hh))
    torch.testing.assert_close(
        GRUSequence.apply(x, w_ih, w_hh, b_ih, b_hh, reverse), torch_gru(x, w_ih, w_hh, b_ih, b_hh, reverse)
    )


def torch_gru(x, w_ih, w_hh, b_ih, b_hh, reverse: bool) -> torch.Tensor:
    """torch.nn.GRU's output (B, T, H) for these weights, the steps read backwards when `reverse`."""
    gru = torch.nn.GRU(x.size(2), w_hh.size(1), batch_first=True, dtype=x.dtype)
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), (w_ih, w_hh, b_ih, b_hh)):
            getattr(gru, name).copy_(value)
    return gru(x.flip(1))[0].flip(1) if reverse else gru(x)[0]


@pytest.mark.parametrize("cell", ["lstm_cell", "gru_cell"])
def test_the_autograd_graph_and_autocast_get_the_gate_level_plan(cell):
    fused, loop = fused_and_loop(recurrent_net(cell))
    x = torch.randn(BATCH, STEPS, FEATURES)
    with gate_by_gate():
        names = grad_fn_names(fused(x))
    assert (
        "GRUSequenceBackward" not in names and names.count("AddmmBackward0") == 1 + STEPS
    )  # x's projection, h's a step
    with torch.autocast("cpu", dtype=torch.bfloat16), TorchCalls() as calls:
        fused(x)
    assert "lstm" not in calls.names and calls.names.count("addmm") == STEPS
    assert fused(x).grad_fn is not None and "AddmmBackward0" not in grad_fn_names(fused(x))  # outside: the fast path


def test_a_standard_cell_with_one_more_module_call_in_its_graph_is_refused():
    """A node that feeds no output still runs in the loop (a Dropout draws random numbers), so the cell is not
    torch's: only a graph that is the pattern and nothing else is recognised."""
    fused, _ = fused_and_loop(recurrent_net("lstm_cell"))
    cell = copy.deepcopy(fused.rnn.cell)
    assert standard_cell(cell, HIDDEN) is not None
    cell.add_submodule("noise", torch.nn.Dropout(0.5))
    h = next(n for n in cell.graph.nodes if n.name == "h")
    with cell.graph.inserting_after(h):
        cell.graph.call_module("noise", (h,))
    cell.recompile()
    assert standard_cell(cell, HIDDEN) is None


@pytest.mark.parametrize(
    ("cell", "edits", "said"),
    [
        ("lstm_cell", [], "its cell is torch's LSTM cell, so training runs it as torch's fused LSTM op (torch.lstm)"),
        ("gru_cell", [], "its cell is torch's GRU cell, so training runs it as one GRU node over the whole sequence"),
        ("lstm_cell", ALMOST["lstm: tanh(c') is a sigmoid"][1], None),
    ],
)
def test_the_probes_say_which_cells_training_runs_by_torchs_op_or_the_gru_node(cell, edits, said):
    fused, _ = fused_and_loop(recurrent_net(cell, blocks=edited(cell, *edits)))
    entry = RecurrentProbes(fused, torch.randn(1, STEPS, FEATURES), lambda out: out.square().mean()).measure(3)
    assert entry["rnn"].get("trained_by", "")[: len(said or "")] == (said or "")
    assert ("trained_by" in entry["rnn"]) is (said is not None)
