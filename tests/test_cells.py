"""LSTM and GRU cells built from their gates (builder/library/block_library.py) and the Recurrent op that runs them
(builder/ops/ops_recurrent.py, engine.compile.layers.Recurrent): equal to torch.nn.LSTM and torch.nn.GRU on the outputs
and the gradients, compiled with readable names, exported, and refused with one line naming the node and the block."""

# ruff: noqa: E501 (the expected messages are quoted whole)

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from builder.analysis.validate import analyze
from builder.library.block_library import TORCH_GATES, blocks_for, cell_net
from engine.compile.cell_weights import CellWeightsError, copy_torch_weights, packed_like
from engine.compile.fx_module import compile_analysis, compile_spec, param_count
from tests.test_blocks import errors, parsed

pytestmark = pytest.mark.usefixtures("single_thread_torch")

STEPS, FEATURES, HIDDEN, BATCH = 5, 3, 4, 2
TORCH_LAYERS = {"lstm_cell": nn.LSTM, "gru_cell": nn.GRU}


def recurrent_net(cell: str, bidirectional=False, return_sequences=True, blocks=None, **extra) -> dict:
    """x [STEPS, FEATURES] -> rnn (Recurrent) as the output."""
    params = {"cell": cell, "hidden": HIDDEN, "bidirectional": bidirectional, "return_sequences": return_sequences}
    return {
        "version": 2,
        "name": "net",
        "nodes": [
            {"id": "x", "op": "Input", "params": {"shape": [STEPS, FEATURES]}},
            {"id": "rnn", "op": "Recurrent", "params": {**params, **extra}},
        ],
        "edges": [{"source": "x", "target": "rnn"}],
        "blocks": blocks if blocks is not None else blocks_for("lstm_cell", "gru_cell", "basic"),
    }


# -- equal to torch -------------------------------------------------------------------------------------------


def _torch_reference(rnn: nn.RNNBase, x: torch.Tensor, return_sequences: bool) -> torch.Tensor:
    """torch's output as the Recurrent gives it: the sequence, or each direction's final h concatenated."""
    out, state = rnn(x)
    h_n = state[0] if isinstance(rnn, nn.LSTM) else state  # (D, B, H)
    return out if return_sequences else h_n.transpose(0, 1).flatten(1)


