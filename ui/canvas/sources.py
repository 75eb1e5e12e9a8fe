"""The sha256 of the canvas bundle's sources, recorded beside the bundle when it is built.

    python -m ui.canvas.sources            # prints the hash of the sources as they are now

The sources are the frontend's package.json, package-lock.json, build.mjs, everything under src/, and
scripts/build_canvas.sh. The hash covers each file's path and bytes (not its mtime: a git clone sets every
mtime to the checkout time), so tests/test_canvas_bundle.py can tell when the committed bundle is older than
its sources. No streamlit here: the build script runs this without the app.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "ui" / "canvas" / "frontend"
STATIC = ROOT / "ui" / "canvas" / "static"
HASH_FILE = STATIC / "SOURCES.sha256"
BUILD_SCRIPT = ROOT / "scripts" / "build_canvas.sh"


def source_files(root: Path = ROOT) -> list[Path]:
    """Every file the bundle is built from, in a fixed order (`root`: a repository checkout)."""
    frontend = root / FRONTEND.relative_to(ROOT)
    named = [frontend / "package.json", frontend / "package-lock.json", frontend / "build.mjs"]
    named.append(root / BUILD_SCRIPT.relative_to(ROOT))
    sources = sorted(p for p in (frontend / "src").rglob("*") if p.is_file())
    return named + sources


def sources_hash(root: Path = ROOT) -> str:
    """sha256 over each source's path (relative to `root`) and the sha256 of its bytes."""
    digest = hashlib.sha256()
    for path in source_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def recorded_hash() -> str | None:
    """The hash written by the last build, or None when there is none."""
    return HASH_FILE.read_text().strip() if HASH_FILE.exists() else None


if __name__ == "__main__":
    print(sources_hash())
