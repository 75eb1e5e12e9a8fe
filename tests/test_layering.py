"""The rooms of the house: builder/ stays free of torch, streamlit and plotly; engine/ of streamlit and plotly."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _modules(package: str) -> list[str]:
    """Every module of `package`, its subpackages' included (`engine.runs.worker`), but __main__."""
    modules = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def test_the_walk_reaches_every_subpackage():
    for package in ("builder", "engine", "ui"):
        folders = {p.parent for p in (ROOT / package).rglob("*.py")}
        found = _modules(package)
        for folder in folders:
            dotted = ".".join(folder.relative_to(ROOT).parts)
            assert any(m == dotted or m.startswith(dotted + ".") for m in found), dotted
    assert "engine.runs.worker" in _modules("engine") and "ui.train.live_view" in _modules("ui")


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_builder_imports_no_torch_streamlit_or_plotly():
    loaded = _loaded_after_import(_modules("builder"))
    assert not loaded & {"torch", "streamlit", "plotly"}, loaded & {"torch", "streamlit", "plotly"}


def test_engine_imports_no_streamlit_or_plotly():
    loaded = _loaded_after_import(_modules("engine"))
    assert "torch" in loaded
    assert not loaded & {"streamlit", "plotly"}


def test_only_ui_figures_builds_plotly_figures():
    """Every plotly figure is built in ui/figures/ (pages only hand them to st.plotly_chart)."""
    importers = []
    for path in sorted(ROOT.glob("*.py")) + sorted(ROOT.glob("[!.]*/**/*.py")):
        if "tests" in path.relative_to(ROOT).parts[:1]:
            continue
        text = path.read_text()
        if "import plotly" in text or "from plotly" in text:
            importers.append(path.relative_to(ROOT).as_posix())
    assert importers and all(p.startswith("ui/figures/") for p in importers), importers
