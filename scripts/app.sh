#!/usr/bin/env bash
# Starts the NetCanvas web app on a fresh machine: installs what it needs, then streamlit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/streamlit run app.py "$@"
