"""Where the Backprop explorer keeps its things: st.session_state under the prefix `bp_`, and the expression in
the URL (`?expr=...`) so that a reload keeps it.

    bp_expr        the expression's text (the text field's key)
    bp_text        a copy of it, and bp_upstream_value of the upstream gradient: Streamlit forgets a widget's
                   state on a run of another page, so these bring the fields back when the person returns
    bp_values      the last value of each variable, by name (kept while a variable's field is not drawn)
    bp_var_<g>_<name>  a variable's number field, g = bp_generation (a preset starts a new generation of fields,
                   so that they show the preset's values)
    bp_upstream    the upstream gradient's field
    bp_step        how many steps have been taken, 0 .. total
    bp_step_for    the expression the steps belong to (another expression starts again at step 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from builder.explorer.expression import MAX_LENGTH

EXPR_KEY, TEXT_KEY, VALUES_KEY = "bp_expr", "bp_text", "bp_values"
UPSTREAM_KEY, UPSTREAM_VALUE_KEY = "bp_upstream", "bp_upstream_value"
STEP_KEY, STEP_FOR_KEY, VAR_PREFIX, GENERATION_KEY = "bp_step", "bp_step_for", "bp_var_", "bp_generation"
EXPR_PARAM = "expr"
DEFAULT_VALUE = 1.0


@dataclass(frozen=True)
class Preset:
    title: str
    text: str
    values: dict[str, float]


PRESETS = (
    Preset("Worked example", "(x + y) * z", {"x": -2.0, "y": 5.0, "z": 4.0}),
    Preset("Neuron", "sigmoid(w1*x1 + w2*x2 + b)", {"w1": 2.0, "x1": -1.0, "w2": -3.0, "x2": -2.0, "b": -3.0}),
    Preset("Repeated variable", "x * x + x", {"x": 3.0}),
    Preset("max and relu", "max(x, y) * relu(z - 1)", {"x": 2.0, "y": -1.0, "z": 3.0}),
)


def preset_values(text: str) -> dict[str, float]:
    """The values of the preset with this text (a reload of a preset gets its numbers back), else none."""
    return next((dict(p.values) for p in PRESETS if p.text == text), {})


def start() -> None:
    """Before the fields are drawn: the expression this session had, else the URL's, else the worked example."""
    if EXPR_KEY not in st.session_state:
        text = st.session_state.get(TEXT_KEY) or st.query_params.get(EXPR_PARAM) or PRESETS[0].text
        st.session_state[EXPR_KEY] = text
        st.session_state.setdefault(VALUES_KEY, preset_values(text))


def keep_expression(text: str) -> None:
    """Put the expression in the URL (no rerun; not one over the parser's limit) and keep a copy that outlives
    the text field."""
    st.session_state[TEXT_KEY] = text
    if len(text) <= MAX_LENGTH and st.query_params.get(EXPR_PARAM) != text:
        st.query_params[EXPR_PARAM] = text


def upstream_value() -> float:
    return st.session_state.get(UPSTREAM_VALUE_KEY, 1.0)


def remember_upstream(value: float) -> None:
    st.session_state[UPSTREAM_VALUE_KEY] = value


def load_preset(preset: Preset) -> None:
    """A callback: the preset's expression and values, at step 0."""
    st.session_state[EXPR_KEY] = preset.text
    st.session_state[VALUES_KEY] = dict(preset.values)
    st.session_state[GENERATION_KEY] = st.session_state.get(GENERATION_KEY, 0) + 1  # new fields, new values
    st.session_state[STEP_KEY] = 0


def field_key(name: str) -> str:
    """The number field of variable `name` in the current generation of fields."""
    return f"{VAR_PREFIX}{st.session_state.get(GENERATION_KEY, 0)}_{name}"


def value_of(name: str) -> float:
    return st.session_state.get(VALUES_KEY, {}).get(name, DEFAULT_VALUE)


def remember_value(name: str, value: float) -> None:
    st.session_state.setdefault(VALUES_KEY, {})[name] = value


def current_step(text: str, total: int) -> int:
    """Steps taken for this expression (0 when the expression has changed), within 0 .. total."""
    if st.session_state.get(STEP_FOR_KEY) != text:
        st.session_state[STEP_FOR_KEY] = text
        st.session_state[STEP_KEY] = 0
    step = max(0, min(int(st.session_state.get(STEP_KEY, 0)), total))
    st.session_state[STEP_KEY] = step
    return step


def set_step(step: int) -> None:
    """A callback for the step buttons."""
    st.session_state[STEP_KEY] = step
