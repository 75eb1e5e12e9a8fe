#!/usr/bin/env bash
# Rebuilds the canvas component's bundle (ui/canvas/static/flow_canvas.js and .css) from ui/canvas/frontend/
# and records the sha256 of its sources in ui/canvas/static/SOURCES.sha256 (tests/test_canvas_bundle.py
# fails when that record differs from the sources). Needs Node.js 20 and npm; running the app does not.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || python=python3

(
  cd ui/canvas/frontend
  npm ci --no-audit --no-fund --loglevel=error
  node build.mjs
)
"$python" -m ui.canvas.sources > ui/canvas/static/SOURCES.sha256
ls -l ui/canvas/static/flow_canvas.js ui/canvas/static/flow_canvas.css
echo "sources sha256: $(cat ui/canvas/static/SOURCES.sha256)"
