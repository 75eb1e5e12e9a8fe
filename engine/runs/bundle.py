"""Run bundles (docs/ARCHITECTURE.md §3): the directory a finished or stopped run leaves behind.

    spec.json            the GraphSpec
    train.json           the TrainConfig: the settings the run's learning rule reads (the rest default)
    weights.safetensors  the state dict (safetensors, never pickle)
    meta.json            versions, input shape (no batch dim) and dtype, task, class names,
                         normalisation, final metrics, creation time

meta.json is written last, so a directory holding it is complete. Reading checks every file (meta.json against
its schema, engine/runs/meta_schema.py) and raises BundleError with a one-line message naming the bundle and the
file. read_bundle loads every tensor; read_bundle_head makes the same checks with the same messages but reads only
the weights file's header (keys, shapes, dtypes), for the server's pages, which show a bundle and never run it.

A bundle leaves the server (the Export page's zips), so it holds no server path: a CSV dataset is written as
`csv:<file name>` (train.json's `dataset`, meta.json's `dataset_source`) with the file's content digest
(meta.json's `dataset_digest`, "sha256:<hex>"), never the path it was read from (on a server that is a
session's upload folder, whose name is the session key). The run store keeps the real path for the worker.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import math
import os
import platform
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import safetensors.torch
import torch
from safetensors import safe_open
from torch import nn

from builder.library.datasets import CSV_PREFIX, dataset_label
from builder.spec.spec import GraphSpec, parse_spec
from engine.data.datasets import Dataset
from engine.errors import BundleError
from engine.runs.meta_schema import meta_problem
from engine.train.config import TrainConfig
from engine.train.rule_card import stored_config

SPEC_FILE, CONFIG_FILE, WEIGHTS_FILE, META_FILE = "spec.json", "train.json", "weights.safetensors", "meta.json"
BUNDLE_FILES = (SPEC_FILE, CONFIG_FILE, WEIGHTS_FILE, META_FILE)
BUNDLE_FORMAT_VERSION = 1
# A network at the node cap (10,000 nodes, a few tensors each at ~150 header bytes) has a header of a few MB.
MAX_WEIGHTS_HEADER = 16 * 1024 * 1024
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@dataclass(frozen=True)
class Bundle:
    path: Path
    spec: GraphSpec
    config: TrainConfig
    state_dict: dict[str, torch.Tensor]  # on the CPU
    meta: dict


@dataclass(frozen=True)
class BundleHead:
    """A bundle read without its tensors (read_bundle_head): its JSON files, checked, and its weights file's
    header (state-dict key -> shape, safetensors dtype name), for a page that shows a bundle but never runs it."""

    path: Path
    spec: GraphSpec
    config: TrainConfig
    meta: dict
    weights: dict[str, tuple[tuple[int, ...], str]]


def netcanvas_version() -> str:
    try:
        return metadata.version("netcanvas")
    except metadata.PackageNotFoundError:
        pass
    try:
        return tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def _json_safe(value):
    """Non-finite floats become null (strict JSON has no NaN); tuples become lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _write_json(path: Path, data: dict) -> None:
    text = json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n"
    _write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the state dict on the CPU: contiguous, sharing no storage (safetensors needs both)."""
    return {k: v.detach().to("cpu").clone(memory_format=torch.contiguous_format) for k, v in model.state_dict().items()}


def portable_dataset(name: str) -> str:
    """A dataset as a bundle names it: a built-in by its name, `csv:PATH` as `csv:<file name>` (no folder)."""
    return CSV_PREFIX + dataset_label(name) if name.startswith(CSV_PREFIX) else name


def portable_config(config: TrainConfig, spec: dict | None = None) -> dict:
    """train.json: the config, its dataset named without a path (portable_dataset). Given the run's `spec`,
    only the settings its learning rule reads (engine.train.rule_card.stored_config: a SOM run has no
    optimizer, loss or weight decay); TrainConfig.from_dict gives the others their defaults when read back."""
    raw = config.to_dict() if spec is None else stored_config(spec, config.to_dict())
    return {**raw, "dataset": portable_dataset(config.dataset)}


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of the file (size and mtime key the cache: a checkpoint every 30 s hashes the CSV once)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def dataset_digest(name: str) -> str | None:
    """ "sha256:<hex>" of a `csv:PATH` dataset's file; None for a built-in or a file that cannot be read."""
    if not name.startswith(CSV_PREFIX):
        return None
    path = name[len(CSV_PREFIX) :]
    try:
        stat = os.stat(path)
        return _file_digest(path, stat.st_size, stat.st_mtime_ns)
    except OSError:
        return None


