"""Built-in block definitions (GraphSpec v2 `blocks` entries) and the networks built from them.

A block has no conditional parts, so "a shortcut only when needed" is two definitions, as torchvision's
ResNet has a `downsample` only in the blocks that change the stride or the channels:
- `basic`: two 3x3 convolutions and the identity shortcut (input and output shapes equal);
- `basic_down`: the same with the projection shortcut (1x1 convolution with the stride, then batch norm);
- `bottleneck` / `bottleneck_down`: 1x1 down to `width`, 3x3 (with the stride), 1x1 up to `channels`;
- `stage` / `stage_down`: two basic blocks (the first `basic_down` in `stage_down`), ResNet-18's layer1..4;
- `encoder`: a post-norm transformer encoder layer from MultiheadAttention, LayerNorm, Linear, ReLU and Add;
- `lstm_cell`, `gru_cell`: one step of torch.nn.LSTM / torch.nn.GRU from Linear, Sigmoid, Tanh, Multiply, Add and
  OneMinus nodes, each gate its own named nodes and the cell state a visible edge (`c_next`); a `Recurrent` node
  runs one over the time steps (builder/ops/ops_recurrent.py).
A wrong choice (`basic` where the shape changes) is refused by the Add inside, naming the block and the node.
"""

from __future__ import annotations

import copy

from builder.spec.spec import BlockDef, parse_spec

Layer = tuple  # (id, op) or (id, op, params)


def _body(layers: list[Layer], extra_edges: list[tuple[str, str]] = ()) -> tuple[list[dict], list[dict]]:
    """Nodes wired one after the other, plus `extra_edges`."""
    nodes = [
        {"id": layer[0], "op": layer[1], **({"params": dict(layer[2])} if len(layer) > 2 else {})} for layer in layers
    ]
    pairs = [(a[0], b[0]) for a, b in zip(layers, layers[1:])] + list(extra_edges)
    return nodes, [{"source": s, "target": t} for s, t in pairs]


def _definition(params: dict, layers: list[Layer], extra_edges: list[tuple[str, str]] = (), branch=()) -> dict:
    nodes, edges = _body(layers, extra_edges)
    branch_nodes, branch_edges = _body(list(branch)) if branch else ([], [])
    return {"params": params, "nodes": nodes + branch_nodes, "edges": edges + branch_edges}


