"""Probes: the numbers on a tiny known network, one host transfer per snapshot, one-shot hooks, function nodes
(sampled inside the compiled graph, same numerics), which steps a run samples, epoch probes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.fx import Interpreter
from torch.overrides import TorchFunctionMode

from builder.library.templates import TEMPLATES
from engine.compile.fx_module import compile_spec
from engine.compile.op_records import FUNCTION_OPS
from engine.probes.epoch_probes import EpochProbes, predicted_classes
from engine.probes.step_probes import (
    DEFAULT_PROBES,
    FunctionRecorder,
    Gather,
    ProbeSettings,
    StepProbes,
    milestones,
)
from engine.runs.store import RunStore
from engine.runs.worker_loop import RunLoop
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run
from tests.helpers import chain, make_spec

pytestmark = pytest.mark.usefixtures("single_thread_torch")

SETTINGS = ProbeSettings(every=1, min_seconds=0.0, bins=4)
X = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.3, -2.0], [2.0, 1.0]])  # [4, 2]
Y = torch.tensor([0, 1, 1, 0])


def tiny():
    """x[2] -> fc1 Linear(3) -> relu -> fc2 Linear(2), with fixed weights; unit 2 of fc1 is dead on X."""
    spec = chain(
        ("x", "Input", {"shape": [2]}),
        ("fc1", "Linear", {"out_features": 3}),
        ("relu", "ReLU"),
        ("fc2", "Linear", {"out_features": 2}),
    )
    gm = compile_spec(spec)
    with torch.no_grad():
        gm.fc1.weight.copy_(torch.tensor([[0.5, -0.25], [0.1, 0.4], [0.0, 0.0]]))
        gm.fc1.bias.copy_(torch.tensor([0.1, -0.2, -1.0]))
        gm.fc2.weight.copy_(torch.tensor([[1.0, -1.0, 0.5], [-0.5, 0.25, 2.0]]))
        gm.fc2.bias.copy_(torch.tensor([0.0, 0.1]))
    return gm, {n.id: n.op for n in spec.nodes}


def reference(gm):
    """The activations, output gradients and parameter gradients, computed by hand with retain_grad."""
    h = gm.fc1(X)
    r = torch.relu(h)
    h.retain_grad()
    r.retain_grad()
    F.cross_entropy(gm.fc2(r), Y).backward()
    grads = {
        name: torch.cat([p.grad.reshape(-1) for p in m.parameters()]) for name, m in (("fc1", gm.fc1), ("fc2", gm.fc2))
    }
    gm.zero_grad(set_to_none=True)
    return h.detach(), r.detach(), h.grad, r.grad, grads


def probed_step(gm, ops):
    probes = StepProbes(gm, ops, SETTINGS)
    probes.arm(step=0)
    F.cross_entropy(gm(X), Y).backward()
    [(step, snapshot)] = probes.collect()
    assert step == 1  # the training step after the arming one
    return probes, snapshot["nodes"]


def test_step_snapshot_numbers_match_a_hand_computation():
    gm, ops = tiny()
    h, r, h_grad, r_grad, grads = reference(gm)
    _, nodes = probed_step(gm, ops)
    assert set(nodes) == {"fc1", "relu", "fc2"}
    fc1, relu = nodes["fc1"], nodes["relu"]
    assert fc1["lo"] == pytest.approx(h.min().item(), rel=1e-3) and fc1["hi"] == pytest.approx(h.max().item(), rel=1e-3)
    assert fc1["mean"] == pytest.approx(h.mean().item(), rel=1e-3)
    assert fc1["std"] == pytest.approx(h.std(correction=0).item(), rel=1e-3)
    counts, _ = np.histogram(h.numpy().ravel(), bins=4, range=(h.min().item(), h.max().item()))
    assert fc1["hist"] == counts.tolist() and sum(relu["hist"]) == r.numel()
    assert fc1["dead"] is None  # only ReLU-like nodes have dead units
    assert relu["dead"] == pytest.approx(1 / 3, rel=1e-3)  # unit 2: weights 0, bias -1 -> never positive
    assert fc1["out_grad"] == pytest.approx(h_grad.norm().item(), rel=1e-3)
    assert relu["out_grad"] == pytest.approx(r_grad.norm().item(), rel=1e-3)
    assert fc1["grad"] == pytest.approx(grads["fc1"].norm().item(), rel=1e-3)
    assert nodes["fc2"]["grad"] == pytest.approx(grads["fc2"].norm().item(), rel=1e-3)
    weights = torch.cat([p.reshape(-1) for p in gm.fc1.parameters()])
    assert fc1["weight"] == pytest.approx(weights.norm().item(), rel=1e-3)
    assert "grad" not in relu and "weight" not in relu  # no parameters


class HostCopies(TorchFunctionMode):
    """Counts the torch calls that copy a device tensor's values to the host."""

    NAMES = {"cpu", "item", "tolist", "__float__", "__int__", "__bool__", "__index__"}

    def __init__(self):
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in self.NAMES or (name == "to" and any("cpu" in str(a) for a in args[1:])):
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


