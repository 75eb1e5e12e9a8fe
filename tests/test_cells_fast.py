"""The fused compile of a Recurrent over a gate-level cell (engine/compile/fused_cells.py, issue 23 item 2): equal to
the loop of layers.Recurrent over the same cells in outputs and in every parameter's gradient, the Linears on x_t
run once over the sequence and those on h as one matmul per step, the parameters and state-dict keys unchanged,
the probes and the exports what the loop gives. The library's lstm_cell and gru_cell are torch's cells and run by
torch.lstm / GRUSequence (tests/test_cells_standard.py); here `gate_by_gate()` makes them run by their plans."""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch
from torch import fx, nn
from torch.overrides import TorchFunctionMode

from builder.analysis.validate import analyze
from engine.compile.fused_cells import FusedRecurrent
from engine.compile.fx_module import compile_analysis, compile_spec
from engine.compile.layers import Recurrent
from engine.compile.torch_cells import gate_by_gate
from engine.probes.recurrent_probes import RecurrentProbes
from tests.test_blocks import parsed
from tests.test_cells import BATCH, FEATURES, HIDDEN, STEPS, recurrent_net

pytestmark = pytest.mark.usefixtures("single_thread_torch")

TOLERANCE = {"atol": 1e-6, "rtol": 1e-6}


def fused_and_loop(raw: dict) -> tuple[fx.GraphModule, fx.GraphModule]:
    """The compiled network (its `rnn` a FusedRecurrent) and the same modules with the loop in rnn's place."""
    torch.manual_seed(0)
    fused = compile_spec(parsed(raw))
    assert isinstance(fused.rnn, FusedRecurrent) and not fused.rnn.runs_loop()
    loop = fx.GraphModule(fused, fused.graph)
    loop.rnn = fused.rnn.as_loop()
    assert type(loop.rnn) is Recurrent and loop.rnn.cell is fused.rnn.cell
    return fused, loop


def outputs_and_grads(model: nn.Module, x: torch.Tensor, weights: torch.Tensor | None = None) -> tuple:
    """The output and d(loss)/d(each parameter, and the input); the loss weighs each output differently."""
    x = x.clone().requires_grad_(True)
    out = model(x)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1)) if weights is None else weights
    params = [p for _, p in model.named_parameters()]
    grads = torch.autograd.grad((out * weights).sum(), [x, *params])
    return out, dict(zip(["input", *(name for name, _ in model.named_parameters())], grads))


def assert_same(fused: nn.Module, loop: nn.Module, x: torch.Tensor) -> None:
    fused_out, fused_grads = outputs_and_grads(fused, x)
    loop_out, loop_grads = outputs_and_grads(loop, x)
    torch.testing.assert_close(fused_out, loop_out, **TOLERANCE)
    assert list(fused_grads) == list(loop_grads)  # the same parameters, by the same names
    for name, grad in loop_grads.items():
        torch.testing.assert_close(fused_grads[name], grad, **TOLERANCE, msg=name)


