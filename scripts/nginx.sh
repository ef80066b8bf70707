#!/usr/bin/env bash
# A throw-away nginx for tests, on loopback only, in the foreground (its caller owns the
# process and stops it with SIGTERM or SIGQUIT).
#   scripts/nginx.sh install          -> installs Debian's nginx if no nginx binary is found
#   scripts/nginx.sh run DIR CONF     -> checks CONF, then becomes nginx (pid, error log and
#                                        relative paths under DIR)
set -euo pipefail
cmd=${1:?install|run}

find_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }

install_nginx() {
  find_nginx >/dev/null && return 0
  echo "installing nginx (apt-get)..." >&2
  # Debian's package starts a system-wide nginx on port 80 once installed; tests need only the
  # binary, so service starts are refused during the install (the Debian way: policy-rc.d)
  # unless the machine already has a policy of its own.
  local policy=/usr/sbin/policy-rc.d ours=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && ours=1
  fi
  local rc=0
  "$(dirname "$0")/apt-install.sh" nginx >&2 || rc=$?
  [ -n "$ours" ] && rm -f "$policy"
  return $rc
}

case "$cmd" in
  install)
    install_nginx
    ;;
  run)
    dir=${2:?directory}; conf=${3:?config file}
    install_nginx
    bin=$(find_nginx)
    mkdir -p "$dir/logs"
    globals="daemon off; master_process on; pid $dir/nginx.pid; error_log $dir/logs/error.log info;"
    "$bin" -t -q -p "$dir/" -c "$conf" -g "$globals" >&2
    exec "$bin" -p "$dir/" -c "$conf" -g "$globals"
    ;;
  *) echo "usage: $0 install | run DIR CONF" >&2; exit 64 ;;
esac
