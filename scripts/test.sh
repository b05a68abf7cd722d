#!/usr/bin/env bash
# Lint, type-check and test. Database tests run on the embedded PostgreSQL, then once more on the machine's
# own server when one answers on 127.0.0.1:5432 (or at RECENGINE_TEST_SERVER_URL).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
bash scripts/browser.sh  # Chromium for the demo page's browser tests, when missing and installable

.venv/bin/ruff check recengine workers tests benchmarks migrations
.venv/bin/ruff format --check recengine workers tests benchmarks migrations
.venv/bin/mypy

env -u RECENGINE_TEST_DATABASE_URL .venv/bin/pytest "$@"

server=${RECENGINE_TEST_SERVER_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
if .venv/bin/python - "$server" <<'PY'
import sys, psycopg
try:
    psycopg.connect(sys.argv[1], connect_timeout=3).close()
except Exception:
    sys.exit(1)
PY
then
  echo "== database tests again, on $server ==" >&2
  RECENGINE_TEST_DATABASE_URL=$server .venv/bin/pytest -m db "$@"
else
  echo "== no PostgreSQL answers at $server: database tests ran on the embedded server only ==" >&2
fi
