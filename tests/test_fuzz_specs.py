"""Property-based fuzzing of the builder and the compiler with Hypothesis (issue 14, item 6).

Specs are generated from the catalog's own parameter schemas (kinds, defaults, ranges, choices): mostly valid
values, sometimes out of range, of the wrong type, huge, negative or nested; wired as chains and small DAGs
(merges with ports); and the templates are mutated (nodes dropped, duplicated, renamed, edges rewired, params
changed, odd values in `ui`, odd names). Two properties:

- the builder never raises: parse, analyze, summary, upload, layout, the editor's load, fixes and canvas sync;
- every spec that validates compiles, and runs a forward and a backward pass whose output shape and parameter
  count are the ones the builder inferred. Three draws in four are valid on purpose (chains grown only with nodes
  that keep them valid, and templates with valid parameter changes), so that at least half of the generated specs
  compile: the test counts them and fails below half.

The normal run uses the "ci" profile: derandomized and without an example database, so CI is reproducible
(200 builder examples, 60 per compile property). Set NETCANVAS_FUZZ=1 for the "fuzz" profile: 5,000 builder
examples and 3,000 per compile property, randomly seeded so that each run explores new specs (a failure prints
the example and a @reproduce_failure blob), about 10 minutes on two cores:

    NETCANVAS_FUZZ=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_fuzz_specs.py
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from builder.analysis.summary import format_table, memory_estimate, summary_rows
from builder.analysis.upload import loading_problems, read_spec_upload
from builder.analysis.validate import analyze
from builder.editor.canvas_edit import edge_ids
from builder.editor.canvas_events import EventLog, apply_event
from builder.editor.canvas_picture import picture_nodes
from builder.editor.layout import layered_layout
from builder.editor.session import EditorSession
from builder.library.block_library import resnet18
from builder.library.templates import TEMPLATES
from builder.ops.catalog import CATALOG
from builder.ops.opdef import Param, numel
from builder.spec.spec import parse_spec

FUZZ = os.environ.get("NETCANVAS_FUZZ") == "1"
COMMON = {"derandomize": True, "database": None, "deadline": None, "print_blob": True}
HEALTH = [
    HealthCheck.too_slow,
    HealthCheck.filter_too_much,
    HealthCheck.data_too_large,
    HealthCheck.function_scoped_fixture,
]
settings.register_profile("ci", max_examples=200, suppress_health_check=HEALTH, **COMMON)
settings.register_profile("fuzz", max_examples=5000, suppress_health_check=HEALTH, **(COMMON | {"derandomize": False}))
PROFILE = "fuzz" if FUZZ else "ci"
COMPILE_EXAMPLES = 3000 if FUZZ else 60

MAX_DIM = 16  # every generated size
MAX_NODES = 8
MAX_VALUES = 4096  # values in one node's output per example, so a forward pass costs milliseconds
OPS = sorted(CATALOG)
BODY_OPS = [op for op in OPS if op != "Input"]
INPUT_SHAPES = ([4], [6], [3, 4], [5, 2], [2, 6, 6], [1, 5, 4], [3, 8])

# values ------------------------------------------------------------------------------------------------------

ODD_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=6),
    st.integers(-(10**13), 10**13),
    st.sampled_from([0, -1, 10**6, 10**6 + 1, 10**9, 10**30, -(10**30), 2**63, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
)
ODD_VALUES = st.recursive(
    ODD_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


def _hi(p: Param, span: int = MAX_DIM) -> int:
    lo = int(p.min) if p.min is not None else -3
    return min(int(p.max), lo + span) if p.max is not None else lo + span


def _valid_int(p: Param, span: int = MAX_DIM) -> st.SearchStrategy:
    lo = int(p.min) if p.min is not None else -3
    return st.integers(lo, max(lo, _hi(p, span)))


def _valid_float(p: Param) -> st.SearchStrategy:
    lo = p.min if p.min is not None else -3.0
    hi = p.max if p.max is not None else lo + 3.0
    return st.floats(lo, hi, exclude_max=p.exclusive_max, allow_nan=False)


def valid_value(p: Param, span: int = MAX_DIM) -> st.SearchStrategy:
    """Values the schema accepts, kept small (sizes <= MAX_DIM; kernels and strides smaller with `span`)."""
    if p.kind == "int":
        return _valid_int(p, span)
    if p.kind == "float":
        return _valid_float(p)
    if p.kind == "bool":
        return st.booleans()
    if p.kind == "choice":
        return st.sampled_from(p.choices)
    if p.kind == "shape":
        return st.lists(st.integers(1, 6), min_size=1, max_size=3)
    if p.kind == "size":
        one = _valid_int(p, span)
        return one | st.lists(one, min_size=2, max_size=2)
    raise AssertionError(p.kind)


def bad_value(p: Param) -> st.SearchStrategy:
    """Values just outside the schema: out of range, negative, huge, wrong-typed, nested."""
    edges = [v for v in (p.min, p.max) if v is not None]
    near = [int(v) + d for v in edges for d in (-1, 1)] + [v + d for v in edges for d in (-0.5, 0.5)]
    kinds = {"int": 1.5, "float": "1", "bool": 1, "choice": "nope", "shape": [2, 0], "size": [2, 2, 2]}
    return st.one_of(st.sampled_from(near + [kinds[p.kind], -(10**7), 10**7]), ODD_VALUES)


def param_values(op_name: str, bad_rate: float, span: int = MAX_DIM) -> st.SearchStrategy:
    """A params dict for `op_name`: required params mostly present, optional ones sometimes; some values odd."""

    @st.composite
    def build(draw) -> dict:
        out = {}
        for p in CATALOG[op_name].params:
            if not p.required and draw(st.booleans()):
                continue
            if p.required and draw(st.integers(0, 99)) < 2:
                continue
            bad = draw(st.floats(0, 1)) < bad_rate
            out[p.name] = draw(bad_value(p) if bad else valid_value(p, span))
        if draw(st.integers(0, 99)) < 100 * bad_rate / 4:
            out[draw(st.text(max_size=4))] = draw(ODD_VALUES)
        return out

    return build()


# specs -------------------------------------------------------------------------------------------------------

ODD_IDS = st.sampled_from(["", "X", "1a", "self", "class", "train", "code", "a-b", "é", "a\n", "_", "x" * 300])


def _input_node(draw, bad_rate: float) -> dict:
    shape = draw(st.sampled_from(INPUT_SHAPES))
    dtype = draw(st.sampled_from(["float32"] * 5 + ["int64"]))
    params = {"shape": list(shape), "dtype": dtype}
    if draw(st.floats(0, 1)) < bad_rate:
        params = draw(param_values("Input", 1.0))
    return {"id": "x", "op": "Input", "params": params}


def _edges_for(draw, ids: list[str], merges: set[str]) -> list[dict]:
    """A chain, plus for each merge node a second (or third) producer from earlier, with ports sometimes."""
    edges = [{"source": a, "target": b} for a, b in zip(ids, ids[1:])]
    for i, node_id in enumerate(ids):
        if node_id not in merges or i < 2:
            continue
        extra = draw(st.lists(st.sampled_from(ids[: i - 1]), min_size=1, max_size=2))
        edges += [{"source": s, "target": node_id} for s in extra]
        if draw(st.booleans()):
            ports = draw(st.permutations(list(range(len(extra) + 1))))
            for edge, port in zip([e for e in edges if e["target"] == node_id], ports):
                edge["port"] = port
    return edges


@st.composite
def catalog_specs(draw, bad_rate: float = 0.15) -> dict:
    """A chain or small DAG of catalog ops from the Input, params drawn from each op's schema."""
    nodes = [_input_node(draw, bad_rate)]
    for i in range(draw(st.integers(0, MAX_NODES - 1))):
        op = draw(st.sampled_from(BODY_OPS))
        nodes.append({"id": f"n{i}", "op": op, "params": draw(param_values(op, bad_rate))})
    merges = {n["id"] for n in nodes if CATALOG[n["op"]].max_inputs is None}
    edges = _edges_for(draw, [n["id"] for n in nodes], merges)
    return {"version": 1, "name": draw(st.text(max_size=8)), "nodes": nodes, "edges": edges}


