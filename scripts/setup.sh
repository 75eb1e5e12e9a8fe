#!/usr/bin/env bash
# Installs what NetCanvas needs on a fresh machine: a virtualenv in .venv with the pinned Python
# packages, and (with --dev) the test tools plus Debian's Chromium for the browser tests.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_dev=0
[ "${1:-}" = "--dev" ] && want_dev=1
reqs=requirements.txt
[ "$want_dev" = 1 ] && reqs=requirements-dev.txt

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)-$want_dev"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$reqs" 2>&1 \
    | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import torch, streamlit, networkx" # fail loudly if the install did not work
  touch "$stamp"
fi

if [ "$want_dev" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  sudo_cmd=""
  [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi
