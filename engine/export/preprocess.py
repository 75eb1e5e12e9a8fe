"""What an exported model carries besides the network: the input normalisation it was trained with and the class
names. Every export takes RAW inputs by default (docs/ARCHITECTURE.md §2, export):

    x_raw -> (x_raw - input_mean) / input_std -> the trained network -> output

`input_normalization(meta, input_shape)` reads the bundle's meta.json ("normalization", written from
engine.data.datasets.Normalization): "standardize" gives a mean and std per feature, reshaped to the Input's shape
(the features were normalised before they were reshaped, so the row-major reshape lines them up); "scale" one
divisor (mean 0); "none", and every int64 input (token ids are never normalised), no step at all.

`ExportedModel` is the module the ONNX file and model.ts are written from: the network under `network`, the step
switched by the `normalize` attribute (True by default; False feeds inputs that are already normalised), and the
class names under `class_names`. model.py carries the same step as source (engine/export/python_source.py).
"""

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engine.errors import BundleError


@dataclass(frozen=True)
class InputNormalization:
    """(x - mean) / std, with mean and std broadcastable to one batch of the Input ([*input_shape] or [1])."""

    kind: str  # "standardize" or "scale"
    mean: Tensor  # float32
    std: Tensor  # float32

    def apply(self, x: Tensor) -> Tensor:
        """Raw inputs -> the inputs the network was trained on. [B, *input_shape] -> same."""
        return (x - self.mean) / self.std

    def invert(self, x: Tensor) -> Tensor:
        """Normalised inputs -> raw ones (for check batches that look like data). [B, *input_shape] -> same."""
        return x * self.std + self.mean

    def to_dict(self) -> dict:
        return {"kind": self.kind, "mean": self.mean.reshape(-1).tolist(), "std": self.std.reshape(-1).tolist()}


def _numbers(raw, what: str, where: str) -> list[float]:
    if not isinstance(raw, list) or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
        raise BundleError(f"{where}: normalization.{what} must be a list of numbers, got {raw!r:.60}")
    if not all(math.isfinite(v) for v in raw):
        raise BundleError(f"{where}: normalization.{what} holds a number that is not finite")
    return [float(v) for v in raw]


def input_normalization(meta: dict, input_shape, where: str = "meta.json") -> InputNormalization | None:
    """The normalisation the network's inputs went through in training, or None (none, or token ids).
    BundleError naming `where` when meta.json's numbers do not fit the Input."""
    norm = meta.get("normalization") or {}
    kind = norm.get("kind", "none") if isinstance(norm, dict) else "none"
    if kind == "none" or meta.get("input_dtype", "float32") == "int64":
        return None
    if kind not in ("standardize", "scale"):
        raise BundleError(f"{where}: normalization.kind must be none, standardize or scale, got {kind!r:.40}")
    mean, std = _numbers(norm.get("mean"), "mean", where), _numbers(norm.get("std"), "std", where)
    shape = tuple(int(d) for d in input_shape)
    size = math.prod(shape)
    if len(mean) != len(std) or len(mean) not in (1, size):
        raise BundleError(
            f"{where}: normalization has {len(mean)} means and {len(std)} stds; the Input's shape "
            f"{list(shape)} needs 1 or {size} of each"
        )
    if any(s == 0 for s in std):
        raise BundleError(f"{where}: normalization.std holds a zero; inputs cannot be divided by it")
    target = shape if len(mean) == size else (1,)
    as_tensor = lambda values: torch.tensor(values, dtype=torch.float32).reshape(target)  # noqa: E731
    return InputNormalization(kind, as_tensor(mean), as_tensor(std))


def class_names_of(meta: dict) -> list[str]:
    """The class names of a classification bundle (strings), [] for regression."""
    if meta.get("task") != "classification":
        return []
    return [str(name) for name in meta.get("class_names") or []]


class ExportedModel(nn.Module):
    """The trained network on raw inputs: (x - input_mean) / input_std while `normalize` is True, then `network`.

    Scripted as model.ts and written as model.onnx. In TorchScript, `model.normalize = False` feeds inputs that
    are already normalised; `model.class_names` names the outputs of a classifier ([] for regression).
    """

    normalize: bool
    class_names: list[str]

    def __init__(self, network: nn.Module, norm: InputNormalization | None, class_names: list[str], normalize=True):
        super().__init__()
        self.network = network
        self.normalize = bool(normalize and norm is not None)  # nothing to undo where training used none
        self.class_names = list(class_names)
        self.register_buffer("input_mean", norm.mean.clone() if norm else torch.zeros(1))
        self.register_buffer("input_std", norm.std.clone() if norm else torch.ones(1))

    def forward(self, x: Tensor) -> Tensor:  # x: [B, *input_shape], raw while normalize is True
        if self.normalize:
            x = (x - self.input_mean) / self.input_std
        return self.network(x)
