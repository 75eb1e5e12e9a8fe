#!/usr/bin/env bash
# Installs what NetCanvas needs on a fresh machine: a virtualenv in .venv with the pinned Python packages;
# with --dev the test tools plus Debian's Chromium for the browser tests; with --ray the optional Ray
# (requirements-ray.txt: runs on a Ray cluster). The flags go together: `setup.sh --dev --ray`.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_dev=0
want_ray=0
for arg in "$@"; do
  case "$arg" in
    --dev) want_dev=1 ;;
    --ray) want_ray=1 ;;
    *)
      echo "setup.sh: unknown option '$arg' (expected --dev and/or --ray)" >&2
      exit 2
      ;;
  esac
done
reqs=(-r requirements.txt)
[ "$want_dev" = 1 ] && reqs=(-r requirements-dev.txt)
[ "$want_ray" = 1 ] && reqs+=(-r requirements-ray.txt)

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
hash="$(cat requirements.txt requirements-dev.txt requirements-ray.txt | sha1sum | cut -c1-12)"
stamp=".venv/.installed-$hash-$want_dev$want_ray"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "${reqs[@]}" 2>&1 \
    | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import torch, streamlit, networkx" # fail loudly if the install did not work
  if [ "$want_ray" = 1 ]; then .venv/bin/python -c "import ray"; fi
  touch "$stamp"
fi

if [ "$want_dev" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  sudo_cmd=""
  [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi
