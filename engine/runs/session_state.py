"""What a browser session is working on, kept per session key (the app's `?owner=` key) in the runs
directory, so that a reload or a server restart loses nothing: the working graph, its Train settings and
the CSV files it uploaded.

    RUNS/sessions/<owner>/state.json                       the graph and the settings, one JSON document
    RUNS/sessions/<owner>/uploads/<content hash>/<name>    each uploaded file under its original name

A small file per key rather than a table in the run store: the state is written on every edit, and a file
of its own per key never waits on the store's write lock that running workers take for their metrics. It is
written whole and checked before it counts: a temporary file in the same folder, read back and checked (JSON,
and whatever the caller's check asks: ui/session_keep.py passes the graph through the spec loader), then
renamed over state.json, the state it replaces kept as state.json.prev (linked there first: state.json is never
missing, not even during a save, so a session loading meanwhile reads the old state or the new). So a crash
leaves the old state or the new one, never half of each, and a save never replaces a loadable state by one that
would not load. A state that cannot be used on loading is renamed to state.json.bad-<time> (kept, never
overwritten) and the previous save is used instead; either way the page says so. None of this touches the run
store, whose own recovery (moving a corrupt database aside) leaves these files be.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SESSIONS_DIR = "sessions"
STATE_FILE = "state.json"
PREV_FILE = "state.json.prev"  # the state before the last save
UPLOADS_DIR = "uploads"
STATE_VERSION = 1
OWNER_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # secrets.token_urlsafe's alphabet: never a path
HASH_CHARS = 16
StateCheck = Callable[[dict], "str | None"]  # why a state (as read back) cannot be used, or None


def valid_owner(owner: object) -> bool:
    return isinstance(owner, str) and OWNER_PATTERN.fullmatch(owner) is not None


def session_dir(root: str | os.PathLike, owner: str) -> Path:
    if not valid_owner(owner):
        raise ValueError(f"session key must be 1-64 letters, digits, '-' or '_'; got {owner!r}")
    return Path(root) / SESSIONS_DIR / owner


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- the working state ---------------------------------------------------------------------------------


class UnloadableState(ValueError):
    """The state about to be saved would not load back (the check refused it); the saved one is kept."""


def _state_problem(text: str, check: StateCheck | None) -> tuple[dict, str | None]:
    """(the state in `text`, None) or ({}, why it cannot be used): JSON, our version, then the caller's check."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError) as err:
        return {}, f"not JSON ({str(err)[:120]})"
    if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
        got = raw.get("version") if isinstance(raw, dict) else type(raw).__name__
        return {}, f"not of version {STATE_VERSION} (got {str(got)[:40]})"
    raw.pop("version")
    problem = check(raw) if check is not None else None
    return ({}, problem) if problem else (raw, None)


