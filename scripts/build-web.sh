#!/usr/bin/env bash
# Builds the web chat's browser dependencies from the npm registry (pinned by
# web/package-lock.json) into web/static/vendor/. Run by `make run` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/../web"
command -v npm >/dev/null || { echo "error: npm is needed to build the web chat (apt-get install nodejs npm)" >&2; exit 1; }
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
mkdir -p static/vendor
cp node_modules/socket.io-client/dist/socket.io.min.js static/vendor/socket.io.min.js
