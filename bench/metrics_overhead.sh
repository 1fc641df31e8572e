#!/usr/bin/env bash
# The cost of metrics on the request path (docs/operations.md "Overhead"): two nodes from the
# same binary, one with metrics.enabled true (counting) and one with false (the hot paths skip
# recording), each loaded by meshdb_load in turn, pair by pair, under farm-bench --vs.
#   bench/metrics_overhead.sh [BUILD_DIR]   (default: build)
# Each run drops the table, inserts RECORDS records one per request (writeAsync: no fsync, so
# the request path, not the disk, is timed) and reads them back one search_by_id each.
# Env: RECORDS (per run, default 5000), CONNECTIONS (default 4), RUNS (default 10), SWAP.
set -euo pipefail
BUILD=${1:-build}
MESHDB="$BUILD/meshdb"
LOAD="$BUILD/meshdb_load"
RECORDS=${RECORDS:-5000}
CONNECTIONS=${CONNECTIONS:-4}
RUNS=${RUNS:-10}
ROOT=$(mktemp -d /tmp/meshdb-metrics-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$ROOT"
}
trap cleanup EXIT
start() {  # start NAME PORT ENABLED
  "$MESHDB" run --root "$ROOT/$1" --OPERATIONSAPI_NETWORK_HOST 127.0.0.1 \
    --OPERATIONSAPI_NETWORK_PORT "$2" --METRICS_ENABLED "$3" --STORAGE_WRITEASYNC true \
    --REPLICATION_SECUREPORT null --LOGGING_LEVEL warn >"$ROOT/$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$2/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "node $1 did not start" >&2; cat "$ROOT/$1.log" >&2; exit 1
}
PORT_ON=$(( 21000 + RANDOM % 5000 )); PORT_OFF=$(( PORT_ON + 1 ))
# SWAP=1 starts the "off" node first and on the first port: a check that the order and port
# themselves bias nothing (A is then metrics off).
if [[ "${SWAP:-0}" == 1 ]]; then ON=false; OFF=true; else ON=true; OFF=false; fi
start on "$PORT_ON" "$ON"
start off "$PORT_OFF" "$OFF"
load() {  # load PORT
  echo "$LOAD --url http://127.0.0.1:$1 --user admin --password password --records $RECORDS" \
       "--batch 1 --connections $CONNECTIONS --fresh --read"
}
echo "A = port $PORT_ON (metrics.enabled $ON), B = port $PORT_OFF (metrics.enabled $OFF)"
cpu_seconds() {  # cpu_seconds PID: user + system CPU time the process has used
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}
CPU_START=("$(cpu_seconds "${PIDS[0]}")" "$(cpu_seconds "${PIDS[1]}")")
# shellcheck disable=SC2046
farm-bench -n "$RUNS" --timeout 1800 --vs "$(load "$PORT_OFF")" -- $(load "$PORT_ON")
# Both nodes served the same requests: their CPU time is the figure least disturbed by other
# work on the machine (wall time is not).
awk -v a0="${CPU_START[0]}" -v a1="$(cpu_seconds "${PIDS[0]}")" \
    -v b0="${CPU_START[1]}" -v b1="$(cpu_seconds "${PIDS[1]}")" 'BEGIN {
  printf "server CPU seconds over all runs: A %.2f, B %.2f, A/B %.3f\n", a1 - a0, b1 - b0,
         (a1 - a0) / (b1 - b0) }'
curl -s "http://127.0.0.1:$PORT_ON/metrics" | grep -E '^meshdb_operations_total' | head -5
