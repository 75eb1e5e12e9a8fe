"""Datasets as in-memory tensors: the built-in ones (builder/library/datasets.py) and `csv:PATH` files.

Everything is small enough to live on the device whole; the trainer batches by indexing. Shapes and
dtypes match builder.library.datasets.DATASETS exactly. The same seed gives identical tensors. Any input a user
can get wrong raises DataError with a one-line message naming the dataset, file, column or row.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from builder.library.datasets import CSV_PREFIX, DATASETS, PARITY_BITS, SINE_STEPS, TEXT_ALPHABET, TEXT_STEPS
from engine.data import text_corpus
from engine.data.csv_dataset import read_csv_named
from engine.errors import DataError

TRUTH_TABLES = {"xor": (0, 1, 1, 0), "or": (0, 1, 1, 1), "and": (0, 0, 0, 1)}
TRUTH_TABLE_NOTE = "validation uses the same 4 rows as training (a truth table has nothing to hold out)"
N_POINTS_2D = 1000  # moons, circles
N_PER_SPIRAL_ARM = 300
N_SINE_WINDOWS = 1000
N_TEXT_WINDOWS = 1500


@dataclass(frozen=True)
class Normalization:
    """Features were fed to the network as (raw - mean) / std; apply the same to new data.

    kind: "none"; "standardize" (mean and std per feature, from the training split); "scale" (one
    divisor, e.g. digits' pixel values 0..16 divided by 16: mean (0,), std (16,)).
    """

    kind: str = "none"
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, raw: dict) -> Normalization:
        return cls(raw["kind"], tuple(raw["mean"]), tuple(raw["std"]))


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    task: str  # "classification" or "regression"
    x_train: torch.Tensor  # [N, *feature_shape] float32, or int64 token ids
    y_train: torch.Tensor  # [N] int64 labels, [N, T] int64 per-step labels, or [N, *target] float32
    x_val: torch.Tensor
    y_val: torch.Tensor
    n_classes: int | None
    class_names: tuple[str, ...]
    feature_shape: tuple[int, ...]
    input_dtype: str  # "float32" or "int64"
    normalization: Normalization = Normalization()
    note: str = ""
    feature_names: tuple[str, ...] = ()  # one per feature where the source names them (iris, a CSV's header)

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    @property
    def n_val(self) -> int:
        return len(self.x_val)

    @property
    def target_shape(self) -> tuple[int, ...]:
        return tuple(self.y_train.shape[1:])


@dataclass(frozen=True, eq=False)
class RawData:
    """A dataset before splitting: all samples, labels and how to normalise the features."""

    x: torch.Tensor
    y: torch.Tensor
    class_names: tuple[str, ...] = ()
    normalize: str = "none"  # "none", "standardize" (train statistics) or "scale"
    scale: float = 1.0
    val_is_train: bool = False
    feature_names: tuple[str, ...] = ()


def fmt_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


# --- built-in datasets -------------------------------------------------------------------------------


def _truth_table(name: str, seed: int) -> RawData:
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # [4, 2]
    y = torch.tensor(TRUTH_TABLES[name], dtype=torch.int64)  # [4]
    return RawData(x, y, ("0", "1"), val_is_train=True)


def _from_numpy(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)


def _iris(name: str, seed: int) -> RawData:
    from sklearn.datasets import load_iris

    bunch = load_iris()
    x, y = _from_numpy(bunch.data, bunch.target)  # [150, 4], [150]
    names = tuple(str(n) for n in bunch.target_names)
    return RawData(x, y, names, normalize="standardize", feature_names=tuple(map(str, bunch.feature_names)))


def _digits(name: str, seed: int) -> RawData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = _from_numpy(bunch.data, bunch.target)  # [1797, 64] in 0..16, [1797]
    return RawData(x, y, tuple(str(d) for d in range(10)), normalize="scale", scale=16.0)


def _moons(name: str, seed: int) -> RawData:
    from sklearn.datasets import make_moons

    x, y = _from_numpy(*make_moons(N_POINTS_2D, noise=0.1, random_state=seed))  # [1000, 2], [1000]
    return RawData(x, y, ("0", "1"))


def _circles(name: str, seed: int) -> RawData:
    from sklearn.datasets import make_circles

    x, y = _from_numpy(*make_circles(N_POINTS_2D, noise=0.05, factor=0.5, random_state=seed))
    return RawData(x, y, ("outer", "inner"))


def _spirals(name: str, seed: int) -> RawData:
    g = torch.Generator().manual_seed(seed)
    arms = torch.arange(3).repeat_interleave(N_PER_SPIRAL_ARM)  # [900]
    t = torch.rand(len(arms), generator=g)  # position along the arm, [900]
    radius = 0.1 + 0.9 * t
    angle = arms * (2 * math.pi / 3) + 3 * math.pi * t + 0.15 * torch.randn(len(arms), generator=g)
    x = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)  # [900, 2]
    return RawData(x, arms, ("0", "1", "2"))


def _sine(name: str, seed: int) -> RawData:
    g = torch.Generator().manual_seed(seed)
    n = N_SINE_WINDOWS
    freq = 0.15 + 0.45 * torch.rand(n, 1, generator=g)  # radians per sample, [n, 1]
    phase = 2 * math.pi * torch.rand(n, 1, generator=g)
    amplitude = 0.5 + 0.5 * torch.rand(n, 1, generator=g)
    t = torch.arange(SINE_STEPS + 1, dtype=torch.float32)  # [T+1]
    clean = amplitude * torch.sin(freq * t + phase)  # [n, T+1]
    noisy = clean + 0.05 * torch.randn(clean.shape, generator=g)
    x = noisy[:, :SINE_STEPS].unsqueeze(-1)  # [n, T, 1]
    y = clean[:, SINE_STEPS:]  # the next (noise-free) sample, [n, 1]
    return RawData(x.contiguous(), y.contiguous())


def _parity(name: str, seed: int) -> RawData:
    codes = torch.arange(2**PARITY_BITS)  # [1024]
    bits = (codes.unsqueeze(1) >> torch.arange(PARITY_BITS - 1, -1, -1)) & 1  # [1024, 10], MSB first
    x = bits.to(torch.float32).unsqueeze(-1)  # [1024, 10, 1]
    y = bits.cumsum(dim=1) % 2  # [1024, 10]: running parity after each bit; the last is the string's parity
    return RawData(x, y, ("even", "odd"))


def _text(name: str, seed: int) -> RawData:
    window = TEXT_STEPS + 1
    corpus = text_corpus.generate_corpus(N_TEXT_WINDOWS * window, seed)
    ids = torch.tensor(text_corpus.encode(corpus[: N_TEXT_WINDOWS * window]), dtype=torch.int64)
    chunks = ids.view(N_TEXT_WINDOWS, window)  # non-overlapping, so validation windows are unseen text
    x, y = chunks[:, :-1].contiguous(), chunks[:, 1:].contiguous()  # [n, T] each; y is x shifted by one
    return RawData(x, y, tuple(TEXT_ALPHABET))


MAKERS = {
    "xor": _truth_table,
    "or": _truth_table,
    "and": _truth_table,
    "iris": _iris,
    "digits": _digits,
    "moons": _moons,
    "circles": _circles,
    "spirals": _spirals,
    "sine": _sine,
    "parity": _parity,
    "text": _text,
}
assert set(MAKERS) == set(DATASETS), "every dataset in builder.library.datasets needs a maker here"


# --- splitting, normalising, loading -----------------------------------------------------------------


def _split(raw: RawData, name: str, seed: int, val_split: float):
    """Shuffle with a seeded generator, then cut: (x_train, y_train, x_val, y_val)."""
    if raw.val_is_train:
        return raw.x, raw.y, raw.x.clone(), raw.y.clone()
    n = len(raw.x)
    n_val = round(n * val_split)
    if n - n_val < 1:
        raise DataError(
            f"val_split {val_split} leaves no training samples of the {n} in dataset '{name}'; use a smaller val_split"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train, val = order[: n - n_val], order[n - n_val :]
    return raw.x[train], raw.y[train], raw.x[val], raw.y[val]


def _normalize(raw: RawData, x_train: torch.Tensor, x_val: torch.Tensor):
    """(x_train, x_val, Normalization): statistics come from the training split only."""
    if raw.normalize == "scale":
        return x_train / raw.scale, x_val / raw.scale, Normalization("scale", (0.0,), (raw.scale,))
    if raw.normalize != "standardize":
        return x_train, x_val, Normalization()
    mean = x_train.mean(dim=0)  # [F]
    std = x_train.std(dim=0) if len(x_train) > 1 else torch.ones_like(mean)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant columns pass through centred
    norm = Normalization("standardize", tuple(mean.tolist()), tuple(std.tolist()))
    return (x_train - mean) / std, (x_val - mean) / std, norm


def _from_raw(name: str, raw: RawData, task: str, n_classes, seed: int, val_split: float, note="") -> Dataset:
    x_train, y_train, x_val, y_val = _split(raw, name, seed, val_split)
    x_train, x_val, norm = _normalize(raw, x_train, x_val)
    note = TRUTH_TABLE_NOTE if raw.val_is_train else note
    input_dtype = "int64" if raw.x.dtype == torch.int64 else "float32"
    return Dataset(
        name,
        task,
        x_train,
        y_train,
        x_val,
        y_val,
        n_classes,
        raw.class_names,
        tuple(raw.x.shape[1:]),
        input_dtype,
        norm,
        note,
        raw.feature_names,
    )


def known_dataset_names() -> str:
    return ", ".join([*DATASETS, CSV_PREFIX + "PATH"])


def load_dataset(name: str, seed: int = 0, val_split: float = 0.2, target: str | None = None) -> Dataset:
    """Load a built-in dataset or `csv:PATH`, shuffled and split with `seed`; DataError on bad input."""
    if not 0 <= val_split < 1:
        raise DataError(f"val_split must be in [0, 1), got {val_split}")
    if name.startswith(CSV_PREFIX):
        if not name[len(CSV_PREFIX) :].strip():
            raise DataError(f"dataset '{name}' needs a file path after '{CSV_PREFIX}', e.g. csv:data/flowers.csv")
        x, y, task, class_names, note, feature_names = read_csv_named(name[len(CSV_PREFIX) :], target)
        raw = RawData(x, y, class_names, normalize="standardize", feature_names=feature_names)
        n_classes = len(class_names) if task == "classification" else None
        return _from_raw(name, raw, task, n_classes, seed, val_split, note)
    if name not in DATASETS:
        raise DataError(f"unknown dataset '{name}'; known datasets: {known_dataset_names()}")
    if target is not None:
        raise DataError(f"target names a CSV column, but dataset '{name}' is built in (got target {target!r})")
    info = DATASETS[name]
    return _from_raw(name, MAKERS[name](name, seed), info.task, info.n_classes, seed, val_split)


def load_dataset_for(config) -> Dataset:
    """The dataset a TrainConfig asks for (its dataset, seed, val_split and target)."""
    return load_dataset(config.dataset, seed=config.seed, val_split=config.val_split, target=config.target)


# --- fitting a dataset to a network's Input ----------------------------------------------------------


def fit_to_input(dataset: Dataset, input_shape, input_dtype: str = "float32", input_id: str = "input") -> Dataset:
    """Reshape features to the Input's shape when it holds the same number of values (digits [64] ->
    [1, 8, 8]); DataError naming the Input node otherwise."""
    shape = tuple(int(d) for d in input_shape)
    where = f"the network's Input '{input_id}'"
    if input_dtype != dataset.input_dtype:
        gives = "int64 token ids" if dataset.input_dtype == "int64" else "float32 features"
        hint = " (and feed it into an Embedding)" if dataset.input_dtype == "int64" else ""
        raise DataError(
            f"{where} takes {input_dtype} but dataset '{dataset.name}' gives {gives}; "
            f"set Input dtype to {dataset.input_dtype}{hint}"
        )
    if shape == dataset.feature_shape:
        return dataset
    if math.prod(shape) != math.prod(dataset.feature_shape):
        raise DataError(
            f"{where} has shape {fmt_shape(shape)} but dataset '{dataset.name}' gives "
            f"{fmt_shape(dataset.feature_shape)} features; set Input shape to "
            f"{fmt_shape(dataset.feature_shape)}"
        )
    return dataclasses.replace(
        dataset,
        x_train=dataset.x_train.reshape(-1, *shape),
        x_val=dataset.x_val.reshape(-1, *shape),
        feature_shape=shape,
    )


def fit_to_analysis(dataset: Dataset, analysis) -> Dataset:
    """fit_to_input for a validated spec (builder.analysis.validate.Analysis): uses its Input node's shape and dtype."""
    input_id = analysis.input_id
    assert input_id is not None and input_id in analysis.params, "fit_to_analysis needs a valid Analysis"
    params = analysis.params[input_id]
    fitted = fit_to_input(dataset, params["shape"], params.get("dtype", "float32"), input_id)
    check_token_ids(fitted, analysis)
    return fitted


def check_token_ids(dataset: Dataset, analysis) -> None:
    """DataError naming the Embedding whose table is too small for the dataset's token ids: on CUDA such an id
    is an asynchronous device-side assert long after the step that read it, so it is refused before the run."""
    if dataset.input_dtype != "int64":
        return
    tables = {n.id: analysis.params[n.id]["num_embeddings"] for n in analysis.spec.nodes if n.op == "Embedding"}
    if not tables:
        return
    largest = max(int(x.max()) if x.numel() else -1 for x in (dataset.x_train, dataset.x_val))
    smallest = min(int(x.min()) if x.numel() else 0 for x in (dataset.x_train, dataset.x_val))
    for node_id, rows in tables.items():
        if largest >= rows or smallest < 0:
            raise DataError(
                f"dataset '{dataset.name}' holds token ids from {smallest} to {largest} but Embedding '{node_id}' "
                f"has num_embeddings {rows}; set num_embeddings to at least {largest + 1}"
            )
