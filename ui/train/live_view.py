"""The live view of one run: status and progress, loss and accuracy, the network coloured by gradient norm,
and the probe panels. A fragment that polls the store at the pace ui.train.live_pace decides while the run is
active (fast while it can start and for its first points) and stops polling once it has ended (it then reruns
the page once, so the buttons follow)."""

from __future__ import annotations

import json
import time

import streamlit as st

from builder.spec.spec import parse_spec
from engine.runs.store import RunRecord
from engine.train.counters import epochs_text
from ui.build.editor_state import editor
from ui.figures import training as figures
from ui.train.live_pace import cluster_pace, pace
from ui.train.network_view import draw_network
from ui.train.page_state import manager, run_view
from ui.train.probe_panels import GRADIENT_KINDS, draw_details
from ui.train.replay import draw_replay
from ui.train.rule_of_run import RunRule, run_rule
from ui.train.rule_panels import draw_rule_curves, is_rule_run
from ui.train.run_view import CLUSTER_WAIT, RunView, cluster_wait, curves, gradient_warnings, latest_norms

DETAILS_POLL_SECONDS = 5.0
GRADIENT_KEY = "train_grad_kind"
POLL_TIMES_KEY = "train_poll_ms"
RULES_KEY = "train_run_rules"
DRAWN_KEY = "train_runs_drawn"  # the runs whose first points the live fragment has drawn
CHART_CONFIG = {"displaylogo": False}
STATUS_ICONS = {
    "queued": ":material/hourglass_top:",
    "running": ":material/directions_run:",
    "paused": ":material/pause_circle:",
    "stopped": ":material/stop_circle:",
    "finished": ":material/check_circle:",
    "failed": ":material/error:",
    "interrupted": ":material/link_off:",  # its Ray actor was lost; Continue resumes it from its checkpoint
}


def chart(fig, key: str) -> None:
    st.plotly_chart(fig, key=key, config=CHART_CONFIG, width="stretch")


def draw_run(record: RunRecord) -> None:
    """Two fragments: the run's status, curves and coloured network at its pace (poll_every), the probe panels at
    DETAILS_POLL_SECONDS (each chart redrawn costs the browser a few hundred ms of CPU); between them, once
    the run has ended, the gradient replay (ui.train.replay).

    `record` is the one the page drew its run buttons from, read once per page run: a fragment that finds
    another status reruns the page. Read again here, a pause that lands between the two reads would draw
    "paused" in the fragment under a Pause button that no poll would ever correct."""
    run_id = record.id
    if never_started(record):  # stopped in the queue: nothing was trained, so no chart and no tabs
        draw_status(record)
        where = "for the cluster" if CLUSTER_WAIT in record.message else "in the queue"
        st.info(f"This run was stopped while it waited {where}: it never started, so it has no curves.")
        return
    every = poll_every(record) if record.active else None
    st.fragment(run_every=every)(_live)(run_id, record.active, every, record.status)
    draw_replay(record, run_view(run_id))  # a run that has ended: its snapshots step by step (read by _live)
    st.fragment(run_every=DETAILS_POLL_SECONDS if record.active else None)(_details)(run_id)


def draw_other_network(record: RunRecord, network: str) -> None:
    """The run on show was trained on another network: say which, with a button that puts it on Build."""
    other = record.spec.get("name", "?")
    own = any(r.spec.get("name") == network for r in manager().list_runs(record.owner))
    st.warning(
        f"The run shown, `{record.id}`, belongs to the network **{other}**, not to **{network}** on the Build "
        "page" + ("." if own else ": this network has no run in this session yet.")
    )
    st.button(
        f"Open {other} on the Build page",
        key="train_open_other",
        icon=":material/draw:",
        on_click=_open_network,
        args=(record,),
        help="Puts the run's network on the canvas (untrained), so the Train page and its run match",
    )


def _open_network(record: RunRecord) -> None:
    spec, _ = parse_spec(record.spec)
    if spec is not None:
        editor().load(spec, f"the network of run {record.id}")


def never_started(record: RunRecord) -> bool:
    """A run that ended (stopped) before a worker took it: no step, no progress."""
    return not record.active and not record.progress.get("step") and record.started is None


def run_rule_of(record: RunRecord) -> RunRule | None:
    """The run's rule card and what it has, kept per run and progress keys (they decide the tabs)."""
    cache = st.session_state.setdefault(RULES_KEY, {})
    key = (record.id, record.progress.get("task"), record.progress.get("step_probes"))
    if key not in cache:
        cache[key] = run_rule(record)
    return cache[key]


def poll_every(record: RunRecord) -> float:
    """The pace of an active run's polls now (ui.train.live_pace): its place if it waits in the queue, the
    seconds since it was queued or started, and whether its first points are drawn."""
    place = manager().place(record.id) if record.waiting else None
    since = record.started if record.started is not None and place is None else record.created
    drawn = record.id in st.session_state.get(DRAWN_KEY, set())
    if cluster_wait(record):
        return cluster_pace(time.time() - record.created)
    return pace(place.place if place else None, time.time() - since, drawn, held=bool(place and place.held))


