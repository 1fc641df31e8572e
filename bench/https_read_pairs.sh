#!/usr/bin/env bash
# HTTPS against HTTP on the operations API, as server CPU per single-record read, for one or
# more meshdb binaries interleaved: for each of PAIRS rounds, each binary in turn gets a fresh
# node (HTTP and HTTPS listeners, a test CA from meshdb_certgen, storage.writeAsync so commits
# do not dominate), 10,000 records loaded, then ROUNDS times (HTTP, HTTPS) of 10,000
# `search_by_id` reads on 64 keep-alive connections. Prints one line per (binary, round) with
# the node's CPU per request (`srv_cpu_us` of meshdb_load --server-pid) and the reads per second
# over each protocol and their ratios, then per binary the medians of each column.
#   bench/https_read_pairs.sh BUILD_DIR MESHDB [MESHDB...]
#     BUILD_DIR: where meshdb_load and tests/integration/meshdb_certgen are built
# Env: PAIRS (default 4), ROUNDS (per node, default 2), RECORDS (default 10000), PIN (default 1
# on a machine with 2+ CPUs: the node runs on CPU 0 and meshdb_load on CPU 1 (taskset), so the
# client's own TLS work does not take the server's CPU and reads/s is the server's rate; 0: no
# pinning, both share every CPU).
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR MESHDB [MESHDB...]}
shift
(( $# >= 1 )) || { echo "usage: $0 BUILD_DIR MESHDB [MESHDB...]" >&2; exit 2; }
LOAD="$BUILD/meshdb_load"
CERTGEN="$BUILD/tests/integration/meshdb_certgen"
[[ -x "$LOAD" && -x "$CERTGEN" ]] || { echo "build meshdb_load and meshdb_certgen in $BUILD" >&2; exit 2; }
PAIRS=${PAIRS:-4}
ROUNDS=${ROUNDS:-2}
RECORDS=${RECORDS:-10000}
PIN=${PIN:-1}
NODE_CPU=()
LOAD_CPU=()
if [[ "$PIN" == 1 ]] && (( $(nproc) >= 2 )); then
  NODE_CPU=(taskset -c 0)
  LOAD_CPU=(taskset -c 1)
fi

ROOT=$(mktemp -d /tmp/meshdb-https-pairs.XXXXXX)
NODE=
cleanup() {
  if [[ -n "$NODE" ]]; then kill -KILL "$NODE" 2>/dev/null || true; wait "$NODE" 2>/dev/null || true; fi
  rm -rf "$ROOT"
}
trap cleanup EXIT
"$CERTGEN" ca "$ROOT" bench-ca >/dev/null
"$CERTGEN" node "$ROOT" bench-ca node 127.0.0.1 127.0.0.1 >/dev/null

free_port() {  # a port nobody listens on, below the ephemeral range
  local port
  for _ in $(seq 1 50); do
    port=$(( 20000 + RANDOM % 12000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
  done
  echo "$port"
}

# start_node MESHDB: a fresh node; sets NODE, HTTP and HTTPS (URLs).
start_node() {
  local port sport
  port=$(free_port)
  sport=$(free_port)
  rm -rf "$ROOT/db"
  "${NODE_CPU[@]}" "$1" run --root "$ROOT/db" --OPERATIONSAPI_NETWORK_HOST 127.0.0.1 --OPERATIONSAPI_NETWORK_PORT "$port" \
    --OPERATIONSAPI_NETWORK_SECUREPORT "$sport" --STORAGE_WRITEASYNC true \
    --TLS_CERTIFICATE "$ROOT/node.pem" --TLS_PRIVATEKEY "$ROOT/node.key" \
    --TLS_CERTIFICATEAUTHORITY "$ROOT/bench-ca.pem" >"$ROOT/node.log" 2>&1 &
  NODE=$!
  HTTP="http://127.0.0.1:$port"
  HTTPS="https://127.0.0.1:$sport"
  local deadline=$(( SECONDS + 30 ))
  until curl -sf -m 1 "$HTTP/health" >/dev/null 2>&1; do
    if (( SECONDS > deadline )) || ! kill -0 "$NODE" 2>/dev/null; then
      echo "$1 did not become healthy; its log:" >&2
      cat "$ROOT/node.log" >&2
      exit 1
    fi
    sleep 0.1
  done
}

stop_node() {
  kill -TERM "$NODE" 2>/dev/null || true
  wait "$NODE" 2>/dev/null || true
  NODE=
}

# read_figures URL: "<node CPU per request, us> <reads/s>" over 64 connections of single-record reads.
read_figures() {
  "${LOAD_CPU[@]}" "$LOAD" --url "$1" --cacert "$ROOT/bench-ca.pem" --user admin --password password \
    --records "$RECORDS" --batch 1 --connections 64 --read --no-insert --server-pid "$NODE" |
    awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
         END { print f["srv_cpu_us"], f["rec/s"] }'
}

RESULTS="$ROOT/results"
: >"$RESULTS"
echo "# binary round http_us https_us cpu_https/http http_rps https_rps rps_https/http (load average $(cut -d' ' -f1-3 /proc/loadavg); pinned: ${NODE_CPU[*]:-no})"
for pair in $(seq 1 "$PAIRS"); do
  for bin in "$@"; do
    start_node "$bin"
    "$LOAD" --url "$HTTP" --user admin --password password --records "$RECORDS" --batch 1000 \
      --connections 4 >/dev/null
    for round in $(seq 1 "$ROUNDS"); do
      read -r http http_rps < <(read_figures "$HTTP")
      read -r https https_rps < <(read_figures "$HTTPS")
      awk -v bin="$bin" -v at="$pair.$round" -v a="$http" -v b="$https" -v ra="$http_rps" -v rb="$https_rps" \
        'BEGIN { printf "%s %s %s %s %.3f %.0f %.0f %.3f\n", bin, at, a, b, b / a, ra, rb, rb / ra }' |
        tee -a "$RESULTS"
    done
    stop_node
  done
done
echo "# medians (load average $(cut -d' ' -f1-3 /proc/loadavg))"
for bin in "$@"; do
  awk -v bin="$bin" '
    function median(list, n,   i, j, t) {
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (list[j] < list[i]) { t = list[i]; list[i] = list[j]; list[j] = t }
      return n % 2 ? list[(n + 1) / 2] : (list[n / 2] + list[n / 2 + 1]) / 2
    }
    $1 == bin { n++; h[n] = $3; s[n] = $4; r[n] = $5; hr[n] = $6; sr[n] = $7; rr[n] = $8 }
    END { printf "%s: %d rounds, cpu per read http %.1f us, https %.1f us, https/http %.3f; reads/s http %.0f, https %.0f, https/http %.3f\n",
          bin, n, median(h, n), median(s, n), median(r, n), median(hr, n), median(sr, n), median(rr, n) }' "$RESULTS"
done
