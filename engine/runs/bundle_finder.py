"""Finding the run bundles under the runs directory, for pages that let a person pick one.

    runs/<run_id>/bundle/   a run of the Train page (engine.runs.store)
    runs/<name>/            `python -m engine train ... --out runs/<name>`
    runs/imports/<digest>/  a bundle zip uploaded on the Export page

Only the small JSON files are read (the spec's name, meta.json's dataset and metrics); nothing is compiled.

With an `owner` (a browser session's key) the list keeps that session's own: a Train-page run whose run.json
names another owner is left out, and so is an uploaded zip no one of that key uploaded (`<digest>.owners`
beside the unpacked folder lists the keys that did). Bundles written by the command line belong to whoever
runs the server and are listed for everyone.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.runs.bundle import BUNDLE_FILES, META_FILE, SPEC_FILE
from engine.runs.store import DEFAULT_RUNS_DIR, RUN_FILE, RUNS_DIR_ENV

IMPORTS_FOLDER = "imports"
PATTERNS = ("*", "*/*")  # bundle directories sit one or two levels below the runs directory


@dataclass(frozen=True)
class BundleEntry:
    path: Path
    name: str  # the spec's name
    dataset: str
    modified: float  # mtime of meta.json (written last)
    metrics: dict = field(default_factory=dict)

    @property
    def imported(self) -> bool:
        return self.path.parent.name == IMPORTS_FOLDER

    def label(self, root: Path) -> str:
        where = "uploaded" if self.imported else str(self.path.relative_to(root))
        accuracy = self.metrics.get("val_accuracy")
        score = f", val_accuracy {100 * accuracy:.1f}%" if isinstance(accuracy, int | float) else ""
        return f"{self.name} ({self.dataset}{score}) · {where}"


def runs_dir() -> Path:
    return Path(os.environ.get(RUNS_DIR_ENV) or DEFAULT_RUNS_DIR)


def imports_dir(root: Path | None = None) -> Path:
    return (root or runs_dir()) / IMPORTS_FOLDER


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _entry(bundle: Path) -> BundleEntry | None:
    if not all((bundle / name).is_file() for name in BUNDLE_FILES):
        return None
    meta = _read_json(bundle / META_FILE)
    name = _read_json(bundle / SPEC_FILE).get("name")
    metrics = meta.get("metrics")
    return BundleEntry(
        path=bundle,
        name=name if isinstance(name, str) else bundle.name,
        dataset=str(meta.get("dataset", "?")),
        modified=(bundle / META_FILE).stat().st_mtime,
        metrics=metrics if isinstance(metrics, dict) else {},
    )


def _owners_file(imported_bundle: Path) -> Path:
    return imported_bundle.with_name(imported_bundle.name + ".owners")


def note_importer(imported_bundle: Path, owner: str) -> None:
    """Record that `owner` uploaded the zip unpacked at `imported_bundle` (the same zip may come from several)."""
    path = _owners_file(imported_bundle)
    owners = _read_json_list(path)
    if owner not in owners:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps([*owners, owner]), encoding="utf-8")
        os.replace(tmp, path)


def _read_json_list(path: Path) -> list:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    return data if isinstance(data, list) else []


def belongs_to(entry: BundleEntry, root: Path, owner: str) -> bool:
    """Whether the session `owner` may see the bundle: its own runs and uploads, and the command line's."""
    if entry.imported:
        return owner in _read_json_list(_owners_file(entry.path))
    run_file = entry.path.parent / RUN_FILE
    if entry.path.name == "bundle" and entry.path.parent.parent == root and run_file.is_file():
        return _read_json(run_file).get("owner") == owner  # a Train-page run: runs/<run_id>/bundle
    return True


def find_bundles(root: Path | None = None, owner: str | None = None) -> list[BundleEntry]:
    """Every complete bundle one or two levels below `root` (default: the runs directory), newest first;
    with `owner`, only those that session may see (module doc)."""
    base = Path(root) if root is not None else runs_dir()
    if not base.is_dir():
        return []
    found = {meta.parent for pattern in PATTERNS for meta in base.glob(f"{pattern}/{META_FILE}")}
    entries = [entry for entry in map(_entry, sorted(found)) if entry is not None]
    if owner is not None:
        entries = [entry for entry in entries if belongs_to(entry, base, owner)]
    return sorted(entries, key=lambda e: e.modified, reverse=True)
