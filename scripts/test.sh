#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what it needs (the dev tools, Chromium, and Ray: the
# Ray tests start a real local Ray), then pytest in two processes (pytest-xdist): each starts with half of the
# browser tests (its own app server and Chromium), then takes whole modules of the rest (tests/conftest.py
# orders and groups them). Arguments go on to pytest; `-n 0` runs everything in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev --ray
# Let Python keep bytecode and pytest its assert-rewritten test modules (__pycache__/, ignored by git): a
# PYTHONDONTWRITEBYTECODE set in the environment would have every worker and subprocess compile them anew
# (collection: 13 s -> 7 s a worker once cached).
unset PYTHONDONTWRITEBYTECODE
exec .venv/bin/python -m pytest -n 2 "$@"
