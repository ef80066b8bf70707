#!/usr/bin/env bash
# Runs the whole test suite inside the project's environment (called by `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest "$@"