@pytest.mark.parametrize("cell", ["lstm_cell", "gru_cell"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_the_gate_level_cell_equals_torch_on_outputs_and_gradients(cell, bidirectional, return_sequences):
    torch.manual_seed(0)
    gm = compile_spec(parsed(recurrent_net(cell, bidirectional, return_sequences)))
    rnn = TORCH_LAYERS[cell](FEATURES, HIDDEN, batch_first=True, bidirectional=bidirectional)
    copy_torch_weights(gm.rnn, rnn)
    x = torch.randn(BATCH, STEPS, FEATURES)
    ours_x, theirs_x = x.clone().requires_grad_(True), x.clone().requires_grad_(True)

    ours, theirs = gm(ours_x), _torch_reference(rnn, theirs_x, return_sequences)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    weights = torch.randn_like(theirs)  # a loss that weighs every output differently
    (ours * weights).sum().backward()
    (theirs * weights).sum().backward()

    torch.testing.assert_close(ours_x.grad, theirs_x.grad, atol=1e-5, rtol=0)
    grads = packed_like(gm.rnn, rnn, grad=True)
    assert set(grads) == {name for name, _ in rnn.named_parameters()}
    for name, param in rnn.named_parameters():
        torch.testing.assert_close(grads[name], param.grad, atol=1e-5, rtol=0, msg=name)


def test_copied_weights_read_back_in_torchs_packing_and_a_misfit_layer_is_refused():
    gm = compile_spec(parsed(recurrent_net("lstm_cell", bidirectional=True)))
    lstm = nn.LSTM(FEATURES, HIDDEN, bidirectional=True)
    copy_torch_weights(gm.rnn, lstm)
    packed = packed_like(gm.rnn, lstm)
    for name, param in lstm.named_parameters():
        assert torch.equal(packed[name], param.detach()), name
    torch.testing.assert_close(gm.rnn.cell.forget_gate_x.weight, lstm.weight_ih_l0[HIDDEN : 2 * HIDDEN])  # i, f, g, o
    with pytest.raises(
        CellWeightsError,
        match="expected a one-layer LSTM with biases, hidden_size 4 and bidirectional True; got num_layers 1, bias True, hidden_size 5",
    ):
        copy_torch_weights(gm.rnn, nn.LSTM(FEATURES, 5, bidirectional=True))
    with pytest.raises(CellWeightsError, match="the cell has no Linear 'reset_gate_x' with a bias"):
        copy_torch_weights(gm.rnn, nn.GRU(FEATURES, HIDDEN, bidirectional=True))


# -- shapes, counts, names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm_cell", "gru_cell"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_shapes_and_counts_are_torchs_and_the_gates_are_named_nodes(cell, bidirectional):
    for return_sequences, shape in ((True, (STEPS, HIDDEN)), (False, (HIDDEN,))):
        a = analyze(parsed(recurrent_net(cell, bidirectional, return_sequences)))
        assert a.ok, a.issues
        width = HIDDEN * (2 if bidirectional else 1)
        assert a.shapes["rnn"] == shape[:-1] + (width,)
        torch_count = param_count(TORCH_LAYERS[cell](FEATURES, HIDDEN, bidirectional=bidirectional))
        gm = compile_analysis(a)
        assert a.param_counts["rnn"] == torch_count == param_count(gm)
        assert tuple(gm(torch.randn(BATCH, STEPS, FEATURES)).shape) == (BATCH, *a.shapes["rnn"])
    body = a.cells["rnn"].body
    assert all(gate in body.shapes for gate in TORCH_GATES[cell])
    keys = list(gm.state_dict())
    assert keys[:2] == [
        "rnn.cell.input_gate_x.weight" if cell == "lstm_cell" else "rnn.cell.reset_gate_x.weight",
        keys[1],
    ]
    assert any(k.startswith("rnn.cell_reverse.") for k in keys) == bidirectional


def test_the_lstm_cell_state_is_a_visible_edge_and_each_gate_can_be_read_by_its_node_id():
    a = analyze(parsed(recurrent_net("lstm_cell")))
    body = a.cells["rnn"].body
    assert body.inputs["c_out"] == ["c_next"] and body.inputs["c_next"] == ["c_kept", "c_written"]
    assert body.output_ids == ["h_out", "c_out"] and body.input_ids == ["x_t", "h", "c"]
    gm = compile_analysis(a)
    seen = []
    gm.rnn.cell.get_submodule("forget_gate").register_forward_hook(lambda m, i, out: seen.append(out))
    gm(torch.randn(BATCH, STEPS, FEATURES))
    assert len(seen) == STEPS and all(v.shape == (BATCH, HIDDEN) and 0 < v.min() and v.max() < 1 for v in seen)


def test_the_gru_cell_keeps_one_minus_z_of_the_candidate():
    body = analyze(parsed(recurrent_net("gru_cell"))).cells["rnn"].body
    assert body.inputs["new_share"] == ["one_minus_update", "candidate"]
    assert body.inputs["old_share"] == ["update_gate", "h"] and body.inputs["h_next"] == ["new_share", "old_share"]
    assert body.inputs["candidate_h_reset"] == ["reset_gate", "candidate_h"]


# -- refused, naming the node and the block; nothing else changes ---------------------------------------------


def _self_using_cell(blocks):
    again = {"id": "again", "op": "Recurrent", "params": {"cell": "lstm_cell", "hidden": "$hidden"}}
    blocks["lstm_cell"]["nodes"].append(again)
    blocks["lstm_cell"]["nodes"].append({"id": "again_out", "op": "Output", "params": {"port": 2}})
    blocks["lstm_cell"]["edges"] += [{"source": "x_t", "target": "again"}, {"source": "again", "target": "again_out"}]


def _wrong_state_width(blocks):
    blocks["narrow"] = {
        "params": {"hidden": None},
        "nodes": [
            {"id": "x_t", "op": "Input", "params": {"port": 0}},
            {"id": "h", "op": "Input", "params": {"port": 1}},
            {"id": "mix", "op": "Concat"},
            {"id": "h_next", "op": "Linear", "params": {"out_features": 3}},
            {"id": "h_out", "op": "Output"},
        ],
        "edges": [
            {"source": "x_t", "target": "mix"},
            {"source": "h", "target": "mix"},
            {"source": "mix", "target": "h_next"},
            {"source": "h_next", "target": "h_out"},
        ],
    }


def _no_hidden(blocks):
    _wrong_state_width(blocks)
    blocks["narrow"]["params"] = {"width": 3}


def _cell_input_unwired(blocks):  # c no longer reaches c_kept: a Multiply of one input
    blocks["lstm_cell"]["edges"] = [
        e for e in blocks["lstm_cell"]["edges"] if e["target"] != "c_kept" or e["source"] != "c"
    ]


@pytest.mark.parametrize(
    "cell, mutate, expected",
    [
        ("nope", None, "unknown block 'nope' for 'cell' (defined: basic, gru_cell, lstm_cell)"),
        ("basic", None, "block 'basic' is not a cell: a cell has the Inputs x_t (port 0) and its state (ports 1.., h first) and one Output per state, the new state in the same order; it has 1 Input(s) and 1 Output(s)"),
        ("narrow", _wrong_state_width, "block 'narrow' is not a cell: its Output 'h_out' (port 0) is [3] but its state Input 'h' (port 1) is [4]; a new state has its state's shape"),
        ("narrow", _no_hidden, "block 'narrow' is not a cell: it has no parameter 'hidden' (the Recurrent's hidden size goes there)"),
        ("lstm_cell", _self_using_cell, "block 'rnn' › node 'again': uses block 'lstm_cell', and block 'lstm_cell' refers to itself: lstm_cell -> lstm_cell (block definition 'lstm_cell')"),
        ("lstm_cell", _cell_input_unwired, "block 'rnn' › node 'c_kept': Multiply takes at least 2 inputs; got 1 (block definition 'lstm_cell')"),
    ],
)  # fmt: skip
def test_a_recurrent_node_whose_block_is_no_cell_is_refused_naming_the_node_and_the_block(cell, mutate, expected):
    raw = recurrent_net(cell)
    raw["nodes"].insert(1, {"id": "pre", "op": "Identity"})
    raw["edges"] = [{"source": "x", "target": "pre"}, {"source": "pre", "target": "rnn"}]
    if mutate:
        mutate(raw["blocks"])
    before = json.dumps(raw, sort_keys=True)
    found = errors(raw)
    assert any(node == "rnn" and message.startswith(expected) for node, message in found), found
    assert {node for node, _ in found} <= {None, "rnn"}  # nothing else is blamed
    a = analyze(parsed(raw))
    assert a.shapes["pre"] == (STEPS, FEATURES) and "rnn" not in a.shapes and "rnn" not in a.cells
    assert json.dumps(raw, sort_keys=True) == before


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"hidden": 4}, "Recurrent needs parameter 'cell', the name of a cell block (defined: basic, gru_cell, lstm_cell)"),
        ({"cell": ["lstm_cell"], "hidden": 4}, "unknown block ['lstm_cell'] for 'cell' (defined: basic, gru_cell, lstm_cell)"),
        ({"cell": "lstm_cell"}, "Recurrent needs parameter 'hidden'"),
        ({"cell": "lstm_cell", "hidden": 0}, "parameter 'hidden' must be >= 1, got 0"),
        ({"cell": "lstm_cell", "hidden": 4, "layers": 2}, "unknown parameter 'layers' for Recurrent (allowed: bidirectional, cell, hidden, return_sequences)"),
    ],
)  # fmt: skip
def test_bad_recurrent_params_are_refused_naming_the_field(params, expected):
    raw = recurrent_net("lstm_cell")
    raw["nodes"][1]["params"] = params
    assert ("rnn", expected) in errors(raw), errors(raw)


