"""The schema of a bundle's meta.json, checked whenever a bundle is read (engine/runs/bundle.py, and so every
uploaded zip, engine/export/zip_import.py) before any of its text reaches a page, an export or generated code.

    problem = meta_problem(meta)   # None, or "field 'class_names[2]': expected ..., got ..." (one line)

| field             | required | what it must be                                                                 |
| ----------------- | -------- | ------------------------------------------------------------------------------- |
| task              | yes      | one of classification, regression, reconstruction, unsupervised                 |
| input_shape       | yes      | 1 to 8 whole numbers, each 1 to 1,000,000                                       |
| input_dtype       | yes      | float32 or int64                                                                |
| class_names       | yes      | a list of at most 1,000,000 strings of at most 100 printable characters each    |
| format            | no       | netcanvas-bundle                                                                |
| format_version    | no       | a whole number 1 to 1000                                                        |
| *_version         | no       | netcanvas_, torch_, python_version: a letter or digit, then letters, digits,     |
|                   |          | '.', '+', '_' or '-', 40 characters at most                                     |
| created           | no       | an ISO 8601 time: 2025-01-31T12:00:00+00:00                                     |
| dataset           | no       | at most 200 printable characters                                                |
| dataset_source    | no       | at most 4096 printable characters                                               |
| dataset_digest    | no       | null or "sha256:" and 64 hexadecimal digits                                     |
| n_classes         | no       | null or a whole number 0 to 1,000,000                                           |
| normalization     | no       | {"kind": none, standardize or scale, "mean": [...], "std": [...]}: finite numbers, |
|                   |          | as many means as stds, and 0, 1 or one per input feature                         |
| metrics           | no       | an object of at most 200 entries: a name of at most 100 printable characters ->  |
|                   |          | null, true/false, a number, or at most 200 printable characters                  |

Fields not in the table are kept (a newer NetCanvas may write more) but nothing generates text from them. That
the class names are no more than the network's outputs is checked where the network is known
(engine.export.exporter.load_trained).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

TASKS = ("classification", "regression", "reconstruction", "unsupervised")
DTYPES = ("float32", "int64")
NORMALIZATION_KINDS = ("none", "standardize", "scale")
MAX_CLASS_NAME = 100
MAX_CLASSES = 1_000_000  # builder.spec.limits' size of a dimension: no output has more units
MAX_DIM, MAX_RANK = 1_000_000, 8
MAX_METRICS, MAX_TEXT = 200, 200
VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,39}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
CREATED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?")


def _shown(value) -> str:
    """What was received, short and on one line (repr escapes line breaks and quotes)."""
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:40]!r}... ({len(value)} characters)"
    if isinstance(value, list | dict):
        return f"a {'list' if isinstance(value, list) else 'JSON object'} of {len(value)} items"
    text = "null" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _text(value, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit and value.isprintable()


# Each check: (field path, value) -> None, or (the field path, what was expected, the value received).
Problem = tuple[str, str, object]


def _one_of(choices):
    def check(path: str, value) -> Problem | None:
        return None if isinstance(value, str) and value in choices else (path, f"one of {', '.join(choices)}", value)

    return check


def _matching(pattern: re.Pattern, what: str):
    def check(path: str, value) -> Problem | None:
        ok = isinstance(value, str) and pattern.fullmatch(value) is not None
        return None if ok else (path, what, value)

    return check


def _printable(limit: int):
    def check(path: str, value) -> Problem | None:
        return None if _text(value, limit) else (path, f"at most {limit} printable characters on one line", value)

    return check


def _nullable(check):
    return lambda path, value: None if value is None else check(path, value)


def _whole(low: int, high: int, nullable: bool = False):
    def check(path: str, value) -> Problem | None:
        if (value is None and nullable) or (_is_int(value) and low <= value <= high):
            return None
        return path, f"{'null or ' if nullable else ''}a whole number from {low:,} to {high:,}", value

    return check


def _input_shape(path: str, value) -> Problem | None:
    expected = f"a list of 1 to {MAX_RANK} whole numbers, each 1 to {MAX_DIM:,}"
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RANK:
        return path, expected, value
    bad = next((i for i, d in enumerate(value) if not (_is_int(d) and 1 <= d <= MAX_DIM)), None)
    return None if bad is None else (f"{path}[{bad}]", f"a whole number from 1 to {MAX_DIM:,}", value[bad])


def _class_names(path: str, value) -> Problem | None:
    if not isinstance(value, list) or len(value) > MAX_CLASSES:
        return path, f"a list of at most {MAX_CLASSES:,} class names", value
    for i, name in enumerate(value):
        if not _text(name, MAX_CLASS_NAME):
            return f"{path}[{i}]", f"a class name of at most {MAX_CLASS_NAME} printable characters", name
    return None


def _numbers(path: str, value) -> Problem | None:
    if not isinstance(value, list):
        return path, "a list of finite numbers", value
    bad = next((i for i, v in enumerate(value) if not _is_number(v)), None)
    return None if bad is None else (f"{path}[{bad}]", "a finite number", value[bad])


def _normalization(path: str, value) -> Problem | None:
    if not isinstance(value, dict):
        return path, "a JSON object with kind, mean and std", value
    problem = _one_of(NORMALIZATION_KINDS)(f"{path}.kind", value.get("kind"))
    for key in ("mean", "std"):
        problem = problem or _numbers(f"{path}.{key}", value.get(key, []))
    if problem is None and len(value.get("mean", [])) != len(value.get("std", [])):
        problem = f"{path}.std", f"as many numbers as mean's {len(value.get('mean', []))}", value.get("std")
    return problem


def _metrics(path: str, value) -> Problem | None:
    if not isinstance(value, dict) or len(value) > MAX_METRICS:
        return path, f"a JSON object of at most {MAX_METRICS} entries", value
    for key, item in value.items():
        if not _text(key, MAX_CLASS_NAME):
            return f"{path} name", f"a metric name of at most {MAX_CLASS_NAME} printable characters", key
        scalar = item is None or isinstance(item, bool) or _is_number(item) or _text(item, MAX_TEXT)
        if not scalar:
            return f"{path}.{key}", f"null, true, false, a finite number or at most {MAX_TEXT} characters", item
    return None


FIELDS: dict[str, tuple[bool, Callable[[str, object], Problem | None]]] = {  # name -> (required, check)
    "task": (True, _one_of(TASKS)),
    "input_shape": (True, _input_shape),
    "input_dtype": (True, _one_of(DTYPES)),
    "class_names": (True, _class_names),
    "format": (False, _one_of(("netcanvas-bundle",))),
    "format_version": (False, _whole(1, 1000)),
    "netcanvas_version": (False, _matching(VERSION, "a version: letters, digits, '.', '+', '_', '-' (40 at most)")),
    "torch_version": (False, _matching(VERSION, "a version: letters, digits, '.', '+', '_', '-' (40 at most)")),
    "python_version": (False, _matching(VERSION, "a version: letters, digits, '.', '+', '_', '-' (40 at most)")),
    "created": (False, _matching(CREATED, "an ISO 8601 time such as 2025-01-31T12:00:00+00:00")),
    "dataset": (False, _printable(MAX_TEXT)),
    "dataset_source": (False, _printable(4096)),
    "dataset_digest": (False, _nullable(_matching(DIGEST, 'null or "sha256:" and 64 hexadecimal digits'))),
    "n_classes": (False, _whole(0, MAX_CLASSES, nullable=True)),
    "normalization": (False, _normalization),
    "metrics": (False, _metrics),
}


def meta_problem(meta) -> str | None:
    """None when `meta` (meta.json's parsed JSON) fits the schema; else one line naming the first field that
    does not, what was expected and what was received."""
    if not isinstance(meta, dict):
        return f"must hold a JSON object, got {_shown(meta)}"
    missing = [name for name, (required, _) in FIELDS.items() if required and name not in meta]
    if missing:
        return f"lacks {', '.join(missing)}"
    for name, (_, check) in FIELDS.items():
        problem = check(name, meta[name]) if name in meta else None
        if problem is not None:
            break
    else:
        problem = _normalization_size(meta)
    if problem is None:
        return None
    path, expected, received = problem
    return f"field '{path}': expected {expected}, got {_shown(received)}"


def _normalization_size(meta: dict) -> Problem | None:
    """As many means as the Input has features, or one for all of them (or none)."""
    mean = meta.get("normalization", {}).get("mean", [])
    features = math.prod(meta["input_shape"])
    if len(mean) in (0, 1, features):
        return None
    return "normalization.mean", f"0, 1 or {features:,} numbers (one per feature of the Input)", mean
