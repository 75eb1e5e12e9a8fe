"""Generated code is built, never interpolated: every value from a spec or meta.json enters model.py through
engine/export/literal.py, so text full of quotes, backslashes, line breaks and code adds nothing to the module.

The property test writes model.py (the generator functions, no training) for hostile names and metadata and
checks with `ast` that the module holds exactly the statements a plain input gives, and that CLASS_NAMES reads
back as the input strings.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.analysis.validate import analyze
from engine.compile.fx_module import compile_analysis
from engine.export.literal import inert_text, one_line, py_identifier, py_literal
from engine.export.preprocess import input_normalization
from engine.export.python_io import readme_text
from engine.export.python_source import model_source
from tests.helpers import chain

pytestmark = pytest.mark.usefixtures("single_thread_torch")

# Reproducible in the normal run (CI); NETCANVAS_FUZZ=1 draws new examples each run, as tests/test_fuzz_specs.py.
REPRODUCIBLE = {"deadline": None, "database": None, "derandomize": os.environ.get("NETCANVAS_FUZZ") != "1"}
FRAGMENTS = [
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "\n",
    "\r",
    "\r\n",
    "\u2028",
    "\u2029",
    "\x00",
    "\x0c",
    "\x85",
    "#",
    "{x}",
    "\\N{",
    "\ud800",  # a lone surrogate
    "é中",
    '"""; import os; os.system("x") #',
    "'''; __import__('os').system('x') #",
    '\n"""\nimport pathlib; pathlib.Path("m").write_text("x")\nX = """',
    "\n# coding: utf_7\n+ACIAIgAi-",
]
hostile = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=6).map("".join)
N_CLASSES = 3


@pytest.fixture(scope="module")
def network():
    """A small network with an Input normalisation step: (compiled module, analysis)."""
    spec = chain(("x", "Input", {"shape": [2]}), ("fc", "Linear", {"out_features": N_CLASSES}))
    spec.name = "plain"
    analysis = analyze(spec)
    return compile_analysis(analysis).eval(), analysis


def _meta(version: str, dtype: str, class_names: list[str], dataset: str) -> dict:
    return {
        "netcanvas_version": version,
        "input_dtype": dtype,
        "task": "classification",
        "class_names": class_names,
        "dataset": dataset,
        "normalization": {"kind": "standardize", "mean": [1.0, -2.5], "std": [0.5, 4.0]},
    }


def _generated(network, name: str, meta: dict) -> tuple[str, str]:
    gm, analysis = network
    spec = analysis.spec.copy()
    spec.name = name
    named = dataclasses.replace(analysis, spec=spec)
    norm = input_normalization(meta, analysis.shapes[analysis.input_id])
    return model_source(gm, named, meta), readme_text(named, meta, norm, True)


def _shape(tree: ast.Module) -> list[tuple]:
    """The module's top-level statements (kind and the names they bind) and how many calls, imports and
    expression statements it holds anywhere: what hostile text must not change."""
    top = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            top.append(("Assign", tuple(t.id for t in stmt.targets)))
        elif isinstance(stmt, ast.ClassDef | ast.FunctionDef):
            top.append((type(stmt).__name__, len(stmt.body)))  # the network class's name follows the spec's name
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            top.append((type(stmt).__name__, getattr(stmt, "module", None), tuple(a.name for a in stmt.names)))
        else:
            top.append((type(stmt).__name__,))
    kinds = (ast.Call, ast.Import, ast.ImportFrom, ast.Expr, ast.Assign, ast.Attribute)
    counts = [sum(isinstance(node, kind) for node in ast.walk(tree)) for kind in kinds]
    return [*top, tuple(counts)]