def _mutate(draw, raw: dict) -> None:
    nodes, edges = raw["nodes"], raw["edges"]
    ids = [n["id"] for n in nodes] + ["ghost"]
    kind = draw(st.sampled_from(["drop", "dup", "rename", "rewire", "param", "ui", "edge_key", "name", "op"]))
    if kind == "drop" and nodes:
        nodes.pop(draw(st.integers(0, len(nodes) - 1)))
    elif kind == "dup" and nodes:
        nodes.append(json.loads(json.dumps(draw(st.sampled_from(nodes)))))
    elif kind == "rename" and nodes:
        draw(st.sampled_from(nodes))["id"] = draw(ODD_IDS | st.sampled_from(ids))
    elif kind == "rewire" and edges:
        edge = draw(st.sampled_from(edges))
        edge[draw(st.sampled_from(["source", "target"]))] = draw(st.sampled_from(ids))
        if draw(st.booleans()):
            edge["port"] = draw(st.integers(0, 3) | ODD_SCALARS)
    elif kind == "param" and nodes:
        node = draw(st.sampled_from(nodes))
        schema = CATALOG[node["op"]].params if node["op"] in CATALOG else ()
        if schema:
            p = draw(st.sampled_from(schema))
            node.setdefault("params", {})[p.name] = draw(valid_value(p) | bad_value(p))
    elif kind == "ui" and nodes:
        draw(st.sampled_from(nodes))["ui"] = draw(st.dictionaries(st.sampled_from(["x", "y", "z"]), ODD_VALUES))
    elif kind == "edge_key":
        edges.append(draw(st.dictionaries(st.sampled_from(["source", "target", "port"]), ODD_VALUES)))
    elif kind == "name":
        raw["name"] = draw(ODD_VALUES)
    elif kind == "op" and nodes:
        draw(st.sampled_from(nodes))["op"] = draw(st.sampled_from(OPS + ["Nope", ""]))


