"""The autograd graph of one step (engine/probes/autograd_graph.py) and `python -m engine autograd`."""

from __future__ import annotations

import copy
import functools
import json

import pytest
import torch

from builder.analysis.validate import analyze
from builder.library.datasets import DATASETS
from builder.library.templates import TEMPLATES
from engine.cli.main import main
from engine.compile.fx_module import compile_analysis
from engine.errors import ConfigError
from engine.probes.autograd_graph import LOSS_GROUP, autograd_graph, trace_step
from engine.train.choose import resolve_trainer
from engine.train.config import TrainConfig


@functools.cache
def template_graph(name: str):
    template = TEMPLATES[name]
    config, problems = TrainConfig.from_dict(dict(template.train))
    assert config is not None, problems
    return autograd_graph(template.spec(), config)


def graph_shape(template: str, node_id: str) -> list[int]:
    return list(analyze(TEMPLATES[template].spec()).shapes[node_id])


def names_in(graph, group: str) -> list[str]:
    by_id = {op.id: op for op in graph.operations}
    return [by_id[m].name for m in graph.groups[group].members]


DIRECT_RULES = {"perceptron", "rbm", "som"}  # rules that change weights without a backward pass


def rule_of(name: str) -> str:
    """The learning rule a template trains with (its own setting, else auto's choice)."""
    template = TEMPLATES[name]
    n_classes = DATASETS[template.train["dataset"]].n_classes
    choice, _ = resolve_trainer(template.train.get("trainer", "auto"), analyze(template.spec()), n_classes)
    return choice.trainer


@pytest.mark.parametrize("name", [n for n in TEMPLATES if rule_of(n) not in DIRECT_RULES])
def test_every_template_is_grouped_by_its_nodes(name):
    graph = template_graph(name)
    spec = TEMPLATES[name].spec()
    working = {n.id for n in spec.nodes if n.op != "Input"}
    assert set(graph.groups) == working | {LOSS_GROUP}, name
    ops = {op.id: op for op in graph.operations}
    assert len(ops) == len(graph.operations)
    members = [m for group in graph.groups.values() for m in group.members]
    assert sorted(members) == sorted(ops)  # every operation in exactly one group
    for op in graph.operations:
        assert graph.groups[op.group].node_id == op.group
    for edge in graph.edges:
        assert edge.source in ops and edge.target in ops and edge.source != edge.target
        assert all(isinstance(size, int) for size in edge.shape)
    assert graph.groups[LOSS_GROUP].grad_norm == pytest.approx(1.0)  # d loss / d loss


def test_residual_template_puts_add_and_convs_in_their_groups():
    graph = template_graph("resnet_mini")
    for add in ("b1_add", "b2_add"):
        assert names_in(graph, add) == ["AddBackward0"]
    convs = [n.id for n in TEMPLATES["resnet_mini"].spec().nodes if n.op == "Conv2d"]
    for conv in convs:
        assert "ConvolutionBackward0" in names_in(graph, conv)
    conv_ops = [op for op in graph.operations if op.name == "ConvolutionBackward0"]
    assert sorted(op.group for op in conv_ops) == sorted(convs)


