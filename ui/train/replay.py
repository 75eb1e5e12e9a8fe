"""The gradient replay of a run that has ended: a slider over its step snapshots, Play and Pause, the network
coloured by gradient norm at the chosen step and each node's numbers at that step beside it.

Streamlit cannot animate on the client, so Play is a fragment with `run_every=TICK_SECONDS` that moves the
slider one snapshot per tick. The fragment is declared ticking only while playing: Play, Pause, moving the
slider and reaching the last snapshot change the state, and the fragment reruns the page once when its
ticking no longer matches (as the live view does when a run ends). A tick reads nothing from the store: the
RunView already holds the snapshots.
"""

from __future__ import annotations

import json

import streamlit as st

from builder.spec.spec import parse_spec
from engine.runs.store import RunRecord
from ui.train.network_view import draw_network
from ui.train.probe_panels import GRADIENT_KINDS
from ui.train.run_view import NodeStats, RunView, log_range, norms_at, stats_at, steps_summary

TICK_SECONDS = 1.0
INDEX_KEY = "train_replay_index_{run}"  # which snapshot is on show (kept apart from the slider's own state,
SLIDER_KEY = "train_replay_slider_{run}"  # which Streamlit drops in a run that does not draw the slider)
PLAYING_KEY = "train_replay_playing_{run}"
KIND_KEY = "train_replay_kind"
CHART_CONFIG = {"displaylogo": False}
NO_NUMBER = "–"


def draw_replay(record: RunRecord, view: RunView) -> None:
    """The replay, in an expander under a run that is not active and has step snapshots."""
    if record.active or not view.steps:
        return
    with st.expander(f"Replay the gradients ({len(view.steps)} snapshots)", icon=":material/replay:"):
        playing = bool(st.session_state.get(PLAYING_KEY.format(run=record.id)))
        st.fragment(run_every=TICK_SECONDS if playing else None)(_replay)(record, view, playing)


def _replay(record: RunRecord, view: RunView, ticking: bool) -> None:
    run, snapshots = record.id, view.steps
    index_key, playing_key = INDEX_KEY.format(run=run), PLAYING_KEY.format(run=run)
    playing = bool(st.session_state.get(playing_key))
    if playing != ticking:
        st.rerun()  # Play, Pause or the end: declare the fragment again, ticking or not
    last = len(snapshots) - 1
    index = st.session_state.get(index_key, last) + (1 if playing else 0)
    index = max(0, min(index, last))
    if playing and index == last:
        st.session_state[playing_key] = False  # the next tick stops the ticking
    st.session_state[index_key] = index
    steps = [row.step for row in snapshots]
    st.caption(f"{len(steps)} step snapshots recorded, at steps {steps_summary(steps)}.")
    _controls(run, steps, index, playing)
    _step_view(record, view, steps[index])


def _controls(run: str, steps: list[int], index: int, playing: bool) -> None:
    index_key, playing_key = INDEX_KEY.format(run=run), PLAYING_KEY.format(run=run)
    slider_key = SLIDER_KEY.format(run=run)
    slider, button = st.columns([6, 1], vertical_alignment="bottom")
    if len(steps) > 1:
        st.session_state[slider_key] = index  # the slider follows the replay
        slider.select_slider(
            "Snapshot",
            options=range(len(steps)),
            format_func=lambda i: f"step {steps[i]:,}",
            key=slider_key,
            on_change=_moved,
            args=(slider_key, index_key, playing_key),
        )
    if playing:
        button.button("Pause", key="train_replay_pause", icon=":material/pause:", on_click=_pause, args=(playing_key,))
    else:
        play_args = (index_key, playing_key, len(steps) - 1)
        button.button("Play", key="train_replay_play", icon=":material/play_arrow:", on_click=_play, args=play_args)


def _pause(playing_key: str) -> None:
    st.session_state[playing_key] = False


def _moved(slider_key: str, index_key: str, playing_key: str) -> None:
    """The user moved the slider: show that snapshot, and stop playing."""
    st.session_state[index_key] = st.session_state[slider_key]
    _pause(playing_key)


def _play(index_key: str, playing_key: str, last: int) -> None:
    st.session_state[playing_key] = True
    if st.session_state.get(index_key, last) >= last:
        st.session_state[index_key] = -1  # from the end: start again at the first snapshot (the tick adds one)


def _step_view(record: RunRecord, view: RunView, step: int) -> None:
    spec, _ = parse_spec(record.spec)
    left, right = st.columns([1, 1], gap="medium")
    with left:
        kind = st.segmented_control(
            "Colour by", list(GRADIENT_KINDS), format_func=GRADIENT_KINDS.get, default="grad", key=KIND_KEY
        )
        kind = kind or "grad"
        what = GRADIENT_KINDS[kind]
        st.markdown(f"**Your network at step {step:,}**")
        scale = log_range(view.steps, kind)  # one colour scale for every step of the run
        norms = norms_at(view.steps, step, kind)
        spec_json = json.dumps(record.spec, sort_keys=True)
        draw_network(spec_json, norms, what, key="train_replay_network", height=380, log_range=scale)
    with right:
        st.markdown(f"**Inside the network at step {step:,}**")
        st.table(stats_table(stats_at(view.steps, step, {n.id: n.op for n in spec.nodes})))
        st.caption(
            "Gradient norms (L2) of the node's parameters and of the loss with respect to its output; mean and"
            " std of its output on the sampled batch; dead: units of a ReLU-like node never positive in it."
        )


def stats_table(stats: list[NodeStats]) -> dict[str, list[str]]:
    """The table's columns, numbers written with 3 significant digits, "–" where a node has none."""
    return {
        "node": [s.node for s in stats],
        "op": [s.op for s in stats],
        "parameter grad": [_short(s.grad) for s in stats],
        "output grad": [_short(s.out_grad) for s in stats],
        "mean": [_short(s.mean) for s in stats],
        "std": [_short(s.std) for s in stats],
        "dead": [NO_NUMBER if s.dead is None else f"{100 * s.dead:.0f}%" for s in stats],
    }


def _short(value: float | None) -> str:
    return NO_NUMBER if value is None else f"{value:.3g}"
