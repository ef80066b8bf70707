#!/usr/bin/env bash
# A throw-away Redis server for tests, on loopback only, no persistence.
#   scripts/redis.sh start DIR PORT   -> prints the server's URL
#   scripts/redis.sh stop DIR
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
if ! command -v redis-server >/dev/null; then
  echo "installing redis-server (apt-get)..." >&2
  "$(dirname "$0")/apt-install.sh" redis-server >&2
  command -v redis-server >/dev/null || { echo "error: redis-server is installed but not on PATH" >&2; exit 1; }
fi
case "$cmd" in
  start)
    port=${3:?port}; mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    echo "redis://127.0.0.1:$port/0"
    ;;
  stop)
    [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 64 ;;
esac
