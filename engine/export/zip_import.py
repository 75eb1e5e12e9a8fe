"""Unpacking a zip a user uploads, safely, and importing the run bundle inside it.

Every entry is checked from the zip's directory before anything is written: no absolute paths, no `..`,
no links or device files, no encrypted entries, no repeated names, at most `max_files` entries, each at most
`max_file_bytes` and all together at most `max_total_bytes` unpacked, and no entry that unpacks to more than
`max_ratio` times its packed size (a zip bomb). While unpacking, an entry that turns out larger than its
header said stops the import. Every refusal is a BundleError whose one line names the file and the entry.
Nothing is loaded with pickle: a bundle is JSON and safetensors, and only those four files are unpacked. Its
meta.json is checked against its schema (engine/runs/meta_schema.py) before `check` reads the bundle.

    bundle_dir, info = import_bundle_zip("lenet.zip", data, imports_root, check=describe_bundle)

The server's pages check with engine.export.exporter.describe_bundle (or the default, read_bundle_head): both
read the weights file's header only, so an upload costs the server no tensor; load_trained, which reads them
all, is for a child process or the command line.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from engine.errors import BundleError
from engine.runs.bundle import BUNDLE_FILES, META_FILE, SPEC_FILE, read_bundle_head, read_meta

T = TypeVar("T")
MIB = 1024 * 1024
CHUNK = MIB
RATIO_FLOOR = MIB  # entries that unpack to less than this are never called bombs (tiny JSON compresses well)


@dataclass(frozen=True)
class ZipLimits:
    max_files: int = 64
    max_file_bytes: int = 2048 * MIB
    max_total_bytes: int = 2048 * MIB
    max_ratio: float = 200.0
    max_zip_bytes: int = 512 * MIB


def _mb(n: int) -> str:
    return f"{n / MIB:.1f} MB"


def _entry_path(name: str) -> PurePosixPath | None:
    """The entry's relative path, or None when it is absolute or climbs out of the archive."""
    if not name or "\x00" in name:
        return None
    normal = name.replace("\\", "/")
    path = PurePosixPath(normal)
    first = path.parts[0] if path.parts else ""
    if path.is_absolute() or (len(first) >= 2 and first[1] == ":") or ".." in path.parts:
        return None
    return path


def _entry_problem(info: zipfile.ZipInfo, limits: ZipLimits) -> str | None:
    """Why this entry may not be unpacked, or None."""
    if _entry_path(info.filename) is None:
        return "has an absolute path or '..' (path traversal)"
    kind = stat.S_IFMT(info.external_attr >> 16)  # Unix file type bits; 0 when the zip does not say
    if kind == stat.S_IFLNK:
        return "is a symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "is not a regular file (a device, pipe or socket)"
    if info.flag_bits & 0x1:
        return "is encrypted"
    if info.file_size > limits.max_file_bytes:
        return f"unpacks to {_mb(info.file_size)}; an entry may be at most {_mb(limits.max_file_bytes)}"
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > RATIO_FLOOR and ratio > limits.max_ratio:
        return f"unpacks to {ratio:.0f} times its packed size (more than {limits.max_ratio:g}: a zip bomb)"
    return None


def check_zip(archive: zipfile.ZipFile, label: str, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    """Check every entry of `archive` before anything is written; its regular file entries, or BundleError."""
    entries = archive.infolist()
    if len(entries) > limits.max_files:
        raise BundleError(f"{label} has {len(entries)} entries; a bundle zip may hold at most {limits.max_files}")
    seen: set[str] = set()
    for info in entries:
        problem = _entry_problem(info, limits)
        if problem:
            raise BundleError(f"{label}: entry '{info.filename}' {problem}; nothing was unpacked")
        key = str(_entry_path(info.filename)).rstrip("/")
        if key in seen:
            raise BundleError(f"{label}: entry '{info.filename}' appears twice; nothing was unpacked")
        seen.add(key)
    total = sum(info.file_size for info in entries)
    if total > limits.max_total_bytes:
        raise BundleError(
            f"{label} unpacks to {_mb(total)}; a bundle zip may unpack to at most {_mb(limits.max_total_bytes)}"
        )
    return [info for info in entries if not info.is_dir()]


def _copy_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, label: str) -> None:
    """Unpack one entry, stopping if it holds more bytes than its header declared."""
    written = 0
    try:
        with archive.open(info) as source, open(target, "xb") as out:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > info.file_size:
                    raise BundleError(f"{label}: entry '{info.filename}' holds more data than its header says")
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as err:  # damaged entries
        raise BundleError(f"{label}: entry '{info.filename}' cannot be unpacked ({err})") from None