@st.composite
def template_mutants(draw) -> dict:
    raw = TEMPLATES[draw(st.sampled_from(sorted(TEMPLATES)))].build()
    raw = json.loads(json.dumps(raw))
    for _ in range(draw(st.integers(1, 4))):
        _mutate(draw, raw)
    return raw


def _mutate_block(draw, block: dict, names: list[str]) -> None:
    """One change inside a block definition: its body as a network's, or its parameters and references."""
    kind = draw(st.sampled_from(["body", "param", "ref", "use"]))
    nodes = block["nodes"]
    if kind == "body":
        _mutate(draw, block)
    elif kind == "param":
        block["params"][draw(st.sampled_from(sorted(block["params"]) + ["extra"]))] = draw(st.none() | ODD_VALUES)
    elif kind == "ref" and nodes:
        key = draw(st.sampled_from(["out_channels", "kernel_size", "port", "block", "shape"]))
        draw(st.sampled_from(nodes)).setdefault("params", {})[key] = draw(st.sampled_from(["$channels", "$nope", "$"]))
    elif kind == "use" and nodes:  # a use of itself, of another block or of none
        block["nodes"].append(
            {"id": "again", "op": "Block", "params": {"block": draw(st.sampled_from(names + ["no"]))}}
        )
        block["edges"].append({"source": draw(st.sampled_from(nodes))["id"], "target": "again"})


@st.composite
def block_mutants(draw) -> dict:
    """ResNet-18 from blocks with the network or its block definitions changed 1 to 4 times."""
    shape = draw(st.sampled_from([[1, 8, 8], [3, 16, 16]]))
    raw = json.loads(json.dumps(resnet18("fuzz", shape, draw(st.integers(1, 4)))))
    names = sorted(raw["blocks"])
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(["network", *names]))
        if target == "network":
            _mutate(draw, raw)
        else:
            _mutate_block(draw, raw["blocks"][target], names)
    return raw


ANY_SPEC = st.one_of(catalog_specs(), catalog_specs(bad_rate=0.6), template_mutants(), block_mutants())

# the builder never raises --------------------------------------------------------------------------------------


