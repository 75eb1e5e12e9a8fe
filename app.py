"""NetCanvas: `streamlit run app.py`. Routes to the pages in app_pages/ (the README's layout table says why the
folder is not called pages/)."""

import streamlit as st

from ui.page_style import apply_page_style
from ui.preload import preload_engine
from ui.session_keep import save_session, start_session

st.set_page_config(page_title="NetCanvas", page_icon=":material/hub:", layout="wide")
apply_page_style()  # room for the canvas; sidebar selects that wrap a long value (ui/page_style.py)

# The default page is served at / but reserves a path name of its own ("build" from its file name); it gets an
# unused one so that /build can be the page below.
BUILD = st.Page("app_pages/build.py", title="Build", icon=":material/draw:", default=True, url_path="build_default")


def build_by_name() -> None:
    """/build: Streamlit serves the default page at / only, so a bookmarked or typed /build comes here (a page
    not in the navigation) and goes on to the Build page with its query parameters."""
    st.switch_page(BUILD, query_params=st.query_params.to_dict())


PAGES = [
    BUILD,
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/export.py", title="Export", icon=":material/download:"),
    st.Page("app_pages/backprop.py", title="Backprop", icon=":material/account_tree:"),
    st.Page(build_by_name, title="Build", url_path="build", visibility="hidden"),
]

start_session()  # the session key in every page's URL; a reload or a restart finds this session's work
try:
    st.navigation(PAGES, position="top").run()  # at the top: the canvas gets the width a sidebar would take
finally:
    save_session()  # also when the page ends early by st.rerun or st.switch_page
    # torch and the forkserver, in the background, once this first page run is over: importing them beside it
    # would slow the first picture (the page run and the import share one interpreter lock), and the pages that
    # need torch come later. (A no-op from the second run on.)
    preload_engine()
