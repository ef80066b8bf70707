#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests (Playwright drives it; no
# browser is ever downloaded by Playwright itself). Prints the executable's path.
set -euo pipefail
for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
  [ -x "$candidate" ] && { echo "$candidate"; exit 0; }
done
echo "installing chromium (apt-get)..." >&2
"$(dirname "$0")/apt-install.sh" chromium fonts-dejavu-core >&2
[ -x /usr/bin/chromium ] || { echo "error: the chromium package is installed but /usr/bin/chromium is missing" >&2; exit 1; }
echo /usr/bin/chromium
