"""The export's standalone check (a fresh Python that runs model.ts and model.py) runs beside the ONNX export: its
process is started before model.onnx is written, so its seconds of importing torch overlap the exporter's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import engine.export.exporter as exporter
from tests.bundles import trained_bundle

pytestmark = pytest.mark.usefixtures("single_thread_torch")


def standalone_children() -> list[int]:
    """Pids of this process's children that are a standalone check (`python -I -B -c ...`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        if parent == os.getpid() and command[1:4] == [b"-I", b"-B", b"-c"]:
            found.append(int(entry.name))
    return found


def test_the_standalone_check_runs_while_the_onnx_file_is_written(tmp_path, monkeypatch):
    bundle = trained_bundle(tmp_path / "iris", "mlp_iris")
    write_onnx, seen = exporter.write_onnx, []

    def spied(*args, **kwargs):
        seen.append(standalone_children())
        return write_onnx(*args, **kwargs)

    monkeypatch.setattr(exporter, "write_onnx", spied)
    report = exporter.export_bundle(bundle)
    assert len(seen) == 1 and len(seen[0]) == 1  # one check process, already going when ONNX is written
    assert all(result.ok for result in report.results.values()), report.results
    assert list(report.results) == ["onnx", "torchscript", "python"]
    assert (bundle / "model.onnx").is_file() and (bundle / "model.ts").is_file() and (bundle / "model.py").is_file()
    assert standalone_children() == []  # waited for
