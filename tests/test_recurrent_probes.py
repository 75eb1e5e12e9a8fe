"""Recurrent probes (engine/probes/recurrent_probes.py): gate activations and cell states equal a hand computation
from the cell's weights, the per-step gradient norms equal autograd's ∂L/∂x_t, a fused LSTM gets norms and no
gates, long sequences and wide states are capped, a run of a recurrent network stores them in its snapshots and a
network without recurrence stores nothing."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from builder.library.block_library import cell_net
from builder.library.templates import TEMPLATES
from builder.spec.spec import parse_spec
from engine.compile.fx_module import compile_spec
from engine.probes.recurrent_probes import MAX_STEPS, MAX_UNITS, RecurrentProbes, shown_steps
from engine.probes.step_probes import ProbeSettings
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run
from tests.helpers import chain
from tests.test_probes import probed_run

pytestmark = pytest.mark.usefixtures("single_thread_torch")

CLOSE = {"rel": 2e-3, "abs": 1e-3}  # the probe rounds gates and states to 3 significant digits


def cell_model(cell: str, steps: int, features: int, hidden: int, seed: int = 0):
    """x [steps, features] -> Recurrent(cell, hidden) -> last h -> Linear(1), with seeded weights."""
    spec, issues = parse_spec(cell_net("t", [steps, features], cell, hidden, False, 1))
    assert spec is not None, issues
    torch.manual_seed(seed)
    gm = compile_spec(spec)
    with torch.no_grad():
        for p in gm.parameters():
            p.uniform_(-0.8, 0.8)
    return gm


def sample(steps: int, features: int) -> torch.Tensor:
    return torch.linspace(-1.0, 1.0, steps * features).reshape(1, steps, features)  # [1, T, F]


def square_loss(out: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(out, torch.full_like(out, 0.3))


def affine(cell, gate: str, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """W_x x_t + b_x + W_h h + b_h of one gate, from the cell's own Linears."""
    wx, bx = getattr(cell, f"{gate}_x").weight, getattr(cell, f"{gate}_x").bias
    wh, bh = getattr(cell, f"{gate}_h").weight, getattr(cell, f"{gate}_h").bias
    return x_t @ wx.T + bx + h @ wh.T + bh


@torch.no_grad()
def lstm_by_hand(cell, x: torch.Tensor, hidden: int) -> dict[str, list]:
    """i, f, o and c per step of one sequence x [T, F]."""
    h, c = torch.zeros(hidden), torch.zeros(hidden)
    found = {"input_gate": [], "forget_gate": [], "output_gate": [], "c_next": []}
    for x_t in x:
        i = torch.sigmoid(affine(cell, "input_gate", x_t, h))
        f = torch.sigmoid(affine(cell, "forget_gate", x_t, h))
        g = torch.tanh(affine(cell, "cell_candidate", x_t, h))
        o = torch.sigmoid(affine(cell, "output_gate", x_t, h))
        c = f * c + i * g
        h = o * torch.tanh(c)
        for name, value in zip(found, (i, f, o, c)):
            found[name].append(value.tolist())
    return found


@torch.no_grad()
def gru_by_hand(cell, x: torch.Tensor, hidden: int) -> dict[str, list]:
    """r, z and h per step of one sequence x [T, F]."""
    h = torch.zeros(hidden)
    found = {"reset_gate": [], "update_gate": [], "h_next": []}
    for x_t in x:
        r = torch.sigmoid(affine(cell, "reset_gate", x_t, h))
        z = torch.sigmoid(affine(cell, "update_gate", x_t, h))
        c = cell.candidate_x
        n = torch.tanh(x_t @ c.weight.T + c.bias + r * (h @ cell.candidate_h.weight.T + cell.candidate_h.bias))
        h = (1 - z) * n + z * h
        for name, value in zip(found, (r, z, h)):
            found[name].append(value.tolist())
    return found


