"""The validation panel (every problem, with its one-click fixes) and the model summary, under the network's
name (an edit like any other: undoable, validated by builder.editor.edit.rename_network)."""

from __future__ import annotations

import streamlit as st

from builder.analysis.summary import memory_estimate, summary_rows
from builder.analysis.validate import Analysis
from builder.spec.issues import Fix, Issue
from ui.build.editor_state import editor

BATCH_KEY = "summary_batch"
NAME_KEY = "network_name"  # one widget for the page's life; its value follows the editor (draw_name)
MAX_PROBLEMS_SHOWN = 100  # problems drawn, each a container with its buttons; the rest are counted


def _on_fix(fix: Fix, version: int) -> None:
    ed = editor()
    if ed.version == version:  # else the graph changed since the button was drawn: the fix may not fit
        ed.fix(fix)


def draw_fix_buttons(issue: Issue, where: str) -> None:
    ed = editor()
    for k, fix in enumerate(issue.fixes):
        st.button(
            f"Fix: {fix.description}", key=f"fix_{where}_{k}", on_click=_on_fix, args=(fix, ed.version), type="primary"
        )


def _select(node_id: str) -> None:
    editor().select(node_id)


def draw_problems(analysis: Analysis) -> None:
    st.subheader(f"Problems ({len(analysis.issues)})" if analysis.issues else "Problems")
    if not analysis.issues:
        st.success("No problems: every shape fits.")
        return
    ed = editor()
    if len(analysis.issues) > MAX_PROBLEMS_SHOWN:  # thousands of widgets would stall the page for everyone
        st.caption(f"The first {MAX_PROBLEMS_SHOWN} of {len(analysis.issues):,} are listed; fix these first.")
    for i, issue in enumerate(analysis.issues[:MAX_PROBLEMS_SHOWN]):
        with st.container(border=True):
            where = f"**{issue.node}** · " if issue.node else ""
            st.markdown(f":red[{where}{issue.message}]")
            if issue.node and ed.spec.node(issue.node) is not None:  # the selection is the canvas fragment's
                st.button("Select", key=f"sel_{ed.version}_{i}", on_click=_select, args=(issue.node,))
            draw_fix_buttons(issue, f"panel_{ed.version}_{i}")


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1024 / 1024:,.2f} MB"


def _on_name() -> None:
    editor().set_name(st.session_state.get(NAME_KEY, ""))  # a refused name: draw_name puts the old one back


def draw_name() -> None:
    """The network's name: the saved file's, the run list's and the export's (its class and file names); first
    in the toolbar, at the top of the page.

    One key for the field, its value set from the editor whenever they differ (a template, a file, an undo, a
    refused name): Streamlit then sends the value to the browser as a change to apply. A key per editor version
    relied on the browser making a new field for each key, and now and then it kept the old field, showing the
    last network's name over the new graph (seen after a template's Load on a busy machine)."""
    ed = editor()
    if st.session_state.get(NAME_KEY) != ed.spec.name:
        st.session_state[NAME_KEY] = ed.spec.name
    st.text_input(
        "Network name",
        key=NAME_KEY,
        on_change=_on_name,
        width=240,
        help="Names the saved file, the network in the run list and the export's class and files: "
        "1 to 64 letters, digits, spaces, '-', '_' or '.'",
    )


def draw_summary(analysis: Analysis) -> None:
    st.subheader("Summary")
    rows = summary_rows(analysis)
    table = {
        "node": [r.id for r in rows],
        "op": [r.op for r in rows],
        "output shape": ["?" if r.output_shape is None else str(r.output_shape) for r in rows],
        "parameters": [r.params for r in rows],
    }
    st.dataframe(table, hide_index=True, height=min(400, 38 + 35 * len(rows)))
    batch = st.number_input("batch size", min_value=1, max_value=1_000_000, value=32, step=1, key=BATCH_KEY)
    memory = memory_estimate(analysis, int(batch))
    st.markdown(
        f"**{analysis.total_params:,} parameters**  \n"
        f"weights {_megabytes(memory['weights'])} · with gradients and Adam state "
        f"{_megabytes(memory['weights'] + memory['training_state'])}  \n"
        f"activations at batch {int(batch)}: about {_megabytes(memory['activations'])} (an estimate of what "
        "training keeps from the forward pass"
        + (
            f"; {_megabytes(memory['recurrent_steps'])} of it kept by recurrent cells, step by step"
            if memory["recurrent_steps"]
            else ""
        )
        + ")"
    )
