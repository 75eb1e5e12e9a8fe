"""Finding the run bundles under the runs directory, for pages that let a person pick one.

    runs/<run_id>/bundle/   a run of the Train page (engine.runs.store)
    runs/<name>/            `python -m engine train ... --out runs/<name>`
    runs/imports/<digest>/  a bundle zip uploaded on the Export page

Only the small JSON files are read (the spec's name, meta.json's dataset and metrics); nothing is compiled.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.runs.bundle import BUNDLE_FILES, META_FILE, SPEC_FILE
from engine.runs.store import DEFAULT_RUNS_DIR, RUNS_DIR_ENV

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


def find_bundles(root: Path | None = None) -> list[BundleEntry]:
    """Every complete bundle one or two levels below `root` (default: the runs directory), newest first."""
    base = Path(root) if root is not None else runs_dir()
    if not base.is_dir():
        return []
    found = {meta.parent for pattern in PATTERNS for meta in base.glob(f"{pattern}/{META_FILE}")}
    entries = [entry for entry in map(_entry, sorted(found)) if entry is not None]
    return sorted(entries, key=lambda e: e.modified, reverse=True)
