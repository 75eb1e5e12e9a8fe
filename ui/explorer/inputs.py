"""The explorer's inputs: the expression, the presets, one number field per variable and the upstream gradient;
and the message for an expression that does not parse."""

from __future__ import annotations

import streamlit as st

from builder.explorer.expression import FUNCTIONS, MAX_LENGTH, ParseError
from ui.explorer.state import (
    EXPR_KEY,
    PRESETS,
    UPSTREAM_KEY,
    field_key,
    load_preset,
    remember_upstream,
    remember_value,
    upstream_value,
    value_of,
)

FIELDS_PER_ROW = 6
EXPRESSION_HELP = (
    "Numbers, variable names, + - * /, powers (** or ^), unary minus, brackets and the functions "
    f"{', '.join(FUNCTIONS)} (max takes two arguments), at most {MAX_LENGTH} characters. Nothing else is run: "
    "the text is parsed, never evaluated."
)


def draw_expression() -> str:
    """The expression's text field and a row of preset buttons; returns the text. The field takes text of any
    length (a browser's limit on a field drops a longer paste whole), and the parser refuses one over the limit."""
    text = st.text_input("Expression", key=EXPR_KEY, help=EXPRESSION_HELP)
    columns = st.columns([1] * len(PRESETS) + [2], vertical_alignment="center")
    for k, (column, preset) in enumerate(zip(columns, PRESETS)):
        column.button(
            preset.title,
            key=f"bp_preset_{k}",
            help=f"`{preset.text}`",
            on_click=load_preset,
            args=(preset,),
            width="stretch",
        )
    return text


def draw_values(variables: tuple[str, ...]) -> tuple[dict[str, float], float]:
    """One number field per variable (in order of first appearance) and the upstream gradient."""
    values: dict[str, float] = {}
    names = list(variables) + [None]  # None: the upstream gradient, last
    for start in range(0, len(names), FIELDS_PER_ROW):
        columns = st.columns(FIELDS_PER_ROW)
        for column, name in zip(columns, names[start : start + FIELDS_PER_ROW]):
            with column:
                if name is None:
                    upstream = st.number_input(
                        "Upstream gradient",
                        key=UPSTREAM_KEY,
                        value=upstream_value(),
                        step=0.5,
                        help="∂L/∂f: the gradient that arrives at the output from whatever follows it",
                    )
                    remember_upstream(upstream)
                    continue
                values[name] = st.number_input(name, key=field_key(name), value=value_of(name), step=0.5)
                remember_value(name, values[name])
    return values, float(upstream)


def show_parse_error(error: ParseError) -> None:
    st.error(f"The expression cannot be read: {error.message}\n\n```\n{error.caret}\n```")
