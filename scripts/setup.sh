#!/usr/bin/env bash
# Installs what the sandbox and the tests need on a Debian 12 machine, idempotently:
# system packages (only the missing ones) and a virtualenv in .venv with the project in it.
# Usage: scripts/setup.sh [EXTRA]   (EXTRA: the pip extra to install, default "test")
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-test}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v skopeo >/dev/null || missing+=(skopeo)
command -v umoci >/dev/null || missing+=(umoci)
command -v git >/dev/null || missing+=(git)
# The machine image may carry kubectl from another source; Debian's 1.20 client would clash with it.
command -v kubectl >/dev/null || missing+=(kubernetes-client)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv python3-pip)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup: Python >= 3.11 is required" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=".venv/.installed-$extra"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extra]"
  touch "$stamp"
fi
