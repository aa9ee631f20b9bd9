#!/usr/bin/env bash
# The whole test suite: lint, types, then every test (unit, emulators, end-to-end). Does its own set-up.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest "$@"
