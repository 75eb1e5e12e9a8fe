"""Importing an uploaded bundle zip: every unsafe or broken zip is refused with one clear line, before anything
is written; a good one gives back the bundle (its four files only), compiled with its weights."""

from __future__ import annotations

import ast
import io
import pathlib
import stat
import zipfile

import pytest
import torch

from engine.errors import BundleError
from engine.export.exporter import load_trained
from engine.export.zip_import import MIB, ZipLimits, import_bundle_zip
from tests.bundles import trained_bundle, zip_bundle

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return trained_bundle(tmp_path_factory.mktemp("iris"), "mlp_iris")


def bundle_entries(bundle, folder="net/") -> dict[str, bytes]:
    names = ("spec.json", "train.json", "weights.safetensors", "meta.json")
    return {f"{folder}{name}": (bundle / name).read_bytes() for name in names}


def make_zip(entries: dict, infos: list[tuple[zipfile.ZipInfo, bytes]] = ()) -> bytes:
    """A zip of `entries` (name -> bytes), plus hand-made entries (ZipInfo, bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for info, data in infos:
            archive.writestr(info, data)
    return buffer.getvalue()


def special(name: str, data: bytes = b"x", mode: int | None = None) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    if mode is not None:
        info.external_attr = mode << 16
    return info, data


DEFAULT_LIMITS = ZipLimits()


def refused(data: bytes, root, limits: ZipLimits = DEFAULT_LIMITS, label: str = "upload.zip") -> str:
    with pytest.raises(BundleError) as caught:
        import_bundle_zip(label, data, root, limits, check=load_trained)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(label)
    assert not any(p.is_file() for p in pathlib.Path(root).rglob("*")), "nothing may be written"
    return message


def test_a_bundle_zip_imports_with_only_its_four_files_and_its_weights(bundle, tmp_path):
    entries = {**bundle_entries(bundle), "net/model.ts": b"PK-not-loaded", "net/weights.pt": b"pickle-not-loaded"}
    path, trained = import_bundle_zip("iris.zip", make_zip(entries), tmp_path, check=load_trained)
    assert sorted(p.name for p in path.iterdir()) == ["meta.json", "spec.json", "train.json", "weights.safetensors"]
    assert path.parent == tmp_path
    original = load_trained(bundle)
    for key, value in original.model.state_dict().items():
        torch.testing.assert_close(trained.model.state_dict()[key], value)
    again, _ = import_bundle_zip("iris.zip", make_zip(entries), tmp_path, check=load_trained)
    assert again == path  # the same zip twice is one import


def test_a_zip_with_the_files_at_its_root_imports_too(bundle, tmp_path):
    path, trained = import_bundle_zip("flat.zip", make_zip(bundle_entries(bundle, folder="")), tmp_path)
    assert trained.spec.name == "mlp_iris"


def test_the_export_pages_own_zip_imports(bundle, tmp_path):
    data = zip_bundle(bundle, tmp_path / "made.zip", folder="mlp_iris")
    path, _ = import_bundle_zip("made.zip", data, tmp_path / "imports", check=load_trained)
    assert (path / "weights.safetensors").is_file()


@pytest.mark.parametrize(
    "name",
    ["../evil.txt", "net/../../evil.txt", "/etc/evil.txt", "..\\evil.txt", "C:/evil.txt", "c:\\evil.txt"],
)
def test_path_traversal_and_absolute_paths_are_refused(bundle, tmp_path, name):
    message = refused(make_zip(bundle_entries(bundle), [special(name)]), tmp_path)
    assert "path traversal" in message and "nothing was unpacked" in message


def test_a_symbolic_link_entry_is_refused(bundle, tmp_path):
    link = special("net/link", b"/etc/passwd", mode=stat.S_IFLNK | 0o777)
    assert "is a symbolic link" in refused(make_zip(bundle_entries(bundle), [link]), tmp_path)


def test_device_and_pipe_entries_are_refused(bundle, tmp_path):
    fifo = special("net/pipe", b"", mode=stat.S_IFIFO | 0o644)
    assert "not a regular file" in refused(make_zip(bundle_entries(bundle), [fifo]), tmp_path)


def test_too_many_entries_are_refused(bundle, tmp_path):
    extra = {f"net/extra{i}.txt": b"x" for i in range(3)}
    message = refused(make_zip({**bundle_entries(bundle), **extra}), tmp_path, ZipLimits(max_files=6))
    assert message == "upload.zip has 7 entries; a bundle zip may hold at most 6"


def test_the_total_unpacked_size_is_capped(bundle, tmp_path):
    message = refused(make_zip(bundle_entries(bundle)), tmp_path, ZipLimits(max_total_bytes=1000))
    assert "unpacks to" in message and "at most 0.0 MB" in message


def test_one_entry_is_capped(bundle, tmp_path):
    limits = ZipLimits(max_file_bytes=300)
    assert "an entry may be at most" in refused(make_zip(bundle_entries(bundle)), tmp_path, limits)


def test_a_compression_bomb_is_refused(bundle, tmp_path):
    zeros = {"net/zeros.bin": bytes(4 * MIB)}  # packs to a few kB: over 200 times smaller
    assert "zip bomb" in refused(make_zip({**bundle_entries(bundle), **zeros}), tmp_path)


def test_an_encrypted_entry_is_refused(bundle, tmp_path):
    data = bytearray(make_zip(bundle_entries(bundle)))
    header = data.rfind(b"PK\x01\x02")  # the last central directory entry: meta.json
    data[header + 8] |= 0x1  # general purpose flag bit 0: encrypted
    assert "is encrypted" in refused(bytes(data), tmp_path)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_repeated_name_is_refused(bundle, tmp_path):
    dup = special("net/spec.json", b"{}")
    assert "appears twice" in refused(make_zip(bundle_entries(bundle), [dup]), tmp_path)


def test_a_corrupt_entry_is_refused_with_a_message(bundle, tmp_path):
    entries = bundle_entries(bundle)
    data = bytearray(make_zip(entries))
    start = data.find(b"net/weights.safetensors") + 40  # past the local header's name: the packed weights
    data[start : start + 20] = bytes(20)
    message = refused(bytes(data), tmp_path)
    assert message.startswith("upload.zip: entry 'net/weights.safetensors' cannot be unpacked (")


@pytest.mark.parametrize(
    "data,expected",
    [
        (b"this is not a zip", "upload.zip is not a zip file"),
        (b"", "upload.zip is not a zip file"),
    ],
)
def test_a_file_that_is_not_a_zip_is_refused(tmp_path, data, expected):
    assert refused(data, tmp_path) == expected


def test_a_zip_too_large_to_upload_is_refused(bundle, tmp_path):
    assert "a bundle zip may be at most" in refused(
        make_zip(bundle_entries(bundle)), tmp_path, ZipLimits(max_zip_bytes=10)
    )


def test_a_zip_without_a_bundle_or_with_a_missing_file_is_refused(bundle, tmp_path):
    assert "holds no spec.json" in refused(make_zip({"readme.txt": b"hi"}), tmp_path)
    entries = bundle_entries(bundle)
    del entries["net/weights.safetensors"]
    assert refused(make_zip(entries), tmp_path) == "upload.zip has no weights.safetensors beside its spec.json"


def test_two_bundles_in_one_zip_are_refused(bundle, tmp_path):
    entries = {**bundle_entries(bundle, "a/"), **bundle_entries(bundle, "b/")}
    assert "more than one bundle (a, b)" in refused(make_zip(entries), tmp_path)


def test_weights_that_do_not_fit_the_spec_are_refused_naming_the_tensor(bundle, tmp_path):
    other = trained_bundle(tmp_path / "digits", "mlp_digits")
    entries = {**bundle_entries(bundle), "net/weights.safetensors": (other / "weights.safetensors").read_bytes()}
    message = refused(make_zip(entries), tmp_path / "imports")
    assert message.startswith("upload.zip: weights.safetensors does not fit spec.json: fc1.weight has shape")


def test_a_corrupt_spec_is_refused_naming_the_file(bundle, tmp_path):
    entries = {**bundle_entries(bundle), "net/spec.json": b"{not json"}
    assert refused(make_zip(entries), tmp_path).startswith("upload.zip: spec.json is not valid JSON")


PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "shelve", "marshal", "joblib"}
UNPICKLING_CALLS = {"load", "loads", "Unpickler"}  # pickle.load(...), torch.load(...), np.load(allow_pickle=True)


def pickle_uses(source: str) -> list[str]:
    """Every place in `source` that could unpickle: an import of a pickling module, a `torch.load(...)` or a
    pickling module's load call, and any `weights_only=False` or `allow_pickle=True` argument."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [f"line {node.lineno}: imports {n}" for n in names if n.split(".")[0] in PICKLE_MODULES]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
            if node.func.attr in UNPICKLING_CALLS and owner in PICKLE_MODULES | {"torch"}:
                found.append(f"line {node.lineno}: {owner}.{node.func.attr}(...)")
        if isinstance(node, ast.keyword) and isinstance(node.value, ast.Constant):
            if (node.arg, node.value.value) in (("weights_only", False), ("allow_pickle", True)):
                found.append(f"line {node.value.lineno}: {node.arg}={node.value.value}")
    return found


