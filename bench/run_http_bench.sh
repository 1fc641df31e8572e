#!/usr/bin/env bash
# Starts a fresh meshdb on loopback, runs the HTTP load matrix with meshdb_load, stops the node.
#   bench/run_http_bench.sh [BUILD_DIR]   (default: build; needs meshdb and meshdb_load built)
# Env: RECORDS_SMALL (batch 1 runs, default 20000), RECORDS_BIG (batched runs, default 200000).
set -euo pipefail

BUILD=${1:-build}
MESHDB="$BUILD/meshdb"
LOAD="$BUILD/meshdb_load"
[[ -x "$MESHDB" && -x "$LOAD" ]] || { echo "build meshdb and meshdb_load in $BUILD first" >&2; exit 2; }
RECORDS_SMALL=${RECORDS_SMALL:-20000}
RECORDS_BIG=${RECORDS_BIG:-200000}

ROOT=$(mktemp -d /tmp/meshdb-bench.XXXXXX)
# A port nobody listens on (bash's /dev/tcp connect fails when the port is free).
for _ in $(seq 1 50); do
  PORT=$(( 20000 + RANDOM % 20000 ))
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
done
URL="http://127.0.0.1:$PORT"

"$MESHDB" run --root "$ROOT" --OPERATIONSAPI_NETWORK_HOST 127.0.0.1 \
  --OPERATIONSAPI_NETWORK_PORT "$PORT" >"$ROOT/node.log" 2>&1 &
NODE=$!
cleanup() {
  kill -TERM "$NODE" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$NODE" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$NODE" 2>/dev/null || true
  wait "$NODE" 2>/dev/null || true
  rm -rf "$ROOT"
}
trap cleanup EXIT

deadline=$(( SECONDS + 30 ))
until curl -sf -m 1 "$URL/health" >/dev/null 2>&1; do
  if (( SECONDS > deadline )) || ! kill -0 "$NODE" 2>/dev/null; then
    echo "meshdb did not become healthy on $URL; its log:" >&2
    cat "$ROOT/node.log" >&2
    exit 1
  fi
  sleep 0.1
done

start=0
run() {  # run RECORDS BATCH CONNECTIONS
  "$LOAD" --url "$URL" --user admin --password password --records "$1" --batch "$2" \
    --connections "$3" --start-id "$start" --read
  start=$(( start + $1 ))
}
echo "# meshdb HTTP bench on $URL ($(nproc) cores)"
run "$RECORDS_SMALL" 1 1
run "$RECORDS_SMALL" 1 64
run "$RECORDS_BIG" 100 4
run "$RECORDS_BIG" 1000 2
run "$RECORDS_BIG" 1000 4
