#!/bin/bash
# Disk use of 1.1M records of meshdb_load's random data in one table, loaded through the
# server in batches of 1000 on 4 connections, and where the bytes go (bench/README.md "Disk at
# 1.1M rows"). The same records issue 13 compares with HarperDB (876 MB). Needs mdb_stat
# (Debian lmdb-utils) for the breakdown; without it only the sizes are printed.
# Usage: bench/disk_at_1m.sh [MESHDB_BINARY]   (RECORDS=N to load another count)
set -u
BIN=${MESHDB_BUILD_DIR:-$(cd "$(dirname "$0")/../build" && pwd)}
MESHDB=${1:-$BIN/meshdb}
RECORDS=${RECORDS:-1100000}
PORT=${PORT:-39127}
R=$(mktemp -d /tmp/meshdb-disk-XXXX)
D="$R/db/database"
"$MESHDB" run --root "$R/db" --OPERATIONSAPI_NETWORK_HOST 127.0.0.1 \
  --OPERATIONSAPI_NETWORK_PORT "$PORT" --REPLICATION_SECUREPORT null > "$R/node.log" 2>&1 &
N=$!
trap 'kill $N 2>/dev/null; wait $N 2>/dev/null; rm -rf "$R"' EXIT
until curl -sf -m 1 "http://127.0.0.1:$PORT/health" >/dev/null; do sleep 0.2; done
"$BIN/meshdb_load" --url "http://127.0.0.1:$PORT" --user admin --password password \
  --server-pid "$N" --records "$RECORDS" --batch 1000 --connections 4 --table big --fresh
echo "du: $(du -s --block-size=1 "$D" | cut -f1) bytes for the database directory"
for f in "$D"/*; do printf "  %-22s %12d bytes\n" "$(basename "$f")" "$(stat -c %s "$f")"; done
if ! command -v mdb_stat >/dev/null; then
  echo "(no mdb_stat: install lmdb-utils for the breakdown)"
  exit 0
fi
mdb_stat -n -a "$D/bench.mdb" | awk '
  /^Status of/ { name = $3 }
  /Branch pages|Leaf pages|Overflow pages/ { pages[name] += $3 }
  END { for (n in pages) printf "  %-10s %8d pages %6.1f MB\n", n, pages[n], pages[n] * 4096 / 1e6 }' |
  sort
mdb_stat -n -e "$D/bench.mdb" | awk '/Number of pages used/ {
  printf "  used       %8d pages %6.1f MB (of the file: trees, free pages, meta)\n", $5, $5 * 4096 / 1e6 }'
mdb_stat -n -f "$D/bench.mdb" | awk '/Free pages/ {
  printf "  free       %8d pages %6.1f MB (freed by the last commits, reused by the next)\n", $3, $3 * 4096 / 1e6 }'
