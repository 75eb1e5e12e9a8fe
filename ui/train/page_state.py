"""Where the Train page keeps its things: the app's RunManager, this browser session's owner key, the run
on show (mirrored in the URL so a reload finds it), and what has been read of each run.

The owner key is a random id made once per browser session and put in the URL next to the run id
(`?owner=...&run=...`): the runs list shows only this owner's runs, and a run id from another owner is
not shown, so two sessions never see or command each other's runs.
"""

from __future__ import annotations

import time

import streamlit as st

from engine.errors import ConfigError
from engine.runs.manager import RunManager
from engine.runs.page_jobs import preflight_in_child
from engine.runs.store import RunStore, resolve_runs_dir
from ui.notices import show_message
from ui.session_keep import owner as session_owner
from ui.train.run_view import RunView

OWNER_KEY, RUN_KEY, VIEWS_KEY, NOTICE_KEY = "train_owner", "train_run", "train_views", "train_notice"
RECOVERY_TOLD_KEY = "train_store_recovery_told"
NETWORK_KEY = "train_network_seen"  # the network the page was last drawn for (run_for_network)
OWNER_PARAM, RUN_PARAM = "owner", "run"
NOTICE_SECONDS = 20.0


@st.cache_resource(show_spinner=False)
def _manager(root: str) -> RunManager:
    manager = RunManager(RunStore(root), check=preflight_in_child)  # the data are read in a child, not here
    manager.warm_up()  # the fork server imports torch now, not when the first run is started
    return manager


def manager() -> RunManager:
    """The app-wide RunManager for the runs directory (NETCANVAS_RUNS_DIR or runs/). When NETCANVAS_RAY_ADDRESS
    names a Ray that cannot be used (not installed, not reachable), the page says why in one line and stops
    there; the next rerun tries again (a failed start is not cached)."""
    try:
        return _manager(str(resolve_runs_dir().resolve()))
    except ConfigError as err:
        st.error(str(err), icon=":material/cloud_off:")
        st.stop()


def owner() -> str:
    return session_owner()  # ui.session_keep: made on the first visit, kept in every page's URL


def current_run() -> str | None:
    """The run on show: this session's, else the one in the URL (a reload), if it belongs to this owner."""
    run_id = st.session_state.get(RUN_KEY) or st.query_params.get(RUN_PARAM)
    if run_id and manager().status(run_id, owner=owner()) is None:
        run_id = None
    st.session_state[RUN_KEY] = run_id
    return run_id


def show_run(run_id: str | None) -> None:
    st.session_state[RUN_KEY] = run_id


def sync_url() -> None:
    """Put the owner key and the run on show into the URL (no rerun), so a reload comes back to them."""
    st.query_params[OWNER_PARAM] = owner()
    run_id = st.session_state.get(RUN_KEY)
    if run_id:
        st.query_params[RUN_PARAM] = run_id
    elif RUN_PARAM in st.query_params:
        del st.query_params[RUN_PARAM]


def run_view(run_id: str) -> RunView:
    views = st.session_state.setdefault(VIEWS_KEY, {})
    if run_id not in views:
        views[run_id] = RunView(run_id)
    return views[run_id]


def tell(kind: str, text: str) -> None:
    """A message for the page: kind is "error", "warning", "success" or "info". It stays NOTICE_SECONDS, so
    the reruns a run's start causes do not take it away before it is read."""
    st.session_state[NOTICE_KEY] = (kind, text, time.monotonic())


def clear_notice() -> None:
    st.session_state.pop(NOTICE_KEY, None)


def tell_store_recovery() -> None:
    """Once per session and recovery: the warning that the run store was found corrupt (when the app opened it,
    or later while in use) and what was recovered."""
    recovery = manager().store.recovery  # opens the store, which checks it
    if recovery is None or st.session_state.get(RECOVERY_TOLD_KEY) == recovery.when:
        return
    st.session_state[RECOVERY_TOLD_KEY] = recovery.when
    tell("warning", recovery.text)


def show_train_notice() -> None:
    """The message `tell` left, while it is younger than NOTICE_SECONDS (first, a store recovery's)."""
    tell_store_recovery()
    notice = st.session_state.get(NOTICE_KEY)
    if notice is None:
        return
    kind, text, since = notice
    if time.monotonic() - since > NOTICE_SECONDS:
        del st.session_state[NOTICE_KEY]
        return
    show_message(kind, text)


def run_for_network(run_id: str | None, network: str) -> str | None:
    """The run to show for the network on the Build page: when another network has just been loaded, its
    own newest run of this session (if it has one) instead of the run of the network before."""
    seen = st.session_state.get(NETWORK_KEY)
    st.session_state[NETWORK_KEY] = network
    if seen == network or run_id is None:
        return run_id
    record = manager().status(run_id)
    if record is None or record.spec.get("name") == network:
        return run_id
    own = next((r for r in manager().list_runs(owner()) if r.spec.get("name") == network), None)
    if own is not None:
        show_run(own.id)
        return own.id
    return run_id
