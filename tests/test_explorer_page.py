"""The Backprop explorer through Streamlit's AppTest: the worked example stepped forward and backward by its
buttons, the upstream gradient, presets, a typed expression, a parse error, a value that overflows and the URL."""

from __future__ import annotations

import pathlib

import pytest
from streamlit.testing.v1 import AppTest

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")
PAGE = "app_pages/backprop.py"


def open_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def click(at: AppTest, key: str) -> None:
    at.button(key=key).click().run()
    assert not at.exception, at.exception


def table(at: AppTest) -> dict[str, tuple]:
    """node name -> (value, gradient) as the page's table shows them (None: not yet)."""
    frame = at.dataframe[0].value
    none = lambda v: None if v != v or v is None else v  # noqa: E731 (NaN or None: not shown yet)
    return {row.node: (none(row.value), none(row.gradient)) for row in frame.itertuples()}


def step_line(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**Step"))


def field(at: AppTest, label: str):
    return next(n for n in at.number_input if n.label == label)


def test_the_page_is_in_the_navigation():
    text = pathlib.Path(APP).read_text()
    assert 'st.Page("app_pages/backprop.py", title="Backprop", icon=":material/account_tree:")' in text


def test_the_worked_example_forward_then_backward_by_the_buttons():
    at = open_page()
    assert at.text_input(key="bp_expr").value == "(x + y) * z"
    assert [field(at, n).value for n in "xyz"] == [-2.0, 5.0, 4.0]
    assert step_line(at).startswith("**Step 0 of 4**") and at.button(key="bp_backward").disabled
    assert table(at) == {"x": (-2, None), "y": (5, None), "q": (None, None), "z": (4, None), "f": (None, None)}

    click(at, "bp_forward")
    assert "q = x + y = 3.00" in step_line(at) and table(at)["q"] == (3, None) and table(at)["f"] == (None, None)
    click(at, "bp_forward")
    assert "f = q * z = 12.00" in step_line(at) and table(at)["f"] == (12, None)
    assert at.button(key="bp_forward").disabled and not at.button(key="bp_backward").disabled

    click(at, "bp_backward")
    assert step_line(at).startswith("**Step 3 of 4**") and "∂f/∂q = 4.00" in step_line(at)
    shown = table(at)
    assert (shown["f"][1], shown["q"][1], shown["z"][1], shown["x"][1]) == (1, 4, 3, None)
    click(at, "bp_backward")
    shown = table(at)
    assert {name: grad for name, (_, grad) in shown.items()} == {"x": 4, "y": 4, "q": 4, "z": 3, "f": 1}
    assert at.button(key="bp_backward").disabled
    assert "∂f/∂x = 4.00 · ∂f/∂y = 4.00 · ∂f/∂z = 3.00" in at.success[0].value

    click(at, "bp_reset")
    assert step_line(at).startswith("**Step 0 of 4**") and table(at)["f"] == (None, None)


def test_the_upstream_gradient_scales_every_gradient():
    at = open_page()
    at.number_input(key="bp_upstream").set_value(1.5).run()
    click(at, "bp_run_all")
    grads = {name: grad for name, (_, grad) in table(at).items()}
    assert grads == {"x": 6, "y": 6, "q": 6, "z": 4.5, "f": 1.5}
    assert "∂L/∂x = 6.00" in at.success[0].value and "∂L/∂f = 1.50" in at.success[0].value


def test_the_neuron_preset_and_a_changed_value():
    at = open_page()
    click(at, "bp_preset_1")
    assert at.text_input(key="bp_expr").value == "sigmoid(w1*x1 + w2*x2 + b)"
    assert [field(at, n).value for n in ("w1", "x1", "w2", "x2", "b")] == [2, -1, -3, -2, -3]
    click(at, "bp_run_all")
    shown = table(at)
    assert shown["f"][0] == pytest.approx(0.7310585786300049)  # sigmoid(1)
    assert shown["w1"][1] == pytest.approx(-0.19661193324148185) and shown["x2"][1] == pytest.approx(-0.5898357997)
    field(at, "b").set_value(-4.0).run()  # the step stays where it was; the numbers follow the value
    assert table(at)["f"][0] == pytest.approx(0.5) and step_line(at).startswith("**Step 10 of 10**")


def test_a_typed_expression_gets_a_field_per_variable_and_starts_at_step_zero():
    at = open_page()
    click(at, "bp_forward")
    at.text_input(key="bp_expr").set_value("x * x + max(x, y)").run()
    assert [n.label for n in at.number_input] == ["x", "y", "Upstream gradient"]
    assert [field(at, n).value for n in "xy"] == [-2.0, 5.0]  # the values of the same names are kept
    assert step_line(at).startswith("**Step 0 of 6**")
    click(at, "bp_run_all")
    assert table(at)["x"] == (-2, -4) and table(at)["y"] == (5, 1)
    assert at.query_params["expr"] == "x * x + max(x, y)"


def test_a_bad_expression_shows_where_and_nothing_else():
    at = open_page()
    at.text_input(key="bp_expr").set_value("x + y @ z").run()
    message = at.error[0].value
    assert message.startswith("The expression cannot be read: unexpected '@' at column 7.\n")
    assert "x + y @ z\n      ^" in message
    assert not at.dataframe and not at.get("plotly_chart")
    at.text_input(key="bp_expr").set_value("open(x)").run()
    assert "unknown function 'open' at column 1: the functions are" in at.error[0].value


def test_a_value_that_overflows_names_the_node_in_a_whole_sentence():
    at = open_page()
    at.text_input(key="bp_expr").set_value("exp(x) * y").run()
    field(at, "x").set_value(1000.0).run()
    expected = "The operation q = exp(x) overflows (its value is not a finite number) at x = 1000.00."
    assert at.error[0].value == expected and not at.dataframe
    at.text_input(key="bp_expr").set_value("exp(1000) * x").run()
    assert at.error[0].value == "The operation q = exp(1000) overflows (its value is not a finite number)."


def test_a_pasted_expression_over_the_limit_is_kept_and_refused_with_the_limit():
    at = open_page()
    pasted = ("x * y + " * 250)[:2000]
    at.text_input(key="bp_expr").set_value(pasted).run()
    assert not at.exception, at.exception
    assert at.text_input(key="bp_expr").value == pasted and not at.text_input(key="bp_expr").max_chars
    assert at.error[0].value.startswith(
        "The expression cannot be read: it is 2,000 characters long and the limit is 500 characters; the text is "
        "kept for you to shorten"
    )
    assert at.query_params["expr"] != pasted  # the URL keeps the last expression within the limit


def test_torchs_conventions_on_the_page():
    at = open_page()
    at.text_input(key="bp_expr").set_value("relu(x) ** 0.5").run()
    field(at, "x").set_value(-1.0).run()
    click(at, "bp_run_all")
    assert not at.error and table(at)["x"] == (-1, 0)
    assert "∂f/∂x = 0.00" in at.success[0].value


def test_a_reload_keeps_the_expression_from_the_url():
    at = open_page(query={"expr": "tanh(a * b)"})
    assert at.text_input(key="bp_expr").value == "tanh(a * b)"
    assert [n.label for n in at.number_input] == ["a", "b", "Upstream gradient"]
    click(at, "bp_run_all")
    assert table(at)["f"] == (pytest.approx(0.7615941559557649), 1)


def test_leaving_for_another_page_and_coming_back_keeps_everything():
    at = open_page()
    at.text_input(key="bp_expr").set_value("x * y").run()
    field(at, "y").set_value(7.0).run()
    at.number_input(key="bp_upstream").set_value(2.0).run()
    click(at, "bp_forward")
    at.switch_page("app_pages/export.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert at.text_input(key="bp_expr").value == "x * y" and field(at, "y").value == 7.0
    assert at.number_input(key="bp_upstream").value == 2.0 and step_line(at).startswith("**Step 1 of 2**")


def test_a_long_flat_expression_is_drawn():
    at = open_page()
    at.text_input(key="bp_expr").set_value(" + ".join(["x"] * 120)).run()
    click(at, "bp_run_all")
    assert step_line(at).startswith("**Step 238 of 238**") and table(at)["x"] == (-2, 120)
