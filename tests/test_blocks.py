"""Blocks (GraphSpec v2): parsing and the v1 upgrade, validation through bodies, shapes and counts, compile."""

# ruff: noqa: E501 (the expected messages are quoted whole)

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from builder.analysis.fixes import apply_fix
from builder.analysis.summary import format_table, summary_rows
from builder.analysis.validate import analyze
from builder.editor.session import EditorSession
from builder.library.block_library import LIBRARY, blocks_for, resnet18
from builder.library.templates import TEMPLATES
from builder.spec.spec import SPEC_VERSION, parse_spec
from engine.compile.fx_module import compile_analysis, compile_spec, param_count

TORCHVISION_RESNET18_PARAMS = 11_689_512  # torchvision.models.resnet18(): 3x224x224 in, 1000 classes


def block_net(*layers, blocks=None, extra_edges=()) -> dict:
    """A raw v2 spec: `layers` chained (id, op, params), with the library's blocks (or `blocks`)."""
    nodes = [
        {"id": i, "op": op, **({"params": p} if p else {})}
        for i, op, *rest in layers
        for p in [rest[0] if rest else None]
    ]
    edges = [{"source": a[0], "target": b[0]} for a, b in zip(layers, layers[1:])]
    edges += [{"source": s, "target": t} for s, t in extra_edges]
    return {
        "version": 2,
        "name": "net",
        "nodes": nodes,
        "edges": edges,
        "blocks": blocks if blocks is not None else blocks_for("basic", "basic_down"),
    }


def small_resnet() -> dict:
    """[3, 8, 8] -> stem conv -> basic (8) -> basic_down (16, stride 2) -> pool -> Linear(4)."""
    return block_net(
        ("x", "Input", {"shape": [3, 8, 8]}),
        ("stem", "Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 1}),
        ("res1", "Block", {"block": "basic", "channels": 8}),
        ("res2", "Block", {"block": "basic_down", "channels": 16}),
        ("pool", "AdaptiveAvgPool2d", {"output_size": 1}),
        ("flat", "Flatten"),
        ("fc", "Linear", {"out_features": 4}),
    )


def parsed(raw: dict):
    spec, issues = parse_spec(raw)
    assert spec is not None, issues
    return spec


def errors(raw: dict) -> list[tuple[str | None, str]]:
    return [(i.node, i.message) for i in analyze(parsed(raw)).issues if i.severity == "error"]


# -- parse and the version 1 upgrade ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_template_as_a_version_1_file_opens_upgraded_and_round_trips_as_version_2(name):
    raw = TEMPLATES[name].build()
    if raw.get("blocks"):  # no version 1 form: it round-trips as version 2
        assert parsed(json.loads(parsed(raw).to_json())).to_dict() == parsed(raw).to_dict()
        return
    old = {**copy.deepcopy(raw), "version": 1}
    old.pop("blocks", None)
    spec = parsed(old)
    written = spec.to_dict()
    assert written["version"] == SPEC_VERSION == 2 and written["blocks"] == {}
    assert {k: v for k, v in written.items() if k not in ("version", "blocks")} == {
        k: v for k, v in old.items() if k != "version"
    }
    again = parsed(json.loads(spec.to_json()))
    assert again.to_dict() == written and analyze(again).ok == analyze(spec).ok


def test_blocks_round_trip_and_copies_share_nothing():
    spec = parsed(small_resnet())
    assert parsed(spec.to_dict()).to_dict() == spec.to_dict()
    twin = spec.copy()
    twin.blocks["basic"].nodes[1].params["kernel_size"] = 5
    twin.blocks["basic"].params["stride"] = 3
    assert spec.blocks["basic"].nodes[1].params["kernel_size"] == 3 and spec.blocks["basic"].params["stride"] == 1


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.update(blocks=[]), "blocks"),
        (lambda d: d["blocks"].update(Basic=LIBRARY["basic"]), "blocks.Basic"),
        (lambda d: d["blocks"].update(train=LIBRARY["basic"]), "blocks.train"),
        (lambda d: d["blocks"]["basic"].update(extra=1), "blocks.basic.extra"),
        (lambda d: d["blocks"]["basic"].update(params=[1]), "blocks.basic.params"),
        (lambda d: d["blocks"]["basic"]["params"].update(block=1), "blocks.basic.params.block"),
        (lambda d: d["blocks"]["basic"]["nodes"][2].update(op=3), "blocks.basic.nodes[2].op"),
        (lambda d: d["blocks"]["basic"]["edges"].append("x->add"), "blocks.basic.edges[9]"),
        (lambda d: d.update(version=1), "blocks"),  # version 1 had no blocks
    ],
)
def test_schema_errors_in_blocks_name_the_field(mutate, field):
    raw = small_resnet()
    mutate(raw)
    spec, issues = parse_spec(raw)
    assert spec is None and [i.field for i in issues] == [field], issues
    assert issues[0].message.startswith(field)


