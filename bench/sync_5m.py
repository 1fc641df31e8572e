"""Initial sync of N records (default 5M; bench/README.md "Initial sync"): A loaded by meshdb_load (random ~180-byte records, every attribute indexed),
then a fresh B copies it (deferred index build); B's peak VmHWM / RssAnon polled every 50 ms."""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("MESHDB_BUILD_DIR", os.path.join(HERE, "..", "build"))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("MESHDB_BINARY", os.path.join(BUILD, "meshdb"))
import replication_bench as rb  # noqa: E402
import harness  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000
class Args:
    write_async = True  # loading A only; B's copy commits are what they are either way
    certgen = None
    keep = False
bench = rb.Bench(Args)
bench.transport = "ws"
try:
    a = bench.node("A")
    t0 = time.time()
    subprocess.run([os.path.join(BUILD, "meshdb_load"), "--url", "http://%s:%d" % (a.ip, a.port), "--user", a.username,
                    "--password", a.password, "--records", str(N), "--batch", "1000", "--connections", "4",
                    "--database", "bench", "--table", "load", "--fresh"], check=True)
    print("loaded %d into A in %.1f s" % (N, time.time() - t0), flush=True)
    b = bench.node("B")
    rss = {"hwm": 0, "anon": 0}
    t1 = time.time()
    bench.link(b, a)
    seen = [None]
    def done():
        st = rb.proc_status(b.proc.pid)
        rss["hwm"] = max(rss["hwm"], st.get("VmHWM", 0)); rss["anon"] = max(rss["anon"], st.get("RssAnon", 0))
        s, body = b.op({"operation": "describe_table", "database": "bench", "table": "load"})
        if seen[0] is None and s == 200 and body.get("record_count", 0) >= N:
            seen[0] = time.time() - t1
        for c in b.ok({"operation": "cluster_status"}).get("connections", []):
            for sock in c.get("database_sockets", []):
                if sock.get("database") == "bench" and sock.get("copies_completed", 0) >= 1:
                    return seen[0] is not None
        return False
    harness.wait_until(done, 3600, "B to finish", interval_s=0.05)
    took = time.time() - t1
    built = [l for l in b.log_text().splitlines() if "built the index" in l]
    print("5M sync: rows held after %.2f s, copy done after %.2f s; B peak VmHWM %.0f MB, peak RssAnon %.0f MB"
          % (seen[0], took, rss["hwm"] / 1024.0, rss["anon"] / 1024.0))
    print("\n".join(built))
finally:
    bench.close()