def open_zip(label: str, data: bytes, limits: ZipLimits) -> zipfile.ZipFile:
    if len(data) > limits.max_zip_bytes:
        raise BundleError(f"{label} is {_mb(len(data))}; a bundle zip may be at most {_mb(limits.max_zip_bytes)}")
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise BundleError(f"{label} is not a zip file") from None
    except (NotImplementedError, ValueError, EOFError, OSError) as err:  # a damaged or exotic directory
        raise BundleError(f"{label} is a zip file this app cannot read ({err})") from None


def bundle_folder(files: list[zipfile.ZipInfo], label: str) -> PurePosixPath:
    """The folder inside the zip that holds the bundle: the root or the one folder with spec.json."""
    folders = {_entry_path(i.filename).parent for i in files if _entry_path(i.filename).name == SPEC_FILE}
    if not folders:
        raise BundleError(f"{label} holds no {SPEC_FILE}; a bundle zip holds {', '.join(BUNDLE_FILES)}")
    if len(folders) > 1:
        listed = ", ".join(sorted(str(f) for f in folders))
        raise BundleError(f"{label} holds more than one bundle ({listed}); upload one at a time")
    return folders.pop()


def extract_bundle(archive: zipfile.ZipFile, label: str, dest: Path, limits: ZipLimits) -> Path:
    """Check the zip, then unpack only the four bundle files of its one bundle into `dest` (created here)."""
    files = check_zip(archive, label, limits)
    folder = bundle_folder(files, label)
    wanted = {str(folder / name): name for name in BUNDLE_FILES}
    chosen = {wanted[str(_entry_path(i.filename))]: i for i in files if str(_entry_path(i.filename)) in wanted}
    missing = [name for name in BUNDLE_FILES if name not in chosen]
    if missing:
        raise BundleError(f"{label} has no {', '.join(missing)} beside its {SPEC_FILE}")
    dest.mkdir(parents=True)
    try:
        for name, info in chosen.items():
            _copy_capped(archive, info, dest / name, label)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def import_bundle_zip(
    label: str,
    data: bytes,
    imports_root,
    limits: ZipLimits = ZipLimits(),
    check: Callable[[Path], T] = read_bundle_head,
) -> tuple[Path, T]:
    """Unpack an uploaded bundle zip under `imports_root` (one folder per distinct zip), then `check` it
    (read_bundle_head by default: every file checked, the weights by their header; the Export page passes
    engine.export.exporter.describe_bundle, which also fits the weights' shapes to the spec).

    Returns (the bundle directory, what `check` returned); BundleError with one clear line naming `label`.
    """
    root = Path(imports_root)
    dest = root / hashlib.sha256(data).hexdigest()[:16]
    if not (dest / META_FILE).is_file():  # the same zip uploaded again is unpacked already
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="unpacking-", dir=root))
        try:
            with open_zip(label, data, limits) as archive:
                extract_bundle(archive, label, staging / "bundle", limits)
            shutil.rmtree(dest, ignore_errors=True)
            os.replace(staging / "bundle", dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    try:
        read_meta(dest)  # meta.json's schema, whatever `check` reads (engine/runs/meta_schema.py)
        return dest, check(dest)
    except BundleError as err:
        shutil.rmtree(dest, ignore_errors=True)
        raise BundleError(str(err).replace(f"bundle '{dest}'", label)) from None
