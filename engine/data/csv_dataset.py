"""`csv:PATH` datasets: a header row, numeric feature columns and one target column.

The target is the last column unless `target` names another. Integer or string labels make a
classification dataset (class names sorted); real-valued labels make a regression dataset. Rows are
counted from 1 at the first data row; the file line is given too (the header is line 1).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import PurePath

import torch

from builder.spec.limits import MB, cap_name, limits
from engine.errors import DataError
from engine.runs.meta_schema import MAX_CLASS_NAME
from engine.user_files import UserFileError, read_user_file


def shown_name(path: str) -> str:
    """How a message names the file: its base name, never the folder it is kept in (on a server that is a
    session's upload folder, whose path holds the session key)."""
    return PurePath(path).name or path


def _read_rows(path: str) -> list[tuple[int, list[str]]]:
    """(file line, cells) for every non-blank line; DataError if the file cannot be read. Only a regular file
    within NETCANVAS_MAX_CSV_MB is read (engine.user_files: not /dev/zero, a FIFO or a directory)."""
    try:
        cap = limits().max_csv_mb * MB
        text = read_user_file(path, "CSV file", cap, cap_name("max_csv_mb"), shown_name(path)).decode("utf-8-sig")
    except UserFileError as err:
        raise DataError(str(err)) from None
    except UnicodeDecodeError as err:
        raise DataError(f"cannot read CSV file '{shown_name(path)}': {err}") from None
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        rows = [(reader.line_num, [cell.strip() for cell in row]) for row in reader]
    except csv.Error as err:
        raise DataError(f"cannot read CSV file '{shown_name(path)}': {err}") from None
    return [(line, cells) for line, cells in rows if any(cells)]


def _check_header(path: str, header: list[str]) -> None:
    if len(header) < 2:
        raise DataError(
            f"CSV file '{shown_name(path)}' has {len(header)} column in its header; it needs at least one "
            "feature column and a target column"
        )
    seen: set[str] = set()
    for i, name in enumerate(header):
        if not name:
            raise DataError(f"CSV file '{shown_name(path)}' header: column {i + 1} has no name")
        if name in seen:
            raise DataError(f"CSV file '{shown_name(path)}' header: column name '{name}' appears more than once")
        seen.add(name)


def _check_ragged(path: str, header: list[str], rows: list[tuple[int, list[str]]]) -> None:
    for row, (line, cells) in enumerate(rows, start=1):
        if len(cells) != len(header):
            raise DataError(
                f"CSV file '{shown_name(path)}' row {row} (line {line}) has {len(cells)} values; the header "
                f"has {len(header)} columns"
            )


def _listed(names: list[str], most: int = 20) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most:,} more" if len(names) > most else "")


def _target_index(path: str, header: list[str], target: str | None) -> int:
    if target is None:
        return len(header) - 1
    if target not in header:
        raise DataError(
            f"CSV file '{shown_name(path)}' has no column '{target}' to use as target; "
            f"its columns are: {_listed(header)}"
        )
    return header.index(target)


def _parse_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _features(path: str, header, rows, feature_cols: list[int]) -> torch.Tensor:
    values = []
    for row, (line, cells) in enumerate(rows, start=1):
        parsed = [_parse_float(cells[c]) for c in feature_cols]
        for c, value in zip(feature_cols, parsed):
            if value is None:
                shown = f"'{cells[c]}'" if cells[c] else "an empty value"
                raise DataError(
                    f"CSV file '{shown_name(path)}' column '{header[c]}' row {row} (line {line}): {shown} is "
                    "not a finite number (feature columns must be numeric)"
                )
        values.append(parsed)
    return torch.tensor(values, dtype=torch.float32)  # [N, F]


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _labels(path: str, header, rows, col: int):
    """(y, task, class_names): int or string labels -> classification, real numbers -> regression."""
    texts = [cells[col] for _, cells in rows]
    for row, (line, cells) in enumerate(rows, start=1):
        if not cells[col]:
            raise DataError(
                f"CSV file '{shown_name(path)}' target column '{header[col]}' row {row} (line {line}) is empty"
            )
    if all(_is_int(t) for t in texts):
        names = sorted(set(texts), key=int)
    elif all(_parse_float(t) is not None for t in texts):
        y = torch.tensor([float(t) for t in texts], dtype=torch.float32).unsqueeze(1)  # [N, 1]
        return y, "regression", ()
    else:
        names = sorted(set(texts))
        _check_class_names(path, header[col], rows, col, names)
    if len(names) < 2:
        raise DataError(
            f"CSV file '{shown_name(path)}' target column '{header[col]}' has a single class ('{names[0]}'); "
            "classification needs at least 2"
        )
    index = {name: i for i, name in enumerate(names)}
    y = torch.tensor([index[t] for t in texts], dtype=torch.int64)  # [N]
    return y, "classification", tuple(str(int(n)) if _is_int(n) else n for n in names)


def _check_class_names(path: str, column: str, rows, col: int, names: list[str]) -> None:
    """A class name becomes part of the bundle (meta.json, engine/runs/meta_schema.py) and of every export: at most
    MAX_CLASS_NAME printable characters, refused here, before training, rather than when the bundle is read."""
    bad = next((n for n in names if len(n) > MAX_CLASS_NAME or not n.isprintable()), None)
    if bad is None:
        return
    row, line = next((row, line) for row, (line, cells) in enumerate(rows, start=1) if cells[col] == bad)
    raise DataError(
        f"CSV file '{shown_name(path)}' target column '{column}' row {row} (line {line}): a class name must be at "
        f"most {MAX_CLASS_NAME} printable characters; got {len(bad)} characters ({bad[:40]!r}…)"
    )


def read_csv(path: str, target: str | None = None):
    """(x [N, F] float32, y, task, class_names, note) for the CSV file at `path`; DataError on bad input.

    y is [N] int64 class indices for classification, [N, 1] float32 for regression.
    """
    return read_csv_named(path, target)[:5]


def read_csv_named(path: str, target: str | None = None):
    """read_csv's five and the feature columns' names from the header, in the order of x's columns."""
    rows = _read_rows(path)
    if not rows:
        raise DataError(f"CSV file '{shown_name(path)}' is empty; it needs a header row and data rows")
    (_, header), rows = rows[0], rows[1:]
    _check_header(path, header)
    if not rows:
        raise DataError(f"CSV file '{shown_name(path)}' has a header but no data rows")
    _check_ragged(path, header, rows)
    col = _target_index(path, header, target)
    x = _features(path, header, rows, [c for c in range(len(header)) if c != col])
    y, task, class_names = _labels(path, header, rows, col)
    note = f"target column '{header[col]}'; features standardised with the training split's mean and std"
    return x, y, task, class_names, note, tuple(name for c, name in enumerate(header) if c != col)