def autograd_step_norms(model, x: torch.Tensor) -> list[float]:
    """‖∂L/∂x_t‖ per step, straight from autograd on the network's input."""
    x = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(square_loss(model(x)), x)
    return torch.linalg.vector_norm(grad[0], dim=-1).tolist()


def assert_grid(found: list[list], expected: list[list]) -> None:
    assert len(found) == len(expected)
    for row, want in zip(found, expected):
        assert row == pytest.approx(want, **CLOSE)


@pytest.mark.parametrize(
    "cell, by_hand, gates, state",
    [
        ("lstm_cell", lstm_by_hand, ["input_gate", "forget_gate", "output_gate"], "c_next"),
        ("gru_cell", gru_by_hand, ["reset_gate", "update_gate"], "h_next"),
    ],
)
def test_gates_and_state_equal_a_hand_computation_from_the_cells_weights(cell, by_hand, gates, state):
    model, x = cell_model(cell, steps=5, features=2, hidden=3), sample(5, 2)
    entry = RecurrentProbes(model, x, square_loss).measure(step=7)["rnn"]
    expected = by_hand(model.rnn.cell, x[0], hidden=3)
    assert list(entry["gates"]) == gates and entry["state"]["name"] == state
    for gate in gates:
        assert_grid(entry["gates"][gate], expected[gate])  # [T][units]
    assert_grid(entry["state"]["values"], expected[state])
    assert (entry["op"], entry["step"], entry["total_steps"], entry["steps"]) == ("Recurrent", 7, 5, [0, 1, 2, 3, 4])
    assert (entry["hidden"], entry["units"], entry["bidirectional"]) == (3, 3, False)


@pytest.mark.parametrize("cell", ["lstm_cell", "gru_cell"])
def test_step_norms_equal_autograds_gradient_with_respect_to_each_step(cell):
    model, x = cell_model(cell, steps=6, features=2, hidden=4), sample(6, 2)
    entry = RecurrentProbes(model, x, square_loss).measure(step=0)["rnn"]
    assert entry["grad_norm"] == pytest.approx(autograd_step_norms(model, x), rel=1e-3)
    assert all(p.grad is None for p in model.parameters())  # the probe takes no parameter gradient


def test_a_bidirectional_cell_shows_its_forward_direction_and_the_gradient_of_both():
    spec, issues = parse_spec(cell_net("t", [5, 2], "lstm_cell", 3, True, 1))
    assert spec is not None, issues
    spec.nodes[1].params["bidirectional"] = True
    torch.manual_seed(2)
    model, x = compile_spec(spec), sample(5, 2)
    entry = RecurrentProbes(model, x, square_loss).measure(step=0)["rnn"]
    assert entry["bidirectional"] is True and entry["hidden"] == 3
    assert_grid(entry["gates"]["forget_gate"], lstm_by_hand(model.rnn.cell, x[0], hidden=3)["forget_gate"])
    assert entry["grad_norm"] == pytest.approx(autograd_step_norms(model, x), rel=1e-3)


def test_the_probe_leaves_the_model_in_training_mode_and_its_output_unchanged():
    model, x = cell_model("lstm_cell", steps=4, features=2, hidden=3), sample(4, 2)
    model.train()
    before = model(x).detach()
    RecurrentProbes(model, x, square_loss).measure(step=0)
    assert model.training and torch.equal(model(x).detach(), before)
    assert not model.rnn._forward_pre_hooks and not model.rnn.cell._forward_hooks  # every hook removed


