"""NetCanvas: `streamlit run app.py`. Routes to the pages in app_pages/ (README: why not pages/)."""

import streamlit as st

st.set_page_config(page_title="NetCanvas", page_icon=":material/hub:", layout="wide")
st.html("<style>[data-testid='stMainBlockContainer'] {padding-top: 2.5rem}</style>")  # room for the canvas

PAGES = [
    st.Page("app_pages/build.py", title="Build", icon=":material/draw:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/export.py", title="Export", icon=":material/download:"),
]

st.navigation(PAGES).run()
