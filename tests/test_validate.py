"""One test per class of mistake: each comes back as data naming the node, never as an exception."""

from collections import Counter

from builder.analysis import validate
from builder.analysis.fixes import apply_fix
from builder.analysis.validate import analyze
from tests.helpers import chain, make_spec

X4 = ("x", "Input", {"shape": [4]})
IMG = ("x", "Input", {"shape": [1, 8, 8]})


def codes(spec):
    return [(i.node, i.code) for i in analyze(spec).issues]


def test_valid_graph_has_shapes_and_counts():
    a = analyze(chain(X4, ("fc", "Linear", {"out_features": 3}), ("act", "ReLU")))
    assert a.ok and a.issues == []
    assert a.shapes == {"x": (4,), "fc": (3,), "act": (3,)}
    assert a.param_counts == {"x": 0, "fc": 15, "act": 0} and a.total_params == 15
    assert (a.input_id, a.output_id, a.order) == ("x", "act", ["x", "fc", "act"])


def test_cycle_names_the_nodes_on_it():
    spec = make_spec([X4, ("a", "Add"), ("b", "ReLU"), ("c", "ReLU")], [("x", "a"), ("a", "b"), ("b", "c"), ("c", "a")])
    issues = analyze(spec).issues
    assert [i.code for i in issues] == ["cycle"]
    assert all(n in issues[0].message for n in ("a", "b", "c")) and "->" in issues[0].message


def test_self_loop_is_a_cycle():
    spec = make_spec([X4, ("a", "Add")], [("x", "a"), ("a", "a")])
    assert codes(spec) == [("a", "cycle")]


def test_node_not_connected_to_input():
    spec = make_spec([X4, ("fc", "Linear", {"out_features": 2}), ("lost", "ReLU")], [("x", "fc")])
    assert ("lost", "disconnected") in codes(spec)


def test_no_input_and_several_inputs():
    assert (None, "no_input") in codes(make_spec([("fc", "Linear", {"out_features": 2})], []))
    spec = make_spec([X4, ("y", "Input", {"shape": [4]}), ("add", "Add")], [("x", "add"), ("y", "add")])
    assert ("y", "several_inputs") in codes(spec)


def test_several_sinks_name_the_extra_one():
    spec = make_spec(
        [X4, ("fc1", "Linear", {"out_features": 2}), ("fc2", "Linear", {"out_features": 2}), ("act", "ReLU")],
        [("x", "fc1"), ("fc1", "act"), ("x", "fc2")],
    )
    issues = analyze(spec).issues
    assert [(i.node, i.code) for i in issues] == [("fc2", "several_outputs")]
    assert "node 'fc2' is not connected to the output 'act'" in issues[0].message


def test_add_with_one_input_is_an_arity_error():
    issues = analyze(chain(X4, ("add", "Add"))).issues
    assert [(i.node, i.code) for i in issues] == [("add", "arity")]
    assert "at least 2 inputs; got 1" in issues[0].message
    issues = analyze(
        make_spec([X4, ("fc", "Linear", {"out_features": 4}), ("a", "ReLU")], [("x", "a"), ("fc", "a"), ("x", "fc")])
    ).issues
    assert ("a", "arity") in [(i.node, i.code) for i in issues]


def test_unknown_op():
    issues = analyze(chain(X4, ("fc", "Dense", {"units": 3}))).issues
    assert [(i.node, i.code, i.field) for i in issues] == [("fc", "unknown_op", "nodes[1].op")]


def test_bad_params_name_the_field_and_value():
    cases = [
        ({"out_features": "3"}, "expected an integer, got '3'"),
        ({"out_features": 0}, "must be >= 1, got 0"),
        ({"out_features": 3, "bias": "yes"}, "expected true or false"),
        ({"out_features": 3, "units": 3}, "unknown parameter 'units'"),
        ({}, "needs parameter 'out_features'"),
    ]
    for params, text in cases:
        issues = analyze(chain(X4, ("fc", "Linear", params))).issues
        assert len(issues) == 1 and issues[0].code == "bad_param" and issues[0].node == "fc", params
        assert text in issues[0].message and issues[0].field.startswith("nodes[1].params."), issues[0]
    issues = analyze(chain(X4, ("drop", "Dropout", {"p": 1.0}))).issues
    assert "must be < 1, got 1.0" in issues[0].message
    issues = analyze(
        chain(("x", "Input", {"shape": [4, 8]}), ("rnn", "RNN", {"hidden_size": 3, "nonlinearity": "sigmoid"}))
    ).issues
    assert "expected one of ['tanh', 'relu'], got 'sigmoid'" in issues[0].message


def test_shape_mismatch_names_both_producers_and_shapes_and_offers_fixes():
    spec = make_spec(
        [X4, ("fc1", "Linear", {"out_features": 64}), ("fc2", "Linear", {"out_features": 32}), ("add", "Add")],
        [("x", "fc1"), ("x", "fc2"), ("fc1", "add"), ("fc2", "add")],
    )
    [issue] = analyze(spec).issues
    assert (issue.node, issue.code) == ("add", "shape_mismatch")
    assert issue.message == "Add needs equal shapes; got [64] from fc1 and [32] from fc2"
    kinds = {(f.kind, f.op) for f in issue.fixes}
    assert kinds == {("insert", "Linear"), ("replace_op", "Concat")}
    for fix in issue.fixes:
        fixed = analyze(apply_fix(spec, fix))
        assert fixed.ok, (fix, fixed.issues)
    adapter = next(f for f in issue.fixes if f.op == "Linear")
    assert analyze(apply_fix(spec, adapter)).shapes["add"] == (64,)
    concat = next(f for f in issue.fixes if f.op == "Concat")
    assert analyze(apply_fix(spec, concat)).shapes["add"] == (96,)


