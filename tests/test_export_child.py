"""The export's standalone check runs generated code in a bounded child: a clean environment (no variable of the
server's), an empty working folder, limits on CPU time and memory. A child stopped by a limit is one line.

The files the child loads here are written by hand, as a hostile model.py would be."""

from __future__ import annotations

import textwrap

import pytest
import torch

from engine.child_limits import ChildLimits, GiB, current_address_space
from engine.export.standalone_check import Job, child_limits, run_standalone

pytestmark = pytest.mark.usefixtures("single_thread_torch")


def _job(tmp_path, body: str) -> Job:
    """A job whose model.py runs `body` inside load_model (its weights file is never read)."""
    source = "import os\nimport torch\n\n\ndef load_model(weights):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    (tmp_path / "model.py").write_text(source)
    (tmp_path / "weights.safetensors").write_bytes(b"")
    return Job("b0_python", "python", tmp_path / "model.py", tmp_path / "weights.safetensors", {"batch": torch.ones(2)})


def _bounds(extra_bytes: int, cpu_seconds: int = 60) -> ChildLimits:
    """Room for a fresh Python with torch (this process maps more than such a child), plus `extra_bytes`."""
    return ChildLimits(cpu_seconds=cpu_seconds, memory_bytes=current_address_space() + extra_bytes, file_bytes=GiB)


def test_the_child_sees_none_of_the_servers_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NETCANVAS_SECRET", "the-session-key")
    job = _job(tmp_path, 'raise RuntimeError("env: " + " ".join(sorted(os.environ)) + " cwd: " + str(os.listdir()))\n')
    _, problems, _ = run_standalone([job])
    seen = problems["b0_python"]
    assert "env: " in seen and "PATH" in seen  # the child did report its environment
    assert "NETCANVAS_SECRET" not in seen and "HOME" not in seen
    assert seen.endswith("cwd: []")  # an empty folder of its own


def test_a_child_over_its_memory_limit_is_one_line(tmp_path):
    job = _job(tmp_path, "x = torch.ones(8 * 1024**3, dtype=torch.uint8)  # 8 GB, the limit is 1 GB above torch\n")
    bounds = _bounds(1 * GiB)
    _, problems, _ = run_standalone([job], bounds)
    expected = f"stopped: it used more than {bounds.memory_bytes / GiB:.1f} GB of memory"
    assert problems == {"b0_python": expected}


def test_a_child_that_cannot_even_start_under_its_memory_limit_is_one_line(tmp_path):
    job = _job(tmp_path, "return None\n")
    bounds = ChildLimits(cpu_seconds=60, memory_bytes=64 * 1024**2, file_bytes=GiB)  # 64 MB: torch cannot load
    _, problems, _ = run_standalone([job], bounds)
    assert problems == {
        "b0_python": "the check in a fresh Python process was stopped: it used more than 0.1 GB of memory"
    }


def test_a_child_over_its_cpu_limit_is_one_line(tmp_path):
    job = _job(tmp_path, "while True:\n    pass\n")
    _, problems, _ = run_standalone([job], _bounds(2 * GiB, cpu_seconds=2))
    assert problems == {"b0_python": "the check in a fresh Python process was stopped: it used more than 2 s of CPU"}


def test_the_limits_leave_room_for_a_network_at_the_parameter_cap(tmp_path):
    weights = tmp_path / "weights.safetensors"
    with open(weights, "wb") as f:  # a sparse file the size of 200 M float32 parameters
        f.truncate(800 * 1024**2)
    job = Job("b0_python", "python", tmp_path / "model.py", weights, {})
    bounds = child_limits([job])
    assert bounds.memory_bytes >= current_address_space() + 3 * 800 * 1024**2 + 2 * GiB
    assert bounds.cpu_seconds == 300 and bounds.file_bytes == GiB
