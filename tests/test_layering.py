"""The rooms of the house: builder/ stays free of torch, streamlit and plotly; engine/ of streamlit and plotly."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _modules(package: str) -> list[str]:
    return [f"{package}.{p.stem}" for p in sorted((ROOT / package).glob("*.py")) if p.stem != "__main__"]


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
