#!/usr/bin/env bash
# The scale benchmark (issue 8): the operator against a trivial kopf baseline, N = 100 and 1000 pairs, then
# steady state and churn, each in its own sandbox. Writes docs/benchmarks.md ("Scale") and
# docs/benchmarks-scale.json. Not a test: it measures. About 15 minutes on 2 cores.
# Usage: scripts/bench.sh [N ...] [--resync SECONDS] [--key-bits BITS] [--json PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
exec env PYTHONPATH="$PWD" .venv/bin/python -m tests.bench.scale "$@"
