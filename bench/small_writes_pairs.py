#!/usr/bin/env python3
"""Small durable writes through the operations API, two builds interleaved (issue 13).

Each round starts a fresh node of every build in turn and runs meshdb_load against it:
batch 1 x 1 connection, batch 1 x 4, batch 1 x 64 (random records, each its own table).
Prints, per workload and build, the median and range over the rounds of rec/s, p50 latency
and the server's CPU per record. Rounds alternate the builds so both see the same minutes of
a shared machine.

  python3 bench/small_writes_pairs.py --rounds 5 base=/path/to/old/build new=build
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

WORKLOADS = [  # (name, records, batch, connections)
    ("1x1", 3000, 1, 1),
    ("1x4", 4000, 1, 4),
    ("1x64", 30000, 1, 64),
]


def wait_healthy(port, deadline_s=30):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"node on port {port} did not answer /health in {deadline_s} s")


def one_round(build, port):
    """{workload: (rec/s, p50 ms, server cpu us per record)} for one fresh node of `build`."""
    root = tempfile.mkdtemp(prefix="meshdb-small-writes-")
    log = open(os.path.join(root, "node.log"), "w")
    node = subprocess.Popen(
        [os.path.join(build, "meshdb"), "run", "--root", os.path.join(root, "db"),
         "--OPERATIONSAPI_NETWORK_HOST", "127.0.0.1", "--OPERATIONSAPI_NETWORK_PORT", str(port),
         "--REPLICATION_SECUREPORT", "null"], stdout=log, stderr=subprocess.STDOUT)
    figures = {}
    try:
        wait_healthy(port)
        for name, records, batch, connections in WORKLOADS:
            out = subprocess.run(
                [os.path.join(build, "meshdb_load"), "--url", f"http://127.0.0.1:{port}",
                 "--user", "admin", "--password", "password", "--server-pid", str(node.pid),
                 "--records", str(records), "--batch", str(batch),
                 "--connections", str(connections), "--table", "w" + name.replace("x", "_"),
                 "--fresh"], capture_output=True, text=True, check=True).stdout
            fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
            figures[name] = (float(fields["rec/s"]), float(fields["p50_ms"]),
                             float(fields["srv_cpu_us"]))
    finally:
        node.terminate()
        node.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=39461)
    parser.add_argument("builds", nargs="+", help="name=BUILD_DIR (holding meshdb, meshdb_load)")
    args = parser.parse_args()
    builds = [b.split("=", 1) for b in args.builds]
    results = {}  # (workload, build name) -> [(rec/s, p50, cpu)]
    for r in range(args.rounds):
        for name, build in builds:
            for workload, figures in one_round(build, args.port).items():
                results.setdefault((workload, name), []).append(figures)
            print(f"round {r + 1}/{args.rounds} {name} done", file=sys.stderr, flush=True)
    for workload, *_ in WORKLOADS:
        for name, _ in builds:
            runs = results[(workload, name)]
            cols = []
            for i, label, fmt in ((0, "rec/s", "{:.0f}"), (1, "p50_ms", "{:.3f}"),
                                  (2, "srv_cpu_us", "{:.0f}")):
                values = [run[i] for run in runs]
                cols.append(f"{label} {fmt.format(statistics.median(values))} "
                            f"[{fmt.format(min(values))}-{fmt.format(max(values))}]")
            print(f"batch {workload:5} {name:8} " + "  ".join(cols))


if __name__ == "__main__":
    main()
