"""Compiled specs against hand-written torch modules holding the same weights (attribute names = node ids)."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import pytest
import torch
from torch import nn

from builder.analysis.validate import analyze
from builder.library.templates import TEMPLATES
from engine.compile.fx_module import compile_analysis, compile_spec, node_modules, param_count
from engine.errors import NetCanvasError, SpecInvalid
from tests.helpers import chain, make_spec

pytestmark = pytest.mark.usefixtures("single_thread_torch")

X_IMG = ("x", "Input", {"shape": [1, 8, 8]})


def assert_same(gm: torch.fx.GraphModule, ref: nn.Module, x: torch.Tensor) -> None:
    """Load the compiled module's weights into `ref` (keys must match exactly) and compare in eval mode."""
    ref.load_state_dict(gm.state_dict())
    gm.eval(), ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(gm(x), ref(x))


def warm_batchnorm(gm: torch.fx.GraphModule, x: torch.Tensor) -> None:
    """A few training-mode passes so running statistics differ from their initial values."""
    with torch.no_grad():
        for _ in range(3):
            gm(x)


def test_mlp_matches_sequential():
    spec = chain(
        ("x", "Input", {"shape": [4]}),
        ("fc1", "Linear", {"out_features": 8}),
        ("act1", "ReLU"),
        ("fc2", "Linear", {"out_features": 3}),
    )
    ref = nn.Sequential(OrderedDict(fc1=nn.Linear(4, 8), act1=nn.ReLU(), fc2=nn.Linear(8, 3)))
    assert_same(compile_spec(spec), ref, torch.randn(5, 4))


def lenet_spec():
    """The lenet template: x[1, 8, 8] -> conv1(6, 3x3, pad 1) relu1 pool1(2) -> conv2(16) relu2 pool2 -> flat
    -> fc1(64) relu3 -> fc2(10); named "t" like the other specs of these tests."""
    return dataclasses.replace(TEMPLATES["lenet"].spec(), name="t")


def test_lenet_matches_sequential_and_reads_well():
    ref = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 6, 3, padding=1),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(6, 16, 3, padding=1),
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),
            flat=nn.Flatten(),
            fc1=nn.Linear(16 * 2 * 2, 64),
            relu3=nn.ReLU(),
            fc2=nn.Linear(64, 10),
        )
    )
    gm = compile_spec(lenet_spec())
    assert_same(gm, ref, torch.randn(5, 1, 8, 8))
    assert "conv1 = self.conv1(x)" in gm.code and "flat = torch.flatten(pool2, 1)" in gm.code
    assert type(gm).__name__ == "T"  # the spec's name, as a class name
    assert list(node_modules(gm)) == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "relu3", "fc2"]


def _conv_bn(prefix: str, out_channels: int, kernel: int = 3, stride: int = 1) -> list[tuple]:
    conv = {
        "out_channels": out_channels,
        "kernel_size": kernel,
        "stride": stride,
        "padding": kernel // 2,
        "bias": False,
    }
    return [(f"{prefix}_conv", "Conv2d", conv), (f"{prefix}_bn", "BatchNorm2d")]


def resnet_spec():
    nodes = [
        ("x", "Input", {"shape": [3, 8, 8]}),
        *_conv_bn("stem", 8),
        ("stem_relu", "ReLU"),
        *_conv_bn("b1a", 8),
        ("b1a_relu", "ReLU"),
        *_conv_bn("b1b", 8),
        ("b1_add", "Add"),
        ("b1_relu", "ReLU"),
        *_conv_bn("b2a", 16, stride=2),
        ("b2a_relu", "ReLU"),
        *_conv_bn("b2b", 16),
        *_conv_bn("b2_proj", 16, kernel=1, stride=2),
        ("b2_add", "Add"),
        ("b2_relu", "ReLU"),
        ("pool", "AdaptiveAvgPool2d"),
        ("flat", "Flatten"),
        ("fc", "Linear", {"out_features": 10}),
    ]
    path = [
        "x",
        "stem_conv",
        "stem_bn",
        "stem_relu",
        "b1a_conv",
        "b1a_bn",
        "b1a_relu",
        "b1b_conv",
        "b1b_bn",
        "b1_add",
        "b1_relu",
        "b2a_conv",
        "b2a_bn",
        "b2a_relu",
        "b2b_conv",
        "b2b_bn",
        "b2_add",
        "b2_relu",
        "pool",
        "flat",
        "fc",
    ]
    shortcuts = [
        ("stem_relu", "b1_add"),
        ("b1_relu", "b2_proj_conv"),
        ("b2_proj_conv", "b2_proj_bn"),
        ("b2_proj_bn", "b2_add"),
    ]
    return make_spec(nodes, list(zip(path[:-1], path[1:], strict=True)) + shortcuts)


