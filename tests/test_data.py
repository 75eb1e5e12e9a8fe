"""Datasets: shapes and dtypes match builder.library.datasets; determinism, the text grammar, CSV errors,
fit_to_input."""

from __future__ import annotations

import re

import pytest
import torch

from builder.library.datasets import DATASETS, TEXT_ALPHABET, TEXT_STEPS
from engine.data import text_corpus
from engine.data.datasets import fit_to_input, load_dataset
from engine.errors import DataError

pytestmark = pytest.mark.usefixtures("single_thread_torch")

TOTALS = {
    "xor": 4,
    "or": 4,
    "and": 4,
    "iris": 150,
    "digits": 1797,
    "moons": 1000,
    "circles": 1000,
    "spirals": 900,
    "sine": 1000,
    "parity": 1024,
    "text": 1500,
}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_builtin_dataset_matches_metadata(name):
    info, d = DATASETS[name], load_dataset(name, seed=0)
    assert (d.feature_shape, d.input_dtype, d.task, d.n_classes) == (
        info.feature_shape,
        info.input_dtype,
        info.task,
        info.n_classes,
    )
    dtype = getattr(torch, info.input_dtype)
    for x in (d.x_train, d.x_val):
        assert x.dtype == dtype and tuple(x.shape[1:]) == info.feature_shape
    assert len(d.x_train) == len(d.y_train) > 0 and len(d.x_val) == len(d.y_val) > 0
    expected_total = TOTALS[name] * (2 if name in ("xor", "or", "and") else 1)  # truth tables validate on themselves
    assert d.n_train + d.n_val == expected_total
    if info.task == "classification":
        assert d.y_train.dtype == torch.int64 and len(d.class_names) == info.n_classes
        labels = torch.cat([d.y_train.flatten(), d.y_val.flatten()])
        assert labels.min() >= 0 and labels.max() < info.n_classes
    else:
        assert d.y_train.dtype == torch.float32 and d.target_shape == (1,)
    if dtype == torch.float32:
        assert torch.isfinite(d.x_train).all()


@pytest.mark.parametrize("name", ["spirals", "sine", "text", "moons", "iris"])
def test_same_seed_same_tensors_other_seed_other_split(name):
    a, b, c = load_dataset(name, seed=3), load_dataset(name, seed=3), load_dataset(name, seed=4)
    for field in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert not torch.equal(a.x_train, c.x_train)


def test_truth_tables_validate_on_the_table():
    d = load_dataset("xor", val_split=0.5)
    assert torch.equal(d.x_train, d.x_val) and d.y_train.tolist() == [0, 1, 1, 0] and "same 4 rows" in d.note
    assert load_dataset("and").y_train.tolist() == [0, 0, 0, 1]
    assert load_dataset("or").y_train.tolist() == [0, 1, 1, 1]