@pytest.mark.parametrize("cell", ["lstm_cell", "gru_cell"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("by_plan", [False, True], ids=["torch_op", "plan"])
def test_the_fused_compile_equals_the_loop_in_outputs_and_every_gradient(
    cell, bidirectional, return_sequences, by_plan
):
    fused, loop = fused_and_loop(recurrent_net(cell, bidirectional, return_sequences))
    assert [s.kind for s in fused.rnn.standards] == [cell.removesuffix("_cell")] * (1 + bidirectional)
    x = torch.randn(BATCH, STEPS, FEATURES)
    with gate_by_gate() if by_plan else contextlib.nullcontext():
        assert_same(fused, loop, x)
    assert list(fused.state_dict()) == list(loop.state_dict())
    assert [id(p) for p in fused.parameters()] == [id(p) for p in loop.parameters()]  # the same Parameters


MATMULS = {torch.nn.functional.linear, torch.addmm, torch.mm}


class TorchCalls(TorchFunctionMode):
    """Every torch call (its name), and the input shape of every matmul (F.linear, addmm, mm: the matrix that
    multiplies the weights)."""

    def __init__(self):
        super().__init__()
        self.names: list[str] = []
        self.shapes: list[tuple[int, ...]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.append(getattr(func, "__name__", str(func)))
        if func in MATMULS:
            self.shapes.append(tuple(args[0 if func is not torch.addmm else 1].shape))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize(("cell", "gates"), [("lstm_cell", 4), ("gru_cell", 3)])
def test_the_x_linears_run_once_over_the_sequence_and_the_h_linears_once_a_step(cell, gates):
    fused, loop = fused_and_loop(recurrent_net(cell, bidirectional=True))
    x = torch.randn(BATCH, STEPS, FEATURES)
    with gate_by_gate(), TorchCalls() as fused_calls:
        fused(x)
    with TorchCalls() as loop_calls:
        loop(x)
    per_direction = [(BATCH, STEPS, FEATURES)] + [(BATCH, HIDDEN)] * STEPS  # [B, T, F] once, then h each step
    assert sorted(fused_calls.shapes) == sorted(per_direction * 2)
    assert len(loop_calls.shapes) == 2 * gates * 2 * STEPS  # each gate's two Linears, each step, each direction
    plan = fused.rnn.plans[0]
    assert [len(g.names) for g in plan.hoisted] == [gates] and [len(g.names) for g in plan.per_step] == [gates]
    assert all(name.endswith("_x") for name in plan.hoisted[0].names)
    assert all(name.endswith("_h") for name in plan.per_step[0].names)


# torch calls in one step: the h matmul with the x projection (both biases in it) as its addend, one split into
# the columns under one activation, the sigmoid once over the adjacent sigmoid gates and its split, then the cell's
# element-wise rest node for node (the loop: 8 Linears, 4 Adds, 4 activations, 3 Multiplies, ...)
SPLIT = "split_with_sizes"
STEP_CALLS = {
    "lstm_cell": ["addmm", SPLIT, "sigmoid", SPLIT, "tanh", "mul", "mul", "add", "tanh", "mul"],
    "gru_cell": ["addmm", SPLIT, "sigmoid", SPLIT, "mul", "add", "tanh", "__rsub__", "mul", "mul", "add"],
}


@pytest.mark.parametrize("cell", ["lstm_cell", "gru_cell"])
def test_a_step_runs_one_matmul_and_one_call_per_shared_activation(cell):
    fused, _ = fused_and_loop(recurrent_net(cell))
    x = torch.randn(BATCH, STEPS, FEATURES)
    with gate_by_gate(), TorchCalls() as calls:
        fused(x)
    first = calls.names.index("addmm")  # the loop's first step; before it, the projections once
    per_step = len(STEP_CALLS[cell])
    assert calls.names[first : first + per_step] == STEP_CALLS[cell]
    assert calls.names[first : first + STEPS * per_step] == STEP_CALLS[cell] * STEPS


def cell_block(nodes: list[tuple]) -> dict:
    """A cell's definition (param `hidden`) from (id, op, params, inputs) rows."""
    return {
        "params": {"hidden": None},
        "nodes": [{"id": i, "op": op, "params": p} for i, op, p, _ in nodes],
        "edges": [{"source": s, "target": i} for i, _, _, sources in nodes for s in sources],
    }


HIDDEN_LINEAR = {"out_features": "$hidden"}
STATE_INPUTS = [("x_t", "Input", {"port": 0}, []), ("h", "Input", {"port": 1}, [])]


def mixed_cell() -> dict:
    """A Linear `mix` reads x_t and h together (their Concat), beside a Linear on x_t alone and two on h alone:
    h' = tanh(a_x(x_t) + a_h(h) + mix([x_t, h]) + b_h(h))."""
    return cell_block(
        [
            *STATE_INPUTS,
            ("both", "Concat", {"dim": 0}, ["x_t", "h"]),
            ("mix", "Linear", HIDDEN_LINEAR, ["both"]),
            ("a_x", "Linear", HIDDEN_LINEAR, ["x_t"]),
            ("a_h", "Linear", HIDDEN_LINEAR, ["h"]),
            ("b_h", "Linear", HIDDEN_LINEAR, ["h"]),
            ("total", "Add", {}, ["a_x", "a_h", "mix", "b_h"]),
            ("h_next", "Tanh", {}, ["total"]),
            ("h_out", "Output", {"port": 0}, ["h_next"]),
        ]
    )


def crossed_cell() -> dict:
    """Two gates whose h Linears come in the other order than their x Linears:
    h' = tanh(a_x(x_t) + a_h(h)) * sigmoid(b_x(x_t) + b_h(h))."""
    return cell_block(
        [
            *STATE_INPUTS,
            ("a_x", "Linear", HIDDEN_LINEAR, ["x_t"]),
            ("b_x", "Linear", HIDDEN_LINEAR, ["x_t"]),
            ("b_h", "Linear", HIDDEN_LINEAR, ["h"]),
            ("a_h", "Linear", HIDDEN_LINEAR, ["h"]),
            ("a", "Add", {}, ["a_x", "a_h"]),
            ("b", "Add", {}, ["b_h", "b_x"]),
            ("a_act", "Tanh", {}, ["a"]),
            ("b_act", "Sigmoid", {}, ["b"]),
            ("h_next", "Multiply", {}, ["a_act", "b_act"]),
            ("h_out", "Output", {"port": 0}, ["h_next"]),
        ]
    )


@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_linear_fed_by_x_and_h_together_stays_in_the_step_and_the_result_is_the_loops(bidirectional):
    fused, loop = fused_and_loop(recurrent_net("mixed", bidirectional, blocks={"mixed": mixed_cell()}))
    plan = fused.rnn.plans[0]
    assert [g.names for g in plan.hoisted] == [("a_x",)] and [g.names for g in plan.per_step] == [("a_h", "b_h")]
    assert_same(fused, loop, torch.randn(BATCH, STEPS, FEATURES))


def biases_apart_cell() -> dict:
    """Two gates whose x Linears have no bias and whose h Linears have one, and a third h Linear that no x Linear
    is added to: h' = sigmoid(a_x(x_t) + a_h(h)) * tanh(b_x(x_t) + b_h(h)) + c_h(h)."""
    no_bias = {**HIDDEN_LINEAR, "bias": False}
    return cell_block(
        [
            *STATE_INPUTS,
            ("a_x", "Linear", no_bias, ["x_t"]),
            ("b_x", "Linear", no_bias, ["x_t"]),
            ("a_h", "Linear", HIDDEN_LINEAR, ["h"]),
            ("b_h", "Linear", HIDDEN_LINEAR, ["h"]),
            ("c_h", "Linear", HIDDEN_LINEAR, ["h"]),
            ("a", "Add", {}, ["a_x", "a_h"]),
            ("b", "Add", {}, ["b_x", "b_h"]),
            ("a_act", "Sigmoid", {}, ["a"]),
            ("b_act", "Tanh", {}, ["b"]),
            ("gated", "Multiply", {}, ["a_act", "b_act"]),
            ("h_next", "Add", {}, ["gated", "c_h"]),
            ("h_out", "Output", {"port": 0}, ["h_next"]),
        ]
    )


@pytest.mark.parametrize("bidirectional", [False, True])
def test_h_biases_go_into_x_projections_without_bias_and_an_unpaired_h_linear_keeps_its_own(bidirectional):
    fused, loop = fused_and_loop(recurrent_net("apart", bidirectional, blocks={"apart": biases_apart_cell()}))
    plan = fused.rnn.plans[0]
    assert [g.names for g in plan.hoisted] == [("a_x", "b_x")] and not plan.hoisted[0].bias
    assert [g.names for g in plan.per_step] == [("a_h", "b_h", "c_h")] and plan.per_step[0].bias
    assert [p.count for p in plan.pairings] == [2]
    assert_same(fused, loop, torch.randn(BATCH, STEPS, FEATURES))


def test_h_linears_listed_in_another_order_are_added_to_their_own_x_linears():
    fused, loop = fused_and_loop(recurrent_net("crossed", blocks={"crossed": crossed_cell()}))
    plan = fused.rnn.plans[0]
    assert [g.names for g in plan.hoisted] == [("a_x", "b_x")] and [g.names for g in plan.per_step] == [("a_h", "b_h")]
    assert_same(fused, loop, torch.randn(BATCH, STEPS, FEATURES))


def test_the_probes_see_every_step_and_measure_what_the_loop_gives():
    fused, loop = fused_and_loop(recurrent_net("lstm_cell", bidirectional=True))
    x = torch.randn(1, STEPS, FEATURES)
    loss = lambda out: out.square().mean()  # noqa: E731
    fused_entry = RecurrentProbes(fused, x, loss).measure(7)
    loop_entry = RecurrentProbes(loop, x, loss).measure(7)
    assert fused_entry["rnn"].pop("trained_by").startswith("its cell is torch's LSTM cell")  # the Train page says so
    assert fused_entry == loop_entry
    assert set(fused_entry["rnn"]["gates"]) == {"input_gate", "forget_gate", "output_gate"}
    assert len(fused_entry["rnn"]["state"]["values"]) == STEPS
    calls = []
    handle = fused.rnn.cell.forget_gate.register_forward_hook(lambda *_: calls.append(1))
    assert fused.rnn.runs_loop()  # a hook on a gate: each step calls the cell
    fused(x)
    handle.remove()
    assert len(calls) == STEPS and not fused.rnn.runs_loop()


def test_a_copy_and_swapped_parameters_run_their_own_weights():
    fused, loop = fused_and_loop(recurrent_net("gru_cell"))
    x = torch.randn(BATCH, STEPS, FEATURES)
    twin = copy.deepcopy(fused)
    with torch.no_grad():
        twin.rnn.cell.update_gate_h.weight.add_(0.5)
    twin_loop = fx.GraphModule(twin, twin.graph)
    twin_loop.rnn = twin.rnn.as_loop()
    torch.testing.assert_close(twin(x), twin_loop(x), **TOLERANCE)
    assert not torch.allclose(twin(x), fused(x))  # the copy's weights, not the original's
    halved = copy.deepcopy(loop)
    with torch.no_grad():
        for p in halved.parameters():
            p.mul_(0.5)
    swapped = {name: p.detach() * 0.5 for name, p in fused.named_parameters()}  # torch.func swaps them in
    torch.testing.assert_close(torch.func.functional_call(fused, swapped, (x,)), halved(x), **TOLERANCE)


def test_model_py_and_torchscript_are_written_from_the_loop_as_before():
    from engine.export.python_source import model_source

    analysis = analyze(parsed(recurrent_net("lstm_cell", bidirectional=True)))
    fused = compile_analysis(analysis)
    loop = fx.GraphModule(fused, fused.graph)
    loop.rnn = fused.rnn.as_loop()
    assert model_source(fused, analysis, {}) == model_source(loop, analysis, {})
    assert "class Recurrent(nn.Module):" in model_source(fused, analysis, {})
    x = torch.randn(BATCH, STEPS, FEATURES)
    scripted = torch.jit.script(fused)
    assert scripted.rnn.original_name == "Recurrent" and scripted.rnn.code == torch.jit.script(loop).rnn.code
    torch.testing.assert_close(scripted(x), loop(x), **TOLERANCE)


def test_torch_export_the_onnx_path_records_the_loop():
    fused, loop = fused_and_loop(recurrent_net("gru_cell"))
    x = torch.randn(BATCH, STEPS, FEATURES)

    def linear_nodes(model: nn.Module) -> int:
        program = torch.export.export(model, (x,), strict=False)
        return sum(1 for n in program.graph.nodes if n.op == "call_function" and "linear" in str(n.target))

    assert linear_nodes(fused) == linear_nodes(loop) == 2 * 3 * STEPS
