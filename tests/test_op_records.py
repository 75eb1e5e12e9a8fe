"""The engine's op records (engine/compile/op_records.py) against the builder's catalog (builder/ops/catalog.py).

An op is defined in three places: its builder definition (an OpDef in builder/ops_*.py), its engine record and
its rows in tests/test_ops.py. These tests fail while one side names an op the other lacks, and check that a
module built from its record's arguments (kept in the fx node's meta, written into model.py) is the module
the network was compiled with.
"""

from __future__ import annotations

import pytest

from builder.analysis.validate import analyze
from builder.ops.catalog import CATALOG
from engine.compile.fx_module import compile_analysis
from engine.compile.op_records import OP_RECORDS, Blocker, OpRecord, OutputKind, op_record, output_kind
from engine.export.formats import FORMATS, blocking_reasons
from engine.export.python_source import model_source
from engine.train.losses import Sink
from tests.helpers import chain
from tests.test_ops import MERGE_ROWS, ROWS, merge_spec, single_op_spec

pytestmark = pytest.mark.usefixtures("single_thread_torch")

SPECS = [single_op_spec(*row) for row in ROWS] + [merge_spec(*row) for row in MERGE_ROWS]


def test_every_catalog_op_has_an_engine_record_and_every_record_a_catalog_op():
    without_record = sorted(set(CATALOG) - set(OP_RECORDS))
    without_op = sorted(set(OP_RECORDS) - set(CATALOG))
    assert not without_record, f"catalog ops with no record in engine/compile/op_records.py: {without_record}"
    assert not without_op, f"records in engine/compile/op_records.py with no op in builder/ops/catalog.py: {without_op}"
    assert all(record.op == op for op, record in OP_RECORDS.items())


def test_records_fit_the_catalog_definitions():
    for op, record in OP_RECORDS.items():
        definition = CATALOG[op]
        if record.is_module:  # fx_module calls a module with one input
            assert definition.max_inputs == 1, op
        if record.is_placeholder:
            assert definition.min_inputs == 0 and op == "Input", op
        for blocker in record.blocks:
            assert blocker.format in FORMATS, (op, blocker.format)


def test_modules_rebuilt_from_their_recorded_arguments_are_the_compiled_ones():
    for spec in SPECS:
        gm = compile_analysis(analyze(spec))
        for node in gm.graph.nodes:
            if node.op != "call_module":
                continue
            module = gm.get_submodule(node.target)
            assert type(module) is op_record(node.meta["spec_op"]).layer
            rebuilt = type(module)(**node.meta["spec_args"])
            assert repr(rebuilt) == repr(module), node.meta["spec_op"]
            assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
                k: v.shape for k, v in module.state_dict().items()
            }


def test_model_py_needs_the_recorded_arguments():
    analysis = analyze(
        chain(
            ("x", "Input", {"shape": [4]}),
            ("fc", "Linear", {"out_features": 2}),
            ("head", "Linear", {"out_features": 3, "bias": False}),
            ("rbm", "RBM", {"n_hidden": 2}),
        )
    )
    gm = compile_analysis(analysis)
    source = model_source(gm, analysis, {})
    assert "self.fc = nn.Linear(in_features=4, out_features=2)" in source  # torch's defaults are left out
    assert "self.head = nn.Linear(in_features=2, out_features=3, bias=False)" in source
    assert 'self.rbm = RBM(n_visible=3, n_hidden=2, k=1, visible="bernoulli")' in source  # ours: every argument
    for node in gm.graph.nodes:
        node.meta.pop("spec_args", None)
    with pytest.raises(AssertionError, match=r"submodule 'fc' has no meta\['spec_args'\]"):
        model_source(gm, analysis, {})


def test_output_kinds_and_traits_come_from_the_records():
    assert output_kind(None) is OutputKind.LOGITS  # a hand-written module
    assert Sink("out", "Sigmoid").output is OutputKind.PROBABILITIES and Sink().output is OutputKind.LOGITS
    assert [kind for kind in OutputKind if kind.in_unit_interval] == [OutputKind.PROBABILITIES, OutputKind.ZERO_ONE]
    with pytest.raises(AssertionError, match="'Nope' has no engine record"):
        op_record("Nope")


def test_blocking_reasons_walk_the_records_blockers():
    analysis = analyze(chain(("x", "Input", {"shape": [4]}), ("act", "Tanh")))
    tanh_blocks_onnx = OpRecord("Tanh", blocks=(Blocker("onnx", lambda p: True, lambda p: "it is a test"),))
    records = {**OP_RECORDS, "Tanh": tanh_blocks_onnx}
    assert blocking_reasons(analysis, "onnx", records) == ["Tanh 'act' blocks ONNX because it is a test"]
    assert blocking_reasons(analysis, "torchscript", records) == [] and blocking_reasons(analysis, "onnx") == []


def test_blocking_reasons_look_inside_blocks_and_cells_and_name_the_use():
    from builder.library.templates import TEMPLATES
    from builder.spec.spec import parse_spec

    tanh_blocks_onnx = OpRecord("Tanh", blocks=(Blocker("onnx", lambda p: True, lambda p: "it is a test"),))
    records = {**OP_RECORDS, "Tanh": tanh_blocks_onnx}
    raw = {
        "version": 2, "name": "t",
        "nodes": [{"id": "x", "op": "Input", "params": {"shape": [4]}},
                  {"id": "squash", "op": "Block", "params": {"block": "inner"}}],
        "edges": [{"source": "x", "target": "squash"}],
        "blocks": {"inner": {"params": {}, "nodes": [{"id": "x", "op": "Input"}, {"id": "act", "op": "Tanh"},
                                                     {"id": "out", "op": "Output"}],
                             "edges": [{"source": "x", "target": "act"}, {"source": "act", "target": "out"}]}},
    }  # fmt: skip
    spec, issues = parse_spec(raw)
    assert not issues
    assert blocking_reasons(analyze(spec), "onnx", records) == [
        "block 'squash' › Tanh 'act' blocks ONNX because it is a test"
    ]
    cells = analyze(TEMPLATES["lstm_cells_sine"].spec())
    reasons = blocking_reasons(cells, "onnx", records)  # the LSTM cell's candidate and its squashed state
    assert reasons and all(r.startswith("block '") and "› Tanh '" in r for r in reasons)