def test_normalisation_iris_standardised_digits_scaled():
    iris = load_dataset("iris")
    assert iris.normalization.kind == "standardize" and len(iris.normalization.mean) == 4
    torch.testing.assert_close(iris.x_train.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(iris.x_train.std(0), torch.ones(4), atol=1e-5, rtol=0)
    digits = load_dataset("digits")
    assert digits.normalization.to_dict() == {"kind": "scale", "mean": [0.0], "std": [16.0]}
    assert digits.x_train.min() == 0 and digits.x_train.max() == 1


def test_parity_labels_and_val_split_sizes():
    d = load_dataset("parity", val_split=0.25)
    assert d.n_val == 256
    bits = d.x_train.squeeze(-1).long()  # [N, 10]
    assert torch.equal(d.y_train, bits.cumsum(1) % 2)  # running parity per step
    assert torch.equal(d.y_train[:, -1], bits.sum(1) % 2)  # the last step: the string's parity
    assert load_dataset("iris", val_split=0).n_val == 0


def test_text_windows_are_shifted_token_ids():
    d = load_dataset("text")
    assert d.y_train.shape == (d.n_train, TEXT_STEPS)
    assert torch.equal(d.y_train[:, :-1], d.x_train[:, 1:])
    assert d.x_train.max() < len(TEXT_ALPHABET) and d.class_names == tuple(TEXT_ALPHABET)
    assert set(text_corpus.decode(d.x_train[0])) <= set(TEXT_ALPHABET)


def test_text_corpus_looks_grammatical():
    corpus = text_corpus.generate_corpus(5000, seed=7)
    assert len(corpus) >= 5000 and set(corpus) <= set(TEXT_ALPHABET)
    assert corpus == text_corpus.generate_corpus(5000, seed=7) and corpus != text_corpus.generate_corpus(5000, 8)
    assert "  " not in corpus and corpus.endswith(".")
    vocabulary = (
        set(" ".join(text_corpus.ADVERBS).split())
        | {"an"}
        | set(
            text_corpus.DETERMINERS
            + text_corpus.ADJECTIVES
            + text_corpus.NOUNS
            + text_corpus.TRANSITIVE_VERBS
            + text_corpus.INTRANSITIVE_VERBS
            + text_corpus.PREPOSITIONS
            + text_corpus.CONJUNCTIONS
        )
    )
    verbs = set(text_corpus.TRANSITIVE_VERBS + text_corpus.INTRANSITIVE_VERBS)
    sentences = [s.strip() for s in corpus.split(".") if s.strip()]
    assert len(sentences) > 50
    for sentence in sentences:
        words = sentence.split(" ")
        assert set(words) <= vocabulary, sentence
        assert words[0] in text_corpus.DETERMINERS + ("an",), sentence  # starts with a noun phrase
        assert verbs & set(words), sentence  # and has a verb
    assert not re.search(r"\ba [aeiou]", corpus)  # "an owl", never "a owl"
    assert text_corpus.decode(text_corpus.encode("the owl.")) == "the owl."
    with pytest.raises(ValueError, match="'!'"):
        text_corpus.encode("hi!")


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(DataError, match=r"unknown dataset 'mnist'; known datasets: xor, or, and, iris.*csv:PATH"):
        load_dataset("mnist")
    with pytest.raises(DataError, match="val_split"):
        load_dataset("iris", val_split=1.0)
    with pytest.raises(DataError, match="no training samples"):
        load_dataset("iris", val_split=0.999)


# --- CSV ---------------------------------------------------------------------------------------------


def _csv(tmp_path, text: str, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return f"csv:{path}"


def test_csv_string_labels_make_classification(tmp_path):
    rows = "".join(f"{i},{i * 2 % 7},{'cat' if i % 3 else 'dog'}\n" for i in range(30))
    d = load_dataset(_csv(tmp_path, "a,b,animal\n" + rows), val_split=0.2)
    assert (d.task, d.n_classes, d.class_names, d.feature_shape) == ("classification", 2, ("cat", "dog"), (2,))
    assert d.n_train == 24 and d.y_train.dtype == torch.int64
    assert d.normalization.kind == "standardize" and len(d.normalization.std) == 2
    torch.testing.assert_close(d.x_train.mean(0), torch.zeros(2), atol=1e-5, rtol=0)


def test_csv_int_labels_target_column_and_regression(tmp_path):
    rows = "".join(f"{i % 3},{i}.5,{i * 0.1}\n" for i in range(20))
    path = _csv(tmp_path, "label,x,y\n" + rows)
    d = load_dataset(path, target="label")
    assert d.task == "classification" and d.class_names == ("0", "1", "2") and d.feature_shape == (2,)
    r = load_dataset(path)  # last column: real numbers
    assert r.task == "regression" and r.n_classes is None and r.y_train.shape == (r.n_train, 1)
    assert r.y_train.dtype == torch.float32


@pytest.mark.parametrize(
    "text, target, pattern",
    [
        ("", None, r"'.*data.csv' is empty"),
        ("a,b,label\n", None, r"has a header but no data rows"),
        ("a,b,label\n1,2,x\n3,4\n", None, r"row 2 \(line 3\) has 2 values; the header has 3 columns"),
        ("a,b,label\n1,2,x\n3,oops,y\n", None, r"column 'b' row 2 \(line 3\): 'oops' is not a finite number"),
        ("a,b,label\n1,,x\n3,4,y\n", None, r"column 'b' row 1 \(line 2\): an empty value is not a finite number"),
        ("a,b,label\n1,2,x\n3,4,y\n", "species", r"has no column 'species' to use as target; .*a, b, label"),
        ("a,b,label\n1,2,x\n3,4,x\n", None, r"target column 'label' has a single class \('x'\)"),
        ("a,b,label\n1,2,x\n3,4,\n", None, r"target column 'label' row 2 \(line 3\) is empty"),
        ("label\nx\ny\n", None, r"needs at least one feature column"),
        ("a,a,label\n1,2,x\n", None, r"column name 'a' appears more than once"),
    ],
    ids=[
        "empty",
        "header_only",
        "ragged",
        "non_numeric",
        "empty_cell",
        "unknown_target",
        "single_class",
        "empty_label",
        "one_column",
        "duplicate_column",
    ],
)
def test_csv_bad_input_names_the_problem(tmp_path, text, target, pattern):
    with pytest.raises(DataError, match=pattern):
        load_dataset(_csv(tmp_path, text), target=target)


def test_csv_missing_or_unreadable_file(tmp_path):
    with pytest.raises(DataError, match=r"CSV file '.*nope.csv' does not exist"):
        load_dataset(f"csv:{tmp_path / 'nope.csv'}")
    with pytest.raises(DataError, match="is a directory; expected a regular file"):
        load_dataset(f"csv:{tmp_path}")
    (tmp_path / "bin.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(DataError, match="cannot read CSV file"):
        load_dataset(f"csv:{tmp_path / 'bin.csv'}")
    with pytest.raises(DataError, match="needs a file path"):
        load_dataset("csv:")
    with pytest.raises(DataError, match="target names a CSV column"):
        load_dataset("iris", target="species")


# --- fit_to_input ------------------------------------------------------------------------------------


def test_fit_to_input_reshapes_when_the_count_matches():
    digits = load_dataset("digits")
    images = fit_to_input(digits, [1, 8, 8], "float32", "x")
    assert images.feature_shape == (1, 8, 8) and images.x_train.shape == (digits.n_train, 1, 8, 8)
    assert torch.equal(images.x_val.flatten(1), digits.x_val) and torch.equal(images.y_train, digits.y_train)
    assert fit_to_input(digits, (64,), "float32") is digits
    sine = fit_to_input(load_dataset("sine"), [20], "float32")
    assert sine.x_train.shape[1:] == (20,)


def test_fit_to_input_mismatch_messages():
    iris = load_dataset("iris")
    message = "the network's Input 'x' has shape [3] but dataset 'iris' gives [4] features; set Input shape to [4]"
    with pytest.raises(DataError, match=re.escape(message)):
        fit_to_input(iris, [3], "float32", "x")
    with pytest.raises(
        DataError,
        match=r"Input 'inp' takes float32 but dataset 'text' gives int64 token ids; "
        r"set Input dtype to int64",
    ):
        fit_to_input(load_dataset("text"), [TEXT_STEPS], "float32", "inp")
    with pytest.raises(DataError, match="set Input dtype to float32"):
        fit_to_input(iris, [4], "int64", "x")


def test_csv_class_names_over_the_bundle_limit_are_refused_before_training(tmp_path):
    """A class name longer than a bundle may hold (meta.json's schema) or with a control character is refused
    when the CSV is read, naming the column and the row, not when the trained run's bundle is read."""
    long_name = "x" * 101
    rows = "".join(f"{i},{i % 3},{'cat' if i % 2 else long_name}\n" for i in range(12))
    with pytest.raises(DataError, match=r"target column 'animal' row 1 \(line 2\).*at most 100 printable.*got 101"):
        load_dataset(_csv(tmp_path, "a,b,animal\n" + rows), val_split=0.2)
    bell = "d\x07og"
    rows = "".join(f"{i},{i % 3},{'cat' if i % 2 else bell}\n" for i in range(12))
    with pytest.raises(DataError, match=r"target column 'animal' row 1"):
        load_dataset(_csv(tmp_path, "a,b,animal\n" + rows, "bell.csv"), val_split=0.2)
