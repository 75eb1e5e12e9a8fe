"""Run bundles for the export, import and page tests: a template trained for a few steps, written to disk."""

from __future__ import annotations

import zipfile
from pathlib import Path

from builder.library.templates import TEMPLATES
from engine.runs.bundle import BUNDLE_FILES, write_bundle
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run

ROOT = Path(__file__).resolve().parents[1]


def trained_bundle(out_dir, template: str, steps: int = 10) -> Path:
    """Train `template` for `steps` optimizer steps (enough to move every weight off its initial value, and the
    BatchNorm statistics off zero and one), then write its bundle to `out_dir`."""
    t = TEMPLATES[template]
    config = TrainConfig(**{**t.train, "device": "cpu", "log_every": steps})
    run = prepare_run(t.spec(), config)
    for event in run.trainer.run():
        if event["kind"] == "step":
            break  # stop, as the Train page's Stop does; the model keeps its weights
    return write_bundle(out_dir, t.spec(), config, run.model, run.dataset, run.trainer.metrics())


def zip_bundle(bundle_dir: Path, zip_path: Path, folder: str = "net") -> bytes:
    """The bundle's four files zipped under `folder/`, as the Export page's zip holds them; the zip's bytes."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in BUNDLE_FILES:
            archive.write(bundle_dir / name, f"{folder}/{name}" if folder else name)
    return zip_path.read_bytes()
