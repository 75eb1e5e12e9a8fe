import json

import pytest

from builder.library.templates import TEMPLATES
from builder.spec.spec import load_spec, loads_spec, parse_spec, save_spec

GOOD = {
    "version": 2,
    "name": "lenet",
    "nodes": [
        {"id": "x", "op": "Input", "params": {"shape": [4]}, "ui": {"x": 0, "y": 0}},
        {"id": "cat", "op": "Concat"},
        {"id": "fc", "op": "Linear", "params": {"out_features": 3}},
    ],
    "edges": [
        {"source": "x", "target": "cat", "port": 1},
        {"source": "x", "target": "cat", "port": 0},
        {"source": "cat", "target": "fc"},
    ],
    "blocks": {},
}


def test_round_trip_keeps_everything(tmp_path):
    spec, issues = parse_spec(GOOD)
    assert issues == []
    path = tmp_path / "s.json"
    save_spec(spec, str(path))
    again, issues = load_spec(str(path))
    assert issues == [] and again.to_dict() == GOOD


def test_ports_order_inputs():
    spec, _ = parse_spec(GOOD)
    assert spec.inputs_of("cat") == ["x", "x"]
    assert spec.edges[0].port == 1


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d.update(version=3), "version"),
        (lambda d: d.update(name=5), "name"),
        (lambda d: d.update(nodes={}), "nodes"),
        (lambda d: d["nodes"][1].update(colour="red"), "nodes[1].colour"),
        (lambda d: d["nodes"][1].update(id=7), "nodes[1].id"),
        (lambda d: d["nodes"][2].update(params=[1]), "nodes[2].params"),
        (lambda d: d["edges"][0].update(port=-1), "edges[0].port"),
        (lambda d: d["edges"][2].update(target=None), "edges[2].target"),
        (lambda d: d["edges"].append("x->fc"), "edges[3]"),
    ],
)
def test_schema_errors_name_the_field(mutate, field):
    raw = json.loads(json.dumps(GOOD))
    mutate(raw)
    spec, issues = parse_spec(raw)
    assert spec is None
    assert [i.field for i in issues] == [field]
    assert issues[0].message.startswith(field)


def test_unreadable_json_is_an_issue_not_an_exception(tmp_path):
    assert loads_spec("{nope")[1][0].field == "json"
    assert loads_spec(b"\xff\xfe")[1][0].field == "json"
    assert loads_spec("[1, 2]")[1][0].message == "spec: expected a JSON object, got list"
    assert load_spec(str(tmp_path / "missing.json"))[1][0].field == "file"


def test_every_template_round_trips_through_json():
    for template in TEMPLATES.values():
        spec = template.spec()
        again, issues = loads_spec(spec.to_json())
        assert issues == [] and again.to_dict() == spec.to_dict()


def test_copies_share_nothing():
    spec, _ = parse_spec(GOOD)
    twin, data = spec.copy(), spec.to_dict()
    twin.node("x").params["shape"].append(9)
    data["nodes"][0]["params"]["shape"].append(7)
    assert spec.node("x").params["shape"] == [4]
