"""The rooms of the house: builder/ stays free of torch, streamlit and plotly; engine/ of streamlit and plotly."""

import ast
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


BUILDER_ROOMS = ["spec", "ops", "analysis", "library", "editor"]  # each imports only the rooms before it
EXPLORER_ROOM = "explorer"  # on its own: imports no other room


def _builder_imports(path: pathlib.Path) -> set[str]:
    """The builder rooms a module imports, at its top or inside a function."""
    tree = ast.parse(path.read_text())
    rooms = set()
    for node in ast.walk(tree):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        rooms |= {n.split(".")[1] for n in names if n.startswith("builder.") and n.count(".") >= 1}
    return rooms


def test_builder_rooms_import_only_the_rooms_before_them():
    wrong = []
    for room in BUILDER_ROOMS + [EXPLORER_ROOM]:
        allowed = {room} | (set(BUILDER_ROOMS[: BUILDER_ROOMS.index(room)]) if room in BUILDER_ROOMS else set())
        for path in sorted((ROOT / "builder" / room).glob("*.py")):
            wrong += [f"{path.relative_to(ROOT)} imports builder.{r}" for r in _builder_imports(path) - allowed]
    assert not wrong, wrong
    assert {p.name for p in (ROOT / "builder").glob("*.py")} == {"__init__.py"}, "a module outside the rooms"


def _module_graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Which of our modules each of our modules imports (top-level and function-level imports alike)."""
    graph = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            targets = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    targets |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
                elif isinstance(node, ast.Import):
                    targets |= {a.name for a in node.names}
            graph[name] = targets
    return {m: {t for t in ts if t in graph and t != m} for m, ts in graph.items()}


def test_no_import_circles():
    """No module reaches itself through imports, deferred ones included (a circle hidden by a late import is
    still two modules that cannot be understood apart)."""
    import networkx as nx

    graph = nx.DiGraph([(m, t) for m, ts in _module_graph(("builder", "engine", "ui")).items() for t in ts])
    circles = sorted(sorted(c) for c in nx.simple_cycles(graph))
    package_inits = {m for m in graph if (ROOT / m.replace(".", "/") / "__init__.py").exists()}
    circles = [c for c in circles if not set(c) & package_inits]
    assert not circles, circles