class ResNetRef(nn.Module):
    def __init__(self):
        super().__init__()
        for name, c_in, c_out, k, s in [
            ("stem", 3, 8, 3, 1),
            ("b1a", 8, 8, 3, 1),
            ("b1b", 8, 8, 3, 1),
            ("b2a", 8, 16, 3, 2),
            ("b2b", 16, 16, 3, 1),
            ("b2_proj", 8, 16, 1, 2),
        ]:
            setattr(self, f"{name}_conv", nn.Conv2d(c_in, c_out, k, stride=s, padding=k // 2, bias=False))
            setattr(self, f"{name}_bn", nn.BatchNorm2d(c_out))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):  # (B, 3, 8, 8)
        stem = torch.relu(self.stem_bn(self.stem_conv(x)))  # (B, 8, 8, 8)
        b1 = self.b1b_bn(self.b1b_conv(torch.relu(self.b1a_bn(self.b1a_conv(stem)))))
        b1 = torch.relu(b1 + stem)  # identity shortcut
        b2 = self.b2b_bn(self.b2b_conv(torch.relu(self.b2a_bn(self.b2a_conv(b1)))))  # (B, 16, 4, 4)
        b2 = torch.relu(b2 + self.b2_proj_bn(self.b2_proj_conv(b1)))  # projection shortcut
        return self.fc(b2.mean(dim=(2, 3)))  # (B, 10)


def test_resnet_matches_hand_written_module():
    gm, x = compile_spec(resnet_spec()), torch.randn(4, 3, 8, 8)
    warm_batchnorm(gm, x)
    assert_same(gm, ResNetRef(), x)
    assert param_count(gm) == analyze(resnet_spec()).total_params


def test_full_backward_hooks_on_every_module_work_in_training():
    gm = compile_spec(resnet_spec())
    grad_norms = {}
    for node_id, module in node_modules(gm).items():
        module.register_full_backward_hook(
            lambda mod, g_in, g_out, node_id=node_id: grad_norms.__setitem__(node_id, g_out[0].norm())
        )
    gm(torch.randn(4, 3, 8, 8, requires_grad=True)).pow(2).sum().backward()
    assert set(grad_norms) == set(node_modules(gm))
    assert all(p.grad is not None for p in gm.parameters())


class LastStepLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, 32, batch_first=True)
        self.fc = nn.Linear(32, 1)

    def forward(self, x):  # (B, 20, 1)
        out, _ = self.lstm(x)  # (B, 20, 32)
        return self.fc(out[:, -1])  # (B, 1)


def test_lstm_last_step_matches_hand_written_module():
    spec = chain(
        ("x", "Input", {"shape": [20, 1]}),
        ("lstm", "LSTM", {"hidden_size": 32, "return_sequences": False}),
        ("fc", "Linear", {"out_features": 1}),
    )
    assert_same(compile_spec(spec), LastStepLSTM(), torch.randn(3, 20, 1))


class TokenLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.fc = nn.Linear(16, 20)

    def forward(self, tokens):  # (B, 12) int64
        out, _ = self.lstm(self.embed(tokens))  # (B, 12, 16)
        return self.fc(out)  # (B, 12, 20): a prediction per step


def test_embedding_lstm_per_step_matches_hand_written_module():
    spec = chain(
        ("tokens", "Input", {"shape": [12], "dtype": "int64"}),
        ("embed", "Embedding", {"num_embeddings": 20, "embedding_dim": 8}),
        ("lstm", "LSTM", {"hidden_size": 16}),
        ("fc", "Linear", {"out_features": 20}),
    )
    assert_same(compile_spec(spec), TokenLSTM(), torch.randint(0, 20, (3, 12)))


class BiGRULast(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True)

    def forward(self, x):  # (B, T, 3)
        out, h_n = self.gru(x)  # (B, T, 10), (4, B, 5)
        last = torch.cat([h_n[-2], h_n[-1]], dim=1)  # (B, 10): top layer, forward then backward
        torch.testing.assert_close(last, torch.cat([out[:, -1, :5], out[:, 0, 5:]], dim=1))
        return last


