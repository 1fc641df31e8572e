#!/usr/bin/env bash
# Insert rate against table size through the operations API: a fresh durable node, then
# meshdb_load batch 1000 x 4 connections (realistic random records) in steps of STEP rows up
# to ROWS, one line per step with the rows before it, the load average, meshdb_load's figures
# (rec/s, p50/p99, the node's CPU per request of 1000 records) and the database's disk use.
#   bench/insert_curve.sh [BUILD_DIR]          (default: build)
# Env: ROWS (default 5000000), STEP (default 250000), PORT (default 39177).
set -euo pipefail

BUILD=${1:-build}
ROWS=${ROWS:-5000000}
STEP=${STEP:-250000}
PORT=${PORT:-39177}
[[ -x "$BUILD/meshdb" && -x "$BUILD/meshdb_load" ]] || { echo "build meshdb and meshdb_load in $BUILD" >&2; exit 2; }

ROOT=$(mktemp -d /tmp/meshdb-insert-curve.XXXXXX)
NODE=
cleanup() {
  if [[ -n "$NODE" ]]; then kill -TERM "$NODE" 2>/dev/null || true; wait "$NODE" 2>/dev/null || true; fi
  rm -rf "$ROOT"
}
trap cleanup EXIT

"$BUILD/meshdb" run --root "$ROOT/db" --OPERATIONSAPI_NETWORK_HOST 127.0.0.1 \
  --OPERATIONSAPI_NETWORK_PORT "$PORT" --REPLICATION_SECUREPORT null >"$ROOT/node.log" 2>&1 &
NODE=$!
deadline=$(( SECONDS + 30 ))
until curl -sf -m 1 "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; do
  if (( SECONDS > deadline )) || ! kill -0 "$NODE" 2>/dev/null; then
    echo "the node did not become healthy; its log:" >&2
    cat "$ROOT/node.log" >&2
    exit 1
  fi
  sleep 0.1
done

fresh=--fresh
for (( start = 0; start < ROWS; start += STEP )); do
  figures=$("$BUILD/meshdb_load" --url "http://127.0.0.1:$PORT" --user admin --password password \
    --server-pid "$NODE" --batch 1000 --connections 4 --table big --records "$STEP" \
    --start-id "$start" $fresh | tail -1)
  fresh=
  echo "rows_before=$start load=$(cut -d' ' -f1 /proc/loadavg) $figures disk=$(du -sm "$ROOT/db/database" | cut -f1)MB"
done
