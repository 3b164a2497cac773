#!/usr/bin/env bash
# Starts throwaway PostgreSQL and Redis servers on 127.0.0.1 (free ports, temp dirs) for the tests.
#   source scripts/test-services.sh start   -> exports LATCH_TEST_PG_URL, LATCH_TEST_REDIS_URL, TEST_SERVICES_DIR
#   scripts/test-services.sh stop <dir>     -> stops what start started (also: stop with TEST_SERVICES_DIR set)
# PostgreSQL refuses to run as root, so the cluster belongs to an unprivileged user.
# Sourcing does not change the caller's shell options (no `set -e` leaking into an interactive shell).

# `set +o` runs in a command substitution, where bash always reports errexit as off: keep -e apart.
case $- in *e*) _latch_ts_had_errexit=1 ;; *) _latch_ts_had_errexit=0 ;; esac
_latch_ts_saved_opts="$(set +o)"
set -euo pipefail

_latch_ts_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# node is always there (the project needs it); python3 may not be on a bare Debian machine.
_latch_ts_free_port() {
  node -e "const s = require('net').createServer(); s.listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); });"
}

_latch_ts_fail() {
  local dir="$1" what="$2" log="$3"
  echo "test services: $what failed; last lines of $log:" >&2
  tail -n 30 "$log" >&2 || true
  _latch_ts_stop "$dir"
  return 1
}

_latch_ts_start() {
  local pg_bin dir pg_port redis_port run_as=()
  pg_bin="${PG_BIN:-$(_latch_ts_pg_bin)}"
  if [[ -z "$pg_bin" || ! -x "$pg_bin/initdb" ]]; then
    echo "test services: PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)" >&2
    return 1
  fi
  # Every step checks its own status: set -e does not apply inside a function called from `||`.
  dir="$(mktemp -d /tmp/latch-test-services.XXXXXX)" || return 1
  # Known at once, so a caller's EXIT trap can clean up even if a later step fails.
  export TEST_SERVICES_DIR="$dir"
  chmod 755 "$dir" || return 1
  if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres || return 1
    chown postgres "$dir" || return 1
    run_as=(runuser -u postgres --)
  fi
  pg_port="$(_latch_ts_free_port)" || { _latch_ts_stop "$dir"; return 1; }
  "${run_as[@]}" "$pg_bin/initdb" -D "$dir/pg" -U latch --auth=trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
    { _latch_ts_fail "$dir" "initdb" "$dir/initdb.log"; return 1; }
  "${run_as[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null ||
    { _latch_ts_fail "$dir" "PostgreSQL start" "$dir/pg.log"; return 1; }
  "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U latch latch_test || { _latch_ts_fail "$dir" "createdb" "$dir/pg.log"; return 1; }
  export LATCH_TEST_PG_URL="postgres://latch@127.0.0.1:$pg_port/latch_test"
  if command -v redis-server >/dev/null; then
    redis_port="$(_latch_ts_free_port)" || { _latch_ts_stop "$dir"; return 1; }
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" ||
      { _latch_ts_fail "$dir" "Redis start" "$dir/redis.log"; return 1; }
    export LATCH_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
  fi
  echo "test services: PostgreSQL $LATCH_TEST_PG_URL, Redis ${LATCH_TEST_REDIS_URL:-none} (dir $dir)" >&2
}

_latch_ts_stop() {
  local dir="${1:-}" pg_bin run_as=()
  [[ -n "$dir" && -d "$dir" ]] || return 0
  pg_bin="${PG_BIN:-$(_latch_ts_pg_bin)}"
  if [[ $(id -u) == 0 ]]; then run_as=(runuser -u postgres --); fi
  if [[ -f "$dir/pg/postmaster.pid" ]]; then "${run_as[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -m immediate -w stop >/dev/null 2>&1 || true; fi
  if [[ -f "$dir/redis.pid" ]]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$dir"
}

_latch_ts_status=0
case "${1:-}" in
  start) _latch_ts_start || _latch_ts_status=$? ;;
  stop) _latch_ts_stop "${2:-${TEST_SERVICES_DIR:-}}" || _latch_ts_status=$? ;;
  *)
    echo "usage: source ${BASH_SOURCE[0]} start | ${BASH_SOURCE[0]} stop <dir>" >&2
    _latch_ts_status=2
    ;;
esac

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  # Sourced: restore the caller's options and report through the return status.
  eval "$_latch_ts_saved_opts"
  if [[ $_latch_ts_had_errexit == 1 ]]; then set -e; else set +e; fi
  unset _latch_ts_saved_opts _latch_ts_had_errexit
  return "$_latch_ts_status"
fi
exit "$_latch_ts_status"
