#!/usr/bin/env bash
# Starts a fresh meshdb on loopback serving the operations API over HTTP and HTTPS (a test CA and
# certificate made with meshdb_certgen), runs the load matrix with meshdb_load over each (row by
# row, HTTP then HTTPS, so both see the same node and database size), prints every meshdb_load
# line and then a side-by-side table (HTTP, HTTPS, HTTPS/HTTP) of rec/s, p50, p99 and the node's
# CPU time per request (us, user + system, from /proc/PID/stat), and stops the node.
#   bench/run_http_bench.sh [BUILD_DIR]   (default: build; needs meshdb, meshdb_load and
#                                          tests/integration/meshdb_certgen built)
# Env: RECORDS_SMALL (batch 1 runs, default 20000), RECORDS_BIG (batched runs, default 200000),
#      RECORDS_CONN (batch 1 with a new connection per request, default 2000; 0 skips it),
#      PROTOCOLS ("http https" by default; "http" alone needs no certgen),
#      CERTGEN (default BUILD_DIR/tests/integration/meshdb_certgen).
set -euo pipefail

BUILD=${1:-build}
MESHDB="$BUILD/meshdb"
LOAD="$BUILD/meshdb_load"
CERTGEN=${CERTGEN:-$BUILD/tests/integration/meshdb_certgen}
PROTOCOLS=${PROTOCOLS:-http https}
[[ -x "$MESHDB" && -x "$LOAD" ]] || { echo "build meshdb and meshdb_load in $BUILD first" >&2; exit 2; }
if [[ " $PROTOCOLS " == *" https "* && ! -x "$CERTGEN" ]]; then
  echo "build meshdb_certgen ($CERTGEN) first, or set PROTOCOLS=http" >&2; exit 2
fi
RECORDS_SMALL=${RECORDS_SMALL:-20000}
RECORDS_BIG=${RECORDS_BIG:-200000}
RECORDS_CONN=${RECORDS_CONN:-2000}

