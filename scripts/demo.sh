#!/usr/bin/env bash
# The sandbox demo: brings the sandbox up in .sandbox/, runs the operator in it, applies the samples
# and shows their conditions. Stop it all with: .venv/bin/horizon-publisher sandbox down
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh sandbox
exec .venv/bin/horizon-publisher sandbox demo --state-dir .sandbox "$@"
