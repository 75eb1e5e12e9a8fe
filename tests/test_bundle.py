"""Run bundles: a round trip through the four files, and a clear BundleError for each broken one."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from engine.data.datasets import load_dataset
from engine.errors import BundleError
from engine.runs.bundle import BUNDLE_FILES, read_bundle, write_bundle
from engine.train.backprop import Trainer, seed_everything
from engine.train.config import TrainConfig
from engine.train.losses import Sink
from tests.helpers import chain

pytestmark = pytest.mark.usefixtures("single_thread_torch")

SPEC = chain(("x", "Input", {"shape": [4]}), ("fc", "Linear", {"out_features": 3}))


class IrisNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))
        self.shared = self.fc  # a second name for the same tensors: safetensors refuses shared storage

    def forward(self, x):
        return self.fc(x)


@pytest.fixture
def trained(tmp_path):
    seed_everything(0)
    model, data = IrisNet(), load_dataset("iris")
    config = TrainConfig(dataset="iris", epochs=2, batch_size=16, device="cpu")
    trainer = Trainer(model, data, config, Sink("fc", "Linear"))
    list(trainer.run())
    path = write_bundle(tmp_path / "run", SPEC, config, model, data, trainer.metrics())
    return path, model, data, config, trainer


def test_round_trip(trained):
    path, model, data, config, trainer = trained
    assert sorted(p.name for p in path.iterdir()) == sorted(BUNDLE_FILES)
    bundle = read_bundle(path)
    assert bundle.spec.to_dict() == SPEC.to_dict() and bundle.config == config
    state = model.state_dict()
    assert bundle.state_dict.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(bundle.state_dict[key], value), key
    fresh = IrisNet()
    fresh.load_state_dict(bundle.state_dict)
    torch.testing.assert_close(fresh(data.x_val), model(data.x_val), rtol=0, atol=0)
    meta = bundle.meta
    assert (meta["input_shape"], meta["input_dtype"], meta["task"]) == ([4], "float32", "classification")
    assert meta["class_names"] == ["setosa", "versicolor", "virginica"] and meta["n_classes"] == 3
    assert meta["normalization"]["kind"] == "standardize" and len(meta["normalization"]["mean"]) == 4
    assert meta["metrics"]["val_loss"] == trainer.metrics()["val_loss"] and meta["metrics"]["status"] == "done"
    assert meta["torch_version"] == torch.__version__ and meta["netcanvas_version"] != "unknown"
    assert meta["created"].endswith("+00:00")


def test_non_finite_metrics_become_null(tmp_path):
    data, config = load_dataset("xor"), TrainConfig()
    path = write_bundle(tmp_path, SPEC.to_dict(), config, nn.Linear(2, 1), data, {"loss": float("nan")})
    meta = json.loads((path / "meta.json").read_text())
    assert meta["metrics"] == {"loss": None} and meta["input_shape"] == [2]
    assert not list(path.glob("*.tmp"))


def _break(path, name, content):
    (path / name).write_bytes(content) if isinstance(content, bytes) else (path / name).write_text(content)


@pytest.mark.parametrize(
    "name, content, pattern",
    [
        ("spec.json", "{not json", r"spec.json is not valid JSON"),
        (
            "spec.json",
            '{"version": 1, "nodes": [], "edges": [], "extra": 1}',
            r"spec.json is not a valid GraphSpec: "
            r"extra: unknown top-level key",
        ),
        ("train.json", '{"lr": -1}', r"train.json is not a valid training config: lr must be > 0, got -1"),
        ("weights.safetensors", b"\x00garbage", r"weights.safetensors is not a readable safetensors file"),
        ("meta.json", '{"task": "classification"}', r"meta.json lacks input_shape, input_dtype, class_names"),
        ("meta.json", "[]", r"meta.json must hold a JSON object"),
    ],
    ids=["spec_json", "spec_schema", "config", "weights", "meta_keys", "meta_type"],
)
def test_corrupt_file_names_the_file(trained, name, content, pattern):
    path = trained[0]
    _break(path, name, content)
    with pytest.raises(BundleError, match=pattern):
        read_bundle(path)


def test_missing_bundle_or_file(trained, tmp_path):
    path = trained[0]
    with pytest.raises(BundleError, match="does not exist"):
        read_bundle(tmp_path / "nowhere")
    with pytest.raises(BundleError, match="is not a directory"):
        read_bundle(path / "meta.json")
    (path / "weights.safetensors").unlink()
    with pytest.raises(BundleError, match=r"has no weights.safetensors \(a bundle holds spec.json, train.json"):
        read_bundle(path)
