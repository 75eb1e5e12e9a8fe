"""NetCanvas engine: compile, data, training, bundles (torch; never streamlit or plotly)."""