def build_meta(config: TrainConfig, dataset: Dataset, metrics: dict) -> dict:
    return {
        "format": "netcanvas-bundle",
        "format_version": BUNDLE_FORMAT_VERSION,
        "netcanvas_version": netcanvas_version(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "dataset": dataset_label(dataset.name),  # an uploaded CSV by its file name (pages, exports)
        "dataset_source": portable_dataset(dataset.name),  # a built-in's name or csv:<file name>, never a path
        "dataset_digest": dataset_digest(dataset.name),  # a CSV file's "sha256:<hex>"; null for a built-in
        "task": metrics.get("task") or config.task or dataset.task,
        "input_shape": list(dataset.feature_shape),
        "input_dtype": dataset.input_dtype,
        "n_classes": dataset.n_classes,
        "class_names": list(dataset.class_names),
        "normalization": dataset.normalization.to_dict(),
        "metrics": dict(metrics),
    }


def write_bundle(
    out_dir, spec: GraphSpec | dict, config: TrainConfig, model: nn.Module, dataset: Dataset, metrics: dict
) -> Path:
    """Write the four bundle files into `out_dir` (created if needed); returns its path.

    `dataset` is the one the model was trained on (after fit_to_input), so its feature shape is the
    network's input shape; `metrics` are the final numbers (Trainer.metrics()).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec_dict = spec.to_dict() if isinstance(spec, GraphSpec) else spec
    _write_json(out / SPEC_FILE, spec_dict)
    _write_json(out / CONFIG_FILE, portable_config(config, spec_dict))  # no server path; only what the rule reads
    tensors = cpu_state_dict(model)
    _write_atomic(out / WEIGHTS_FILE, lambda tmp: safetensors.torch.save_file(tensors, tmp, metadata={"format": "pt"}))
    _write_json(out / META_FILE, build_meta(config, dataset, metrics))
    return out


# --- reading -----------------------------------------------------------------------------------------


def _read_json(bundle: Path, name: str):
    try:
        return json.loads((bundle / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise BundleError(f"bundle '{bundle}': cannot read {name} ({err})") from None
    except json.JSONDecodeError as err:
        raise BundleError(f"bundle '{bundle}': {name} is not valid JSON ({err})") from None
    except RecursionError:
        raise BundleError(f"bundle '{bundle}': {name} nests its lists and objects too deeply to read") from None
    except ValueError:  # an integer of more digits than Python converts
        raise BundleError(f"bundle '{bundle}': {name} holds a number of too many digits to read") from None


def _read_spec(bundle: Path) -> GraphSpec:
    spec, issues = parse_spec(_read_json(bundle, SPEC_FILE))
    if spec is None:
        raise BundleError(
            f"bundle '{bundle}': {SPEC_FILE} is not a valid GraphSpec: " + "; ".join(str(i) for i in issues)
        )
    return spec


def _read_config(bundle: Path) -> TrainConfig:
    config, problems = TrainConfig.from_dict(_read_json(bundle, CONFIG_FILE))
    if config is None:
        raise BundleError(f"bundle '{bundle}': {CONFIG_FILE} is not a valid training config: " + "; ".join(problems))
    return config


def _unreadable_weights(bundle: Path, err: Exception) -> BundleError:
    return BundleError(
        f"bundle '{bundle}': {WEIGHTS_FILE} is not a readable safetensors file ({type(err).__name__}: {err})"
    )


def _check_header_size(bundle: Path) -> None:
    """A safetensors file starts with its header's length (8 bytes, little-endian). A header of millions of
    keys costs seconds and a GB to parse before any check can refuse it: its length is capped first."""
    with open(bundle / WEIGHTS_FILE, "rb") as f:
        head = f.read(8)
    if len(head) < 8:
        raise ValueError("the file is shorter than a safetensors header")
    size = int.from_bytes(head, "little")
    if size > MAX_WEIGHTS_HEADER:
        raise ValueError(f"its header is {size:,} bytes; at most {MAX_WEIGHTS_HEADER:,} (one per tensor: ~150 bytes)")


def _read_weights(bundle: Path) -> dict[str, torch.Tensor]:
    try:
        _check_header_size(bundle)
        return safetensors.torch.load_file(bundle / WEIGHTS_FILE, device="cpu")
    except Exception as err:  # safetensors raises its own SafetensorError, OSError or ValueError
        raise _unreadable_weights(bundle, err) from None


def _read_weights_header(bundle: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Key -> (shape, dtype) from the weights file's header alone: no tensor is read. Opening the file is the
    step load_file starts with (the header parsed, its offsets checked against the file's size), so a file
    this refuses gives the same message as _read_weights."""
    try:
        _check_header_size(bundle)
        with safe_open(bundle / WEIGHTS_FILE, framework="pt") as f:
            return {key: (tuple(f.get_slice(key).get_shape()), f.get_slice(key).get_dtype()) for key in f.keys()}
    except Exception as err:  # as in _read_weights
        raise _unreadable_weights(bundle, err) from None


def read_meta(bundle: Path) -> dict:
    """meta.json, checked against its schema (engine/runs/meta_schema.py) before anything reads its text."""
    meta = _read_json(bundle, META_FILE)
    problem = meta_problem(meta)
    if problem:
        raise BundleError(f"bundle '{bundle}': {META_FILE} {problem}")
    return meta


def _bundle_dir(path) -> Path:
    """`path` as a bundle directory holding the four files; BundleError naming what is missing if not."""
    bundle = Path(path)
    if not bundle.is_dir():
        raise BundleError(
            f"bundle '{bundle}' is not a directory" if bundle.exists() else f"bundle '{bundle}' does not exist"
        )
    missing = [name for name in BUNDLE_FILES if not (bundle / name).is_file()]
    if missing:
        raise BundleError(f"bundle '{bundle}' has no {', '.join(missing)} (a bundle holds {', '.join(BUNDLE_FILES)})")
    return bundle


def read_bundle(path) -> Bundle:
    """Read and check a bundle directory; BundleError naming the file if anything is missing or corrupt."""
    bundle = _bundle_dir(path)
    meta = read_meta(bundle)  # first: the smallest file, and the one whose text reaches generated files
    return Bundle(bundle, _read_spec(bundle), _read_config(bundle), _read_weights(bundle), meta)


def read_bundle_head(path) -> BundleHead:
    """read_bundle without reading a tensor: the same checks in the same order and the same messages, but of
    the weights file only its header (the server's pages show a bundle; a child process loads its weights)."""
    bundle = _bundle_dir(path)
    meta = read_meta(bundle)
    return BundleHead(bundle, _read_spec(bundle), _read_config(bundle), meta, _read_weights_header(bundle))