def test_bidirectional_last_step_joins_both_directions_final_states():
    spec = chain(
        ("x", "Input", {"shape": [7, 3]}),
        ("gru", "GRU", {"hidden_size": 5, "num_layers": 2, "bidirectional": True, "return_sequences": False}),
    )
    assert_same(compile_spec(spec), BiGRULast(), torch.randn(4, 7, 3))


class AttentionRef(nn.Module):
    def __init__(self):
        super().__init__()
        self.att = nn.MultiheadAttention(8, 2, batch_first=True)
        self.enc = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)

    def forward(self, x):  # (B, T, 8)
        attended, _ = self.att(x, x, x, need_weights=False)
        return self.enc(attended)


def test_attention_matches_torch_modules():
    spec = chain(
        ("x", "Input", {"shape": [6, 8]}),
        ("att", "MultiheadAttention", {"num_heads": 2}),
        ("enc", "TransformerEncoderLayer", {"nhead": 2, "dim_feedforward": 16}),
    )
    assert_same(compile_spec(spec), AttentionRef(), torch.randn(3, 6, 8))


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # torch.jit's own notices
def test_compiled_modules_script():
    custom = chain(
        ("x", "Input", {"shape": [8]}),
        ("mx", "Maxout", {"out_features": 6}),
        ("step", "Step"),
        ("rbm", "RBM", {"n_hidden": 5}),
        ("som", "SOM", {"rows": 2, "cols": 3}),
        ("prob", "Softmax"),
    )
    recurrent = chain(
        ("x", "Input", {"shape": [5, 3]}),
        ("rnn", "RNN", {"hidden_size": 4, "bidirectional": True}),
        ("gru", "GRU", {"hidden_size": 4}),
        ("att", "MultiheadAttention", {"num_heads": 2}),
        ("lstm", "LSTM", {"hidden_size": 4, "num_layers": 2, "return_sequences": False}),
    )
    for spec, x in [
        (lenet_spec(), torch.randn(2, 1, 8, 8)),
        (resnet_spec(), torch.randn(2, 3, 8, 8)),
        (custom, torch.randn(2, 8)),
        (recurrent, torch.randn(2, 5, 3)),
    ]:
        gm = compile_spec(spec).eval()
        torch.testing.assert_close(torch.jit.script(gm)(x), gm(x))


def test_invalid_spec_raises_spec_invalid_naming_the_node():
    spec = chain(
        X_IMG, ("conv", "Conv2d", {"out_channels": 2, "kernel_size": 3}), ("fc", "Linear", {"out_features": 3})
    )
    with pytest.raises(SpecInvalid) as caught:
        compile_spec(spec)
    assert isinstance(caught.value, NetCanvasError)
    assert caught.value.issues[0].node == "fc"
    assert str(caught.value).startswith("node 'fc': Linear expects")
    with pytest.raises(SpecInvalid):
        compile_analysis(analyze(spec))


def test_state_dict_keys_are_node_ids_for_every_template():
    for name, template in TEMPLATES.items():
        spec = template.spec()
        gm = compile_spec(spec)
        ids = {n.id for n in spec.nodes}
        assert {key.split(".")[0] for key in gm.state_dict()} <= ids, name


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_valid_template_compiles_to_its_inferred_shape(name):
    spec = TEMPLATES[name].spec()
    a = analyze(spec)
    assert a.ok, a.issues
    gm = compile_spec(spec).eval()
    shape, dtype = a.shapes[a.input_id], a.params[a.input_id]["dtype"]
    x = torch.randint(0, 2, (2, *shape)) if dtype == "int64" else torch.randn(2, *shape)
    assert tuple(gm(x).shape[1:]) == a.shapes[a.output_id]
    assert param_count(gm) == a.total_params


def test_concat_follows_edge_ports():
    spec = make_spec(
        [("x", "Input", {"shape": [2]}), ("fc", "Linear", {"out_features": 3}), ("cat", "Concat")],
        [("x", "cat", 1), ("x", "fc"), ("fc", "cat", 0)],
    )
    gm, x = compile_spec(spec), torch.randn(4, 2)
    torch.testing.assert_close(gm(x), torch.cat([gm.fc(x), x], dim=1))
    assert "cat = torch.cat([fc, x], dim = 1)" in gm.code