def test_nothing_of_ours_loads_pickle():
    """Weights travel as safetensors and results as JSON; no module of ours, in any package at any depth, imports
    a pickling module or calls torch.load (TorchScript files are only loaded with torch.jit.load in the export
    check, which loads the file it has just written)."""
    files = [ROOT / "app.py"] + [
        p for room in ("engine", "builder", "ui", "app_pages") for p in (ROOT / room).rglob("*.py")
    ]
    assert len(files) > 150 and any(p.parent.name == "runs" for p in files)  # the whole tree, not its top level
    uses = {str(p.relative_to(ROOT)): pickle_uses(p.read_text()) for p in sorted(files)}
    assert {path: found for path, found in uses.items() if found} == {}


@pytest.mark.parametrize(
    "source",
    [
        "import pickle",
        "from pickle import loads",
        "import cloudpickle as cp",
        "torch.load(path, weights_only=False)",
        "torch.load(path)",
        "numpy.load(path, allow_pickle=True)",
    ],
)
def test_the_pickle_scan_finds_each_way_in(source):
    assert pickle_uses(source), source


def test_a_zip_needing_a_newer_zip_version_is_refused(bundle, tmp_path):
    data = bytearray(make_zip(bundle_entries(bundle)))
    central = data.find(b"PK\x01\x02")  # the first central directory entry
    data[central + 6] = 231  # "version needed to extract": 23.1, which Python's zipfile does not implement
    assert refused(bytes(data), tmp_path).startswith("upload.zip is a zip file this app cannot read (")