def _canvas_events(draw, spec) -> list[dict]:
    """Events a canvas could send about this spec: each kind, with real, stale and made-up ids."""
    ids = [n.id for n in spec.nodes] + ["ghost"]
    edges = list(edge_ids(spec)) + ["ghost->x:0"]
    some_ids = st.lists(st.sampled_from(ids), max_size=3)
    kinds = {
        "add": lambda: {
            "op": draw(st.sampled_from(sorted(CATALOG))),
            "x": 10.0,
            "y": 20.0,
            "on_edge": draw(st.sampled_from([None, *edges])),
        },
        "connect": lambda: {
            "source": draw(st.sampled_from(ids)),
            "target": draw(st.sampled_from(ids)),
            "port": draw(st.sampled_from([None, 0, 1, 7])),
        },
        "delete": lambda: {"nodes": draw(some_ids), "edges": draw(st.lists(st.sampled_from(edges), max_size=2))},
        "move_end": lambda: {"positions": {i: [draw(st.floats(-1e4, 1e4)), 0.0] for i in draw(some_ids)}},
        "select": lambda: {"nodes": draw(some_ids)},
        "paste": lambda: {"nodes": draw(some_ids), "dx": 40.0, "dy": 40.0},
        "group": lambda: {"nodes": draw(some_ids)},
        "open": lambda: {"path": draw(st.lists(st.sampled_from(ids), max_size=2))},
        "expand": lambda: {"node": draw(st.sampled_from(ids))},
        "undo": dict,
        "redo": dict,
    }
    chosen = draw(st.lists(st.sampled_from(sorted(kinds)), min_size=1, max_size=3))
    return [{"client": "fuzz", "seq": k + 1, "kind": kind, **kinds[kind]()} for k, kind in enumerate(chosen)]


def _check_editor(draw, spec) -> None:
    session = EditorSession()
    session.load(spec, "fuzz")
    a = session.analysis()
    fixes = [f for issue in a.issues for f in issue.fixes]
    if fixes:
        session.fix(draw(st.sampled_from(fixes)))
    log = EventLog()
    for canvas_event in _canvas_events(draw, session.spec):
        apply_event(session, log, canvas_event)
        analyze(session.spec)
        picture_nodes(session.view, session.view_analysis())


def check_builder(draw, raw: dict) -> None:
    """Every builder entry point on `raw`; raises only on a bug."""
    data = json.dumps(raw).encode()
    read_spec_upload("fuzz.json", data)
    spec, issues = parse_spec(raw)
    assert (spec is None) == bool(issues)
    if spec is None:
        return
    a = analyze(spec)
    summary_rows(a)
    format_table(a)
    memory_estimate(a, 32)
    layered_layout(spec)
    if not loading_problems(spec):  # the Build page loads only specs an upload would accept
        _check_editor(draw, spec)


@settings(settings.get_profile(PROFILE))
@given(st.data())
def test_builder_never_raises(data):
    check_builder(data.draw, data.draw(ANY_SPEC))


# every valid spec compiles and runs --------------------------------------------------------------------------


@st.composite
def growing_specs(draw) -> dict:
    """A spec grown node by node, keeping (mostly) nodes that still validate: long valid chains and merges."""
    nodes, edges = [_input_node(draw, 0.0)], []
    for i in range(draw(st.integers(1, MAX_NODES - 1))):
        node = {"id": f"n{i}", "op": draw(st.sampled_from(BODY_OPS))}
        node["params"] = draw(_smart_params(node["op"], nodes, edges, draw(st.sampled_from([4, 4, MAX_DIM]))))
        new_edges = _wire(draw, node, nodes)
        trial = {"version": 1, "name": "grow", "nodes": nodes + [node], "edges": edges + new_edges}
        spec, _ = parse_spec(trial)
        if spec is not None and (analyze(spec).ok or draw(st.integers(0, 19)) == 0):
            nodes, edges = trial["nodes"], trial["edges"]
    return {"version": 1, "name": "grow", "nodes": nodes, "edges": edges}


def _wire(draw, node: dict, nodes: list[dict]) -> list[dict]:
    last = nodes[-1]["id"]
    if CATALOG[node["op"]].max_inputs is not None or len(nodes) < 2:
        return [{"source": last, "target": node["id"]}]
    other = draw(st.sampled_from([n["id"] for n in nodes[:-1]] + [last]))
    edges = [{"source": last, "target": node["id"]}, {"source": other, "target": node["id"]}]
    if draw(st.booleans()):
        edges[0]["port"], edges[1]["port"] = draw(st.sampled_from([(0, 1), (1, 0)]))
    return edges


