#!/usr/bin/env bash
# Resource-server benchmark (scenarios a–d of the SDK): see run.ts. Needs wrk (apt-get install wrk);
# occupies both CPUs (API on SERVER_CPUS, wrk on LOAD_CPUS). Writes bench/results/resource-server-latest.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cd "$ROOT"
exec node --conditions=latch-source --import tsx bench/resource-server/run.ts
