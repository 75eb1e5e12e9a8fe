"""The Export page: pick a trained run (or upload a bundle zip), open it on the Build page, export it to ONNX,
TorchScript and model.py, and download each file once it has been proven to work. Glue only."""

from __future__ import annotations

import streamlit as st

from ui.export.bundle_view import (
    choose_bundle,
    draw_bundle,
    draw_carried,
    draw_exports,
    draw_open_in_builder,
    loaded,
)

st.header("Export a trained network", divider="gray")
st.caption(
    "Every file takes raw inputs (it applies the training normalisation itself) and carries the class names. "
    "Each is loaded with the runtime its next tool uses and compared with the trained model on a fixed batch; "
    "only files within the limit are offered for download."
)
bundle_dir = choose_bundle()
trained = loaded(bundle_dir) if bundle_dir is not None else None
if trained is not None:
    draw_bundle(trained)
    draw_carried(trained)
    draw_open_in_builder(trained)
    draw_exports(trained)