# -- shapes, counts and the cache -----------------------------------------------------------------------------


def test_resnet18_from_blocks_has_torchvisions_parameter_count_in_12_nodes():
    spec = parsed(resnet18("resnet18", [3, 224, 224], 1000))
    a = analyze(spec)
    assert a.ok, a.issues
    assert a.total_params == TORCHVISION_RESNET18_PARAMS
    assert len(spec.nodes) == 12  # what the canvas shows
    assert a.shapes["layer1"] == (64, 56, 56) and a.shapes["layer4"] == (512, 7, 7) and a.shapes["fc"] == (1000,)
    assert param_count(compile_analysis(a)) == TORCHVISION_RESNET18_PARAMS


def test_uses_with_the_same_block_values_and_input_shapes_share_one_body_analysis():
    a = analyze(parsed(resnet18("r", [3, 224, 224], 1000)))
    layer1 = a.uses["layer1"].body
    assert layer1.uses["block0"].body is layer1.uses["block1"].body  # analysed once, used twice
    layer2 = a.uses["layer2"].body
    assert layer2.uses["block0"].block == "basic_down" and layer2.uses["block1"].body is not layer1.uses["block1"].body
    assert a.expanded_nodes == 8 + (2 + 9 + 9) + 3 * (2 + 11 + 9)  # 8 plain nodes; a stage: Input, Output, bodies


def test_the_resnet18_template_is_valid_on_digits_with_its_12_nodes():
    spec = TEMPLATES["resnet18_blocks"].spec()
    a = analyze(spec)
    assert a.ok and len(spec.nodes) == 12 and a.shapes["fc"] == (10,)
    assert TEMPLATES["resnet18_blocks"].train["dataset"] == "digits"


