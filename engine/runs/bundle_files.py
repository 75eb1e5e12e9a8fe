"""A bundle folder as bytes and back: how a checkpoint or a final bundle crosses from a Ray actor to the app
(engine.runs.ray_executor) without a shared filesystem.

    files = read_bundle_files(folder)          # {file name: bytes}, the folder's plain files (no sub-folders)
    write_bundle_files(folder, files)          # a fresh folder swapped in for the old one (never a mix)
    chunks(data, CHUNK_BYTES)                  # the pieces a large file crosses in
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHUNK_BYTES = 4 * 1024 * 1024  # a weights file larger than this crosses in pieces of this size


def read_bundle_files(folder: Path) -> dict[str, bytes]:
    """The plain files of `folder` by name; {} when it does not exist."""
    if not folder.is_dir():
        return {}
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def write_bundle_files(folder: Path, files: dict[str, bytes]) -> Path:
    """Write `files` into a new folder beside `folder`, then swap it in (a reader finds the old bundle or the new
    one). A name with a path separator or a leading dot is refused (ValueError naming it)."""
    for name in files:
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"bundle file name {name!r} is not a plain file name")
    fresh = folder.with_name(folder.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    for name, data in files.items():
        (fresh / name).write_bytes(data)
    return swap_in(fresh, folder)


def swap_in(fresh: Path, folder: Path) -> Path:
    """Put the finished folder `fresh` in place of `folder` by renames (the old one goes aside as `<name>.old`,
    then away), so a reader finds the old folder or the new one, never half of one."""
    stale = folder.with_name(folder.name + ".old")
    shutil.rmtree(stale, ignore_errors=True)
    if folder.exists():
        os.replace(folder, stale)
    os.replace(fresh, folder)
    shutil.rmtree(stale, ignore_errors=True)
    return folder


def chunks(data: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    """`data` in pieces of at most `size` bytes (one empty piece for empty data)."""
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]