def test_a_recurrent_needs_a_sequence():
    raw = recurrent_net("gru_cell")
    raw["nodes"][0]["params"]["shape"] = [FEATURES]
    assert (
        "rnn",
        "Recurrent expects a sequence [steps, features]; got [3] from x (add a Reshape to [steps, features])",
    ) in errors(raw)


def test_a_cell_used_as_a_block_node_takes_its_inputs_and_passes_on_one_result():
    raw = recurrent_net("lstm_cell")
    raw["nodes"][1] = {"id": "step", "op": "Block", "params": {"block": "lstm_cell", "hidden": HIDDEN}}
    raw["edges"] = [{"source": "x", "target": "step"}]
    assert ("step", "block 'lstm_cell' takes 3 input(s); got 1") in errors(raw)
    raw["nodes"][0]["params"]["shape"] = [HIDDEN]
    raw["edges"] = [{"source": "x", "target": "step"} for _ in range(3)]
    assert ("step", "block 'lstm_cell' has 2 outputs; a Block node passes on one") in errors(raw)


def test_the_node_cap_counts_each_directions_cell():
    one = analyze(parsed(recurrent_net("lstm_cell"))).expanded_nodes
    two = analyze(parsed(recurrent_net("lstm_cell", bidirectional=True))).expanded_nodes
    cell_nodes = len(blocks_for("lstm_cell")["lstm_cell"]["nodes"])
    assert (one, two) == (2 + cell_nodes, 2 + 2 * cell_nodes)


