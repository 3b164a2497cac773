#!/usr/bin/env bash
# npm run bench — Latch (one process, SQLite on disk) side by side with the peers of
# ../shared/bench/peers (bare node:http POST and panva/oidc-provider), with the same harness,
# load generator (wrk, 1 thread, 50 connections), CPU pinning and table columns as its run-all.sh.
# Scenarios: client_credentials token issuance, introspection of a valid token, refresh (rotation).
# Tunables as in the harness: DURATION WARMUP CONNECTIONS SERVER_CPUS LOAD_CPUS; REFRESH_TOKENS.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS_SRC="${PEERS_SRC:-$ROOT/../shared/bench/peers}"
[[ -d "$PEERS_SRC/lib" ]] || { echo "peer harness not found at $PEERS_SRC (set PEERS_SRC)" >&2; exit 1; }
for tool in wrk curl taskset; do
  if ! command -v "$tool" >/dev/null; then
    echo "installing $tool (apt)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk curl util-linux >/dev/null
    break
  fi
done

# The shared harness is read-only: run a scratch copy of it, resolving packages from our node_modules.
WORK="$(mktemp -d /tmp/latch-bench.XXXXXX)"
cp -r "$PEERS_SRC/lib" "$PEERS_SRC/servers" "$WORK/"
ln -s "$ROOT/node_modules" "$WORK/node_modules"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$ROOT/bench/results"
export RESULTS_FILE="$ROOT/bench/results/run-$STAMP.tsv"
: >"$RESULTS_FILE"
export RUN_DIR="$WORK/run"
# shellcheck source=/dev/null
source "$WORK/lib/common.sh"
trap '_on_exit; rm -rf "$WORK"' EXIT

# --- bare node:http (the ceiling for any Node server here) -----------------------------------
PORT=18080 start_server node-http node "$PEERS_DIR/servers/node-http.js"
wait_http "http://$HOST:18080/"
bench node-http post-form "http://$HOST:18080/post" POST "$TOKEN_BODY" "$BASIC_AUTH"
stop_server node-http

# --- panva/oidc-provider (in-memory LRU adapter, see the harness README) ---------------------
OP_VERSION="$(node -p 'require("oidc-provider/package.json").version')"
PORT=18090 start_server oidc-provider node "$PEERS_DIR/servers/oidc-provider.mjs"
wait_http "http://$HOST:18090/.well-known/openid-configuration"
TOKEN="$(get_token "http://$HOST:18090/token")" || die "oidc-provider: no token"
bench "oidc-provider@$OP_VERSION" token "http://$HOST:18090/token" POST "$TOKEN_BODY" "$BASIC_AUTH"
TOKEN="$(get_token "http://$HOST:18090/token")" || die "oidc-provider: no token"
bench "oidc-provider@$OP_VERSION" introspect "http://$HOST:18090/token/introspection" POST "token=$TOKEN" "$BASIC_AUTH"
stop_server oidc-provider

# --- Latch: one process, SQLite file on disk (WAL, synchronous=NORMAL) -----------------------
LATCH_PORT=18095
LATCH_ADMIN=18096
ADMIN_TOKEN="bench-admin-token-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DB_URL="sqlite:$WORK/latch/latch.db"
mkdir -p "$WORK/latch"
latch_env=(
  LATCH_DATABASE_URL="$DB_URL" LATCH_ISSUER="http://$HOST:$LATCH_PORT" LATCH_PUBLIC_PORT=$LATCH_PORT
  LATCH_ADMIN_PORT=$LATCH_ADMIN LATCH_ADMIN_TOKEN="$ADMIN_TOKEN" LATCH_LOG_LEVEL=warn LATCH_LOG_REQUESTS=false
  LATCH_RATE_LIMIT_TOKEN_PER_CLIENT=100000000 NODE_ENV=production
)
admin() { curl -sf -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' "$@"; }
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[process.argv[1]]))' "$1"; }

