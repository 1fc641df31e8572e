#!/bin/bash
# Issue 13 figures for one meshdb binary (default build/meshdb): batch 1 x 1 p50, batch 1 x 64,
# batch 1000 x 4 at 0-100k and at 1.0M-1.1M rows, disk use at 1.1M (bench/README.md).
set -u
BIN=${MESHDB_BUILD_DIR:-$(cd "$(dirname "$0")/../build" && pwd)}
MESHDB=${1:-$BIN/meshdb}
R=$(mktemp -d /tmp/meshdb-issue13-XXXX)
PORT=${PORT:-39125}
$MESHDB run --root $R/db --OPERATIONSAPI_NETWORK_HOST 127.0.0.1 --OPERATIONSAPI_NETWORK_PORT $PORT --REPLICATION_SECUREPORT null > $R/node.log 2>&1 &
N=$!
until curl -sf -m 1 http://127.0.0.1:$PORT/health >/dev/null; do sleep 0.2; done
L="$BIN/meshdb_load --url http://127.0.0.1:$PORT --user admin --password password --server-pid $N"
$L --records 3000 --batch 1 --connections 1 --table p1 --fresh
$L --records 40000 --batch 1 --connections 64 --table p64 --fresh
$L --records 100000 --batch 1000 --connections 4 --table big --fresh
$L --records 900000 --batch 1000 --connections 4 --table big --start-id 100000 > /dev/null
$L --records 100000 --batch 1000 --connections 4 --table big --start-id 1000000
du -sh $R/db/database; ls -la $R/db/database
mdb_stat -n -a $R/db/database/bench.mdb 2>/dev/null | grep -E 'Status of|Tree depth|Branch pages|Leaf pages|Overflow pages|Entries' | paste - - - - - - | head -20
kill $N; wait $N; rm -rf $R
