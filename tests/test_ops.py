"""One parametrised row per op setting: the builder's inferred shape and parameter count must match the torch module.

Each row compiles a tiny spec `x (Input) -> pre (Identity) -> op` (merges get several branches), runs a batch of 3
in training mode with a full backward hook on every module (an in-place op after a hooked module raises there),
and compares `analyze` with what torch did.

An op is defined in three places: its builder definition (an OpDef in builder/ops/ops_basic.py, ops_conv.py or
ops_seq.py), its engine record (engine/compile/op_records.py) and its rows here, at least two per op
(tests/test_export.py also exports every row to model.py; tests/test_op_records.py checks that the catalog and
the records name the same ops).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
import torch
from torch import nn

from builder.analysis.validate import analyze
from builder.ops.catalog import CATALOG
from engine.compile.fx_module import compile_spec, node_modules, param_count
from engine.compile.layers import RBM, SOM, GRULayer, LSTMLayer, Maxout, RNNLayer, Step
from engine.compile.op_records import FUNCTION_OPS, GRAPH_OPS, MODULE_OPS, PLACEHOLDER_OPS
from tests.helpers import chain, make_spec

pytestmark = pytest.mark.usefixtures("single_thread_torch")

BATCH = 3
SEQ = [5, 3]  # (steps, features)

# (op, params, input shape); the op node is fed by an Identity fed by the Input
ROWS = [
    ("Linear", {"out_features": 5}, [4]),
    ("Linear", {"out_features": 5, "bias": False}, [3, 4]),
    ("Flatten", {}, [2, 3, 4]),
    ("Flatten", {}, [6]),
    ("Reshape", {"shape": [3, 4]}, [12]),
    ("Reshape", {"shape": [2, 2, 3]}, [3, 4]),
    ("Dropout", {}, [4]),
    ("Dropout", {"p": 0.1}, [2, 3]),
    ("Identity", {}, [4]),
    ("Identity", {}, [2, 3, 3]),
    ("BatchNorm1d", {}, [4]),
    ("BatchNorm1d", {}, [3, 5]),
    ("BatchNorm2d", {}, [3, 4, 4]),
    ("BatchNorm2d", {}, [1, 2, 5]),
    ("LayerNorm", {}, [6]),
    ("LayerNorm", {}, [5, 6]),
    ("ReLU", {}, [4]),
    ("ReLU", {}, [2, 3, 3]),
    ("LeakyReLU", {}, [4]),
    ("LeakyReLU", {"negative_slope": 0.2}, [2, 3]),
    ("ELU", {}, [4]),
    ("ELU", {"alpha": 0.5}, [2, 3]),
    ("Sigmoid", {}, [4]),
    ("Sigmoid", {}, [2, 3]),
    ("Tanh", {}, [4]),
    ("Tanh", {}, [2, 3]),
    ("GELU", {}, [4]),
    ("GELU", {}, [2, 3]),
    ("Softmax", {}, [5]),
    ("Softmax", {"dim": 0}, [3, 4]),
    ("Softmax", {"dim": 1}, [2, 3, 4]),
    ("Softmax", {"dim": -2}, [3, 4]),
    ("Step", {}, [4]),
    ("Step", {}, [2, 3]),
    ("BipolarStep", {}, [4]),
    ("BipolarStep", {}, [2, 3]),
    ("PiecewiseLinear", {}, [4]),
    ("PiecewiseLinear", {"width": 2.5}, [2, 3]),
    ("BipolarSigmoid", {}, [4]),
    ("BipolarSigmoid", {}, [2, 3, 3]),
    ("OneMinus", {}, [4]),
    ("OneMinus", {}, [2, 3]),
    ("Maxout", {"out_features": 3}, [4]),
    ("Maxout", {"out_features": 3, "pieces": 4}, [5, 4]),
    ("Conv1d", {"out_channels": 4, "kernel_size": 3}, [2, 10]),
    (
        "Conv1d",
        {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2, "groups": 2, "bias": False},
        [2, 11],
    ),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3}, [3, 8, 8]),
    (
        "Conv2d",
        {"out_channels": 4, "kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 0], "dilation": 2, "groups": 2},
        [2, 9, 9],
    ),
    ("Conv2d", {"out_channels": 6, "kernel_size": 1, "groups": 3, "bias": False}, [3, 5, 5]),
    ("Conv2d", {"out_channels": 2, "kernel_size": 5, "stride": 3, "padding": 2}, [1, 8, 7]),
    ("ConvTranspose2d", {"out_channels": 3, "kernel_size": 3}, [2, 4, 4]),
    (
        "ConvTranspose2d",
        {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
        [2, 4, 4],
    ),
    (
        "ConvTranspose2d",
        {
            "out_channels": 4,
            "kernel_size": [2, 3],
            "stride": [2, 3],
            "groups": 2,
            "output_padding": [1, 2],
            "bias": False,
        },
        [2, 3, 3],
    ),
    ("ConvTranspose2d", {"out_channels": 2, "kernel_size": 2, "dilation": 2, "output_padding": 1}, [1, 3, 3]),
    ("MaxPool1d", {"kernel_size": 2}, [3, 9]),
    ("MaxPool1d", {"kernel_size": 3, "stride": 1, "padding": 1}, [3, 7]),
    ("MaxPool2d", {"kernel_size": 2}, [2, 7, 7]),
    ("MaxPool2d", {"kernel_size": [3, 2], "stride": [1, 2], "padding": [1, 0]}, [2, 6, 6]),
    ("AvgPool2d", {"kernel_size": 3}, [2, 7, 8]),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, [2, 7, 7]),
    ("AdaptiveAvgPool2d", {}, [3, 5, 5]),
    ("AdaptiveAvgPool2d", {"output_size": [2, 3]}, [3, 7, 6]),
    *[
        (op, {"hidden_size": 4, **extra}, SEQ)
        for op in ("RNN", "LSTM", "GRU")
        for extra in (
            {},
            {"return_sequences": False},
            {"num_layers": 2, "bidirectional": True},
            {"num_layers": 2, "bidirectional": True, "return_sequences": False},
            {"bidirectional": True, "return_sequences": False},
        )
    ],
    ("RNN", {"hidden_size": 4, "nonlinearity": "relu", "num_layers": 2}, SEQ),
    ("Embedding", {"num_embeddings": 10, "embedding_dim": 4}, [5]),
    ("Embedding", {"num_embeddings": 7, "embedding_dim": 3}, [2, 3]),
    ("MultiheadAttention", {"num_heads": 2}, [5, 8]),
    ("MultiheadAttention", {"num_heads": 1, "dropout": 0.1}, [3, 4]),
    ("TransformerEncoderLayer", {"nhead": 2, "dim_feedforward": 16}, [5, 8]),
    ("TransformerEncoderLayer", {"nhead": 4}, [3, 8]),
    ("TransformerEncoderLayer", {"nhead": 2, "dim_feedforward": 8, "causal": True}, [4, 6]),
    ("MultiheadAttention", {"num_heads": 2, "causal": True}, [4, 6]),
    ("PositionalEmbedding", {}, [5, 8]),
    ("PositionalEmbedding", {}, [1, 3]),
    ("RBM", {"n_hidden": 3}, [6]),
    ("RBM", {"n_hidden": 5, "k": 2, "visible": "gaussian"}, [4]),
    ("SOM", {"rows": 2, "cols": 3}, [4]),
    ("SOM", {"rows": 1, "cols": 5}, [2]),
]

# (op, params, input shape, branches): each branch (op, params) is fed by the Input and feeds the merge
MERGE_ROWS = [
    ("Add", {}, [4], [("Identity", {}), ("Linear", {"out_features": 4})]),
    ("Add", {}, [2, 3, 3], [("Identity", {}), ("ReLU", {}), ("Conv2d", {"out_channels": 2, "kernel_size": 1})]),
    ("Multiply", {}, [4], [("Sigmoid", {}), ("Linear", {"out_features": 4})]),
    ("Multiply", {}, [3, 2], [("Identity", {}), ("Tanh", {}), ("Sigmoid", {})]),
    ("Concat", {}, [2, 4, 4], [("Identity", {}), ("Conv2d", {"out_channels": 3, "kernel_size": 1})]),
    ("Concat", {}, [4], [("Identity", {}), ("Linear", {"out_features": 2}), ("Linear", {"out_features": 3})]),
    ("Concat", {"dim": -1}, [4, 6], [("Identity", {}), ("Linear", {"out_features": 3})]),
    ("Concat", {"dim": 1}, [2, 4, 4], [("Identity", {}), ("Conv2d", {"out_channels": 2, "kernel_size": [3, 1]})]),
]


def _input(shape: list[int], op: str) -> tuple:
    params = {"shape": shape, **({"dtype": "int64"} if op == "Embedding" else {})}
    return ("x", "Input", params)


def single_op_spec(op: str, params: dict, shape: list[int]):
    nodes = [_input(shape, op), ("pre", "Identity"), ("node", op, params)]
    return make_spec(nodes, [("x", "pre"), ("pre", "node")])


def merge_spec(op: str, params: dict, shape: list[int], branches: list[tuple]):
    names = [f"branch{i}" for i in range(len(branches))]
    nodes = [_input(shape, op)] + [(f"branch{i}", b_op, b_params) for i, (b_op, b_params) in enumerate(branches)]
    edges = [("x", n) for n in names] + [(n, "node") for n in names]
    return make_spec(nodes + [("node", op, params)], edges)


def example_input(shape: list[int], op: str) -> torch.Tensor:
    if op == "Embedding":
        return torch.randint(0, 3, (BATCH, *shape))
    return torch.randn(BATCH, *shape, requires_grad=True)


def check_against_inference(spec, op: str, shape: list[int]) -> None:
    a = analyze(spec)
    assert a.ok, a.issues
    gm = compile_spec(spec)
    modules = node_modules(gm)
    for module in modules.values():
        module.register_full_backward_hook(lambda mod, grad_in, grad_out: None)
    out = gm(example_input(shape, op))  # training mode
    assert tuple(out.shape[1:]) == a.shapes["node"]
    counted = param_count(modules["node"]) if "node" in modules else 0  # function ops have no module
    assert counted == a.param_counts["node"]
    if out.requires_grad:
        out.sum().backward()  # raises if something after a hooked module worked in place


def _label(row) -> str:
    params = ",".join(f"{k}={v}" for k, v in row[1].items())
    return f"{row[0]}({params}){row[2]}".replace(" ", "")


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")  # Embedding: int64 input needs no gradient
@pytest.mark.parametrize("op,params,shape", ROWS, ids=[_label(r) for r in ROWS])
def test_single_op_matches_inference(op, params, shape):
    check_against_inference(single_op_spec(op, params, shape), op, shape)


@pytest.mark.parametrize("op,params,shape,branches", MERGE_ROWS, ids=[_label(r) for r in MERGE_ROWS])
def test_merge_op_matches_inference(op, params, shape, branches):
    check_against_inference(merge_spec(op, params, shape, branches), op, shape)


def test_every_catalog_op_has_one_torch_form_and_two_test_rows():
    module_ops, function_ops = set(MODULE_OPS), set(FUNCTION_OPS)
    assert not module_ops & function_ops and not (module_ops | function_ops) & PLACEHOLDER_OPS
    assert module_ops | function_ops | PLACEHOLDER_OPS | GRAPH_OPS == set(CATALOG)
    rows_per_op = Counter(row[0] for row in ROWS + MERGE_ROWS)
    assert {op for op in CATALOG if rows_per_op[op] < 2} == {"Input"} | GRAPH_OPS  # Block, Output: test_blocks.py


def test_generated_code_has_no_inplace_ops_and_node_id_keys():
    spec = make_spec(
        [
            ("x", "Input", {"shape": [2, 6, 6]}),
            ("conv", "Conv2d", {"out_channels": 2, "kernel_size": 3, "padding": 1}),
            ("act", "ReLU"),
            ("skip", "Add"),
            ("pool", "MaxPool2d", {"kernel_size": 2}),
            ("flat", "Flatten"),
            ("fc", "Linear", {"out_features": 3}),
            ("prob", "Softmax"),
        ],
        [
            ("x", "conv"),
            ("conv", "act"),
            ("act", "skip"),
            ("x", "skip"),
            ("skip", "pool"),
            ("pool", "flat"),
            ("flat", "fc"),
            ("fc", "prob"),
        ],
    )
    gm = compile_spec(spec)
    assert not re.search(r"\b\w+_\(", gm.code), gm.code  # no add_(, relu_(, ...
    assert "inplace=True" not in str(gm)
    assert "act = self.act(conv)" in gm.code and "skip = torch.add(act, x)" in gm.code
    keys = list(gm.state_dict())
    assert keys == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]


def test_step_forward_is_heaviside_and_gradient_passes_straight_through():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0], requires_grad=True)
    y = Step()(x)
    torch.testing.assert_close(y, torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0]))  # fires at exactly 0 (Rosenblatt)
    (y * torch.arange(5.0)).sum().backward()
    torch.testing.assert_close(x.grad, torch.arange(5.0))


def test_maxout_takes_the_max_of_each_units_pieces():
    layer = Maxout(3, 2, pieces=3)
    x = torch.randn(4, 3)
    pieces = layer.linear(x).view(4, 2, 3)
    torch.testing.assert_close(layer(x), pieces.max(dim=2).values)


def test_rbm_forward_gives_hidden_probabilities_and_free_energy():
    rbm = RBM(6, 4)
    v = torch.bernoulli(torch.full((5, 6), 0.5))
    torch.testing.assert_close(rbm(v), torch.sigmoid(v @ rbm.weight.T + rbm.h_bias))
    h = torch.bernoulli(torch.full((5, 4), 0.5))
    torch.testing.assert_close(rbm.visible_probs_or_mean(h), torch.sigmoid(h @ rbm.weight + rbm.v_bias))
    probs, sample = rbm.sample_hidden(v)
    assert probs.shape == sample.shape == (5, 4) and set(sample.unique().tolist()) <= {0.0, 1.0}
    assert rbm.sample_visible(h)[1].shape == (5, 6) and rbm.gibbs(v, 2).shape == (5, 6)
    expected = -(v @ rbm.v_bias) - torch.log1p(torch.exp(v @ rbm.weight.T + rbm.h_bias)).sum(1)
    torch.testing.assert_close(rbm.free_energy(v), expected)
    gaussian = RBM(6, 4, visible="gaussian")
    torch.testing.assert_close(gaussian.visible_probs_or_mean(h), h @ gaussian.weight + gaussian.v_bias)


def test_som_forward_is_negative_squared_distance_and_bmu_the_nearest_unit():
    som = SOM(3, rows=2, cols=4)
    x = torch.randn(5, 3)
    expected = -((x[:, None, :] - som.weight[None, :, :]) ** 2).sum(-1)  # (B, U)
    torch.testing.assert_close(som(x), expected)
    x_at_unit = som.weight[[6, 1]].detach()
    assert som.best_matching_unit(x_at_unit).tolist() == [6, 1]
    assert som.grid_positions()[6].tolist() == [1.0, 2.0]


@pytest.mark.parametrize("cls", [RNNLayer, LSTMLayer, GRULayer])
def test_recurrent_layers_follow_swapped_parameters(cls):
    """torch.func.functional_call swaps parameters; the layer must not keep using its old flat weights."""
    layer, other = cls(3, 4, bidirectional=True), cls(3, 4, bidirectional=True)
    x = torch.randn(2, 5, 3)
    swapped = torch.func.functional_call(layer, dict(other.named_parameters()), (x,))
    torch.testing.assert_close(swapped, other(x))


@pytest.mark.parametrize(
    "op, params",
    [
        ("MultiheadAttention", {"num_heads": 2, "causal": True}),
        ("TransformerEncoderLayer", {"nhead": 2, "causal": True}),
    ],
)
def test_causal_attention_does_not_look_ahead(op, params):
    gm = compile_spec(chain(("x", "Input", {"shape": [5, 4]}), ("att", op, params))).eval()
    x = torch.randn(2, 5, 4)
    changed = x.clone()
    changed[:, 3:] = torch.randn(2, 2, 4)  # change the last two steps only
    torch.testing.assert_close(gm(x)[:, :3], gm(changed)[:, :3])
    assert not torch.allclose(gm(x)[:, 3:], gm(changed)[:, 3:])


def test_encoder_layer_matches_torch_reference_when_not_causal():
    gm = compile_spec(chain(("x", "Input", {"shape": [5, 8]}), ("enc", "TransformerEncoderLayer", {"nhead": 2}))).eval()
    ref = nn.TransformerEncoderLayer(8, 2, dim_feedforward=2048, dropout=0.1, batch_first=True).eval()
    ref.load_state_dict({k.split(".", 1)[1]: v for k, v in gm.state_dict().items()})
    x = torch.randn(3, 5, 8)
    torch.testing.assert_close(gm(x), ref(x), rtol=1e-5, atol=1e-5)
