"""What a browser session is working on, kept per session key (the app's `?owner=` key) in the runs
directory, so that a reload or a server restart loses nothing: the working graph, its Train settings and
the CSV files it uploaded.

    RUNS/sessions/<owner>/state.json                       the graph and the settings, one JSON document
    RUNS/sessions/<owner>/uploads/<content hash>/<name>    each uploaded file under its original name

A small file per key rather than a table in the run store: the state is written on every edit, and a file
of its own per key never waits on the store's write lock that running workers take for their metrics; it is
written whole and atomically (a temporary file in the same folder, then os.replace), so a crash leaves
the old state or the new one, never half of each. A state that cannot be read is reported and ignored; it
never touches the run store, whose own recovery (moving a corrupt database aside) leaves these files be.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

SESSIONS_DIR = "sessions"
STATE_FILE = "state.json"
UPLOADS_DIR = "uploads"
STATE_VERSION = 1
OWNER_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # secrets.token_urlsafe's alphabet: never a path
HASH_CHARS = 16


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


def save_state(root: str | os.PathLike, owner: str, state: dict) -> None:
    """Replace the owner's saved state by `state` (a JSON-able dict)."""
    text = json.dumps({"version": STATE_VERSION, **state}, sort_keys=True)
    _write_atomically(session_dir(root, owner) / STATE_FILE, text.encode("utf-8"))


def load_state(root: str | os.PathLike, owner: str) -> tuple[dict, str | None]:
    """(the owner's saved state, None), ({}, None) when nothing was saved, or ({}, the one-line reason) when
    the saved file cannot be used (it is left in place for a look and replaced by the next save)."""
    path = session_dir(root, owner) / STATE_FILE
    if not path.exists():
        return {}, None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return {}, f"The saved work of this session ({path}) could not be read ({err}); starting afresh."
    if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
        got = raw.get("version") if isinstance(raw, dict) else type(raw).__name__
        return {}, f"The saved work of this session ({path}) is not of version {STATE_VERSION} (got {got}); ignored."
    raw.pop("version")
    return raw, None


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
