#!/bin/bash
# Batch 1000 x 4 into one table at 0-100k and at 1.0M-1.2M rows on a fresh durable node, and the
# writer thread's CPU per record at 1.0M-1.2M (the busiest thread of the server over that phase,
# from /proc/<pid>/task/*/stat). One line per run; TAG=... prefixes it. Usage:
#   bench/writer_at_1m.sh [MESHDB]      (default build/meshdb; MESHDB_BUILD_DIR for meshdb_load)
# The server's environment passes through, so a binary's experiment switch can be compared with
# itself: `TAG=off bench/writer_at_1m.sh B; SWITCH=1 TAG=on bench/writer_at_1m.sh B`.
set -u
BIN=${MESHDB_BUILD_DIR:-$(cd "$(dirname "$0")/../build" && pwd)}
MESHDB=${1:-$BIN/meshdb}
R=$(mktemp -d /tmp/meshdb-writer1m-XXXX)
PORT=${PORT:-39145}
"$MESHDB" run --root "$R/db" --OPERATIONSAPI_NETWORK_HOST 127.0.0.1 --OPERATIONSAPI_NETWORK_PORT "$PORT" \
  --REPLICATION_SECUREPORT null > "$R/node.log" 2>&1 &
N=$!
until curl -sf -m 1 "http://127.0.0.1:$PORT/health" >/dev/null; do sleep 0.2; done
L=("$BIN/meshdb_load" --url "http://127.0.0.1:$PORT" --user admin --password password --server-pid "$N"
  --batch 1000 --connections 4 --table big)
thread_ticks() { for f in /proc/"$N"/task/*/stat; do awk '{print $1, $14 + $15}' "$f"; done | sort; }
first=$("${L[@]}" --records 100000 --fresh)
"${L[@]}" --records 900000 --start-id 100000 > /dev/null
before=$(thread_ticks)
tail=$("${L[@]}" --records 200000 --start-id 1000000)
after=$(thread_ticks)
hz=$(getconf CLK_TCK)
writer_us=$(join <(echo "$before") <(echo "$after") |
  awk -v hz="$hz" '{d = $3 - $2; if (d > m) m = d} END {printf "%.1f", m * 1e6 / hz / 200000}')
field() { grep -o "$1=[0-9.]*" <<< "$2"; }
echo "${TAG:-} 0-100k $(field rec/s "$first") $(field srv_cpu_us "$first") |" \
  "1.0M-1.2M $(field rec/s "$tail") $(field srv_cpu_us "$tail") $(field p99_ms "$tail") writer_us/rec=$writer_us"
kill "$N"; wait "$N"; rm -rf "$R"
