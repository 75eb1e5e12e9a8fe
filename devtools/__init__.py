"""Tools for working on NetCanvas, not part of the app: `devtools.app_server` starts `streamlit run app.py` on a
free port for the browser tests, the benchmarks and the docs' screenshots, and launches the system Chromium."""