start_server latch env "${latch_env[@]}" node --max-semi-space-size=32 --import tsx "$ROOT/packages/server/src/cli/main.ts" serve
wait_http "http://$HOST:$LATCH_PORT/health/ready"
CC="$(admin "http://$HOST:$LATCH_ADMIN/admin/v1/clients" -d '{"client_name":"bench","grant_types":["client_credentials"],"scope":"read write"}')"
CODE="$(admin "http://$HOST:$LATCH_ADMIN/admin/v1/clients" -d '{"client_name":"bench-web","redirect_uris":["https://bench.example/cb"],"grant_types":["authorization_code","refresh_token"],"scope":"read write"}')"
CLIENT_ID="$(json client_id <<<"$CC")"; CLIENT_SECRET="$(json client_secret <<<"$CC")"
BASIC_AUTH="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"
VERSION="$(node -p 'require("'"$ROOT"'/packages/server/package.json").version')"
PEER="latch@$VERSION (sqlite)"

TOKEN="$(get_token "http://$HOST:$LATCH_PORT/oauth2/token")" || die "latch: no token"
check_introspection "http://$HOST:$LATCH_PORT/oauth2/introspect" "$TOKEN"
bench "$PEER" token "http://$HOST:$LATCH_PORT/oauth2/token" POST "$TOKEN_BODY" "$BASIC_AUTH"
TOKEN="$(get_token "http://$HOST:$LATCH_PORT/oauth2/token")" || die "latch: no token"
bench "$PEER" introspect "http://$HOST:$LATCH_PORT/oauth2/introspect" POST "token=$TOKEN" "$BASIC_AUTH"
check_introspection "http://$HOST:$LATCH_PORT/oauth2/introspect" "$TOKEN"

# Refresh: every request rotates a different refresh token, seeded up front.
WEB_ID="$(json client_id <<<"$CODE")"; WEB_SECRET="$(json client_secret <<<"$CODE")"
WEB_AUTH="Basic $(printf '%s:%s' "$WEB_ID" "$WEB_SECRET" | base64 -w0)"
N="${REFRESH_TOKENS:-400000}"
node --import tsx "$ROOT/bench/seed-refresh.ts" "$DB_URL" "$WEB_ID" "$N" "$WORK/refresh-tokens.txt" >&2
bench_refresh() { # like the harness' bench(), with the token-list script and a token offset per run
  local secs="$1" offset="$2"
  TOKENS_FILE="$WORK/refresh-tokens.txt" TOKENS_OFFSET="$offset" WRK_AUTH="$WEB_AUTH" \
    _pin "$LOAD_CPUS" wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --latency --timeout 10s -s "$ROOT/bench/refresh.lua" "http://$HOST:$LATCH_PORT/oauth2/token"
}
log "warm-up ${WARMUP}s: $PEER / refresh"
warm="$(bench_refresh "$WARMUP" 0)"
used="$(awk '/requests in/{print $1}' <<<"$warm")"
log "measure ${DURATION}s c=$CONNECTIONS (wrk): $PEER / refresh"
out="$(bench_refresh "$DURATION" "$((used + CONNECTIONS))")"
rps="$(awk '/^Requests\/sec:/{printf "%.0f", $2}' <<<"$out")"
p50="$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")"
p99="$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")"
total="$(awk '/requests in/{print $1}' <<<"$out")"
non2xx="$(awk '/Non-2xx or 3xx responses:/{print $NF}' <<<"$out")"; non2xx="${non2xx:-0}"
errs="$(awk '/Socket errors:/{gsub(/,/,""); print $4+$6+$8+$10}' <<<"$out")"; errs="${errs:-0}"
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$PEER" refresh "$rps" "$p50" "$p99" "$total" "$non2xx" "$errs" | tee -a "$RESULTS_FILE" "$_ROWS"
stop_server latch

CPU="$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')  machine: $(nproc) cores ($CPU), $(uname -sr)"
  echo "node $(node -v), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), load: wrk c=$CONNECTIONS ${DURATION}s (+${WARMUP}s warm-up), server on CPU ${SERVER_CPUS}, load generator on CPU ${LOAD_CPUS}"
  echo
  echo "| peer | scenario | req/s | p50 ms | p99 ms | requests | non-2xx | socket errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n",$1,$2,$3,$4,$5,$6,$7,$8}' "$RESULTS_FILE"
} | tee "$ROOT/bench/results/run-$STAMP.md"
cp "$ROOT/bench/results/run-$STAMP.md" "$ROOT/bench/results/latest.md"
