"""describe_bundle: what the Export page shows of a bundle, found without reading a tensor or allocating the
network in the server's process, and refused with load_trained's own message for every fault they share."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys

import pytest
import safetensors.torch
import torch

from builder.analysis.validate import analyze
from builder.spec.spec import parse_spec
from engine.compile.fx_module import compile_analysis
from engine.errors import BundleError
from engine.export.exporter import describe_bundle, load_trained
from engine.runs.bundle import MAX_WEIGHTS_HEADER
from tests.bundles import ROOT, trained_bundle

pytestmark = pytest.mark.usefixtures("single_thread_torch")
DTYPES = {torch.float32: ("F32", 4), torch.int64: ("I64", 8)}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return trained_bundle(tmp_path_factory.mktemp("iris") / "iris", "mlp_iris")


def copy_of(bundle, tmp_path, name="copy"):
    return shutil.copytree(bundle, tmp_path / name)


def edit_json(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def message(reader, path) -> str:
    with pytest.raises(BundleError) as caught:
        reader(path)
    return str(caught.value)


def write_header_only_weights(path, shapes: dict[str, tuple[tuple[int, ...], torch.dtype]]) -> None:
    """A valid safetensors file whose header lists `shapes` and whose data is a hole of the right size (a sparse
    file: no memory and almost no disk however large the network)."""
    header, offset = {}, 0
    for key, (shape, dtype) in shapes.items():
        name, size = DTYPES[dtype]
        end = offset + size * int(torch.Size(shape).numel())
        header[key] = {"dtype": name, "shape": list(shape), "data_offsets": [offset, end]}
        offset = end
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        f.truncate(8 + len(text) + offset)


def test_describe_gives_what_the_page_shows_without_reading_a_tensor(bundle, monkeypatch):
    trained = load_trained(bundle)

    def no_tensors(*args, **kwargs):
        raise AssertionError("a tensor was read")

    monkeypatch.setattr(safetensors.torch, "load_file", no_tensors)
    monkeypatch.setattr(torch.nn.Module, "load_state_dict", no_tensors)
    info = describe_bundle(bundle)
    assert info.bundle.path == trained.bundle.path and info.bundle.spec == trained.bundle.spec
    assert info.bundle.config == trained.bundle.config and info.bundle.meta == trained.bundle.meta
    assert info.analysis.total_params == trained.analysis.total_params == 131
    assert info.class_names == trained.class_names == ("setosa", "versicolor", "virginica")
    assert info.norm.to_dict() == trained.norm.to_dict()
    assert info.bundle.weights == {k: (tuple(v.shape), "F32") for k, v in trained.bundle.state_dict.items()}
    assert not hasattr(info, "model") and not hasattr(info.bundle, "state_dict")


def _drop_a_weight(path):
    weights = safetensors.torch.load_file(path / "weights.safetensors")
    weights.pop("fc2.bias")
    weights["extra.weight"] = torch.zeros(2)
    safetensors.torch.save_file(weights, path / "weights.safetensors")


def _wider_spec(path):
    def widen(spec):
        next(n for n in spec["nodes"] if n["id"] == "fc1")["params"]["out_features"] = 17

    edit_json(path / "spec.json", widen)


def _cut_weights(keep):
    def cut(path):
        data = (path / "weights.safetensors").read_bytes()
        (path / "weights.safetensors").write_bytes(data[:keep])

    return cut


FAULTS = {
    "a spec whose shapes differ from the weights": _wider_spec,
    "a weight missing and one the network lacks": _drop_a_weight,
    "a weights file cut inside its header": _cut_weights(40),
    "a weights file cut inside its data": _cut_weights(-8),
    "a weights file with bytes after its data": lambda p: (p / "weights.safetensors").write_bytes(
        (p / "weights.safetensors").read_bytes() + b"more"
    ),
    "a weights file that is not safetensors": lambda p: (p / "weights.safetensors").write_bytes(b"\x80pickle" * 9),
    "a spec that does not validate": lambda p: edit_json(
        p / "spec.json", lambda s: s["edges"].append({"source": "fc2", "target": "fc1"})
    ),
    "more class names than outputs": lambda p: edit_json(
        p / "meta.json", lambda m: m.update(class_names=["a", "b", "c", "d"], n_classes=4)
    ),
    "a meta.json field of the wrong type": lambda p: edit_json(p / "meta.json", lambda m: m.update(task=7)),
    "no weights file": lambda p: (p / "weights.safetensors").unlink(),
    "a weights header over its cap": lambda p: (p / "weights.safetensors").write_bytes(
        struct.pack("<Q", MAX_WEIGHTS_HEADER + 8) + b"{" * 64
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_is_refused_with_load_trained_s_own_message(bundle, tmp_path, fault):
    path = copy_of(bundle, tmp_path)
    FAULTS[fault](path)
    expected = message(load_trained, path)
    assert message(describe_bundle, path) == expected
    assert "\n" not in expected and expected.startswith(f"bundle '{path}'")


def test_a_weights_header_over_its_cap_is_refused_before_it_is_parsed(bundle, tmp_path, monkeypatch):
    """A header of millions of keys took 13 s and 1.2 GB to parse before a check could refuse it: its length,
    the file's first 8 bytes, is checked first."""
    path = copy_of(bundle, tmp_path)
    FAULTS["a weights header over its cap"](path)

    def parsed(*args, **kwargs):
        raise AssertionError("the header was parsed")

    monkeypatch.setattr("engine.runs.bundle.safe_open", parsed)
    assert f"its header is {MAX_WEIGHTS_HEADER + 8:,} bytes; at most {MAX_WEIGHTS_HEADER:,}" in message(
        describe_bundle, path
    )