def _conv(channels: str, kernel: int, stride="$stride") -> dict:
    conv = {"out_channels": channels, "kernel_size": kernel, "padding": kernel // 2, "bias": False}
    return conv if stride == 1 else {**conv, "stride": stride}


def _basic(down: bool) -> dict:
    main = [
        ("x", "Input"),
        ("conv1", "Conv2d", _conv("$channels", 3)),
        ("bn1", "BatchNorm2d"),
        ("relu1", "ReLU"),
        ("conv2", "Conv2d", _conv("$channels", 3, stride=1)),
        ("bn2", "BatchNorm2d"),
        ("add", "Add"),
        ("relu2", "ReLU"),
        ("out", "Output"),
    ]
    if not down:
        return _definition({"channels": None, "stride": 1}, main, [("x", "add")])
    shortcut = [("down_conv", "Conv2d", _conv("$channels", 1)), ("down_bn", "BatchNorm2d")]
    edges = [("x", "down_conv"), ("down_bn", "add")]
    return _definition({"channels": None, "stride": 2}, main, edges, branch=shortcut)


def _bottleneck(down: bool) -> dict:
    main = [
        ("x", "Input"),
        ("conv1", "Conv2d", _conv("$width", 1, stride=1)),
        ("bn1", "BatchNorm2d"),
        ("relu1", "ReLU"),
        ("conv2", "Conv2d", _conv("$width", 3)),
        ("bn2", "BatchNorm2d"),
        ("relu2", "ReLU"),
        ("conv3", "Conv2d", _conv("$channels", 1, stride=1)),
        ("bn3", "BatchNorm2d"),
        ("add", "Add"),
        ("relu3", "ReLU"),
        ("out", "Output"),
    ]
    params = {"width": None, "channels": None, "stride": 2 if down else 1}
    if not down:
        return _definition(params, main, [("x", "add")])
    shortcut = [("down_conv", "Conv2d", _conv("$channels", 1)), ("down_bn", "BatchNorm2d")]
    return _definition(params, main, [("x", "down_conv"), ("down_bn", "add")], branch=shortcut)


def _stage(down: bool) -> dict:
    first = (
        {"block": "basic_down", "channels": "$channels", "stride": "$stride"}
        if down
        else {"block": "basic", "channels": "$channels"}
    )
    layers = [
        ("x", "Input"),
        ("block0", "Block", first),
        ("block1", "Block", {"block": "basic", "channels": "$channels"}),
        ("out", "Output"),
    ]
    return _definition({"channels": None, "stride": 2 if down else 1}, layers)


def _encoder() -> dict:
    layers = [
        ("x", "Input"),
        ("attn", "MultiheadAttention", {"num_heads": "$heads", "dropout": "$dropout", "causal": "$causal"}),
        ("add1", "Add"),
        ("norm1", "LayerNorm"),
        ("ff1", "Linear", {"out_features": "$dim_feedforward"}),
        ("relu", "ReLU"),
        ("ff2", "Linear", {"out_features": "$d_model"}),
        ("add2", "Add"),
        ("norm2", "LayerNorm"),
        ("out", "Output"),
    ]
    params = {"d_model": None, "heads": None, "dim_feedforward": None, "dropout": 0.0, "causal": False}
    return _definition(params, layers, [("x", "add1"), ("norm1", "add2")])  # the two residual connections


Wired = tuple  # (id, op, params, [its inputs, in order])
TORCH_GATES = {  # the gates of each cell in the order of torch's weight_ih_l0 / weight_hh_l0 rows
    "lstm_cell": ("input_gate", "forget_gate", "cell_candidate", "output_gate"),  # i, f, g, o
    "gru_cell": ("reset_gate", "update_gate", "candidate"),  # r, z, n
}
_HIDDEN = {"out_features": "$hidden"}


def _cell(wired: list[Wired]) -> dict:
    """A cell's definition (param `hidden`) from its nodes, each listed with its inputs."""
    nodes = [{"id": node_id, "op": op, **({"params": dict(p)} if p else {})} for node_id, op, p, _ in wired]
    edges = [{"source": source, "target": node_id} for node_id, _, _, sources in wired for source in sources]
    return {"params": {"hidden": None}, "nodes": nodes, "edges": edges}


def _state_inputs(*names: str) -> list[Wired]:
    return [(name, "Input", {"port": port}, []) for port, name in enumerate(("x_t", *names))]


def _gate(name: str, activation: str) -> list[Wired]:
    """activation(W_x x_t + b_x + W_h h + b_h); `{name}` holds the gate's value."""
    return [
        (f"{name}_x", "Linear", _HIDDEN, ["x_t"]),  # this gate's rows of torch's weight_ih_l0 and bias_ih_l0
        (f"{name}_h", "Linear", _HIDDEN, ["h"]),  # ... of weight_hh_l0 and bias_hh_l0
        (f"{name}_sum", "Add", {}, [f"{name}_x", f"{name}_h"]),
        (name, activation, {}, [f"{name}_sum"]),
    ]


def _lstm_cell() -> dict:
    """torch.nn.LSTM's step: i, f, o = sigmoid(...), g = tanh(...); c' = f * c + i * g; h' = o * tanh(c')."""
    gates = [("input_gate", "Sigmoid"), ("forget_gate", "Sigmoid"), ("cell_candidate", "Tanh")]
    gates.append(("output_gate", "Sigmoid"))
    return _cell(
        [
            *_state_inputs("h", "c"),
            *[node for name, activation in gates for node in _gate(name, activation)],
            ("c_kept", "Multiply", {}, ["forget_gate", "c"]),  # what the forget gate keeps of the cell state
            ("c_written", "Multiply", {}, ["input_gate", "cell_candidate"]),  # what the input gate writes
            ("c_next", "Add", {}, ["c_kept", "c_written"]),  # the new cell state
            ("c_squashed", "Tanh", {}, ["c_next"]),
            ("h_next", "Multiply", {}, ["output_gate", "c_squashed"]),  # what the output gate lets out
            ("h_out", "Output", {"port": 0}, ["h_next"]),
            ("c_out", "Output", {"port": 1}, ["c_next"]),
        ]
    )


def _gru_cell() -> dict:
    """torch.nn.GRU's step: r, z = sigmoid(...); n = tanh(W_in x + b_in + r * (W_hn h + b_hn));
    h' = (1 - z) * n + z * h."""
    return _cell(
        [
            *_state_inputs("h"),
            *_gate("reset_gate", "Sigmoid"),
            *_gate("update_gate", "Sigmoid"),
            ("candidate_x", "Linear", _HIDDEN, ["x_t"]),
            ("candidate_h", "Linear", _HIDDEN, ["h"]),
            ("candidate_h_reset", "Multiply", {}, ["reset_gate", "candidate_h"]),  # what of h the reset gate lets in
            ("candidate_sum", "Add", {}, ["candidate_x", "candidate_h_reset"]),
            ("candidate", "Tanh", {}, ["candidate_sum"]),  # n, the new content
            ("one_minus_update", "OneMinus", {}, ["update_gate"]),  # 1 - z
            ("new_share", "Multiply", {}, ["one_minus_update", "candidate"]),  # (1 - z) * n
            ("old_share", "Multiply", {}, ["update_gate", "h"]),  # z * h
            ("h_next", "Add", {}, ["new_share", "old_share"]),
            ("h_out", "Output", {"port": 0}, ["h_next"]),
        ]
    )


LIBRARY: dict[str, dict] = {
    "basic": _basic(down=False),
    "basic_down": _basic(down=True),
    "bottleneck": _bottleneck(down=False),
    "bottleneck_down": _bottleneck(down=True),
    "stage": _stage(down=False),
    "stage_down": _stage(down=True),
    "encoder": _encoder(),
    "lstm_cell": _lstm_cell(),
    "gru_cell": _gru_cell(),
}
USES = {"stage": ("basic",), "stage_down": ("basic", "basic_down")}  # the blocks a block's body uses


def blocks_for(*names: str) -> dict[str, dict]:
    """The raw definitions of `names` and of every block they use, for a spec's "blocks"."""
    wanted, found = list(names), {}
    while wanted:
        name = wanted.pop()
        if name not in found:
            found[name] = copy.deepcopy(LIBRARY[name])  # the caller's to change
            wanted += USES.get(name, ())
    return {name: found[name] for name in sorted(found)}


def definition(name: str) -> BlockDef:
    """One built-in block, parsed (its uses' definitions are not included)."""
    raw = {"version": 2, "name": name, "nodes": [], "edges": [], "blocks": blocks_for(name)}
    spec, issues = parse_spec(raw)
    assert spec is not None, issues  # the library is ours: a bad entry is our bug
    return spec.blocks[name]


def resnet18(name: str, input_shape: list[int], classes: int) -> dict:
    """torchvision's ResNet-18 as a spec of 12 top-level nodes: the ImageNet stem (7x7/2 convolution, batch
    norm, ReLU, 3x3/2 max pool), four stages of two basic blocks (64, 128, 256, 512 channels; the last three
    halve the size), global average pool and a Linear head. On [3, 224, 224] with 1000 classes it has
    11,689,512 parameters, as torchvision's resnet18."""
    stages = [("layer1", "stage", 64, 1), ("layer2", "stage_down", 128, 2), ("layer3", "stage_down", 256, 2)]
    stages.append(("layer4", "stage_down", 512, 2))
    layers = [
        ("x", "Input", {"shape": list(input_shape)}),
        ("conv1", "Conv2d", {"out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3, "bias": False}),
        ("bn1", "BatchNorm2d"),
        ("relu", "ReLU"),
        ("maxpool", "MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
        *[(node_id, "Block", {"block": block, "channels": c, "stride": s}) for node_id, block, c, s in stages],
        ("avgpool", "AdaptiveAvgPool2d", {"output_size": 1}),
        ("flatten", "Flatten"),
        ("fc", "Linear", {"out_features": classes}),
    ]
    nodes, edges = _body(layers)
    return {"version": 2, "name": name, "nodes": nodes, "edges": edges, "blocks": blocks_for("stage", "stage_down")}


def cell_net(name: str, input_shape: list[int], cell: str, hidden: int, return_sequences: bool, outputs: int) -> dict:
    """A sequence [T, F] -> `Recurrent` running the library's `cell` (lstm_cell or gru_cell) -> a Linear head of
    `outputs` (per step when `return_sequences`, else on the last step)."""
    rnn = {"cell": cell, "hidden": hidden, "return_sequences": return_sequences}
    layers = [
        ("x", "Input", {"shape": list(input_shape)}),
        ("rnn", "Recurrent", rnn),
        ("out", "Linear", {"out_features": outputs}),
    ]
    nodes, edges = _body(layers)
    return {"version": 2, "name": name, "nodes": nodes, "edges": edges, "blocks": blocks_for(cell)}