def _class_names(tree: ast.Module):
    (value,) = [s.value for s in tree.body if isinstance(s, ast.Assign) and s.targets[0].id == "CLASS_NAMES"]
    return ast.literal_eval(value)


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture], **REPRODUCIBLE)
@given(
    name=hostile,
    version=hostile,
    dtype=hostile.filter(lambda text: text != "int64"),
    dataset=hostile,
    class_names=st.lists(hostile, min_size=N_CLASSES, max_size=N_CLASSES),
)
def test_hostile_names_and_metadata_add_nothing_to_model_py(network, name, version, dtype, class_names, dataset):
    plain_source, plain_readme = _generated(network, "plain", _meta("1.0", "float32", ["a", "b", "c"], "iris"))
    source, readme = _generated(network, name, _meta(version, dtype, class_names, dataset))
    tree = ast.parse(source)  # a SyntaxError fails the test
    assert _shape(tree) == _shape(ast.parse(plain_source))
    assert _class_names(tree) == tuple(class_names)
    docstring = ast.get_docstring(tree, clean=False)
    assert len(docstring.splitlines()) == len(ast.get_docstring(ast.parse(plain_source), clean=False).splitlines())
    assert len(readme.splitlines()) == len(plain_readme.splitlines())  # no text makes a line of its own


def test_plain_input_gives_the_expected_statements(network):
    source, _ = _generated(network, "iris net", _meta("1.0", "float32", ["a", "b", "c"], "iris"))
    tree = ast.parse(source)
    names = [s.name for s in tree.body if isinstance(s, ast.ClassDef | ast.FunctionDef)]
    assert names == ["IrisNet", "NormalizeInputs", "predict", "load_model"]
    assert _class_names(tree) == ("a", "b", "c")
    assert ast.get_docstring(tree).startswith("iris net: a network built with NetCanvas 1.0, as plain PyTorch.")


# --- py_literal ----------------------------------------------------------------------------------------------
# Non-finite floats are not literals (py_literal writes float("inf")): the cases below check them.

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=100, **REPRODUCIBLE)
@given(json_like)
def test_py_literal_reads_back_as_the_value(value):
    text = py_literal(value)
    assert ast.literal_eval(text) == value
    assert isinstance(ast.parse(text, mode="eval").body, ast.Constant | ast.List | ast.Tuple | ast.Dict | ast.UnaryOp)


@pytest.mark.parametrize(
    "value, text",
    [
        ("a", '"a"'),
        ('say "hi"', "'say \"hi\"'"),
        ("\u2028\r\n", '"\\u2028\\r\\n"'),
        ((1,), "(1,)"),
        (float("nan"), 'float("nan")'),
        (-math.inf, '-float("inf")'),
        (True, "True"),
    ],
)
def test_py_literal_writes(value, text):
    assert py_literal(value) == text


def test_non_finite_floats_evaluate_back():
    assert math.isnan(eval(py_literal(float("nan")))) and eval(py_literal([math.inf, -math.inf])) == [
        math.inf,
        -math.inf,
    ]


@pytest.mark.parametrize("value", [b"x", object(), {1, 2}, {(1, 2): 3}, [[]] * 0 + [print], complex(1, 2)])
def test_py_literal_refuses_anything_else(value):
    with pytest.raises(TypeError):
        py_literal(value)


def test_py_literal_refuses_deep_nesting():
    value: list = []
    for _ in range(100):
        value = [value]
    with pytest.raises(TypeError, match="nested"):
        py_literal(value)


@pytest.mark.parametrize("name", ["", "a b", "x;y", "class", "é", "a\n", "1a"])
def test_py_identifier_refuses_what_is_not_a_plain_name(name):
    with pytest.raises(ValueError):
        py_identifier(name)


@given(hostile)
@settings(max_examples=100, **REPRODUCIBLE)
def test_inert_text_cannot_end_a_docstring_or_a_comment(text):
    safe = inert_text(text)
    assert not set(safe) & set("\"'\\`") and safe == " ".join(safe.split()) and safe.isprintable()
    assert ast.get_docstring(ast.parse(f'"""{safe}"""\n# {safe}\n')) == safe
    assert "\n" not in one_line(text) and one_line(text).isprintable()
