"""The Train page's buttons: Train, Pause, Resume, Stop, and Continue (after an edit), with what each will do,
and a waiting run's place in the queue (engine.runs.run_queue), or, under Ray, what it waits for on the cluster.

Buttons act in callbacks (before the page reruns); their outcome is a notice shown on that rerun. Train starts
another run while one is active, up to the session's cap; at the cap it is disabled and says which runs hold
it. On a run waiting in the queue, Pause keeps its place without starting it, Resume lets it start, Stop takes
it out of the queue.
"""

from __future__ import annotations

import json
import time

import streamlit as st

from builder.analysis.validate import Analysis
from builder.spec.spec import GraphSpec
from engine.errors import NetCanvasError, SpecInvalid
from engine.runs.checkpoint import CarryPlan
from engine.runs.manager import Readiness, continue_terms_of
from engine.runs.page_jobs import run_page_job
from engine.runs.run_queue import Place, SessionFull
from engine.runs.store import RunRecord
from engine.train.config import TrainConfig
from engine.train.rule_card import RuleCard
from ui.session_keep import without_server_paths
from ui.train.live_pace import cluster_pace, pace
from ui.train.page_state import clear_notice, manager, owner, show_run, tell
from ui.train.run_view import cluster_wait, place_text

CONTINUABLE = ("paused", "stopped", "finished", "interrupted")


def user_message(err: NetCanvasError) -> str:
    """One readable message; a network with problems lists each, naming its node."""
    if isinstance(err, SpecInvalid):
        lines = [f"node '{i.node}': {i.message}" if i.node else i.message for i in err.issues if i.severity == "error"]
        return "The network has problems (fix them on the Build page): " + "; ".join(lines)
    return str(err)


@st.cache_data(show_spinner="Checking the data against the network…", max_entries=64)
def check_run(spec_json: str, config_json: str) -> tuple[Readiness | None, str | None]:
    """(what the run would be, None) or (None, the message saying what to change). engine.runs.manager's
    preflight loads the data and fits it to the network: a page job (engine/runs/page_jobs.py) does that in a
    child process with limits, so a huge CSV or a crash is a message here, not the server's end."""
    spec = json.loads(spec_json)
    result, error = run_page_job("preflight", {"spec": spec, "config": json.loads(config_json)})
    if error is not None:
        return None, user_message(error)
    return Readiness(**result), None


def client_address() -> str | None:
    """The browser's address as Streamlit sees it (None on localhost, in AppTest, or behind nothing it can
    read): the run queue counts active runs per address too (NETCANVAS_MAX_RUNS_PER_ADDRESS), hashed."""
    try:
        address = st.context.ip_address
    except Exception:  # no script run context (a bare call), or a Streamlit without it
        return None
    return address if isinstance(address, str) and address else None  # AppTest gives no string


def _start(spec: GraphSpec, config: TrainConfig, weights_from: str | None) -> None:
    try:
        run_id = manager().start_run(owner(), spec, config, weights_from=weights_from, address=client_address())
    except NetCanvasError as err:
        tell("error", user_message(err))
        return
    clear_notice()
    if weights_from:
        summary = manager().edits(run_id)[0].data["summary"]
        shown = without_server_paths(weights_from)
        tell("success", f"Run {run_id} starts from the trained weights of {shown}: {summary}.")
    show_run(run_id)


def _continue(run_id: str, spec: GraphSpec, config: TrainConfig) -> None:
    try:
        plan = manager().continue_run(run_id, spec, config)
    except NetCanvasError as err:
        tell("error", user_message(err))
        return
    tell("success", f"Continuing run {run_id}: {plan.summary()}.")


def draw_controls(
    spec: GraphSpec,
    analysis: Analysis,
    config: TrainConfig | None,
    ready: Readiness | None,
    record: RunRecord | None,
    weights_from: str | None = None,
) -> None:
    """`weights_from`: a bundle whose trained weights the network on the Build page carries (Export page's
    "Open on the Build page"); Train starts from them."""
    can_start = analysis.ok and config is not None and ready is not None
    offer, why_not = _continue_offer(record, spec, config) if analysis.ok and config is not None else (None, "")
    if offer is not None and not can_start:  # the run's data, but they do not fit this network: see the errors
        offer, why_not = None, "the data do not fit this network (see above)"
    full = _session_full()
    with st.container(horizontal=True, vertical_alignment="center"):
        st.button(
            "Train",
            key="train_start",
            icon=":material/play_arrow:",
            type="primary",
            disabled=full is not None or not can_start,
            on_click=_start,
            args=(spec, config, weights_from),
            help="Start a new run with the network and the settings; it waits in the queue while every worker is busy",
        )
        if record is not None and record.active:
            _run_buttons(record)
        if offer is not None:
            st.button(
                "Continue training",
                key="train_continue",
                icon=":material/fast_forward:",
                on_click=_continue,
                args=(record.id, spec, config),
                help="Go on training this run with the network now on the Build page and the settings on the left",
            )
    if full is not None:
        st.caption(f"Train is off: {full}.")
    if record is not None and record.waiting:
        every = _queue_pace(manager().place(record.id), record.created)
        st.fragment(run_every=every)(_queue_place)(record.id, record.created, every)
    elif record is not None and cluster_wait(record):
        every = cluster_pace(time.time() - record.created)
        st.fragment(run_every=every)(_cluster_wait)(record.id, record.created, every)
    if offer is not None:
        what, _ = continue_terms_of(spec, config, int(record.progress.get("epoch", 0)))  # the counters' terms
        st.caption(f"Continue training would run {what}, and {offer.summary()}.")
    elif why_not:
        st.caption(f"Continue training is not offered for run `{record.id}`: {why_not}. Train starts a new run.")


