"""Ready-made networks, one per classic architecture, each with the training settings it learns with.

Templates carry no canvas positions (`ui`); the canvas lays out nodes that have none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from builder.library.block_library import cell_net, resnet18
from builder.library.datasets import DATASETS, PARITY_BITS, SINE_STEPS, TEXT_ALPHABET, TEXT_STEPS
from builder.spec.spec import GraphSpec, parse_spec

Layer = tuple  # (id, op) or (id, op, params)


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    description: str
    build: Callable[[], dict]
    train: dict = field(default_factory=dict)  # TrainConfig fields

    def spec(self) -> GraphSpec:
        spec, issues = parse_spec(self.build())
        assert spec is not None, issues  # templates are ours: a bad one is our bug
        return spec


def _node(layer: Layer) -> dict:
    node = {"id": layer[0], "op": layer[1]}
    if len(layer) > 2 and layer[2]:
        node["params"] = dict(layer[2])
    return node


def graph(name: str, layers: list[Layer], extra_edges: list[tuple[str, str]] = (), chain: bool = True) -> dict:
    """A spec dict: `layers` wired one after the other (when chain), plus `extra_edges`."""
    edges = [(a[0], b[0]) for a, b in zip(layers, layers[1:])] if chain else []
    edges += list(extra_edges)
    return {
        "version": 1,
        "name": name,
        "nodes": [_node(layer) for layer in layers],
        "edges": [{"source": s, "target": t} for s, t in edges],
    }


def _input(shape, dtype: str = "float32") -> Layer:
    params = {"shape": list(shape)}
    if dtype != "float32":
        params["dtype"] = dtype
    return ("x", "Input", params)


def _perceptron(name: str) -> Callable[[], dict]:
    return lambda: graph(name, [_input([2]), ("fc", "Linear", {"out_features": 1}), ("step", "Step")])


def _mlp(name: str, dataset: str, hidden: int, act: str = "ReLU") -> Callable[[], dict]:
    info = DATASETS[dataset]
    return lambda: graph(
        name,
        [
            _input(info.feature_shape),
            ("fc1", "Linear", {"out_features": hidden}),
            ("act1", act),
            ("fc2", "Linear", {"out_features": info.n_classes}),
        ],
    )


def _maxout_digits() -> dict:
    return graph(
        "maxout_digits",
        [
            _input([64]),
            ("maxout1", "Maxout", {"out_features": 64, "pieces": 3}),
            ("drop1", "Dropout", {"p": 0.2}),
            ("maxout2", "Maxout", {"out_features": 32, "pieces": 3}),
            ("fc", "Linear", {"out_features": 10}),
        ],
    )


def _lenet() -> dict:
    return graph(
        "lenet",
        [
            _input([1, 8, 8]),
            ("conv1", "Conv2d", {"out_channels": 6, "kernel_size": 3, "padding": 1}),
            ("relu1", "ReLU"),
            ("pool1", "MaxPool2d", {"kernel_size": 2}),
            ("conv2", "Conv2d", {"out_channels": 16, "kernel_size": 3, "padding": 1}),
            ("relu2", "ReLU"),
            ("pool2", "MaxPool2d", {"kernel_size": 2}),
            ("flat", "Flatten"),
            ("fc1", "Linear", {"out_features": 64}),
            ("relu3", "ReLU"),
            ("fc2", "Linear", {"out_features": 10}),
        ],
    )


def _conv_bn(prefix: str, channels: int, stride: int = 1, kernel: int = 3) -> list[Layer]:
    conv = {"out_channels": channels, "kernel_size": kernel, "padding": kernel // 2, "bias": False}
    if stride != 1:
        conv["stride"] = stride
    return [(f"{prefix}_conv", "Conv2d", conv), (f"{prefix}_bn", "BatchNorm2d")]


def _resnet_mini() -> dict:
    """Stem, one block with an identity shortcut, one downsampling block with a projection shortcut."""
    stem = [_input([1, 8, 8]), *_conv_bn("stem", 16), ("stem_relu", "ReLU")]
    block1 = [*_conv_bn("b1a", 16), ("b1a_relu", "ReLU"), *_conv_bn("b1b", 16), ("b1_add", "Add"), ("b1_relu", "ReLU")]
    block2 = [
        *_conv_bn("b2a", 32, stride=2),
        ("b2a_relu", "ReLU"),
        *_conv_bn("b2b", 32),
        ("b2_add", "Add"),
        ("b2_relu", "ReLU"),
    ]
    shortcut = _conv_bn("b2_proj", 32, stride=2, kernel=1)
    head = [
        ("pool", "AdaptiveAvgPool2d", {"output_size": 1}),
        ("flat", "Flatten"),
        ("fc", "Linear", {"out_features": 10}),
    ]
    spec = graph("resnet_mini", stem + block1 + block2 + head)
    spec["nodes"][len(stem + block1 + block2) : len(stem + block1 + block2)] = [_node(n) for n in shortcut]
    spec["edges"] += [
        {"source": "stem_relu", "target": "b1_add"},  # identity shortcut
        {"source": "b1_relu", "target": "b2_proj_conv"},  # projection shortcut: 1x1 conv, stride 2
        {"source": "b2_proj_conv", "target": "b2_proj_bn"},
        {"source": "b2_proj_bn", "target": "b2_add"},
    ]
    return spec


def _recurrent(name: str, op: str, dataset: str, hidden: int) -> Callable[[], dict]:
    info = DATASETS[dataset]
    out = info.n_classes or 1
    return lambda: graph(
        name,
        [
            _input(info.feature_shape),
            ("rnn", op, {"hidden_size": hidden, "return_sequences": False}),
            ("out", "Linear", {"out_features": out}),
        ],
    )


def _gru_parity() -> dict:
    return graph(
        "gru_parity",
        [
            _input([PARITY_BITS, 1]),
            ("gru", "GRU", {"hidden_size": 32}),
            ("out", "Linear", {"out_features": 2}),  # per step: is the count of ones so far odd
        ],
    )


def _lstm_text() -> dict:
    vocab = len(TEXT_ALPHABET)
    return graph(
        "lstm_text",
        [
            _input([TEXT_STEPS], "int64"),
            ("embed", "Embedding", {"num_embeddings": vocab, "embedding_dim": 16}),
            ("lstm", "LSTM", {"hidden_size": 128}),
            ("out", "Linear", {"out_features": vocab}),
        ],
    )


def _autoencoder_digits() -> dict:
    return graph(
        "autoencoder_digits",
        [
            _input([64]),
            ("enc1", "Linear", {"out_features": 32}),
            ("enc1_relu", "ReLU"),
            ("bottleneck", "Linear", {"out_features": 8}),
            ("bottleneck_relu", "ReLU"),
            ("dec1", "Linear", {"out_features": 32}),
            ("dec1_relu", "ReLU"),
            ("dec2", "Linear", {"out_features": 64}),
            ("recon", "Sigmoid"),
        ],
    )


def _dbn_digits() -> dict:
    return graph(
        "dbn_digits",
        [
            _input([64]),
            ("rbm1", "RBM", {"n_hidden": 128}),
            ("rbm2", "RBM", {"n_hidden": 64}),
            ("fc", "Linear", {"out_features": 10}),
        ],
    )


def _rbm_digits() -> dict:
    return graph("rbm_digits", [_input([64]), ("rbm", "RBM", {"n_hidden": 64})])


def _som(name: str, features: int, rows: int, cols: int) -> Callable[[], dict]:
    return lambda: graph(name, [_input([features]), ("som", "SOM", {"rows": rows, "cols": cols})])


def _dsn_module(k: int) -> list[Layer]:
    return [
        (f"m{k}_hidden", "Linear", {"out_features": 64}),
        (f"m{k}_act", "Sigmoid"),
        (f"m{k}_out", "Linear", {"out_features": 10}),
    ]


def _dsn_digits() -> dict:
    """Deep stacking: module k sees the input concatenated with the outputs of modules 1..k-1."""
    m1, m2, m3 = _dsn_module(1), _dsn_module(2), _dsn_module(3)
    layers = [_input([64]), *m1, ("stack2", "Concat"), *m2, ("stack3", "Concat"), *m3]
    spec = graph("dsn_digits", layers, chain=False)
    chains = [[_input([64]), *m1], [("stack2",), *m2], [("stack3",), *m3]]
    pairs = [(a[0], b[0]) for chain in chains for a, b in zip(chain, chain[1:])]
    pairs += [("x", "stack2"), ("m1_out", "stack2"), ("x", "stack3"), ("m1_out", "stack3"), ("m2_out", "stack3")]
    spec["edges"] = [{"source": s, "target": t} for s, t in pairs]
    return spec


def _transformer_parity() -> dict:
    return graph(
        "transformer_parity",
        [
            _input([PARITY_BITS, 1]),
            ("embed", "Linear", {"out_features": 64}),
            ("position", "PositionalEmbedding"),
            (
                "encoder",
                "TransformerEncoderLayer",
                {"nhead": 4, "dim_feedforward": 128, "dropout": 0.0, "causal": True},
            ),
            ("out", "Linear", {"out_features": 2}),
        ],
    )


def _t(name, title, description, build, **train) -> Template:
    return Template(name, title, description, build, train)


SINE = {"dataset": "sine", "optimizer": "adam", "lr": 5e-3, "batch_size": 32, "epochs": 20}
DIGITS = {"dataset": "digits", "optimizer": "adam", "lr": 1e-3, "batch_size": 32, "epochs": 15}
PERCEPTRON = {"trainer": "perceptron", "lr": 1.0, "epochs": 30, "log_every": 1}  # a step event per row: the line moves
TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        _t(
            "perceptron",
            "Perceptron (OR)",
            "One linear unit and a step that fires at w·x + b >= 0, trained by Rosenblatt's perceptron rule: "
            "one row at a time from zero weights, w <- w + lr (y - y_hat) x on each mistake (the bias is the "
            "weight of a constant 1). OR is linearly separable, so an epoch without mistakes comes within a few "
            "epochs and the run stops there.",
            _perceptron("perceptron"),
            **PERCEPTRON,
            dataset="or",
        ),
        _t(
            "perceptron_xor",
            "Perceptron on XOR",
            "The same unit and rule on XOR: no line separates the two classes, so every epoch has mistakes, "
            "at most 3 of the 4 rows come out right and the rule runs to the epoch limit (mlp_xor, with a hidden "
            "layer, learns it).",
            _perceptron("perceptron_xor"),
            **PERCEPTRON,
            dataset="xor",
        ),
        _t(
            "mlp_xor",
            "MLP on XOR",
            "One hidden layer of 4 tanh units solves XOR.",
            _mlp("mlp_xor", "xor", 4, "Tanh"),
            dataset="xor",
            optimizer="adam",
            lr=0.05,
            batch_size=4,
            epochs=300,
        ),
        _t(
            "mlp_iris",
            "MLP on iris",
            "4 features, 16 hidden ReLU units, 3 species.",
            _mlp("mlp_iris", "iris", 16),
            dataset="iris",
            optimizer="adam",
            lr=0.01,
            batch_size=16,
            epochs=60,
        ),
        _t(
            "mlp_digits",
            "MLP on digits",
            "64 pixels, 128 hidden units, 10 digits.",
            _mlp("mlp_digits", "digits", 128),
            **DIGITS,
        ),
        _t(
            "maxout_digits",
            "Maxout network",
            "Two maxout layers (max over 3 linear pieces) on digits.",
            _maxout_digits,
            **DIGITS,
        ),
        _t("lenet", "LeNet", "Two conv + pool stages and a dense head on 1x8x8 digits.", _lenet, **DIGITS),
        _t(
            "resnet_mini",
            "Mini ResNet",
            "Residual blocks with Add: an identity shortcut and a stride-2 projection shortcut (1x1 conv + BatchNorm).",
            _resnet_mini,
            **{**DIGITS, "epochs": 10},
        ),
        _t(
            "resnet18_blocks",
            "ResNet-18 from blocks",
            "torchvision's ResNet-18 layout built from blocks: the 7x7 stride-2 stem and max pool, four stages "
            "of two basic blocks (64 to 512 channels; each later stage's first block halves the size through "
            "a projection shortcut), average pool and a Linear head; 12 nodes on the canvas. Here on the 8x8 "
            "digits (1 channel, 10 classes); on [3, 224, 224] with 1000 classes it has torchvision's "
            "11,689,512 parameters.",
            lambda: resnet18("resnet18_blocks", [1, 8, 8], DATASETS["digits"].n_classes),
            **{**DIGITS, "epochs": 3},
        ),
        _t(
            "rnn_sine",
            "RNN on a sine",
            f"An Elman RNN reads {SINE_STEPS} samples and predicts the next one.",
            _recurrent("rnn_sine", "RNN", "sine", 32),
            **SINE,
        ),
        _t(
            "lstm_sine",
            "LSTM on a sine",
            "An LSTM reads a window of a sine wave and predicts the next sample.",
            _recurrent("lstm_sine", "LSTM", "sine", 32),
            **SINE,
        ),
        _t(
            "lstm_cells_sine",
            "LSTM from its gates on a sine",
            "The LSTM of lstm_sine built from its gates: a Recurrent node runs the lstm_cell block (input, forget and "
            "output gates and the cell candidate, each a Linear of x_t plus a Linear of h through a sigmoid or tanh; "
            "the cell state c_next a visible edge) over the window, and a Linear predicts the next sample from the "
            "last h. Given the same weights it computes what torch.nn.LSTM does.",
            lambda: cell_net("lstm_cells_sine", DATASETS["sine"].feature_shape, "lstm_cell", 32, False, 1),
            **SINE,
        ),
        _t(
            "gru_parity",
            "GRU on parity",
            f"A GRU reads {PARITY_BITS} bits and says after each one whether the count of ones so far is odd.",
            _gru_parity,
            dataset="parity",
            optimizer="adam",
            lr=1e-2,
            batch_size=32,
            epochs=20,
        ),
        _t(
            "gru_cells_parity",
            "GRU from its gates on parity",
            f"The GRU of gru_parity built from its gates: a Recurrent node runs the gru_cell block (reset and update "
            f"gates, the candidate from x_t and the reset part of h, then h' = (1 - z) * n + z * h) over {PARITY_BITS} "
            "bits, and a Linear says after each bit whether the count of ones so far is odd. Given the same weights "
            "it computes what torch.nn.GRU does.",
            lambda: cell_net("gru_cells_parity", [PARITY_BITS, 1], "gru_cell", 32, True, 2),
            dataset="parity",
            optimizer="adam",
            lr=1e-2,
            batch_size=32,
            epochs=20,
        ),
        _t(
            "lstm_text",
            "Character LSTM",
            "Embedding, LSTM and a per-step Linear predict the next character.",
            _lstm_text,
            dataset="text",
            optimizer="adam",
            lr=5e-3,
            batch_size=32,
            epochs=10,
        ),
        _t(
            "autoencoder_digits",
            "Autoencoder",
            "Squeezes 64 pixels through an 8-unit code and reconstructs them.",
            _autoencoder_digits,
            dataset="digits",
            task="reconstruction",
            optimizer="adam",
            lr=2e-3,
            batch_size=32,
            epochs=30,
        ),
        _t(
            "rbm_digits",
            "RBM on digits",
            "A restricted Boltzmann machine with 64 binary hidden units learns the 8x8 digits without labels by "
            "contrastive divergence (CD-1): its hidden units' weights become stroke detectors, and it reconstructs "
            "and dreams up digits (Gibbs samples).",
            _rbm_digits,
            dataset="digits",
            task="unsupervised",
            trainer="rbm",
            lr=0.1,
            batch_size=10,
            epochs=10,
            log_every=20,
        ),
        _t(
            "som_iris",
            "Self-organising map on iris",
            "A 7x7 Kohonen map learns the 4 iris measurements without labels: each flower pulls its best-matching "
            "unit and that unit's grid neighbours towards it, the radius and rate shrinking over the run, so "
            "similar flowers land on nearby units (the hit map colours them by species).",
            _som("som_iris", 4, 7, 7),
            dataset="iris",
            task="unsupervised",
            trainer="som",
            lr=0.5,
            som_sigma=2.0,
            batch_size=10,
            epochs=20,
        ),
        _t(
            "som_digits",
            "Self-organising map on digits",
            "A 10x10 Kohonen map of the 8x8 digits, learned without labels: neighbouring units hold similar "
            "digit shapes (the component planes and U-matrix show the map's layout).",
            _som("som_digits", 64, 10, 10),
            dataset="digits",
            task="unsupervised",
            trainer="som",
            lr=0.5,
            som_sigma=3.0,
            batch_size=32,
            epochs=10,
        ),
        _t(
            "dbn_digits",
            "Deep belief network",
            "Two stacked RBMs under a classifier head, as a deep belief network learns: each RBM is pretrained "
            "in turn by contrastive divergence (CD-1) on what the layer below gives, without labels, then the "
            "whole network is fine-tuned on the labels by backprop.",
            _dbn_digits,
            **{**DIGITS, "lr": 5e-3, "trainer": "dbn", "pretrain_epochs": 10, "pretrain_lr": 0.1},
        ),
        _t(
            "dsn_digits",
            "Deep stacking network",
            "Three modules, each seeing the input joined with every earlier module's prediction, trained one "
            "after the other (the deep stacking rule): module k learns the digits from its own output by backprop "
            "while the modules below it stay frozen.",
            _dsn_digits,
            **{**DIGITS, "lr": 3e-3, "epochs": 8, "trainer": "dsn"},
        ),
        _t(
            "transformer_parity",
            "Transformer on parity",
            "Causal self-attention with learned positions: each step "
            "sees the bits so far and says whether their count is odd.",
            _transformer_parity,
            dataset="parity",
            optimizer="adam",
            lr=3e-3,
            batch_size=32,
            epochs=60,
        ),
    )
}


def template_names() -> list[str]:
    return list(TEMPLATES)