def save_state(root: str | os.PathLike, owner: str, state: dict, check: StateCheck | None = None) -> None:
    """Replace the owner's saved state by `state` (a JSON-able dict), never by one that would not load back:
    written to a temporary file, read back and checked (JSON, version, then `check(state)`, which returns why
    the state is unusable or None), then renamed over state.json; the state it replaces is kept as
    state.json.prev. Raises UnloadableState (a ValueError) and leaves the saved files as they were when the
    check fails."""
    folder = session_dir(root, owner)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{STATE_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps({"version": STATE_VERSION, **state}, sort_keys=True).encode("utf-8"))
        _, problem = _state_problem(Path(tmp).read_text(encoding="utf-8"), check)
        if problem:
            raise UnloadableState(f"the state to save would not load back ({problem}); the saved one is kept")
        path = folder / STATE_FILE
        _keep_as_previous(path, folder / PREV_FILE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _keep_as_previous(path: Path, prev: Path) -> None:
    """state.json's content becomes state.json.prev while state.json stays in place: a hard link to it (a copy
    where links are not supported) under a temporary name, renamed over .prev. Moving state.json to .prev, as
    saves did, left a moment with no state.json: a new session of the same key loading then (a reload landing
    on the old tab's last save) took the previous save for a failed one, renamed it back and restored old work,
    or found state.json gone between its check and its read and set aside, or failed on, a good save."""
    if not path.exists():
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{prev.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.unlink(tmp)  # os.link makes the name; mkstemp only reserved a unique one
        try:
            os.link(path, tmp)
        except FileNotFoundError:
            return  # set aside meanwhile by a load that found it unusable: nothing to keep
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, prev)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _set_aside(path: Path) -> Path:
    """Rename an unusable state file to `<name>.bad-<time>` (kept for a look, never read again)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, k = path.with_name(f"{path.name}.bad-{stamp}"), 2
    while target.exists():
        target, k = path.with_name(f"{path.name}.bad-{stamp}-{k}"), k + 1
    os.replace(path, target)
    return target


def _read(path: Path, check: StateCheck | None) -> tuple[dict, str | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return {}, f"unreadable ({err})"
    return _state_problem(text, check)


def _sentence(parts: list[str], *more: str) -> str:
    text = "; ".join([*parts, *more]) + "."
    return text[0].upper() + text[1:]


def load_state(root: str | os.PathLike, owner: str, check: StateCheck | None = None) -> tuple[dict, str | None]:
    """(the owner's saved state, None), ({}, None) when nothing was saved, or (state, a one-line notice).

    A state.json that cannot be used (not JSON, another version, or refused by `check(state)`, which returns
    why or None) is renamed to state.json.bad-<time> and the previous save (state.json.prev) is used instead,
    renamed back to state.json; when that one is unusable too it is set aside the same way and the state is
    {} with a notice naming the kept files (by name only: a notice shows no server path and no key). Nothing
    unusable is ever left where the next save would replace it silently, and nothing is deleted.
    """
    folder = session_dir(root, owner)
    path, prev = folder / STATE_FILE, folder / PREV_FILE
    notes: list[str] = []
    if path.exists():
        state, problem = _read(path, check)
        if problem is None:
            return state, None
        notes.append(
            f"the saved work of this session could not be read ({problem}); it is kept as {_set_aside(path).name}"
        )
    if not prev.exists():
        return {}, _sentence(notes, "starting afresh") if notes else None
    state, problem = _read(prev, check)
    if problem is None:
        os.replace(prev, path)
        notes.append(
            "the save before it was restored"
            if notes
            else "the last save did not finish; the one before it was restored"
        )
        return state, _sentence(notes)
    notes.append(f"the save before it could not be used either ({problem}); it is kept as {_set_aside(prev).name}")
    return {}, _sentence(notes, "starting afresh")


# --- uploads -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedUpload:
    name: str  # the file's original name, as the person knows it
    path: Path  # where it is kept (the name is its last part)


def clean_file_name(name: str, suffix: str = ".csv") -> str:
    """The base name of an uploaded file, with only safe characters, ending in `suffix`."""
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", Path(name.replace("\\", "/")).name).strip(" .") or "upload"
    return base if base.lower().endswith(suffix) else base + suffix


def save_upload(root: str | os.PathLike, owner: str, name: str, data: bytes) -> SavedUpload:
    """Keep `data` under its original name; the same content uploaded again is the same file."""
    digest = hashlib.sha256(data).hexdigest()[:HASH_CHARS]
    path = session_dir(root, owner) / UPLOADS_DIR / digest / clean_file_name(name)
    if not path.exists():
        _write_atomically(path, data)
    return SavedUpload(path.name, path.resolve())


def list_uploads(root: str | os.PathLike, owner: str) -> list[SavedUpload]:
    """This owner's uploads, the newest first."""
    folder = session_dir(root, owner) / UPLOADS_DIR
    files = [p for p in folder.glob("*/*") if p.is_file() and not p.name.startswith(".")]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [SavedUpload(p.name, p.resolve()) for p in files]


def remove_upload(root: str | os.PathLike, owner: str, path: str | os.PathLike) -> bool:
    """Delete one of this owner's kept uploads (and its folder); False when `path` is not one of them."""
    folder = (session_dir(root, owner) / UPLOADS_DIR).resolve()
    target = Path(path).resolve()
    if target.parent.parent != folder or not target.is_file():
        return False
    target.unlink()
    with contextlib.suppress(OSError):
        target.parent.rmdir()  # empty now, unless the same content was kept under a second name
    return True
