#!/usr/bin/env python3
"""Replication benchmarks: lag, replicated throughput, initial sync, 3-node conflict convergence.

Starts real meshdb nodes on loopback addresses (reusing tests/integration/harness.py and
cluster.py), links them with add_node, runs the workloads and prints the figures.

    python3 bench/replication_bench.py --binary build/meshdb                 # everything
    python3 bench/replication_bench.py --binary build/meshdb --only lag --lag-rates 200,10000
    python3 bench/replication_bench.py --binary build/meshdb --only sync --records 1000000
    python3 bench/replication_bench.py --binary build/meshdb --only lag --only throughput --transport both

--transport ws (default) links the nodes over plain WebSockets; wss gives each node a certificate
for its address from a temporary test CA (meshdb_certgen, --certgen), serves replication only on
replication.securePort (so add_node's URLs are wss://) and checks every link is wss://; both
runs the selected workloads over ws and then wss and prints a table: ws, wss and wss/ws. Clients
always use the plain operations API, so only the replication transport differs. All data is
random (20-character random keys, so inserts land in random key order; random numbers and
20-80 characters of random text), made before the clock starts.

Workloads (issue 3 "Benchmarks"):
  lag         single-record inserts on A at a fixed rate (several keep-alive client threads share
              the rate); a poller thread asks B with search_by_id for every id not seen yet, in a
              tight loop; lag = time the poll that first found it returned - time the insert request
              started (also reported from A's answer; that one can be negative when B applied the
              write before the client read A's answer). p50/p99/max.
  throughput  N random records written to A in batches of 1000 by several threads as fast as possible;
              time from the first write until B's describe_table record_count is N. With
              --alone-rounds R: R rounds of the same records written to a node alone, then A -> B;
              prints replicated / alone per round and the median (issue 13: >= 0.9). --pin puts A
              and the clients on CPU 0 and B on CPU 1, as if each node had a machine of its own.
  sync        A holds N random records (default 1M); a new node B runs add_node A; time from add_node
              until B's record_count is N.
  conflict    three linked nodes; three clients upsert/update/delete the same 100 keys for a few
              seconds; time from the last acknowledged write until all three hold identical data.
  join        three linked nodes hold N random records (default 100k, --join-records, written a
              third on each); a fresh node D runs add_node for all three at once (parallel
              requests); time from the first add_node until D holds N records and each of its
              links for the database streams (no copy running, none waiting). Repeated
              --join-runs times with a fresh D each (the three keep their data); prints each run,
              the median, and how many copies D made per peer (cluster_status copies_completed).
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import sys
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import cluster  # noqa: E402
import harness  # noqa: E402

DB = "bench"
SECURE_PORT = 9933  # replication.securePort with --transport wss (as tests/integration/test_tls.py)
HTTPS_PORT = 9926


class Client:
    """A keep-alive JSON client for one node."""

    def __init__(self, node, timeout=60):
        self.node = node
        self.auth = node.auth_header()
        self.conn = http.client.HTTPConnection(node.ip, node.port, timeout=timeout)

    def op(self, body):
        data = body if isinstance(body, str) else json.dumps(body)
        for attempt in range(2):
            try:
                self.conn.request("POST", "/", data, {"Content-Type": "application/json", "Authorization": self.auth})
                resp = self.conn.getresponse()
                payload = resp.read()
                return resp.status, json.loads(payload)
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.node.ip, self.node.port, timeout=60)
                if attempt:
                    raise

    def ok(self, body):
        status, got = self.op(body)
        if status != 200:
            text = body if isinstance(body, str) else json.dumps(body)
            raise RuntimeError("%s: %s -> %s %s" % (self.node.name, text[:200], status, json.dumps(got)[:300]))
        return got


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def certgen_path(given=None):
    """meshdb_certgen: --certgen, else $MESHDB_CERTGEN, else build/tests/integration/ (as test_tls.py)."""
    path = given or os.environ.get("MESHDB_CERTGEN")
    if not path:
        path = os.path.join(HERE, "..", "build", "tests", "integration", "meshdb_certgen")
    return os.path.normpath(path)


ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def random_key(r):
    return "".join(r.choices(ALPHABET, k=20))


def random_record(r, key):
    """A record of random text and numbers (about 130 bytes of JSON)."""
    return {"id": key, "v": r.randint(0, 10**9), "f": r.random(),
            "s": "".join(r.choices(ALPHABET, k=r.randint(20, 80)))}


def cpu_seconds(node):
    """The node process's CPU time so far (user + system, all threads), from /proc/PID/stat."""
    with open("/proc/%d/stat" % node.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def thread_cpu(node):
    """CPU seconds so far per thread (user + system), keyed "name/tid", from
    /proc/PID/task/*/stat."""
    got = {}
    task_dir = "/proc/%d/task" % node.proc.pid
    for tid in os.listdir(task_dir):
        try:
            with open(os.path.join(task_dir, tid, "stat")) as f:
                text = f.read()
        except OSError:
            continue  # the thread ended
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        got["%s/%s" % (name, tid)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return got


def thread_cpu_delta(before, after):
    """'name/tid 1.23, ...' for the threads that used CPU between two thread_cpu() readings."""
    spent = sorted(((after[k] - before.get(k, 0.0), k) for k in after), reverse=True)
    return ", ".join("%s %.2f" % (k, v) for v, k in spent if v >= 0.05)


def proc_status(pid):
    """/proc/<pid>/status memory fields in kB ({} when the process is gone)."""
    got = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                name, _, value = line.partition(":")
                if value.strip().endswith("kB"):
                    got[name] = int(value.split()[0])
    except OSError:
        pass
    return got


def record_count(node, table):
    status, body = node.op({"operation": "describe_table", "database": DB, "table": table})
    return body.get("record_count", -1) if status == 200 else -1


# --pin: each node on a core of its own, as on two one-core machines; A shares its core with
# this process (the clients). The disk stays shared.
PIN_CPUS = {"A": {0}, "B": {1}}


def pin_process(pid, cpus):
    """Pins every thread of pid to cpus; threads it starts later inherit that from their creator."""
    for tid in os.listdir("/proc/%d/task" % pid):
        os.sched_setaffinity(int(tid), cpus)


class Bench:
    def __init__(self, args):
        self.args = args
        self.block = harness.address_block("replication_bench")
        self.nodes = []
        self.transport = "ws"
        self.certs = None  # temp dir holding the test CA and the nodes' certificates (wss)
        self.results = {}  # (transport, figure) -> value, for the side-by-side table

    def tls_args(self, n):
        """wss: a certificate for the node's address issued by a bench CA that every node trusts;
        replication on securePort only (so the node's own URL and add_node's are wss://)."""
        if self.certs is None:
            self.certs = tempfile.mkdtemp(prefix="meshdb-bench-certs-")
            self.certgen("ca", self.certs, "bench-ca")
        name = "%s-%s" % (n.name, n.ip)
        self.certgen("node", self.certs, "bench-ca", name, n.ip, n.ip)
        return ["--TLS_CERTIFICATE", os.path.join(self.certs, name + ".pem"),
                "--TLS_PRIVATEKEY", os.path.join(self.certs, name + ".key"),
                "--TLS_CERTIFICATEAUTHORITY", os.path.join(self.certs, "bench-ca.pem"),
                "--REPLICATION_SECUREPORT", str(SECURE_PORT),
                "--OPERATIONSAPI_NETWORK_SECUREPORT", str(HTTPS_PORT),
                "--REPLICATION_ENABLEROOTCAS", "false"]

    def certgen(self, *args):
        subprocess.run([certgen_path(self.args.certgen)] + [str(a) for a in args], check=True)

    def node(self, label, env=None):
        n = harness.Node(self.block.next_ip(), name=label)
        if label == "B" and self.args.b_tmpdir:  # B's files on another filesystem than A's
            shutil.rmtree(n.tmpdir)
            n.tmpdir = tempfile.mkdtemp(prefix="meshdb-it-B-", dir=self.args.b_tmpdir)
            n.root = os.path.join(n.tmpdir, "root")
            n.output_path = os.path.join(n.tmpdir, "output.txt")
        n.repl_name = n.ip
        args = ["--REPLICATION_HOSTNAME", n.ip] + cluster.RECONNECT_ARGS
        if self.args.write_async:
            args += ["--STORAGE_WRITEASYNC", "true"]
        if self.transport == "wss":
            args += self.tls_args(n)
        else:  # a new configuration serves wss:// on securePort; ws:// needs replication.port
            args += ["--REPLICATION_PORT", n.port]
        n.start(args, env=env)
        if self.args.pin:
            pin_process(n.proc.pid, PIN_CPUS.get(label, {0}))
        self.nodes.append(n)
        return n

    def link(self, a, b):
        got = a.ok({"operation": "add_node", "hostname": b.ip,
                    "authorization": {"username": b.username, "password": b.password}})
        if "error" in got.get("message", ""):
            raise RuntimeError("add_node: %r" % got)
        # The link must use the transport being measured (wss://B:9933, or ws:// on the ops port).
        want = "%s://%s:" % (self.transport, b.ip)
        urls = []

        def linked():
            urls[:] = [c.get("url", "") for c in a.ok({"operation": "cluster_status"}).get("connections", [])
                       if c.get("name") == b.repl_name]
            return any(u.startswith(want) for u in urls)

        try:
            harness.wait_until(linked, 10, "a %s... link from %s to %s" % (want, a.name, b.name))
        except Exception:
            raise RuntimeError("%s -> %s: expected a %s... link, cluster_status says %r" % (a.name, b.name, want, urls))

    def record(self, figure, value):
        self.results[(self.transport, figure)] = value

    def table(self, node, name, wait_on=()):
        node.ok({"operation": "create_table", "database": DB, "table": name, "primary_key": "id"})
        for other in wait_on:
            harness.wait_until(lambda: other.op({"operation": "describe_table", "database": DB,
                                                 "table": name})[0] == 200, 30, "table on " + other.name)

    def close(self):
        for n in self.nodes:
            try:
                n.stop(30)
            except Exception as e:  # noqa: BLE001
                print("stopping %s: %r (kept %s)" % (n.name, e, n.tmpdir))
                continue
            if not self.args.keep:
                n.cleanup()
        self.nodes = []

    # -- lag ----------------------------------------------------------------------------------

    def lag(self, rate, seconds, background=0):
        """Lag of `rate` sampled single inserts/s; with `background` > 0, meshdb_load also writes
        that many single-record inserts to A (64 connections, as fast as it can) meanwhile, so
        the samples measure lag while A and B carry that write rate."""
        a, b = self.node("A"), self.node("B")
        self.link(b, a)
        t = "lag"
        self.table(a, t, [b])
        loader = None
        if background:
            loader = subprocess.Popen(
                [self.args.load_binary, "--url", "http://%s:%d" % (a.ip, a.port), "--user", a.username,
                 "--password", a.password, "--records", str(background), "--batch", "1",
                 "--connections", "64", "--database", "background", "--table", "load"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(0.5)  # let the load reach its rate before sampling
        threads = max(1, min(self.args.threads, rate // 100 or 1))
        total = int(rate * seconds)
        # Random keys (so the inserts land in random key order) and random values, made beforehand.
        r = random.Random("lag-%d" % rate)
        keys = [random_key(r) for _ in range(total)]
        bodies = [json.dumps({"operation": "insert", "database": DB, "table": t,
                              "records": [random_record(r, k)]}) for k in keys]
        sent = {}  # key -> (start, ack)
        lock = threading.Lock()
        pending = set()
        done = threading.Event()
        t0 = time.perf_counter() + 0.2
        interval = 1.0 / rate
        cpu0 = (cpu_seconds(a), cpu_seconds(b))

        def writer(k):
            c = Client(a)
            for i in range(k, total, threads):
                due = t0 + i * interval
                now = time.perf_counter()
                if due > now:
                    time.sleep(due - now)
                key = keys[i]
                start = time.perf_counter()
                with lock:
                    sent[key] = [start, None]
                    pending.add(key)  # polled from now on: B may hold it before A's answer is read
                c.ok(bodies[i])
                sent[key][1] = time.perf_counter()

        arrived = {}

        def poller():
            c = Client(b)
            while True:
                with lock:
                    ids = list(pending)[:2000]
                if not ids:
                    if done.is_set():
                        return
                    time.sleep(0.0002)
                    continue
                rows = c.ok({"operation": "search_by_id", "database": DB, "table": t, "ids": ids,
                             "get_attributes": ["id"]})
                now = time.perf_counter()
                with lock:
                    for row in rows:
                        if row["id"] in pending:
                            pending.discard(row["id"])
                            arrived[row["id"]] = now

        ws = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(threads)]
        p = threading.Thread(target=poller, daemon=True)
        p.start()
        for w in ws:
            w.start()
        for w in ws:
            w.join()
        t_end = time.perf_counter()
        achieved = total / (t_end - t0)
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            time.sleep(0.01)
        done.set()
        p.join(10)
        cpu_a, cpu_b = cpu_seconds(a) - cpu0[0], cpu_seconds(b) - cpu0[1]
        if loader is not None:
            out, _ = loader.communicate(timeout=300)
            print("background load on A: " + out.strip().replace("\n", " | "))
        lag_ack = [(arrived[i] - sent[i][1]) * 1000 for i in arrived]
        lag_start = [(arrived[i] - sent[i][0]) * 1000 for i in arrived]
        write_ms = [(s[1] - s[0]) * 1000 for s in sent.values()]
        print("lag @ %d writes/s target over %s (%.0f achieved, %d writes, %d client threads): %d of %d arrived on B"
              % (rate, self.transport, achieved, total, threads, len(arrived), total))
        print("  from A's ack:     p50 %.2f ms  p99 %.2f ms  max %.2f ms"
              % (pct(lag_ack, 50), pct(lag_ack, 99), max(lag_ack or [float("nan")])))
        print("  from the request: p50 %.2f ms  p99 %.2f ms  max %.2f ms   (A's insert latency p50 %.2f ms p99 %.2f ms)"
              % (pct(lag_start, 50), pct(lag_start, 99), max(lag_start or [float("nan")]), pct(write_ms, 50),
                 pct(write_ms, 99)))
        # B's CPU also pays the poller's search_by_id requests (the same on ws and wss).
        print("  CPU per write: A %.1f us, B %.1f us" % (cpu_a * 1e6 / total, cpu_b * 1e6 / total))
        self.record("lag @%d/s achieved w/s" % rate, achieved)  # compare lags at like rates only
        self.record("lag @%d/s p50 ms" % rate, pct(lag_start, 50))
        self.record("lag @%d/s p99 ms" % rate, pct(lag_start, 99))
        self.record("lag @%d/s ack p50 ms" % rate, pct(lag_ack, 50))
        self.record("lag @%d/s ack p99 ms" % rate, pct(lag_ack, 99))
        self.record("lag @%d/s A cpu us/w" % rate, cpu_a * 1e6 / total)
        self.record("lag @%d/s B cpu us/w" % rate, cpu_b * 1e6 / total)
        self.close()

    # -- throughput ---------------------------------------------------------------------------

    @staticmethod
    def random_batches(table, n, seed, batch=1000):
        """Insert bodies (JSON text) for n records of random keys, text and numbers."""
        r = random.Random(seed)
        bodies = []
        for start in range(0, n, batch):
            bodies.append(json.dumps({"operation": "insert", "database": DB, "table": table,
                                      "records": [random_record(r, random_key(r))
                                                  for _ in range(start, min(n, start + batch))]}))
        return bodies

    @staticmethod
    def send(node, bodies, threads):
        """Sends the bodies to node over `threads` keep-alive connections, as fast as it takes them."""
        def worker(k):
            c = Client(node)
            for body in bodies[k::threads]:
                c.ok(body)

        ts = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(threads)]
        for th in ts:
            th.start()
        for th in ts:
            th.join()

    def alone(self, n):
        """The same random records written to a node with no peers: what A ingests alone."""
        a = self.node("A")
        t = "tp"
        self.table(a, t)
        bodies = self.random_batches(t, n, "throughput")
        cpu0 = cpu_seconds(a)
        t0 = time.perf_counter()
        self.send(a, bodies, self.args.threads)
        secs = time.perf_counter() - t0
        print("A alone: %d random records (batches of 1000, %d client threads) in %.2f s (%.0f rec/s); "
              "CPU per record %.2f us" % (n, self.args.threads, secs, n / secs, (cpu_seconds(a) - cpu0) * 1e6 / n))
        self.record("alone rec/s", n / secs)
        self.close()
        return n / secs

    def throughput(self, n):
        a, b = self.node("A"), self.node("B")
        self.link(b, a)
        t = "tp"
        self.table(a, t, [b])
        bodies = self.random_batches(t, n, "throughput")  # made before the clock starts
        cpu0 = (cpu_seconds(a), cpu_seconds(b))
        t0 = time.perf_counter()
        self.send(a, bodies, self.args.threads)
        t_written = time.perf_counter()
        harness.wait_until(lambda: record_count(b, t) >= n, 600, "B to hold %d records" % n, interval_s=0.01)
        t_done = time.perf_counter()
        cpu_a, cpu_b = cpu_seconds(a) - cpu0[0], cpu_seconds(b) - cpu0[1]
        print("replicated throughput over %s: %d random records (batches of 1000, %d client threads) written to A in %.2f s "
              "(%.0f rec/s); B held all %.2f s after the first write: %.0f rec/s replicated (B finished %.2f s "
              "after A)" % (self.transport, n, self.args.threads, t_written - t0, n / (t_written - t0), t_done - t0,
                            n / (t_done - t0), t_done - t_written))
        # B's CPU is mostly applying what the link brings (and its describe_table polls).
        print("  CPU per record: A %.2f us, B %.2f us" % (cpu_a * 1e6 / n, cpu_b * 1e6 / n))
        self.record("throughput rec/s", n / (t_done - t0))
        self.record("throughput A cpu us/rec", cpu_a * 1e6 / n)
        self.record("throughput B cpu us/rec", cpu_b * 1e6 / n)
        self.close()
        return n / (t_done - t0)

    def throughput_against_alone(self, n, rounds):
        """Rounds of (A alone, A -> B): the replicated rate as a share of A's rate alone, per round."""
        ratios = []
        for r in range(rounds):
            alone = self.alone(n)
            replicated = self.throughput(n)
            ratios.append(replicated / alone)
            print("round %d: replicated / alone = %.3f" % (r + 1, ratios[-1]), flush=True)
        ratios.sort()
        print("replicated / alone over %d rounds: median %.3f (min %.3f, max %.3f)"
              % (rounds, ratios[len(ratios) // 2], ratios[0], ratios[-1]))
        self.record("replicated/alone", ratios[len(ratios) // 2])

    # -- initial sync -------------------------------------------------------------------------

    def sync(self, n):
        """A is loaded once; --sync-runs fresh B's copy it in turn, their binary taken in turn from
        --sync-binaries (default --binary), so old and new binaries interleave on the same data.
        Done = B's record_count is n and its copy from A completed (copies_completed: the copy's
        end, which builds the indexes the copy deferred, committed)."""
        a = self.node("A")
        t = "sync"
        self.table(a, t)
        bodies = self.random_batches(t, n, "sync")
        t0 = time.perf_counter()
        self.send(a, bodies, self.args.threads)
        del bodies
        print("initial sync: loaded %d records into A in %.1f s" % (n, time.perf_counter() - t0), flush=True)
        # Each variant: a binary, optionally ":VAR=VALUE" (an environment variable for B).
        variants = (self.args.sync_binaries or self.args.binary).split(",")
        a_binary = os.environ["MESHDB_BINARY"]
        took = {v: [] for v in variants}
        for run in range(self.args.sync_runs):
            variant = variants[run % len(variants)]
            binary, _, env_text = variant.partition(":")
            env = dict([env_text.split("=", 1)]) if env_text else None
            os.environ["MESHDB_BINARY"] = os.path.abspath(binary)
            try:
                b = self.node("B%d" % run, env=env)
            finally:
                os.environ["MESHDB_BINARY"] = a_binary
            perfs = self.start_perf(run, a, b)
            rss = {"hwm_kb": 0, "anon_kb": 0}
            cpu0 = (cpu_seconds(a), cpu_seconds(b))
            threads0 = (thread_cpu(a), thread_cpu(b))
            t1 = time.perf_counter()
            self.link(b, a)
            t_count = [None]

            def synced():
                status = proc_status(b.proc.pid)
                rss["hwm_kb"] = max(rss["hwm_kb"], status.get("VmHWM", 0))
                rss["anon_kb"] = max(rss["anon_kb"], status.get("RssAnon", 0))
                if t_count[0] is None:
                    if record_count(b, t) < n:
                        return False
                    t_count[0] = time.perf_counter()
                for conn in b.ok({"operation": "cluster_status"}).get("connections", []):
                    if conn.get("name") != a.repl_name:
                        continue
                    for s in conn.get("database_sockets", []):
                        if s.get("database") == DB and s.get("copies_completed", 0) >= 1:
                            return True
                return False

            harness.wait_until(synced, 3600, "B to hold %d records and finish its copy" % n, interval_s=0.02)
            done = time.perf_counter() - t1
            cpu_a, cpu_b = cpu_seconds(a) - cpu0[0], cpu_seconds(b) - cpu0[1]
            threads = (thread_cpu_delta(threads0[0], thread_cpu(a)), thread_cpu_delta(threads0[1], thread_cpu(b)))
            self.stop_perf(perfs)
            took[variant].append(done)
            print("initial sync run %d (%s): B held all %d records %.2f s after add_node, copy done after %.2f s "
                  "(%.0f rec/s); B's peak RSS %.0f MB (VmHWM, file pages included), peak RssAnon %.0f MB; "
                  "CPU during the copy: A %.2f s, B %.2f s"
                  % (run + 1, variant, n, t_count[0] - t1, done, n / done, rss["hwm_kb"] / 1024.0,
                     rss["anon_kb"] / 1024.0, cpu_a, cpu_b), flush=True)
            print("  per-thread CPU s: A: %s; B: %s; load average %s"
                  % (threads[0], threads[1], " ".join(open("/proc/loadavg").read().split()[:3])), flush=True)
            b.stop(60)
            self.nodes.remove(b)
            if not self.args.keep:
                b.cleanup()
        for variant, times in took.items():
            times.sort()
            if times:
                print("initial sync of %d records, %s: median %.2f s over %d runs (%s)"
                      % (n, variant, times[len(times) // 2], len(times), ", ".join("%.2f" % x for x in times)))
        self.close()

    def start_perf(self, run, a, b):
        """--perf DIR: perf record -g of A (the sender) and B (the receiver) during the copy."""
        if not self.args.perf:
            return []
        os.makedirs(self.args.perf, exist_ok=True)
        procs = []
        for node, side in ((a, "sender"), (b, "receiver")):
            out = os.path.join(self.args.perf, "sync-run%d-%s.data" % (run + 1, side))
            procs.append(subprocess.Popen(["perf", "record", "-g", "-F", "499", "-o", out, "-p", str(node.proc.pid)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.3)  # perf attaches
        return procs

    @staticmethod
    def stop_perf(procs):
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait(60)

    # -- conflicts ----------------------------------------------------------------------------

    def conflict(self, seconds):
        a, b, c = self.node("A"), self.node("B"), self.node("C")
        self.link(a, b)
        self.link(a, c)
        t = "conflict"
        self.table(a, t, [b, c])
        keys = ["k%d" % i for i in range(100)]
        stop = threading.Event()
        last_ack = [0.0]
        counts = [0, 0, 0]

        def hammer(idx, node):
            r = random.Random(idx)
            cl = Client(node)
            while not stop.is_set():
                k = r.choice(keys)
                kind = r.random()
                if kind < 0.5:
                    body = {"operation": "upsert", "records": [{"id": k, "v": r.random(), "by": node.name}]}
                elif kind < 0.8:
                    body = {"operation": "update", "records": [{"id": k, "p_" + node.name: r.random()}]}
                else:
                    body = {"operation": "delete", "ids": [k]}
                body.update({"database": DB, "table": t})
                cl.ok(body)
                counts[idx] += 1
                last_ack[0] = max(last_ack[0], time.perf_counter())

        ts = [threading.Thread(target=hammer, args=(i, n), daemon=True) for i, n in enumerate((a, b, c))]
        for th in ts:
            th.start()
        time.sleep(seconds)  # the load's duration
        stop.set()
        for th in ts:
            th.join()
        t_last = last_ack[0]
        harness.wait_until(lambda: len({cluster.checksum(n, DB) for n in (a, b, c)}) == 1, 60,
                           "the three nodes to converge", interval_s=0.005)
        took = time.perf_counter() - t_last
        print("3-node conflicts: %d writes (%s per node) on 100 shared keys over %.1f s; identical on all three "
              "%.0f ms after the last acknowledged write" % (sum(counts), "/".join(map(str, counts)), seconds,
                                                             took * 1000))
        self.close()


    # -- a node joining a 3-node cluster ----------------------------------------------------------

    def load_random(self, node, table, n, seed, threads=2):
        self.send(node, self.random_batches(table, n, seed), threads)

    def join(self, n, runs):
        a, b, c = self.node("A"), self.node("B"), self.node("C")
        self.link(a, b)
        self.link(a, c)
        self.link(b, c)
        t = "join"
        self.table(a, t, [b, c])
        t0 = time.perf_counter()
        loads = [threading.Thread(target=self.load_random, args=(node, t, n // 3 + (n % 3 if i == 0 else 0),
                                                                  node.name))
                 for i, node in enumerate((a, b, c))]
        for th in loads:
            th.start()
        for th in loads:
            th.join()
        for node in (a, b, c):
            harness.wait_until(lambda node=node: record_count(node, t) >= n, 600, "%s to hold %d" % (node.name, n))
        print("join: loaded %d random records (a third on each of A, B, C) in %.1f s" % (n, time.perf_counter() - t0))
        peers = (a, b, c)
        took_all = []
        for run in range(runs):
            d = self.node("D%d" % run)
            errors = []

            def add(peer):
                try:
                    self.link(d, peer)
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))

            adds = [threading.Thread(target=add, args=(p,)) for p in peers]
            t1 = time.perf_counter()
            for th in adds:
                th.start()
            for th in adds:
                th.join()
            if errors:
                raise RuntimeError("add_node: %r" % errors)
            t_count = [None]

            def synced():
                if t_count[0] is None:
                    if record_count(d, t) < n:
                        return False
                    t_count[0] = time.perf_counter()
                socks = {}
                for conn in d.ok({"operation": "cluster_status"}).get("connections", []):
                    for s in conn.get("database_sockets", []):
                        if s.get("database") == DB:
                            socks[conn.get("name")] = s
                for p in peers:
                    s = socks.get(p.ip)
                    if not s or not s.get("connected") or s.get("state") != "Streaming" or s.get("copy_progress"):
                        return False
                return socks

            socks = harness.wait_until(synced, 1200, "D to finish its initial sync", interval_s=0.02)
            took = time.perf_counter() - t1
            took_all.append(took)
            copies = "/".join(str(socks[p.ip].get("copies_completed", "?")) for p in peers)
            copied = sum(socks[p.ip].get("copied_records", 0) for p in peers)
            print("join run %d: D held all %d records %.2f s after add_node, every link streaming after %.2f s; "
                  "copies from A/B/C: %s (%d records copied in all)" % (run + 1, n, t_count[0] - t1, took, copies,
                                                                        copied))
            d.stop(30)
            self.nodes.remove(d)
            if not self.args.keep:
                d.cleanup()
        took_all.sort()
        print("join: node joining a 3-node cluster of %d records: initial sync median %.2f s over %d runs (%s)"
              % (n, took_all[len(took_all) // 2], runs, ", ".join("%.2f" % x for x in took_all)))
        self.close()


def print_side_by_side(results):
    """The figures recorded for both ws and wss: ws, wss and wss/ws."""
    figures = []
    for (_, figure) in results:
        if figure not in figures:
            figures.append(figure)
    print("\n%-26s %12s %12s %10s" % ("figure", "ws", "wss", "wss/ws"))
    for figure in figures:
        ws, wss = results.get(("ws", figure)), results.get(("wss", figure))
        if ws is None or wss is None:
            continue
        print("%-26s %12.2f %12.2f %10.3f" % (figure, ws, wss, wss / ws if ws else float("nan")))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "build", "meshdb"))
    ap.add_argument("--only", action="append", choices=["lag", "throughput", "sync", "conflict", "join"])
    ap.add_argument("--lag-rates", default="200,10000", help="comma-separated target writes/s")
    ap.add_argument("--lag-seconds", type=float, default=5)
    ap.add_argument("--background-load", type=int, default=0,
                    help="lag: records meshdb_load writes to A meanwhile (single inserts, 64 connections)")
    ap.add_argument("--load-binary", default=os.path.join(HERE, "..", "build", "meshdb_load"))
    ap.add_argument("--throughput-records", type=int, default=200_000)
    ap.add_argument("--alone-rounds", type=int, default=0,
                    help="throughput: rounds of (A alone, A -> B) with the same records; prints replicated / alone")
    ap.add_argument("--records", type=int, default=1_000_000, help="records for the initial sync")
    ap.add_argument("--sync-runs", type=int, default=1, help="sync: fresh nodes that copy A in turn")
    ap.add_argument("--sync-binaries", help="sync: comma-separated meshdb binaries the fresh nodes use in turn, "
                                            "each optionally followed by :VAR=VALUE, an environment variable for "
                                            "that node (default --binary; A always runs --binary)")
    ap.add_argument("--perf", metavar="DIR", help="sync: perf record -g the sender and the receiver during each "
                                                  "copy into DIR/sync-runN-{sender,receiver}.data")
    ap.add_argument("--conflict-seconds", type=float, default=3)
    ap.add_argument("--join-records", type=int, default=100_000, help="records for the join of a 4th node")
    ap.add_argument("--join-runs", type=int, default=3, help="joins of a fresh 4th node (median printed)")
    ap.add_argument("--threads", type=int, default=4, help="client threads for loads")
    ap.add_argument("--write-async", action="store_true", help="start nodes with storage.writeAsync true")
    ap.add_argument("--keep", action="store_true", help="keep the nodes' directories")
    ap.add_argument("--transport", choices=["ws", "wss", "both"], default="ws",
                    help="replication over ws, over wss (TLS, certificates from meshdb_certgen), or both in turn "
                         "with a side-by-side table")
    ap.add_argument("--certgen", help="meshdb_certgen for --transport wss/both "
                                      "(default $MESHDB_CERTGEN or build/tests/integration/meshdb_certgen)")
    ap.add_argument("--pin", action="store_true",
                    help="A and the client threads on CPU 0, B on CPU 1: each node on a core of its own "
                         "(needs 2 CPUs); without it every process shares every core")
    ap.add_argument("--b-tmpdir", metavar="DIR",
                    help="node B's directory under DIR, e.g. /dev/shm: a disk of B's own, so A's writes do "
                         "not wait behind B's (on tmpfs B's commits are not durable: a diagnostic, not a figure)")
    args = ap.parse_args()
    if args.pin:
        os.sched_setaffinity(0, PIN_CPUS["A"])  # before any client thread starts: they inherit it
    os.environ["MESHDB_BINARY"] = os.path.abspath(args.binary)
    bench = Bench(args)
    which = args.only or ["lag", "throughput", "sync", "conflict"]
    transports = ["ws", "wss"] if args.transport == "both" else [args.transport]
    try:
        for transport in transports:
            bench.transport = transport
            if len(transports) > 1:
                print("== replication over %s" % transport, flush=True)
            if "lag" in which:
                for rate in (int(r) for r in args.lag_rates.split(",")):
                    bench.lag(rate, args.lag_seconds, args.background_load)
            if "throughput" in which and args.alone_rounds:
                bench.throughput_against_alone(args.throughput_records, args.alone_rounds)
            elif "throughput" in which:
                bench.throughput(args.throughput_records)
            if "sync" in which:
                bench.sync(args.records)
            if "conflict" in which:
                bench.conflict(args.conflict_seconds)
            if "join" in which:
                bench.join(args.join_records, args.join_runs)
        if len(transports) > 1:
            print_side_by_side(bench.results)
    finally:
        bench.close()
        if bench.certs and not args.keep:
            shutil.rmtree(bench.certs, ignore_errors=True)


if __name__ == "__main__":
    main()
