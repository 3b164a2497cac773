#!/usr/bin/env bash
# Starts throwaway PostgreSQL and Redis servers on 127.0.0.1 (free ports, temp dirs) for the tests.
#   source scripts/test-services.sh start   -> exports LATCH_TEST_PG_URL, LATCH_TEST_REDIS_URL, TEST_SERVICES_DIR
#   scripts/test-services.sh stop <dir>     -> stops what start started
# PostgreSQL refuses to run as root, so the cluster belongs to an unprivileged user.
set -euo pipefail

PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start_services() {
  local dir pg_port redis_port run_as=()
  dir="$(mktemp -d /tmp/latch-test-services.XXXXXX)"
  chmod 755 "$dir"
  if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$dir"
    run_as=(runuser -u postgres --)
  fi
  pg_port="$(free_port)"
  "${run_as[@]}" "$PG_BIN/initdb" -D "$dir/pg" -U latch --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
  "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$pg_port" -U latch latch_test
  export LATCH_TEST_PG_URL="postgres://latch@127.0.0.1:$pg_port/latch_test"
  if command -v redis-server >/dev/null; then
    redis_port="$(free_port)"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
    export LATCH_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
  fi
  export TEST_SERVICES_DIR="$dir"
  echo "test services: PostgreSQL $LATCH_TEST_PG_URL, Redis ${LATCH_TEST_REDIS_URL:-none} (dir $dir)" >&2
}

stop_services() {
  local dir="$1" run_as=()
  [[ -d "$dir" ]] || return 0
  [[ $(id -u) == 0 ]] && run_as=(runuser -u postgres --)
  if [[ -f "$dir/pg/postmaster.pid" ]]; then "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1 || true; fi
  if [[ -f "$dir/redis.pid" ]]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start_services ;;
  stop) stop_services "${2:-${TEST_SERVICES_DIR:-}}" ;;
  *) echo "usage: source $0 start | $0 stop <dir>" >&2; exit 2 ;;
esac