def test_byte_flips_of_a_real_bundle_zip_give_a_bundle_error_or_a_bundle(bundle, tmp_path):
    """200 damaged copies (1 to 4 bytes changed, some cut short): each imports or is one BundleError."""
    import random

    data, rng = make_zip(bundle_entries(bundle)), random.Random(0)
    outcomes = {"imported": 0, "refused": 0}
    for k in range(200):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        if rng.random() < 0.2:
            damaged = damaged[: rng.randrange(len(damaged))]
        try:
            import_bundle_zip("upload.zip", bytes(damaged), tmp_path / f"imports{k}")  # reads, does not compile
            outcomes["imported"] += 1
        except BundleError as err:
            assert "\n" not in str(err) and str(err).startswith("upload.zip")
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0


CHECK_WITHOUT_ALLOCATING = """
import json, resource, sys
from engine.errors import BundleError
from engine.export.exporter import load_trained
bundle = sys.argv[1]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_trained(bundle)
except BundleError as err:
    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps({"message": str(err), "grew_mb": grew_mb}))
"""


def test_weights_are_checked_against_the_spec_before_anything_is_allocated(bundle, tmp_path):
    """A spec of 150 M parameters (600 MB, under the caps) with the small bundle's weights: refused with no
    more than a few MB more memory, because the expected shapes come from a network built on the meta device."""
    import json
    import shutil
    import subprocess
    import sys

    big = tmp_path / "big"
    shutil.copytree(bundle, big)
    spec = json.loads((big / "spec.json").read_text())
    fc1 = next(node for node in spec["nodes"] if node["id"] == "fc1")
    fc1["params"]["out_features"] = 1_000_000
    spec["nodes"].insert(1, {"id": "wide", "op": "Linear", "params": {"out_features": 150}})
    spec["edges"] = [{"source": "x", "target": "wide"}, {"source": "wide", "target": "fc1"}] + [
        e for e in spec["edges"] if e["source"] != "x"
    ]
    (big / "spec.json").write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-c", CHECK_WITHOUT_ALLOCATING, str(big)], cwd=ROOT, capture_output=True, text=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "fc1.weight has shape [16, 4], the network needs [1000000, 150]" in result["message"]
    assert result["grew_mb"] < 100, result
