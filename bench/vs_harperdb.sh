#!/bin/bash
# Issue 13's workloads against HarperDB 4.7.29 and meshdb in the same run, with the same client
# (meshdb_load) and the same records (bench/README.md "Side by side with HarperDB").
#
#   bench/vs_harperdb.sh [BUILD_DIR]
#
# HarperDB is installed from npm (harperdb@4.7.29) into a temporary directory, unless
# HARPERDB_BIN names an installed `harperdb`. It is started the way HARPERDB-OPS.md's nodes were:
# a fresh root, `DEFAULTS_MODE=dev`, 2 worker threads, the operations API on $HDB_PORT, its
# defaults otherwise (`storage.writeAsync: false`: a write is answered once LMDB committed it
# with a sync). meshdb is a fresh durable node (`meshdb run`, defaults).
# Each row runs on HarperDB, then on meshdb, ROUNDS times (default 2). With BIG=1 both tables
# are then filled to 1M rows and the 1.0M-1.1M batch 1000 x 4 row runs once on each, followed
# by each database directory's disk use.
set -u
BIN=${1:-$(cd "$(dirname "$0")/../build" && pwd)}
ROUNDS=${ROUNDS:-2}
HDB_PORT=${HDB_PORT:-39925}
MDB_PORT=${MDB_PORT:-39125}
WORK=$(mktemp -d /tmp/meshdb-vs-harperdb-XXXX)
HARPERDB_BIN=${HARPERDB_BIN:-}
if [[ -z "$HARPERDB_BIN" ]]; then
  echo "installing harperdb@4.7.29 from npm into $WORK/pkg" >&2
  npm install --prefix "$WORK/pkg" --no-audit --no-fund harperdb@4.7.29 >"$WORK/npm.log" 2>&1 ||
    { cat "$WORK/npm.log" >&2; exit 1; }
  HARPERDB_BIN=$WORK/pkg/node_modules/.bin/harperdb
fi

# HOME of its own: HarperDB keeps the path of its install in ~/.harperdb.
mkdir -p "$WORK/home"
HOME=$WORK/home TC_AGREEMENT=yes HDB_ADMIN_USERNAME=admin HDB_ADMIN_PASSWORD=password ROOTPATH=$WORK/hdb \
  OPERATIONSAPI_NETWORK_PORT=$HDB_PORT HTTP_PORT=$((HDB_PORT + 1)) DEFAULTS_MODE=dev \
  REPLICATION_HOSTNAME=localhost THREADS_COUNT=2 "$HARPERDB_BIN" >"$WORK/harperdb.log" 2>&1 &
HDB_PID=$!
"$BIN/meshdb" run --root "$WORK/meshdb" --OPERATIONSAPI_NETWORK_HOST 127.0.0.1 \
  --OPERATIONSAPI_NETWORK_PORT "$MDB_PORT" --REPLICATION_SECUREPORT null >"$WORK/meshdb.log" 2>&1 &
MDB_PID=$!
trap 'kill $HDB_PID $MDB_PID 2>/dev/null; wait; rm -rf "$WORK"' EXIT
for port in "$HDB_PORT" "$MDB_PORT"; do
  for _ in $(seq 1 120); do
    curl -sf -m 1 -u admin:password -H 'Content-Type: application/json' \
      -d '{"operation":"describe_all"}' "http://127.0.0.1:$port/" >/dev/null && break
    sleep 0.5
  done
done

# load SYSTEM ARGS...: one meshdb_load run against SYSTEM (harperdb|meshdb), its line prefixed.
load() {
  local system=$1 port pid
  shift
  if [[ $system == harperdb ]]; then port=$HDB_PORT pid=$HDB_PID; else port=$MDB_PORT pid=$MDB_PID; fi
  "$BIN/meshdb_load" --url "http://127.0.0.1:$port" --user admin --password password \
    --server-pid "$pid" "$@" | sed "s/^/$system /"
}

for round in $(seq 1 "$ROUNDS"); do
  echo "# round $round"
  for system in harperdb meshdb; do
    load $system --records 3000 --batch 1 --connections 1 --table p1 --fresh
  done
  for system in harperdb meshdb; do
    load $system --records 40000 --batch 1 --connections 64 --table p64 --fresh
  done
  for system in harperdb meshdb; do
    load $system --records 100000 --batch 1000 --connections 4 --table big --fresh
  done
done
if [[ "${BIG:-0}" == 1 ]]; then
  echo "# 1.0M-1.1M"
  for system in harperdb meshdb; do
    load $system --records 900000 --batch 1000 --connections 4 --table big --start-id 100000 >/dev/null
    load $system --records 100000 --batch 1000 --connections 4 --table big --start-id 1000000
  done
  echo "harperdb disk $(du -sh "$WORK/hdb/database" | cut -f1)"
  echo "meshdb disk $(du -sh "$WORK/meshdb/database" | cut -f1)"
fi