class HandBasicBlock(nn.Module):
    """The basic block written by hand (torchvision's layout), for the count and the outputs."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = stride != 1 or cin != cout
        if self.down:
            self.down_conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
            self.down_bn = nn.BatchNorm2d(cout)

    def forward(self, x):  # [B, cin, H, W] -> [B, cout, H / stride, W / stride]
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        shortcut = self.down_bn(self.down_conv(x)) if self.down else x
        return torch.relu(y + shortcut)


class HandNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.res1 = HandBasicBlock(8, 8, 1)
        self.res2 = HandBasicBlock(8, 16, 2)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        y = self.res2(self.res1(self.stem(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


def test_a_block_network_counts_compiles_and_computes_as_the_hand_written_module():
    a = analyze(parsed(small_resnet()))
    assert a.ok, a.issues
    hand = HandNet()
    assert a.param_counts["res1"] == param_count(hand.res1) and a.param_counts["res2"] == param_count(hand.res2)
    assert a.total_params == param_count(hand) and a.shapes["res2"] == (16, 4, 4)
    gm = compile_analysis(a)
    assert gm.state_dict().keys() == hand.state_dict().keys()  # res2.conv1.weight, res2.down_bn.running_mean, ...
    assert "res2.conv1.weight" in gm.state_dict()
    torch.manual_seed(0)
    weights = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in gm.state_dict().items()}
    gm.load_state_dict({k: v.abs() + 0.5 if k.endswith("running_var") else v for k, v in weights.items()})
    hand.load_state_dict(gm.state_dict())
    x = torch.randn(5, 3, 8, 8)
    gm.eval(), hand.eval()
    torch.testing.assert_close(gm(x), hand(x), rtol=0, atol=1e-5)


def test_each_use_has_its_own_weights():
    gm = compile_spec(parsed(resnet18("r", [1, 8, 8], 10)))
    first, second = gm.layer1.block0.conv1.weight, gm.layer1.block1.conv1.weight
    assert first is not second and not torch.equal(first, second)


# -- bad input: refused naming the block and the node ---------------------------------------------------------


def _with_block(mutate_blocks) -> dict:
    raw = small_resnet()
    mutate_blocks(raw["blocks"])
    return raw


def _self_use(blocks):
    blocks["basic"]["nodes"].insert(-1, {"id": "again", "op": "Block", "params": {"block": "basic", "channels": 8}})
    blocks["basic"]["edges"].append({"source": "x", "target": "again"})


def _mutual_use(blocks):
    blocks["loop_a"] = {"params": {}, "nodes": [{"id": "x", "op": "Input"}, {"id": "b", "op": "Block", "params": {"block": "loop_b"}}, {"id": "out", "op": "Output"}], "edges": [{"source": "x", "target": "b"}, {"source": "b", "target": "out"}]}  # fmt: skip
    blocks["loop_b"] = copy.deepcopy(blocks["loop_a"])
    blocks["loop_b"]["nodes"][1]["params"]["block"] = "loop_a"
    blocks["basic"]["nodes"].insert(-1, {"id": "deep", "op": "Block", "params": {"block": "loop_a"}})
    blocks["basic"]["edges"].append({"source": "x", "target": "deep"})


def _unknown_param_ref(blocks):
    blocks["basic"]["nodes"][1]["params"]["out_channels"] = "$width"


def _no_output(blocks):
    blocks["basic"]["nodes"] = [n for n in blocks["basic"]["nodes"] if n["op"] != "Output"]
    blocks["basic"]["edges"] = [e for e in blocks["basic"]["edges"] if e["target"] != "out"]


def _inner_shape_error(blocks):
    blocks["basic"]["nodes"][1]["params"]["kernel_size"] = 20


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            _self_use,
            "block 'res1' › node 'again': uses block 'basic', and block 'basic' refers to itself: basic -> basic",
        ),
        (
            _mutual_use,
            "block 'res1' › block 'deep' › node 'b': uses block 'loop_b', and block 'loop_a' refers to itself: loop_a -> loop_b -> loop_a",
        ),  # fmt: skip
        (
            _unknown_param_ref,
            "block 'res1' › node 'conv1': parameter 'out_channels' refers to '$width', which is not a parameter of the block (channels, stride) (block definition 'basic')",
        ),  # fmt: skip
        (_no_output, "block 'res1': has no Output node (an Output marks its result) (block definition 'basic')"),
        (
            _inner_shape_error,
            "block 'res1' › node 'conv1': Conv2d kernel 20 spans 20 but the input height is 8 (+2 padding) from x (block definition 'basic')",
        ),  # fmt: skip
    ],
)
def test_a_bad_definition_makes_its_use_an_error_naming_the_block_and_the_inner_node(mutate, expected):
    raw = _with_block(mutate)
    before = json.dumps(raw, sort_keys=True)
    found = errors(raw)
    assert any(node == "res1" and message.startswith(expected) for node, message in found), found
    a = analyze(parsed(raw))
    assert a.shapes["stem"] == (8, 8, 8) and "res1" not in a.shapes  # the rest is inferred as before
    assert {node for node, _ in found} <= {None, "res1"}  # nothing else is blamed
    assert json.dumps(raw, sort_keys=True) == before


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"block": "basic"}, "block 'basic' needs parameter 'channels' (it has no default)"),
        ({"block": "nope", "channels": 8}, "unknown block 'nope' (defined: basic, basic_down)"),
        ({"channels": 8}, "Block needs parameter 'block', the name of a block definition (basic, basic_down)"),
        (
            {"block": "basic", "channels": 8, "width": 3},
            "unknown parameter 'width' for block 'basic' (its parameters: channels, stride)",
        ),  # fmt: skip
        (
            {"block": "basic", "channels": "wide"},
            "block 'res1' › node 'conv1': parameter 'out_channels' expected an integer, got 'wide' (block definition 'basic')",
        ),  # fmt: skip
    ],
)
def test_a_bad_use_is_refused_naming_the_node(params, expected):
    raw = small_resnet()
    raw["nodes"][2]["params"] = params
    assert ("res1", expected) in errors(raw), errors(raw)


def test_an_output_outside_a_block_is_refused():
    raw = small_resnet()
    raw["nodes"].append({"id": "result", "op": "Output"})
    raw["edges"].append({"source": "fc", "target": "result"})
    assert ("result", "an Output is allowed only inside a block (it marks one of the block's results)") in errors(raw)


def test_an_unused_bad_definition_is_reported_once_for_the_graph():
    raw = _with_block(_unknown_param_ref)
    raw["nodes"][2]["params"]["block"] = "basic_down"
    found = errors(raw)
    assert (None, "block definition 'basic' › node 'conv1': parameter 'out_channels' refers to '$width', which is not a parameter of the block (channels, stride)") in found  # fmt: skip
    assert not [n for n, _ in found if n is not None]


def test_a_block_that_changes_the_shape_without_a_projection_is_refused_at_its_add():
    raw = small_resnet()
    raw["nodes"][3]["params"]["block"] = "basic"  # channels 8 -> 16 with the identity shortcut
    expected = "block 'res2' › node 'add': Add needs equal shapes; got [16, 8, 8] from bn2 and [8, 8, 8] from x"
    assert any(n == "res2" and m.startswith(expected) for n, m in errors(raw)), errors(raw)


def test_the_node_cap_counts_the_expanded_network():
    blocks = {"twice_0": LIBRARY["basic"]}
    for k in range(1, 14):  # each block uses the one below twice: 2**13 basic blocks of 9 nodes
        blocks[f"twice_{k}"] = {
            "params": {},
            "nodes": [
                {"id": "x", "op": "Input"},
                {
                    "id": "a",
                    "op": "Block",
                    "params": {"block": f"twice_{k - 1}", **({"channels": 4} if k == 1 else {})},
                },
                {
                    "id": "b",
                    "op": "Block",
                    "params": {"block": f"twice_{k - 1}", **({"channels": 4} if k == 1 else {})},
                },
                {"id": "out", "op": "Output"},
            ],  # fmt: skip
            "edges": [{"source": "x", "target": "a"}, {"source": "a", "target": "b"}, {"source": "b", "target": "out"}],
        }
    raw = block_net(("x", "Input", {"shape": [4, 2, 2]}), ("deep", "Block", {"block": "twice_13"}), blocks=blocks)
    found = errors(raw)
    assert any(m.startswith("the network has 90,111 ") and "nodes with its blocks expanded; at most 10,000" in m for _, m in found), found  # fmt: skip


# -- summary, fixes and the editor ----------------------------------------------------------------------------


def test_the_summary_shows_a_use_with_its_block_shape_and_count_and_optionally_its_body():
    a = analyze(parsed(small_resnet()))
    rows = {r.id: r for r in summary_rows(a)}
    assert rows["res2"].op == "Block basic_down" and rows["res2"].output_shape == [16, 4, 4]
    assert rows["res2"].params == a.param_counts["res2"] and "res2.conv1" not in rows
    inner = {r.id: r for r in summary_rows(a, inner=True)}
    assert inner["res2.conv1"].depth == 1 and inner["res2.down_conv"].params == 8 * 16
    assert "\n  res2.conv1 " in format_table(a, inner=True) and "res2.conv1" not in format_table(a)


def test_fixes_around_a_block_apply_and_inside_a_body_none_is_offered():
    raw = small_resnet()
    raw["nodes"] = [n for n in raw["nodes"] if n["id"] not in ("pool", "flat")]
    raw["edges"] = [{"source": "x", "target": "stem"}, {"source": "stem", "target": "res1"}, {"source": "res1", "target": "res2"}, {"source": "res2", "target": "fc"}]  # fmt: skip
    spec = parsed(raw)
    fc_issue = next(i for i in analyze(spec).issues if i.node == "fc")
    fixed = apply_fix(spec, fc_issue.fixes[0])  # a Flatten between the block and the Linear
    assert analyze(fixed).ok and fixed.blocks.keys() == spec.blocks.keys()
    inner = analyze(parsed(_with_block(_inner_shape_error)))
    assert all(not i.fixes for i in inner.issues if i.node == "res1")


def test_the_editor_keeps_blocks_through_edits_and_undo():
    ed = EditorSession()
    spec = parsed(small_resnet())
    ed.load(spec, "blocks")
    ed.set_param("res1", "channels", 12)  # basic adds its input to its output: 8 channels in, 12 out
    assert [(i.node, i.message) for i in ed.analysis().issues] == [
        ("res1", "block 'res1' › node 'add': Add needs equal shapes; got [12, 8, 8] from bn2 and [8, 8, 8] from x "
         "(block definition 'basic')")
    ]  # fmt: skip
    ed.set_param("stem", "out_channels", 12)  # 12 in: the use's output follows its parameter
    assert ed.analysis().ok and ed.analysis().shapes["res1"] == (12, 8, 8)
    assert ed.analysis().shapes["res2"] == (16, 4, 4) and ed.analysis().param_counts["res1"] == 2 * (
        12 * 12 * 9 + 2 * 12
    )
    ed.add("ReLU", wire=False)
    ed.set_name("renamed")
    assert ed.spec.blocks.keys() == {"basic", "basic_down"} and ed.spec.node("res1").params["channels"] == 12
    assert {i.node for i in ed.analysis().issues} == {ed.selected} and ed.analysis().shapes["res1"] == (12, 8, 8)
    for _ in range(4):
        ed.undo()
    assert ed.spec.to_dict()["blocks"] == spec.to_dict()["blocks"] and ed.spec.node("res1").params["channels"] == 8
    assert ed.analysis().ok and ed.analysis().shapes["res1"] == (8, 8, 8)


# -- export ---------------------------------------------------------------------------------------------------


def test_a_block_network_exports_to_every_format_and_model_py_has_a_class_per_body(tmp_path):
    from engine.data.datasets import Dataset
    from engine.export.exporter import export_bundle
    from engine.runs.bundle import write_bundle
    from engine.train.config import TrainConfig

    spec = parsed(small_resnet())
    torch.manual_seed(0)
    model = compile_spec(spec)
    empty = torch.zeros(0, 3, 8, 8)
    data = Dataset("moons", "regression", empty, torch.zeros(0), empty, torch.zeros(0), None, (), (3, 8, 8), "float32")
    bundle = write_bundle(tmp_path / "net", spec, TrainConfig(), model, data, {})
    report = export_bundle(bundle)
    for fmt in ("onnx", "torchscript", "python"):  # each checked against the compiled network by the exporter
        assert report.results[fmt].ok and report.results[fmt].max_abs_diff <= 1e-4, report.results[fmt]
    source = (bundle / "model.py").read_text()
    assert "class Basic(nn.Module):" in source and "class BasicDown(nn.Module):" in source
    assert "self.res1 = Basic()" in source and "self.res2 = BasicDown()" in source
    assert "add = torch.add(bn2, x)  # (B, 8, 8, 8)" in source


def test_model_py_shares_a_class_between_uses_with_the_same_body_and_nests_classes():
    from engine.export.python_source import model_source

    a = analyze(parsed(resnet18("r", [1, 8, 8], 10)))
    source = model_source(compile_analysis(a), a, {"input_dtype": "float32"})
    assert source.count("class Basic(nn.Module):") == 1 and "class Basic2(nn.Module):" in source  # 64 / 128 ch
    assert "self.block0 = Basic()" in source and "self.block1 = Basic()" in source  # layer1's two uses
    assert "self.layer1 = Stage()" in source and "self.layer2 = StageDown()" in source
    assert source.index("class Basic(") < source.index("class Stage(") < source.index("class R(")
    compile(source, "model.py", "exec")


# -- several inputs and outputs -------------------------------------------------------------------------------

JOIN = {  # two inputs by port, joined in port order
    "params": {},
    "nodes": [
        {"id": "second", "op": "Input", "params": {"port": 1}},
        {"id": "first", "op": "Input", "params": {"port": 0}},
        {"id": "cat", "op": "Concat"},
        {"id": "out", "op": "Output"},
    ],
    "edges": [
        {"source": "first", "target": "cat", "port": 0},
        {"source": "second", "target": "cat", "port": 1},
        {"source": "cat", "target": "out"},
    ],
}


def two_input_net(blocks: dict) -> dict:
    raw = block_net(
        ("x", "Input", {"shape": [4]}),
        ("fc1", "Linear", {"out_features": 2}),
        ("fc2", "Linear", {"out_features": 3}),
        ("both", "Block", {"block": "join"}),
        blocks=blocks,
    )
    raw["edges"] = [
        {"source": "x", "target": "fc1"},
        {"source": "x", "target": "fc2"},
        {"source": "fc2", "target": "both", "port": 0},
        {"source": "fc1", "target": "both", "port": 1},
    ]
    return raw


def test_a_block_of_two_inputs_takes_them_by_port():
    spec = parsed(two_input_net({"join": copy.deepcopy(JOIN)}))
    a = analyze(spec)
    assert a.ok, a.issues
    assert a.shapes["both"] == (5,) and a.uses["both"].body.input_ids == ["first", "second"]
    gm = compile_analysis(a)
    x = torch.randn(3, 4)
    torch.testing.assert_close(gm(x), torch.cat([gm.fc2(x), gm.fc1(x)], dim=1))


def test_a_block_with_two_outputs_or_the_wrong_number_of_inputs_is_refused_at_its_use():
    two_out = copy.deepcopy(JOIN)
    two_out["nodes"].append({"id": "out2", "op": "Output", "params": {"port": 1}})
    two_out["edges"].append({"source": "first", "target": "out2"})
    assert ("both", "block 'join' has 2 outputs; a Block node passes on one") in errors(
        two_input_net({"join": two_out})
    )
    one_input = two_input_net({"join": copy.deepcopy(JOIN)})
    one_input["edges"] = [{"source": a, "target": b} for a, b in (("x", "fc1"), ("fc1", "fc2"), ("fc2", "both"))]
    found = errors(one_input)
    assert ("both", "block 'join' takes 2 input(s); got 1") in found, found


# -- the other built-in blocks --------------------------------------------------------------------------------


def test_the_bottleneck_and_encoder_blocks_count_as_their_torch_modules():
    raw = block_net(
        ("x", "Input", {"shape": [64, 8, 8]}),
        ("neck1", "Block", {"block": "bottleneck_down", "width": 64, "channels": 256, "stride": 1}),
        ("neck2", "Block", {"block": "bottleneck", "width": 64, "channels": 256}),
        blocks=blocks_for("bottleneck", "bottleneck_down"),
    )
    a = analyze(parsed(raw))
    assert a.ok, a.issues
    conv_bn = lambda cin, cout, k: [nn.Conv2d(cin, cout, k, bias=False), nn.BatchNorm2d(cout)]  # noqa: E731
    main = [*conv_bn(64, 64, 1), *conv_bn(64, 64, 3), *conv_bn(64, 256, 1)]
    assert a.param_counts["neck1"] == param_count(nn.Sequential(*main, *conv_bn(64, 256, 1)))  # with the projection
    assert a.param_counts["neck2"] == param_count(nn.Sequential(*conv_bn(256, 64, 1), *main[2:]))
    assert a.shapes["neck2"] == (256, 8, 8)
    raw = block_net(
        ("x", "Input", {"shape": [6, 16]}),
        ("enc", "Block", {"block": "encoder", "d_model": 16, "heads": 2, "dim_feedforward": 32}),
        blocks=blocks_for("encoder"),
    )
    a = analyze(parsed(raw))
    assert a.ok, a.issues
    torch_layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    assert a.param_counts["enc"] == param_count(torch_layer) and a.shapes["enc"] == (6, 16)
    gm = compile_analysis(a)
    assert gm(torch.randn(2, 6, 16)).shape == (2, 6, 16)


def test_model_py_class_names_of_blocks_avoid_keywords_and_the_files_own_names():
    from engine.export.python_source import model_source

    blocks = {"none": copy.deepcopy(LIBRARY["basic"]), "tensor": copy.deepcopy(LIBRARY["basic"])}
    raw = block_net(
        ("x", "Input", {"shape": [4, 3, 3]}),
        ("a", "Block", {"block": "none", "channels": 4}),
        ("b", "Block", {"block": "tensor", "channels": 4}),
        blocks=blocks,
    )
    a = analyze(parsed(raw))
    source = model_source(compile_analysis(a), a, {"input_dtype": "float32"})
    assert "class None2(nn.Module):" in source and "class Tensor2(nn.Module):" in source
    compile(source, "model.py", "exec")