ROOT=$(mktemp -d /tmp/meshdb-bench.XXXXXX)
free_port() {  # a port nobody listens on (bash's /dev/tcp connect fails when the port is free),
  local port    # below the ephemeral range (32768+) so that no client socket holds it either
  for _ in $(seq 1 50); do
    port=$(( 20000 + RANDOM % 12000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
  done
  echo "$port"
}
TLS_ARGS=()
if [[ " $PROTOCOLS " == *" https "* ]]; then
  mkdir -p "$ROOT/certs"
  "$CERTGEN" ca "$ROOT/certs" bench-ca
  "$CERTGEN" node "$ROOT/certs" bench-ca node 127.0.0.1 127.0.0.1
  TLS_ARGS=(--TLS_CERTIFICATE "$ROOT/certs/node.pem" --TLS_PRIVATEKEY "$ROOT/certs/node.key"
            --TLS_CERTIFICATEAUTHORITY "$ROOT/certs/bench-ca.pem")
fi

NODE=
start_node() {  # on new free ports; sets PORT, SPORT, URL and NODE
  PORT=$(free_port)
  SPORT=$(free_port)
  while [[ "$SPORT" == "$PORT" ]]; do SPORT=$(free_port); done
  declare -gA URL=([http]="http://127.0.0.1:$PORT" [https]="https://127.0.0.1:$SPORT")
  local secure=()
  if (( ${#TLS_ARGS[@]} )); then secure=("${TLS_ARGS[@]}" --OPERATIONSAPI_NETWORK_SECUREPORT "$SPORT"); fi
  "$MESHDB" run --root "$ROOT/db" --OPERATIONSAPI_NETWORK_HOST 127.0.0.1 \
    --OPERATIONSAPI_NETWORK_PORT "$PORT" "${secure[@]}" >"$ROOT/node.log" 2>&1 &
  NODE=$!
}
cleanup() {
  kill -TERM "$NODE" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$NODE" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$NODE" 2>/dev/null || true
  wait "$NODE" 2>/dev/null || true
  rm -rf "$ROOT"
}
trap cleanup EXIT

start_node
attempts=1
deadline=$(( SECONDS + 30 ))
until curl -sf -m 1 "${URL[http]}/health" >/dev/null 2>&1; do
  if ! kill -0 "$NODE" 2>/dev/null && (( attempts < 3 )) &&
     grep -q "Address already in use" "$ROOT/node.log"; then  # lost a race for a port: again
    wait "$NODE" 2>/dev/null || true
    start_node
    attempts=$(( attempts + 1 ))
    continue
  fi
  if (( SECONDS > deadline )) || ! kill -0 "$NODE" 2>/dev/null; then
    echo "meshdb did not become healthy on ${URL[http]}; its log:" >&2
    cat "$ROOT/node.log" >&2
    exit 1
  fi
  sleep 0.1
done

start=0
RESULTS="$ROOT/results"
: >"$RESULTS"
run() {  # run RECORDS BATCH CONNECTIONS [meshdb_load flags...]: once per protocol
  local records=$1 batch=$2 conns=$3 proto line label
  shift 3
  label="batch=$batch conns=$conns${*:+ $*}"
  for proto in $PROTOCOLS; do
    while IFS= read -r line; do
      echo "$proto $line"
      # "PROTO|PHASE LABEL|rec/s|p50|p99|server CPU us per request"
      awk -v proto="$proto" -v label="$label" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%s|%s %s|%s|%s|%s|%s\n", proto, $1, label, v["rec/s"], v["p50_ms"], v["p99_ms"],
               v["srv_cpu_us"] }' <<<"$line" >>"$RESULTS"
    done < <("$LOAD" --url "${URL[$proto]}" --cacert "$ROOT/certs/bench-ca.pem" --user admin \
               --password password --records "$records" --batch "$batch" --connections "$conns" \
               --start-id "$start" --server-pid "$NODE" --read "$@")
    start=$(( start + records ))
  done
}
echo "# meshdb operations API bench: ${URL[http]} and ${URL[https]} ($(nproc) cores); protocols: $PROTOCOLS"
run "$RECORDS_SMALL" 1 1
run "$RECORDS_SMALL" 1 64
run "$RECORDS_BIG" 100 4
run "$RECORDS_BIG" 1000 2
run "$RECORDS_BIG" 1000 4
if (( RECORDS_CONN > 0 )); then run "$RECORDS_CONN" 1 1 --new-connection; fi

if [[ "$PROTOCOLS" == "http https" ]]; then
  echo
  awk -F'|' '
    { key = $2; if (!(key in seen)) { seen[key] = 1; order[n++] = key }
      rate[$1, key] = $3; p50[$1, key] = $4; p99[$1, key] = $5; cpu[$1, key] = $6 }
    END {
      printf "%-44s %9s %9s %6s  %8s %8s %6s  %8s %8s %6s  %7s %7s %6s\n", "run", "http r/s",
             "https r/s", "ratio", "http p50", "https p50", "ratio", "http p99", "https p99", "ratio",
             "http us", "https us", "ratio"
      for (i = 0; i < n; i++) {
        k = order[i]
        printf "%-44s %9.0f %9.0f %6.3f  %8.3f %8.3f %6.3f  %8.3f %8.3f %6.3f  %7.1f %7.1f %6.3f\n", k,
               rate["http", k], rate["https", k], rate["http", k] ? rate["https", k] / rate["http", k] : 0,
               p50["http", k], p50["https", k], p50["http", k] ? p50["https", k] / p50["http", k] : 0,
               p99["http", k], p99["https", k], p99["http", k] ? p99["https", k] / p99["http", k] : 0,
               cpu["http", k], cpu["https", k], cpu["http", k] ? cpu["https", k] / cpu["http", k] : 0
      }
    }' "$RESULTS"
fi