def test_lstm_internal_ops_fall_in_the_lstm_group():
    graph = template_graph("lstm_text")
    lstm = [op for op in graph.operations if op.group == "lstm"]
    params = {op.param for op in lstm if op.name == "AccumulateGrad"}
    assert params == {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0"}
    internal = [op for op in lstm if op.name != "AccumulateGrad" and op.forward is None]
    assert any("Rnn" in op.name or "Lstm" in op.name for op in internal), [op.name for op in lstm]
    others = [op for op in graph.operations if op.group != "lstm"]
    assert not any("Rnn" in op.name or "Lstm" in op.name for op in others)
    assert not any((op.param or "").startswith("lstm.") for op in others)


def test_leaf_gradient_norms_equal_the_parameters_grad_norms():
    analysis = analyze(TEMPLATES["lenet"].spec())
    torch.manual_seed(0)
    model = compile_analysis(analysis)
    reference = copy.deepcopy(model)
    x = torch.randn(6, *analysis.shapes[analysis.spec.nodes[0].id])
    y = torch.randint(0, 10, (6,))
    loss_fn = torch.nn.functional.cross_entropy
    graph = trace_step(model, x, y, loss_fn)
    loss_fn(reference(x), y).backward()
    expected = {name: p.grad.norm().item() for name, p in reference.named_parameters()}
    leaves = {op.param: op.gradient["norm"] for op in graph.operations if op.name == "AccumulateGrad"}
    assert set(leaves) == set(expected)
    for name, norm in leaves.items():
        assert norm == pytest.approx(expected[name], rel=1e-5)
        assert norm == pytest.approx(model.get_parameter(name).grad.norm().item(), rel=1e-6)
    assert graph.loss == pytest.approx(loss_fn(reference(x), y).item(), rel=1e-5)


def test_forward_stats_of_a_node_output():
    graph = template_graph("mlp_iris")
    fc1 = next(op for op in graph.operations if op.group == "fc1" and op.name == "AddmmBackward0")
    assert fc1.forward["shape"] == [8, *graph_shape("mlp_iris", "fc1")]


def traced_fc1():
    """mlp_iris's fc1 AddmmBackward0 from one traced step, a copy of the model as it was, and the batch."""
    analysis = analyze(TEMPLATES["mlp_iris"].spec())
    torch.manual_seed(0)
    model = compile_analysis(analysis)
    reference = copy.deepcopy(model)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    graph = trace_step(model, x, y, torch.nn.functional.cross_entropy)
    return next(op for op in graph.operations if op.group == "fc1" and op.name == "AddmmBackward0"), reference, x, y


def test_an_operations_statistics_equal_torchs_on_the_same_batch():
    """fc1's output statistics against torch's on a copy of the model with the same weights and batch (a forward
    hook keeps the output): the statistics are the values, not just ordered."""
    fc1, reference, x, y = traced_fc1()

    kept = {}
    reference.get_submodule("fc1").register_forward_hook(lambda module, args, out: kept.update(out=out))
    with torch.no_grad():
        reference(x)
    out = kept["out"]
    assert fc1.forward["mean"] == pytest.approx(out.mean().item(), rel=1e-5)
    assert fc1.forward["std"] == pytest.approx(out.std().item(), rel=1e-5)
    assert (fc1.forward["min"], fc1.forward["max"]) == pytest.approx((out.min().item(), out.max().item()), rel=1e-6)


def test_the_gradient_reaching_an_operation_equals_torchs():
    """The gradient statistics of fc1's AddmmBackward0 against dL/d(fc1's output) that torch computes on a copy
    (retain_grad on the output a forward hook keeps)."""
    fc1, reference, x, y = traced_fc1()

    kept = {}

    def keep(module, args, out):
        out.retain_grad()
        kept["out"] = out

    reference.get_submodule("fc1").register_forward_hook(keep)
    torch.nn.functional.cross_entropy(reference(x), y).backward()
    grad = kept["out"].grad  # dL/d(fc1's output), what the AddmmBackward0 node receives
    assert fc1.gradient["norm"] == pytest.approx(grad.norm().item(), rel=1e-5)
    assert fc1.gradient["mean"] == pytest.approx(grad.mean().item(), rel=1e-4, abs=1e-9)
    assert fc1.gradient["std"] == pytest.approx(grad.std().item(), rel=1e-4)


def test_cli_writes_json(capsys, tmp_path):
    out = tmp_path / "graph.json"
    code = main(["autograd", "--template", "mlp_xor", "--out", str(out)])
    assert code == 0, capsys.readouterr()
    data = json.loads(out.read_text())
    assert set(data) == {"operations", "edges", "groups", "loss", "batch_size"}
    assert set(data["groups"]) == {"fc1", "act1", "fc2", LOSS_GROUP}
    assert {"id", "name", "group", "forward", "gradient"} <= set(data["operations"][0])


def test_cli_unknown_template_is_one_line_and_exit_2(capsys, tmp_path):
    code = main(["autograd", "--template", "nope", "--out", str(tmp_path / "g.json")])
    out = capsys.readouterr()
    lines = (out.out + out.err).strip().splitlines()
    assert code == 2 and len(lines) == 1 and "unknown template 'nope'" in lines[0]
    assert not (tmp_path / "g.json").exists()


@pytest.mark.parametrize("name", [n for n in TEMPLATES if rule_of(n) in DIRECT_RULES])
def test_a_rule_without_a_backward_pass_says_its_step_has_no_autograd_graph(name):
    with pytest.raises(ConfigError, match=f"the learning rule '{rule_of(name)}' changes the weights directly"):
        template_graph(name)