def _live(run_id: str, polled: bool, every: float | None, drawn_status: str) -> None:
    started = time.perf_counter()
    mgr = manager()
    record = mgr.status(run_id)
    if record is None:
        return
    if polled and (not record.active or record.status != drawn_status):
        st.rerun()  # ended, paused or resumed: redraw the page once (its buttons follow); an ended run stops polling
    view = run_view(run_id)
    view.refresh(mgr)
    draw_status(record)
    rule = run_rule_of(record)
    if rule is not None:
        st.caption(f"**Learning rule** · {rule.line}")
    left, right = st.columns(2, gap="medium")
    with left:
        _curves(view)
    with right:
        if rule is not None and "step_probes" not in rule.has:  # no sampled gradients: nothing to colour by
            st.caption(f"The network is not coloured by gradients for this run. {rule.card.not_shown}")
        else:
            _graph(record, view)
    _poll_time(started)
    if polled and poll_every(record) != every:
        st.rerun()  # another pace (the first points have been on the page a poll, the run left the queue's head...)
    if view.metrics:  # drawn: the next poll may go on at the slower pace, with these points already on the page
        st.session_state.setdefault(DRAWN_KEY, set()).add(run_id)


def _poll_time(started: float) -> None:
    """Keep the server time of the last polls; `?debug=1` in the URL shows them."""
    times = st.session_state.setdefault(POLL_TIMES_KEY, [])
    times.append(round((time.perf_counter() - started) * 1000, 1))
    del times[:-20]
    if st.query_params.get("debug"):
        st.caption(f"server ms of the last polls: {', '.join(map(str, times))}")


def _details(run_id: str) -> None:
    mgr = manager()
    record = mgr.status(run_id)
    if record is not None:
        view = run_view(run_id)
        view.refresh(mgr)
        draw_details(view, st.session_state.get(GRADIENT_KEY) or "grad", run_rule_of(record))


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}" if minutes < 60 else f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def draw_status(record: RunRecord) -> None:
    p = record.progress
    step, total = p.get("step", 0), p.get("total_steps") or 0
    st.markdown(f"{STATUS_ICONS.get(record.status, '')} Run `{record.id}` · **{record.shown_status}**")
    if record.waiting:  # its place in line is shown with the run's buttons (ui.train.controls)
        st.caption(record.message)
        return  # no epoch, step, speed or progress before a worker has started it
    if cluster_wait(record):  # what it waits for on the cluster is shown with the run's buttons, too
        return
    running = record.status == "running"  # a paused run has no speed and no time left
    cols = st.columns([1.6, 1, 1, 1, 1])  # "2439 / 100000" needs the room: an equal fifth cut it to "2439 / 10…"
    cols[0].metric("Epochs", shown_epochs(p))
    cols[1].metric("Step", f"{step:,}")
    rate = p.get("steps_per_s") if running else None if record.active else _average_rate(record.final or {})
    cols[2].metric("Steps per second", f"{rate:,.0f}" if rate else "–")
    cols[3].metric("Time left", _time(p.get("eta_s")) if running else "–")
    cols[4].metric("Training time", _time(p.get("active_s")))
    st.progress(min(1.0, step / total) if total else 0.0, text=f"step {step:,} of {total:,}" if total else None)
    counter = epochs_text(p)
    if not counter.endswith("epochs"):  # a run of several phases: each phase's count
        st.caption(f"Epochs by phase: {counter}")
    if record.status == "failed":
        st.error(f"The run failed: {record.message}")
    elif record.status == "interrupted" or (record.status == "stopped" and "loss became" in record.message):
        st.warning(record.message)
    elif record.message:
        st.caption(record.message)


def shown_epochs(progress: dict) -> str:
    """The Run tab's epoch counter: whole epochs finished over the run's total, the number Your runs and the
    Export page show too (engine.train.counters)."""
    total = progress.get("epochs")
    done = int(progress.get("epoch", 0))
    return f"{done:,} / {int(total):,}" if total else f"{done:,}"


def _average_rate(final: dict) -> float | None:
    steps, seconds = final.get("steps"), final.get("active_seconds")
    return steps / seconds if steps and seconds else None


def edit_marks(view: RunView) -> list[tuple[int, str]]:
    marks = []
    for edit in view.edits:
        if edit.data.get("weights_from"):
            marks.append((edit.step, "from trained weights"))
            continue
        fresh = [f["node"] for f in edit.data.get("fresh", [])]
        label = "continued"
        if edit.data.get("graph_changed"):
            label = "edited" + (f": fresh {', '.join(fresh)}" if fresh else "")
        marks.append((edit.step, label))
    return marks


def _curves(view: RunView) -> None:
    if is_rule_run(view):  # a learning rule's own measures, its phases marked (ui.train.rule_panels)
        draw_rule_curves(view, edit_marks(view))
        return
    c = curves(view.metrics)
    if not c.step and not c.epoch_step:
        st.info("Waiting for the first loss…")
        return
    chart(figures.curves_figure(c, edit_marks(view)), "train_curves_chart")


def _graph(record: RunRecord, view: RunView) -> None:
    kind = st.segmented_control(
        "Colour the network by",
        list(GRADIENT_KINDS),
        format_func=GRADIENT_KINDS.get,
        default="grad",
        key=GRADIENT_KEY,
    )
    kind = kind or "grad"
    norms = latest_norms(view.steps, kind)
    draw_network(json.dumps(record.spec, sort_keys=True), norms, GRADIENT_KINDS[kind], key="train_network")
    if not view.steps:
        st.caption("The colours come with the first probe snapshot.")
    for _node, trend, message in gradient_warnings(norms):
        (st.error if trend == "exploding" else st.warning)(f"{trend.capitalize()} gradient at {message}")
