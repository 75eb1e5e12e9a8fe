"""What each built-in dataset looks like (pure metadata; the engine makes the arrays).

Shapes exclude the batch dimension. A network whose Input has the same number of values as a dataset's
features gets them reshaped (digits as [64] or [1, 8, 8]).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

TEXT_ALPHABET = " abcdefghijklmnopqrstuvwxyz."  # token id = index in this string
TEXT_STEPS = 32
SINE_STEPS = 20
PARITY_BITS = 10


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    feature_shape: tuple[int, ...]
    input_dtype: str  # "float32" or "int64"
    task: str  # "classification" or "regression"
    n_classes: int | None
    description: str


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo("xor", (2,), "float32", "classification", 2, "XOR truth table (4 points)"),
        DatasetInfo("or", (2,), "float32", "classification", 2, "OR truth table (4 points)"),
        DatasetInfo("and", (2,), "float32", "classification", 2, "AND truth table (4 points)"),
        DatasetInfo("iris", (4,), "float32", "classification", 3, "Fisher's iris, 150 flowers, standardised"),
        DatasetInfo("digits", (64,), "float32", "classification", 10, "8x8 handwritten digits, 1797 images in [0, 1]"),
        DatasetInfo("moons", (2,), "float32", "classification", 2, "two interleaving half circles, 1000 points"),
        DatasetInfo("circles", (2,), "float32", "classification", 2, "two concentric circles, 1000 points"),
        DatasetInfo("spirals", (2,), "float32", "classification", 3, "three interleaved spirals, 900 points"),
        DatasetInfo(
            "sine",
            (SINE_STEPS, 1),
            "float32",
            "regression",
            None,
            f"windows of {SINE_STEPS} samples of noisy sine waves; predict the next sample",
        ),
        DatasetInfo(
            "parity",
            (PARITY_BITS, 1),
            "float32",
            "classification",
            2,
            f"all {2**PARITY_BITS} strings of {PARITY_BITS} bits; at each step, is the count of ones so far odd",
        ),
        DatasetInfo(
            "text",
            (TEXT_STEPS,),
            "int64",
            "classification",
            len(TEXT_ALPHABET),
            f"sentences from a small grammar; predict the next character at each of {TEXT_STEPS} steps",
        ),
    )
}
CSV_PREFIX = "csv:"


def dataset_label(dataset: str) -> str:
    """How a person knows a dataset: a built-in's name, or an uploaded CSV's file name (`csv:PATH` keeps the
    path the engine reads; uploads are kept under their original names, so the path's last part is it)."""
    if dataset.startswith(CSV_PREFIX):
        return PurePath(dataset[len(CSV_PREFIX) :]).name or dataset
    return dataset