def _current_shape(nodes: list[dict], edges: list[dict]) -> tuple | None:
    spec, _ = parse_spec({"version": 1, "name": "g", "nodes": nodes, "edges": edges})
    a = analyze(spec)
    return a.shapes.get(a.output_id) if a.output_id else None


def _smart_params(op: str, nodes: list[dict], edges: list[dict], span: int) -> st.SearchStrategy:
    """Valid params, small kernels and strides; a Reshape often to a shape of the current size."""
    if op == "Reshape":
        shape = _current_shape(nodes, edges)
        if shape:
            n = numel(shape)
            divisors = [d for d in range(1, n + 1) if n % d == 0]
            fits = st.sampled_from(divisors).map(lambda d: {"shape": [d, n // d]}) | st.just({"shape": [n]})
            return fits | param_values(op, 0.0)
    return param_values(op, 0.0, span=span)


def _small(a) -> bool:
    return all(numel(s) <= MAX_VALUES and all(d <= 64 for d in s) for s in a.shapes.values())


def check_compiles(raw: dict) -> bool:
    """Compile, forward, backward a spec that validates; returns whether it did (False: skipped)."""
    import torch

    from engine.compile.fx_module import compile_analysis, param_count

    spec, _ = parse_spec(raw)
    a = analyze(spec) if spec is not None else None
    if a is None or not a.ok or not _small(a):
        event("skipped: not valid or not small")
        return False
    event("compiled")
    gm = compile_analysis(a)
    assert param_count(gm) == a.total_params, (a.total_params, param_count(gm))
    shape = (2, *a.shapes[a.input_id])
    long = a.dtypes[a.input_id] == "int64"
    x = torch.zeros(shape, dtype=torch.long) if long else torch.randn(shape)
    gm.train()
    y = gm(x)
    assert tuple(y.shape) == (2, *a.shapes[a.output_id]), (tuple(y.shape), a.shapes[a.output_id])
    if y.requires_grad:
        y.float().sum().backward()
    return True


# specs valid on purpose: a node joins only if the network still validates and stays small
CHAIN_OPS = [op for op in BODY_OPS if op not in ("Block", "Recurrent", "Output")]  # these need block definitions


def _valid_and_small(raw: dict) -> bool:
    spec, _ = parse_spec(raw)
    if spec is None:
        return False
    a = analyze(spec)
    return a.ok and _small(a)


def _valid_start(draw) -> tuple[list[dict], list[dict]]:
    """A float Input, or an int64 one of token ids followed by an Embedding (the one op that reads them)."""
    if draw(st.integers(0, 5)) == 0:
        steps = draw(st.integers(1, 8))
        embed = {"num_embeddings": draw(st.integers(1, 8)), "embedding_dim": draw(st.integers(1, 8))}
        nodes = [{"id": "x", "op": "Input", "params": {"shape": [steps], "dtype": "int64"}}]
        return nodes + [{"id": "embed", "op": "Embedding", "params": embed}], [{"source": "x", "target": "embed"}]
    return [{"id": "x", "op": "Input", "params": {"shape": list(draw(st.sampled_from(INPUT_SHAPES)))}}], []


@st.composite
def valid_chains(draw) -> dict:
    """Chains and merges of catalog ops that validate by construction: each node is drawn up to 4 times (op,
    params, wiring) and joins with the first draw that keeps the network valid and small; an Identity when none
    does. Every spec it returns validates."""
    nodes, edges = _valid_start(draw)
    for i in range(draw(st.integers(1, MAX_NODES - len(nodes)))):
        for _ in range(4):
            node = {"id": f"n{i}", "op": draw(st.sampled_from(CHAIN_OPS))}
            node["params"] = draw(_smart_params(node["op"], nodes, edges, draw(st.sampled_from([4, 4, MAX_DIM]))))
            trial = {"version": 1, "name": "valid", "nodes": nodes + [node], "edges": edges + _wire(draw, node, nodes)}
            if _valid_and_small(trial):
                nodes, edges = trial["nodes"], trial["edges"]
                break
        else:
            nodes, edges = (
                nodes + [{"id": f"n{i}", "op": "Identity"}],
                edges + [{"source": nodes[-1]["id"], "target": f"n{i}"}],
            )
    raw = {"version": 1, "name": "valid", "nodes": nodes, "edges": edges}
    assert _valid_and_small(raw), raw  # by construction
    return raw


SMALL_TEMPLATES = sorted(name for name, t in TEMPLATES.items() if _valid_and_small(t.build()))


@st.composite
def template_variants(draw) -> dict:
    """A small template with 1 to 3 of its parameters set to other valid values, each change kept only if the
    network still validates and stays small."""
    raw = json.loads(json.dumps(TEMPLATES[draw(st.sampled_from(SMALL_TEMPLATES))].build()))
    for _ in range(draw(st.integers(1, 3))):
        node = draw(st.sampled_from(raw["nodes"]))
        schema = [p for p in CATALOG[node["op"]].params if p.name not in ("shape", "dtype", "block")]
        if not schema:
            continue
        p = draw(st.sampled_from(schema))
        before = dict(node.get("params", {}))
        node.setdefault("params", {})[p.name] = draw(valid_value(p, 4))
        if not _valid_and_small(raw):
            node["params"] = before
    return raw


ON_PURPOSE = st.one_of(valid_chains(), template_variants())
ANY_SOURCE = st.one_of(growing_specs(), catalog_specs(bad_rate=0.0), template_mutants(), block_mutants())


@st.composite
def compile_specs(draw) -> dict:
    """Three draws in four valid on purpose, one from the sources that validate by chance (block mutants among
    them). (st.one_of with a strategy repeated does not weight it: Hypothesis flattens and dedupes the branches.)"""
    return draw(ON_PURPOSE if draw(st.integers(0, 3)) < 3 else ANY_SOURCE)


def compile_counts(strategy: st.SearchStrategy, examples: int) -> Counter:
    """Runs the compile property over `examples` generated specs; Counter of True (compiled) and False (skipped:
    not valid or not small). A failing example fails here, shrunk, with Hypothesis's report."""
    counts: Counter = Counter()

    @settings(settings.get_profile(PROFILE), max_examples=examples)
    @given(strategy)
    def every_valid_spec_compiles_and_runs(raw):
        counts[check_compiles(raw)] += 1

    every_valid_spec_compiles_and_runs()
    return counts


@pytest.mark.usefixtures("single_thread_torch")
def test_every_valid_spec_compiles_and_runs_and_most_generated_specs_are_valid():
    counts = compile_counts(compile_specs(), COMPILE_EXAMPLES)
    compiled, total = counts[True], counts[True] + counts[False]
    assert total >= COMPILE_EXAMPLES // 2, counts  # Hypothesis ran the examples asked for (a few may be rejected)
    assert compiled >= total / 2, f"only {compiled} of {total} generated specs compiled: the generator drifted"


@pytest.mark.usefixtures("single_thread_torch")
def test_valid_chains_always_compile():
    counts = compile_counts(valid_chains(), COMPILE_EXAMPLES // 2)
    assert counts[False] == 0 and counts[True] > 0, counts


# regressions found by the fuzz profile -----------------------------------------------------------------------


def _raw(nodes: list[tuple], edges: list[tuple]) -> dict:
    return {
        "version": 1,
        "name": "r",
        "nodes": [{"id": i, "op": op, "params": params} for i, op, params in nodes],
        "edges": [{"source": s, "target": t} for s, t in edges],
    }


@pytest.mark.parametrize("value", [10**400, -(10**400), float("inf"), float("-inf")])
def test_a_float_param_too_large_for_a_float_is_an_issue(value):
    """check_value raised OverflowError converting an integer of 400 digits to float; infinity validated."""
    raw = _raw([("x", "Input", {"shape": [4]}), ("act", "ELU", {"alpha": value})], [("x", "act")])
    a = analyze(parse_spec(raw)[0])
    assert [i.field for i in a.issues] == ["nodes[1].params.alpha"]
    assert "finite number" in a.issues[0].message


def test_a_repeated_id_of_another_op_is_an_issue_not_a_key_error():
    """analyze looked up a repeated id's last node (a Linear) with the first one's params (a ReLU): KeyError."""
    raw = _raw(
        [("x", "Input", {"shape": [4]}), ("a", "ReLU", {}), ("a", "Linear", {"out_features": 2})],
        [("x", "a")],
    )
    a = analyze(parse_spec(raw)[0])
    assert [i.code for i in a.issues] == ["duplicate_id"]
    assert a.shapes["a"] == (4,)
