"""Probes: the numbers on a tiny known network, one host transfer per snapshot, one-shot hooks, epoch probes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from builder.templates import TEMPLATES
from engine.compile.fx_module import compile_spec
from engine.probes.epoch_probes import EpochProbes, predicted_classes
from engine.probes.step_probes import Gather, ProbeSettings, StepProbes
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run
from tests.helpers import chain

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
    return probes, probes.collect()["nodes"]


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
