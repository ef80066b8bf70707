#!/usr/bin/env bash
# Installs Debian packages for the tests' servers and browser, one installer at a time.
#   scripts/apt-install.sh PACKAGE...
# Two test runs on one machine (CI's "under load" check runs two) can both find a package
# missing: the second waits for the first (flock) and then finds the work done, instead of
# failing on apt's lock. apt's own lock timeout covers any other apt user on the machine.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: scripts/apt-install.sh PACKAGE..." >&2; exit 2; }
exec 9>/tmp/clinic-apt-install.lock
flock -w 900 9 || { echo "error: another install held /tmp/clinic-apt-install.lock for 15 minutes" >&2; exit 1; }
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
# 9>&-: a daemon a package starts must not inherit the lock and hold it after we exit.
apt-get -o DPkg::Lock::Timeout=600 update -qq 9>&-
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null 9>&-
