"""The Train page: settings, Train/Pause/Resume/Stop/Continue, the live run, this session's runs.
Glue only: state in (the Build page's network, the run store), engine calls, figures out."""

from __future__ import annotations

import json

import streamlit as st

from ui.build.editor_state import editor
from ui.session_keep import without_server_paths
from ui.train.autograd_view import draw_autograd_view
from ui.train.controls import check_run, draw_controls, draw_readiness
from ui.train.data_fixes import draw_data_fixes
from ui.train.page_state import current_run, manager, run_for_network, show_train_notice, sync_url
from ui.train.rule_of_run import settings_line
from ui.train.runs_table import draw_runs
from ui.train.settings import draw_settings

ed = editor()
spec, analysis = ed.spec, ed.analysis()
run_id = run_for_network(current_run(), spec.name)  # a newly loaded network shows its own last run
sync_url()

with st.sidebar:
    st.subheader("Settings")
    settings = draw_settings(spec)
config, problems = settings.config, settings.problems

st.header("Train", divider="gray")  # before the data check, which can take seconds on a fresh server
state = "valid" if analysis.ok else f"{len(analysis.issues)} problem(s): fix them on the Build page"
size = f"{len(spec.nodes)} nodes, {analysis.total_params:,} parameters"
st.caption(f"Network **{spec.name}** from the Build page: {size}, {state}.")
if config is not None and analysis.ok and settings.card is not None:
    st.caption(f"**Learning rule** · {settings_line(analysis, config.to_dict(), settings.card)}")

ready, error = None, None
if config is not None and analysis.ok:
    ready, error = check_run(spec.to_json(), json.dumps(config.to_dict()))
    error = settings.readable(error) if error else None
show_train_notice()
if not analysis.ok:
    for issue in [i for i in analysis.issues if i.severity == "error"]:
        st.error(f"node '{issue.node}': {issue.message}" if issue.node else issue.message)
record = manager().status(run_id) if run_id else None
if ed.weights_from:
    shown = without_server_paths(ed.weights_from)
    st.caption(f"The network carries trained weights from `{shown}`: Train starts from them.")
draw_controls(spec, analysis, config, ready, record, weights_from=ed.weights_from)
draw_readiness(ready, problems, error, settings.card)
draw_data_fixes(ed, error)  # a button that sets the Input shape or the output width the data asks for
live_tab, runs_tab = st.tabs(["Run", "Your runs"])
with live_tab:
    if record is not None:  # the live view's figure modules are imported once there is a run to draw
        from ui.train.live_view import draw_other_network, draw_run

        if record.spec.get("name") != spec.name:
            draw_other_network(record, spec.name)
        draw_run(record)  # the record the buttons were drawn from: one status per page run
    else:
        st.caption("Press Train: the curves, the network coloured by gradient strength and its insides appear here.")
with runs_tab:
    draw_runs(run_id)
draw_autograd_view(spec, config if analysis.ok else None)  # one training step's grad_fn graph, on demand