def _session_full() -> str | None:
    """Why this session may not start another run now (it or its client address is at its cap), or None."""
    try:
        manager().queue.check_session(owner(), client=manager().store.client_tag(client_address()))
    except SessionFull as err:
        return str(err)
    return None


def _run_buttons(record: RunRecord) -> None:
    """Pause or Resume, and Stop, for an active run; a waiting run's say what they do to it in the queue."""
    mgr, waiting = manager(), record.waiting
    if record.status in ("queued", "running"):
        why = "Keep it in the queue without starting it; it keeps its place" if waiting else "Pause and checkpoint"
        st.button("Pause", key="train_pause", icon=":material/pause:", on_click=mgr.pause, args=(record.id,), help=why)
    if record.status == "paused":
        why = "Let it start when its turn comes" if waiting else "Go on training"
        if record.released:
            why = "Back into the queue: it continues from its checkpoint when a worker is free"
        st.button(
            "Resume", key="train_resume", icon=":material/resume:", on_click=mgr.resume, args=(record.id,), help=why
        )
    st.button(
        "Stop",
        key="train_stop",
        icon=":material/stop:",
        on_click=mgr.stop,
        args=(record.id,),
        help=_stop_help(record),
    )


def _stop_help(record: RunRecord) -> str:
    if record.waiting:
        return "Take it out of the queue"
    if cluster_wait(record):
        return "End it before it starts (nothing was trained)"
    return "End it here; its checkpoint is kept" if record.released else "Stop and save a checkpoint"


def _continuable(record: RunRecord | None) -> bool:
    """Ended or paused with its worker, and with a checkpoint (a run stopped in the queue has none)."""
    return (
        record is not None
        and record.status in CONTINUABLE
        and not record.waiting
        and manager().has_checkpoint(record.id)
    )


def _continue_offer(record: RunRecord | None, spec: GraphSpec, config: TrainConfig) -> tuple[CarryPlan | None, str]:
    """(what Continue would keep, "") when it is offered: the run has a checkpoint, the data are the run's and
    some node keeps its trained weights (engine.runs.manager.continue_offer); else (None, why not, or "" when
    there is nothing to continue)."""
    if not _continuable(record):
        return None, ""
    return manager().continue_offer(record.id, spec, config)


def _queue_pace(place: Place | None, created: float) -> float:
    """How often a waiting run's place is read (ui.train.live_pace): fast while nothing is ahead of it or in
    its first seconds, so the page learns at once that a worker took it."""
    if place is None:  # it has just left the queue: the next read reruns the page
        return pace(1, 0.0, False)
    return pace(place.place, time.time() - created, False, held=place.held)


def _queue_place(run_id: str, created: float, every: float) -> None:
    """A waiting run's place, read again at its pace (_queue_pace); once it has left the queue (started,
    stopped), or its pace is another (the runs ahead of it have started), the page is drawn again so the
    buttons, the run view and the pace follow."""
    place = manager().place(run_id)
    if place is None:
        st.rerun()
    st.info(place_text(place), icon=":material/hourglass_top:")
    if _queue_pace(place, created) != every:
        st.rerun()


def _cluster_wait(run_id: str, created: float, every: float) -> None:
    """A run waiting for the Ray cluster: what it needs and why it is not placed, read again at its pace (the
    manager's status asks the executor, which writes Ray's answer into the message); once Ray has placed it
    (running) or it has ended, the page is drawn again."""
    record = manager().status(run_id)
    why = cluster_wait(record) if record is not None else ""
    if not why:
        st.rerun()
    st.info(why, icon=":material/hourglass_top:")
    if cluster_pace(time.time() - created) != every:
        st.rerun()


def draw_readiness(
    ready: Readiness | None, problems: list[str], error: str | None, card: RuleCard | None = None
) -> None:
    """The problems, else the task line: classes only for a classification, the loss only for a rule that
    reads one (engine.train.rule_card)."""
    for problem in problems:
        st.error(problem)
    if error:
        st.error(error)
    if ready is not None:
        classes = f", {ready.n_classes} classes" if ready.n_classes and ready.task == "classification" else ""
        loss = f"; loss **{ready.loss}** (chosen for the output node '{ready.output}')"
        if card is not None and not card.reads("loss"):
            loss = ""
        st.caption(
            f"Task **{ready.task}**{classes}{loss}; {ready.n_train} training and {ready.n_val} validation samples; "
            f"device **{ready.device}**."
        )
