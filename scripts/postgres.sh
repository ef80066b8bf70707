#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests, on loopback only.
#   scripts/postgres.sh start DIR PORT   -> prints the server's URL (database "postgres")
#   scripts/postgres.sh stop DIR
# Installs PostgreSQL from Debian's packages when no server binaries are found.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?data directory}

find_bin() {
  for d in "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")" /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

bin=$(find_bin) || {
  echo "installing PostgreSQL (apt-get)..." >&2
  "$(dirname "$0")/apt-install.sh" postgresql >&2
  bin=$(find_bin) || { echo "error: postgresql is installed but no pg_ctl/initdb was found" >&2; exit 1; }
}

# The server refuses to run as root: use the postgres account when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres 2>/dev/null || true

case "$cmd" in
  start)
    port=${3:?port}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "'$bin/initdb' -D '$dir/data' -U postgres --auth=trust -E UTF8 >'$dir/initdb.log' 2>&1"
    fi
    as_pg "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 -o \"-h 127.0.0.1 -p $port -k '$dir' -c fsync=off\" start >/dev/null"
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] && as_pg "'$bin/pg_ctl' -D '$dir/data' -m fast -w stop >/dev/null" || true
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 64 ;;
esac