def test_a_weights_spec_mismatch_names_the_keys_and_shapes(bundle, tmp_path):
    path = copy_of(bundle, tmp_path)
    _wider_spec(path)
    assert message(describe_bundle, path) == (
        f"bundle '{path}': weights.safetensors does not fit spec.json: fc1.weight has shape [16, 4], the network "
        "needs [17, 4]; fc1.bias has shape [16], the network needs [17]; fc2.weight has shape [3, 16], the network "
        "needs [3, 17]"
    )


DESCRIBE_AND_MEASURE = """
import json, resource, sys
from engine.export.exporter import describe_bundle
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
info = describe_bundle(sys.argv[1])
grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({"params": info.analysis.total_params, "grew_mb": grew_mb}))
"""


def test_a_bundle_near_the_parameter_cap_is_described_in_a_few_mb(bundle, tmp_path):
    """153 M parameters (a 612 MB weights file with a correct header): load_trained would hold the file's
    tensors and the network's (over 1.2 GB); describe_bundle grows the process by a few MB."""
    big = copy_of(bundle, tmp_path, "big")

    def widen(spec):
        next(n for n in spec["nodes"] if n["id"] == "fc1")["params"]["out_features"] = 1_000_000
        spec["nodes"].insert(1, {"id": "wide", "op": "Linear", "params": {"out_features": 150}})
        spec["edges"] = [{"source": "x", "target": "wide"}, {"source": "wide", "target": "fc1"}] + [
            e for e in spec["edges"] if e["source"] != "x"
        ]

    edit_json(big / "spec.json", widen)
    spec, _ = parse_spec(json.loads((big / "spec.json").read_text()))
    with torch.device("meta"):
        wanted = compile_analysis(analyze(spec)).state_dict()
    write_header_only_weights(big / "weights.safetensors", {k: (tuple(v.shape), v.dtype) for k, v in wanted.items()})
    done = subprocess.run(
        [sys.executable, "-c", DESCRIBE_AND_MEASURE, str(big)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["params"] > 150_000_000
    assert result["grew_mb"] < 100, result