def test_conv_feature_maps_into_linear_offers_flatten():
    spec = chain(IMG, ("conv", "Conv2d", {"out_channels": 4, "kernel_size": 3}), ("fc", "Linear", {"out_features": 10}))
    [issue] = analyze(spec).issues
    assert (issue.node, issue.code) == ("fc", "shape_mismatch") and "[4, 6, 6] from conv" in issue.message
    [fix] = issue.fixes
    fixed = analyze(apply_fix(spec, fix))
    assert fixed.ok and fixed.shapes["fc"] == (10,) and fixed.shapes["flatten"] == (144,)


def test_unequal_feature_maps_get_a_1x1_conv_adapter():
    spec = make_spec(
        [
            IMG,
            ("c1", "Conv2d", {"out_channels": 8, "kernel_size": 1}),
            ("c2", "Conv2d", {"out_channels": 4, "kernel_size": 1}),
            ("add", "Add"),
        ],
        [("x", "c1"), ("x", "c2"), ("c1", "add"), ("c2", "add")],
    )
    [issue] = analyze(spec).issues
    adapter = next(f for f in issue.fixes if f.op == "Conv2d")
    assert analyze(apply_fix(spec, adapter)).shapes["add"] == (8, 8, 8)


def test_invalid_and_duplicate_ids():
    spec = make_spec([X4, ("Fc-1", "ReLU"), ("x", "ReLU")], [("x", "Fc-1")])
    found = codes(spec)
    assert ("Fc-1", "invalid_id") in found and ("x", "duplicate_id") in found


def test_reserved_ids_are_refused():
    spec = chain(X4, ("code", "ReLU"), ("train", "ReLU"), ("class", "ReLU"))
    assert [c for c in codes(spec) if c[1] == "reserved_id"] == [
        ("code", "reserved_id"),
        ("train", "reserved_id"),
        ("class", "reserved_id"),
    ]


def test_edge_to_missing_node():
    issues = analyze(make_spec([X4], [("x", "ghost")])).issues
    assert [(i.code, i.field) for i in issues] == [("unknown_node", "edges[0].target")]
    assert "'ghost' is not a node" in issues[0].message


def test_impossible_sizes():
    small = ("x", "Input", {"shape": [1, 3, 3]})
    [issue] = analyze(chain(small, ("conv", "Conv2d", {"out_channels": 2, "kernel_size": 5}))).issues
    assert (issue.node, issue.code) == ("conv", "impossible_size") and "kernel 5" in issue.message
    [issue] = analyze(
        chain(small, ("up", "ConvTranspose2d", {"out_channels": 2, "kernel_size": 1, "padding": 3}))
    ).issues
    assert issue.code == "impossible_size" and "output size -3" in issue.message
    [issue] = analyze(chain(("x", "Input", {"shape": [2, 4]}), ("pool", "MaxPool1d", {"kernel_size": 8}))).issues
    assert issue.code == "impossible_size"


def test_dtype_mismatch_suggests_embedding():
    ids = ("x", "Input", {"shape": [8], "dtype": "int64"})
    [issue] = analyze(chain(ids, ("fc", "Linear", {"out_features": 2}))).issues
    assert issue.code == "dtype" and "Embedding" in issue.message
    [issue] = analyze(chain(X4, ("emb", "Embedding", {"num_embeddings": 5, "embedding_dim": 2}))).issues
    assert issue.code == "dtype" and "int64" in issue.message


def test_errors_downstream_are_not_repeated():
    spec = chain(X4, ("fc", "Linear", {"out_features": -1}), ("act", "ReLU"), ("out", "Linear", {"out_features": 2}))
    assert codes(spec) == [("fc", "bad_param")]


def _residual_dag(blocks: int):
    nodes, edges, prev = [("x", "Input", {"shape": [16]})], [], "x"
    for k in range(blocks):
        nodes += [(f"fc{k}", "Linear", {"out_features": 16}), (f"act{k}", "ReLU"), (f"add{k}", "Add")]
        edges += [(prev, f"fc{k}"), (f"fc{k}", f"act{k}"), (f"act{k}", f"add{k}"), (prev, f"add{k}")]
        prev = f"add{k}"
    return make_spec(nodes, edges)


def test_big_graphs_validate_inferring_each_node_once(monkeypatch):
    """Counted, not timed (bench/ measures speed): a shape is inferred once per node, however deep the graph."""
    chain_spec = chain(("x", "Input", {"shape": [8]}), *[(f"n{i}", "ReLU") for i in range(999)])
    dag = _residual_dag(333)
    inferred = Counter()
    infer = validate._infer_node

    def counted(spec_node, a, ctx):
        inferred[spec_node.id] += 1
        infer(spec_node, a, ctx)

    monkeypatch.setattr(validate, "_infer_node", counted)
    for spec in (chain_spec, dag):
        inferred.clear()
        a = analyze(spec)
        assert a.ok and len(a.shapes) == len(spec.nodes) and len(spec.nodes) >= 1000
        assert set(inferred) == {n.id for n in spec.nodes} and set(inferred.values()) == {1}