def test_a_snapshot_is_one_host_transfer():
    gm, ops = tiny()
    probes = StepProbes(gm, ops, SETTINGS)
    probes.arm(step=0)
    with HostCopies() as copies:
        F.cross_entropy(gm(X), Y).backward()  # the hooks compute on the device: no copies
        assert copies.calls == []
        probes.collect()
    assert copies.calls == ["cpu"]


def test_gather_splits_one_copy_back_into_named_arrays():
    gather = Gather()
    gather.add("a", torch.arange(6.0).reshape(2, 3))
    gather.add("b", torch.tensor(7.0))
    values = gather.fetch()
    assert values["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and float(values["b"]) == 7.0


def test_hooks_fire_once_in_training_mode_and_then_come_off():
    gm, ops = tiny()
    probes = StepProbes(gm, ops, SETTINGS)
    probes.arm(step=0)
    gm.eval()
    gm(X)  # an evaluation pass is not sampled
    assert not probes.fired() and len(probes.handles) == 3
    gm.train()
    gm(X)
    assert probes.fired() and probes.handles == {} and not gm.fc1._forward_hooks
    first = probes.acts["fc1"].clone()
    gm(X * 10)  # later steps are not sampled
    assert torch.equal(probes.acts["fc1"], first)
    probes.collect()
    assert not probes.armed


def test_due_respects_every_and_min_seconds():
    gm, ops = tiny()
    probes = StepProbes(gm, ops, ProbeSettings(every=20, min_seconds=1.0))
    assert probes.due(10, now=100.0)
    probes.arm(10)
    probes.last_time = 100.0
    assert not probes.due(20, now=200.0)  # only 10 steps since
    assert not probes.due(30, now=100.5)  # too soon
    assert probes.due(30, now=101.0)


def run_epochs(template: str, **overrides):
    t = TEMPLATES[template]
    config = TrainConfig(**{**t.train, "device": "cpu", "epochs": 1, **overrides})
    run = prepare_run(t.spec(), config)
    probes = EpochProbes(run.trainer, ProbeSettings(grid=10, max_side=8))
    for event in run.trainer.run():
        if event["kind"] == "epoch":
            return run, probes.collect(final=True)
    raise AssertionError("no epoch event")


def test_confusion_matrix_counts_the_validation_predictions():
    run, snap = run_epochs("mlp_iris")
    trainer = run.trainer
    trainer.model.eval()
    with torch.no_grad():
        pred = predicted_classes(trainer.model(trainer.x_val), 3, trainer.sink.op)
    expected = np.zeros((3, 3), dtype=int)
    for true, guess in zip(run.dataset.y_val.tolist(), pred.tolist()):
        expected[true][guess] += 1
    assert snap["confusion"] == expected.tolist() and snap["class_names"] == list(run.dataset.class_names)
    assert sum(map(sum, snap["confusion"])) == run.dataset.n_val


def test_weight_images_are_downsampled_and_planar_data_gets_a_surface():
    run, snap = run_epochs("mlp_xor", dataset="moons", batch_size=32)
    assert [w["name"] for w in snap["weights"]] == ["fc1.weight", "fc2.weight"]
    assert np.array(snap["weights"][0]["image"]).shape == (4, 2) and snap["weights"][0]["shape"] == [4, 2]
    surface = snap["surface"]
    assert len(surface["p"]) == 100 and all(0 <= p <= 1 for p in surface["p"])
    assert surface["extent"][0][0] < surface["extent"][0][1] and len(surface["points"]["x"]) == 200


def test_first_conv_layer_gives_filters():
    run, snap = run_epochs("lenet", batch_size=64)
    filters = snap["filters"]
    assert filters["name"] == "conv1.weight"
    out_channels, _, kh, kw = filters["shape"]
    assert np.array(filters["images"]).shape == (min(out_channels, 16), kh, kw)
    assert all(max(np.array(w["image"]).shape) <= 8 for w in snap["weights"])
    assert "surface" not in snap


# --- function nodes (Add, Concat, Flatten, ...): sampled inside the compiled graph ---------------------------


def consumer_inputs(gm, consumers: dict[str, str]) -> tuple[dict[str, torch.Tensor], list]:
    """A reference for function nodes: (node id -> its output, filled by the next forward, read as the input of
    the module it feeds, with retain_grad; the pre-hooks' handles). `consumers`: node id -> that module's id."""
    seen: dict[str, torch.Tensor] = {}

    def keep(node_id):
        def pre_hook(module, inputs):
            inputs[0].retain_grad()
            seen[node_id] = inputs[0]

        return pre_hook

    handles = [gm.get_submodule(module).register_forward_pre_hook(keep(node)) for node, module in consumers.items()]
    return seen, handles


def batch_for(gm, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    shape = next(node for node in gm.graph.nodes if node.op == "placeholder").meta["spec_shape"]
    generator = torch.Generator().manual_seed(0)
    return torch.randn(n, *shape, generator=generator), torch.randint(0, 10, (n,), generator=generator)


def fresh(template: str):
    spec = TEMPLATES[template].spec()
    torch.manual_seed(0)
    return compile_spec(spec), {n.id: n.op for n in spec.nodes}


def assert_stats_match(entry: dict, value: torch.Tensor) -> None:
    v = value.detach()
    assert entry["lo"] == pytest.approx(v.min().item(), rel=1e-3, abs=1e-6)
    assert entry["hi"] == pytest.approx(v.max().item(), rel=1e-3, abs=1e-6)
    assert entry["mean"] == pytest.approx(v.mean().item(), rel=1e-3, abs=1e-6)
    assert entry["std"] == pytest.approx(v.std(correction=0).item(), rel=1e-3, abs=1e-6)
    assert sum(entry["hist"]) == v.numel() and len(entry["hist"]) == SETTINGS.bins
    assert entry["out_grad"] == pytest.approx(value.grad.norm().item(), rel=1e-3)
    assert entry["dead"] is None and "grad" not in entry and "weight" not in entry  # no parameters, not relu-like


@pytest.mark.parametrize(
    "template, consumers",
    [
        ("resnet_mini", {"b1_add": "b1_relu", "b2_add": "b2_relu", "flat": "fc"}),
        ("dsn_digits", {"stack2": "m2_hidden", "stack3": "m3_hidden"}),
    ],
)
def test_function_nodes_get_the_statistics_of_module_nodes(template, consumers):
    gm, ops = fresh(template)
    x, y = batch_for(gm, 4)  # 4 x 16 x 8 x 8 = 4096 values: the histograms see them all
    seen, handles = consumer_inputs(gm, consumers)
    F.cross_entropy(gm(x), y).backward()  # the reference: a plain forward, before any weight changes
    for handle in handles:
        handle.remove()
    gm.zero_grad(set_to_none=True)
    probes = StepProbes(gm, ops, SETTINGS)
    probes.arm(step=0)
    F.cross_entropy(gm(x), y).backward()
    [(step, snapshot)] = probes.collect()
    nodes = snapshot["nodes"]
    assert step == 1 and list(nodes) == [n for n in probes.node_ids if n in nodes]  # graph order
    for node_id in consumers:
        assert_stats_match(nodes[node_id], seen[node_id])
    modules = [n.id for n in TEMPLATES[template].spec().nodes if n.op not in ("Input", *FUNCTION_OPS)]
    assert set(nodes) == set(modules) | set(consumers)
    assert all(nodes[m]["weight"] > 0 and nodes[m]["grad"] > 0 for m in modules if probes.params[m])


def test_only_the_node_of_a_three_input_add_counts_not_its_partial_sums():
    nodes = [("x", "Input", {"shape": [2]}), *[(k, "Linear", {"out_features": 3}) for k in "abc"]]
    spec = make_spec(
        [*nodes, ("s", "Add"), ("out", "Linear", {"out_features": 2})],
        [("x", "a"), ("x", "b"), ("x", "c"), ("a", "s"), ("b", "s"), ("c", "s"), ("s", "out")],
    )
    gm = compile_spec(spec)
    assert "s_partial1" in [n.name for n in gm.graph.nodes]
    seen, _ = consumer_inputs(gm, {"s": "out"})
    probes = StepProbes(gm, {n.id: n.op for n in spec.nodes}, SETTINGS)
    probes.arm(step=0)
    F.cross_entropy(gm(X), Y).backward()
    nodes = probes.collect()[0][1]["nodes"]
    assert list(nodes) == ["a", "b", "c", "s", "out"]
    assert_stats_match(nodes["s"], seen["s"])


def test_probing_a_step_leaves_its_numbers_unchanged_and_then_comes_off():
    plain, _ = fresh("resnet_mini")
    probed, ops = fresh("resnet_mini")
    x, y = batch_for(plain, 16)
    probes = StepProbes(probed, ops, SETTINGS)
    probes.arm(step=0)
    losses = [F.cross_entropy(gm(x), y) for gm in (plain, probed)]
    for loss in losses:
        loss.backward()
    assert probes.fired() and torch.equal(losses[0], losses[1])
    for (name, a), b in zip(plain.named_parameters(), probed.parameters()):
        assert torch.equal(a.grad, b.grad), name
    assert all(torch.equal(a, b) for a, b in zip(plain.buffers(), probed.buffers()))  # BatchNorm running stats
    assert "forward" not in vars(probed) and not any(m._forward_hooks for m in probed.modules())
    assert not any(p._post_accumulate_grad_hooks for p in probed.parameters())
    probes.collect()
    assert not probes.armed


def test_a_window_samples_its_steps_by_count_and_the_others_run_the_compiled_forward(monkeypatch):
    gm, ops = fresh("resnet_mini")
    x, y = batch_for(gm)
    interpreted = []  # one entry per forward run by the FunctionRecorder
    monkeypatch.setattr(FunctionRecorder, "run", lambda self, *a: interpreted.append(1) or Interpreter.run(self, *a))
    probes = StepProbes(gm, ops, SETTINGS)
    probes.arm(step=10, targets=[12, 14])  # the trainer has taken 10 steps: sample steps 12 and 14
    gm.eval()
    gm(x)  # evaluation passes do not count
    gm.train()
    seen = []
    for _ in range(11, 16):
        F.cross_entropy(gm(x), y).backward()
        seen.append((len(interpreted), "forward" in vars(gm)))
    # (interpreted forwards so far, whether the probes' forward is still set) after steps 11..15
    assert seen == [(0, True), (1, True), (1, True), (2, False), (2, False)]
    assert [step for step, _ in probes.collect()] == [12, 14]


# --- which steps a run samples ---------------------------------------------------------------------------------


def test_milestones_spread_over_the_run_and_end_at_its_last_step():
    assert milestones(0, 240, 20) == tuple(range(12, 241, 12))
    assert len(milestones(0, 41, 20)) == 20 and milestones(0, 41, 20)[-1] == 41
    assert milestones(100, 130, 20)[0] > 100 and milestones(100, 130, 20)[-1] == 130  # a continued run
    assert milestones(0, 5, 20) == (1, 2, 3, 4, 5) and milestones(7, 7, 20) == ()


def probed_run(tmp_path, template: str, settings: ProbeSettings = DEFAULT_PROBES, **overrides):
    """A run driven by the worker's loop in this process: (its step snapshot rows, its last step)."""
    t = TEMPLATES[template]
    config = TrainConfig(**{**t.train, "device": "cpu", **overrides})
    store = RunStore(tmp_path)
    run_id = store.create_run("test", t.spec().to_dict(), config.to_dict())
    prepared = prepare_run(t.spec(), config)
    ops = {n.id: n.op for n in prepared.spec.nodes}
    probes = StepProbes(prepared.trainer.model, ops, settings), EpochProbes(prepared.trainer, settings)
    RunLoop(store, store.get(run_id), prepared, probes, None).run()
    return store.snapshots(run_id, "step"), prepared.trainer.step


@pytest.mark.parametrize("epochs, last", [(5, 40), (30, 240)])  # iris: 8 steps an epoch, an event every 10
def test_a_short_run_keeps_twenty_snapshots_and_its_last_step(tmp_path, epochs, last):
    rows, steps = probed_run(tmp_path, "mlp_iris", epochs=epochs)  # the default settings: 0.25 s apart at most
    sampled = [r.step for r in rows]
    assert steps == last and len(rows) >= 20 and sampled[-1] == last and rows[-1].epoch == epochs
    assert sampled == sorted(set(sampled)) and set(milestones(0, last, 20)) <= set(sampled)
    assert all(r.epoch == math.ceil(r.step / 8) for r in rows)  # each row in the epoch of its step
    assert all(set(r.data["nodes"]) == {"fc1", "act1", "fc2"} for r in rows)


def test_the_time_cap_holds_beside_the_milestones(tmp_path):
    rows, steps = probed_run(tmp_path, "mlp_iris", ProbeSettings(every=1, min_seconds=1e9), epochs=30)
    extra = {r.step for r in rows} - set(milestones(0, steps, 20))
    assert len(extra) <= 1  # every step is due by count, but only the first is allowed by time


def test_function_nodes_are_in_every_snapshot_of_a_run(tmp_path):
    rows, steps = probed_run(tmp_path, "dsn_digits", epochs=1, batch_size=64, trainer="backprop")  # end to end
    assert len(rows) >= 20 and rows[-1].step == steps
    assert all(r.data["nodes"]["stack3"]["out_grad"] is not None and r.data["nodes"]["stack3"]["hist"] for r in rows)
