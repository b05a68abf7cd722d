#!/usr/bin/env bash
# The main job end to end on the embedded default: environment, PostgreSQL, migrations, catalogue, stats.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
exec .venv/bin/recengine demo "$@"