# -- export ---------------------------------------------------------------------------------------------------


def two_cell_net() -> dict:
    """x -> bidirectional LSTM (the sequence) -> bidirectional GRU (the last step) -> Linear."""
    raw = cell_net("cells", [STEPS, FEATURES], "lstm_cell", HIDDEN, True, 2)
    raw["nodes"][1]["params"]["bidirectional"] = True
    gru = {
        "id": "gru",
        "op": "Recurrent",
        "params": {"cell": "gru_cell", "hidden": 3, "bidirectional": True, "return_sequences": False},
    }
    raw["nodes"].insert(2, gru)
    raw["edges"] = [{"source": a, "target": b} for a, b in (("x", "rnn"), ("rnn", "gru"), ("gru", "out"))]
    raw["blocks"] = blocks_for("lstm_cell", "gru_cell")
    return raw


def test_a_network_of_cells_exports_to_every_format_and_model_py_has_a_class_per_cell(tmp_path):
    from engine.data.datasets import Dataset
    from engine.export.exporter import export_bundle
    from engine.runs.bundle import write_bundle
    from engine.train.config import TrainConfig

    spec = parsed(two_cell_net())
    torch.manual_seed(0)
    model = compile_spec(spec)
    empty = torch.zeros(0, STEPS, FEATURES)
    data = Dataset(
        "sine", "regression", empty, torch.zeros(0), empty, torch.zeros(0), None, (), (STEPS, FEATURES), "float32"
    )
    bundle = write_bundle(tmp_path / "net", spec, TrainConfig(), model, data, {})
    report = export_bundle(bundle)
    for fmt in ("onnx", "torchscript", "python"):  # each checked against the compiled network by the exporter
        assert report.results[fmt].ok and report.results[fmt].max_abs_diff <= 1e-4, report.results[fmt]
    source = (bundle / "model.py").read_text()
    assert "class LstmCell(nn.Module):" in source and "class GruCell(nn.Module):" in source
    assert source.count("class LstmCell") == 1  # the two directions share the class
    assert (
        "self.rnn = Recurrent(cell=LstmCell(), hidden=4, num_states=2, return_sequences=True, cell_reverse=LstmCell())"
        in source
    )
    assert "def forward(self, x_t: Tensor, state: list[Tensor]) -> list[Tensor]:" in source
    assert "        c = state[1]  # (B, 4)\n" in source and "        return [h_next, c_next]\n" in source
    assert "class Recurrent(nn.Module):" in source and "class OneMinus(nn.Module):" in source


def test_the_cell_library_entries_are_independent_copies():
    first, second = blocks_for("lstm_cell"), blocks_for("lstm_cell")
    first["lstm_cell"]["nodes"].clear()
    assert second["lstm_cell"]["nodes"] and copy.deepcopy(second) == blocks_for("lstm_cell")
