"""The files the command line reads and writes, checked before any work: what is read is a regular file within
its cap (engine.user_files), what is written goes where it can be written.

    spec, issues = read_spec_file("net.json")              # /dev/zero, a FIFO, a folder, over 5 MB: one issue
    problem = csv_problem("csv:data.csv")                  # None, or why that file cannot be read
    problem = out_problem("--out", "runs/iris", "folder")  # None, or the one line that says why not

An output path is refused when it lies under /proc, /sys or /dev (symbolic links resolved), when a name in it is
longer than the file system takes (NAME_MAX) or the whole path longer than PATH_MAX, when the nearest folder that
exists on the way is not a folder or cannot be written to, and when a folder stands where a file is expected (or
a file where a folder is). So a run cannot train for an hour and then lose its model to a bad --out.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from builder.library.datasets import CSV_PREFIX
from builder.spec.issues import Issue
from builder.spec.limits import MB, cap_name, limits
from builder.spec.spec import GraphSpec, loads_spec
from engine.user_files import UserFileError, check_regular_file, read_user_file

SYSTEM_TREES = ("/proc", "/sys", "/dev")  # kernel views and devices: never an output
DEFAULT_NAME_MAX, DEFAULT_PATH_MAX = 255, 4096


def read_spec_file(path: str) -> tuple[GraphSpec | None, list]:
    """load_spec for a path the user gave: a regular file within NETCANVAS_MAX_SPEC_MB, else one issue."""
    try:
        text = read_user_file(path, "network file", limits().max_spec_bytes, cap_name("max_spec_mb"))
    except UserFileError as err:
        return None, [Issue(node=None, code="schema", message=str(err), field="file")]
    return loads_spec(text)


def csv_problem(dataset: str) -> str | None:
    """For a `csv:PATH` dataset, why PATH cannot be read (not a regular file, over NETCANVAS_MAX_CSV_MB), or None:
    said before torch is loaded. engine.data.csv_dataset checks again as it reads."""
    if not dataset.startswith(CSV_PREFIX):
        return None
    path = dataset[len(CSV_PREFIX) :]
    try:
        shown = PurePath(path).name or path  # as csv_dataset names it: never the folder (a server's upload folder)
        check_regular_file(path, "CSV file", limits().max_csv_mb * MB, cap_name("max_csv_mb"), shown)
    except UserFileError as err:
        return str(err)
    return None


def _pathconf(place: str, name: str, default: int) -> int:
    try:
        value = os.pathconf(place, name)
    except (OSError, ValueError):
        return default
    return value if value and value > 0 else default


def _nearest_existing(path: Path) -> Path:
    """The path itself or its nearest ancestor that exists (an absolute path always reaches '/')."""
    return next(place for place in (path, *path.parents) if os.path.lexists(place))


def _length_problem(flag: str, out: str, absolute: Path) -> str | None:
    parent = str(_nearest_existing(absolute.parent))
    path_max, name_max = _pathconf(parent, "PC_PATH_MAX", DEFAULT_PATH_MAX), _pathconf(parent, "PC_NAME_MAX", 255)
    if len(os.fsencode(absolute)) >= path_max:
        return f"{flag} {out}: the path is {len(os.fsencode(absolute)):,} bytes long; at most {path_max - 1:,} fit"
    for name in absolute.parts[1:]:
        if len(os.fsencode(name)) > name_max:
            return f"{flag} {out}: a name in it is {len(os.fsencode(name)):,} bytes long; at most {name_max} fit"
    return None


def _system_problem(flag: str, out: str, resolved: str) -> str | None:
    for tree in SYSTEM_TREES:
        if resolved == tree or resolved.startswith(tree + os.sep):
            return f"{flag} {out}: {resolved} is under {tree}, which holds the system's files, not yours"
    return None


def _place_problem(flag: str, out: str, path: Path, want: str) -> str | None:
    """Whether what exists on the way lets `want` (a "file" or a "folder") be written at `path`."""
    place = _nearest_existing(path)
    if place == path and path.is_dir() and want == "file":
        return f"{flag} {out}: it is a folder; expected the name of a file"
    if place == path and not path.is_dir() and want == "folder":
        return f"{flag} {out}: {place} is a file, and the bundle needs a folder there"
    if place == path:
        place = path if want == "folder" else path.parent
    elif want == "file" and place != path.parent:
        return f"{flag} {out}: the folder {path.parent} does not exist"
    if not place.is_dir():
        needs = "the bundle needs a folder there" if want == "folder" else "a file needs a folder above it"
        return f"{flag} {out}: {place} is a file, and {needs}"
    if not os.access(place, os.W_OK | os.X_OK):
        return f"{flag} {out}: {place} cannot be written to"
    return None


def out_problem(flag: str, out: str, want: str = "folder") -> str | None:
    """Why `out` (given as `flag`) cannot be written as a `want` ("file" or "folder"), or None; found before any
    work, so a run does not end in an error after training."""
    if not out or "\x00" in out:
        return f"{flag} {out!r}: expected a path"
    absolute = Path(os.path.abspath(out))
    problem = _length_problem(flag, out, absolute)
    if problem is None:
        problem = _system_problem(flag, out, os.path.realpath(absolute))
    return problem if problem is not None else _place_problem(flag, out, absolute, want)