def test_a_fused_lstm_behind_an_embedding_gets_step_norms_and_no_gates():
    spec = chain(
        ("x", "Input", {"shape": [7], "dtype": "int64"}),
        ("embed", "Embedding", {"num_embeddings": 5, "embedding_dim": 3}),
        ("lstm", "LSTM", {"hidden_size": 4, "return_sequences": False}),
        ("head", "Linear", {"out_features": 1}),
    )
    torch.manual_seed(1)
    model = compile_spec(spec)
    tokens = torch.tensor([[0, 3, 1, 4, 2, 2, 1]])  # [1, T]
    entry = RecurrentProbes(model, tokens, square_loss).measure(step=3)["lstm"]
    embedded = model.embed(tokens)  # [1, T, 3]: the LSTM's input, inside the graph (not a leaf)
    (grad,) = torch.autograd.grad(square_loss(model.head(model.lstm(embedded))), embedded)
    assert entry["grad_norm"] == pytest.approx(torch.linalg.vector_norm(grad[0], dim=-1).tolist(), rel=1e-3)
    assert "gates" not in entry and "state" not in entry
    assert (entry["op"], entry["hidden"], entry["total_steps"]) == ("LSTM", 4, 7)


def test_long_sequences_and_wide_states_are_capped_keeping_the_first_and_last_step():
    model, x = cell_model("lstm_cell", steps=150, features=1, hidden=40), sample(150, 1)
    entry = RecurrentProbes(model, x, square_loss).measure(step=0)["rnn"]
    steps = entry["steps"]
    assert len(steps) == MAX_STEPS and steps[0] == 0 and steps[-1] == 149 and steps == sorted(set(steps))
    assert (entry["total_steps"], entry["hidden"], entry["units"]) == (150, 40, MAX_UNITS)
    assert len(entry["grad_norm"]) == MAX_STEPS
    assert all(len(row) == MAX_UNITS for rows in entry["gates"].values() for row in rows)
    assert len(entry["state"]["values"]) == MAX_STEPS
    everything = autograd_step_norms(model, x)
    assert entry["grad_norm"] == pytest.approx([everything[t] for t in steps], rel=1e-3)
    assert shown_steps(10) == list(range(10)) and shown_steps(3, most=2) == [0, 2]


def test_a_network_without_recurrence_has_no_recurrent_probes():
    t = TEMPLATES["mlp_iris"]
    prepared = prepare_run(t.spec(), TrainConfig(**{**t.train, "device": "cpu", "epochs": 1}))
    assert RecurrentProbes.for_trainer(prepared.trainer) is None


def test_measurements_are_due_on_the_first_the_last_and_ever_more_rarely():
    probes = RecurrentProbes(cell_model("gru_cell", 3, 1, 2), sample(3, 1), square_loss, ProbeSettings())
    assert probes.due(100.0) and not probes.due(101.0) and probes.due(102.0)
    assert probes.due(102.5, last=True)  # the run's last snapshot always
    assert probes.due(300.0) and not probes.due(302.0) and not probes.due(304.9)  # 200 s in: 5 s apart (200 / 40)
    assert probes.due(305.2)


def test_a_run_of_the_gate_level_lstm_stores_the_inside_of_its_cell_in_its_snapshots(tmp_path):
    # recurrent_min_seconds far beyond the run: the measurements taken do not depend on how fast the machine is
    rows, _ = probed_run(tmp_path, "lstm_cells_sine", ProbeSettings(recurrent_min_seconds=1e9), epochs=1)
    with_cells = [r for r in rows if "recurrent" in r.data]
    log_every = TEMPLATES["lstm_cells_sine"].train.get("log_every", TrainConfig().log_every)
    assert len(rows) >= 20 and len(with_cells) == 2  # none between the first and the last: the time cap
    assert with_cells[0].step <= log_every and with_cells[-1] is rows[-1]  # at the first event, and the final step
    entry = rows[-1].data["recurrent"]["rnn"]
    assert list(entry["gates"]) == ["input_gate", "forget_gate", "output_gate"] and entry["state"]["name"] == "c_next"
    assert entry["total_steps"] == 20 and len(entry["grad_norm"]) == 20 and entry["step"] >= rows[-1].step
    assert len(json.dumps(rows[-1].data["recurrent"])) < 25_000  # a snapshot stays small


def test_a_run_without_recurrence_stores_no_recurrent_field(tmp_path):
    rows, _ = probed_run(tmp_path, "mlp_iris", epochs=2)
    assert rows and all(set(r.data) == {"nodes"} for r in rows)
