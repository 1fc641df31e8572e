"""Replication conformance, data semantics (issue 3 suite items 6, 7, 8, 9, 10).

6. a new node joins a node holding 100k records while writes continue: identical at the end;
7. start_time skips the copy and streams from that time;
8. concurrent upserts, partial updates and deletes of the same keys on three nodes: identical data
   everywhere, and the winner is the highest version;
9. a delete is not undone by an older update arriving late;
10. a transaction is never seen half-applied on a receiver. The operations API has no request that
   writes two tables at once, so the transaction here is one request writing 110 records (100 new
   ids plus 10 shared ids updated by every batch): a receiver must never see a strict subset.
"""

import json
import random
import threading
import time

import cluster
import harness
from cluster import Writer, wait_converged, wait_linked, wait_record
from harness import wait_until

DB = "dev"


def now_ms():
    return time.time() * 1000.0


def wait_clock_past(t_ms):
    """Waits until the wall clock is past t_ms (orders versions of sequential writes on different nodes)."""
    wait_until(lambda: now_ms() > t_ms, 5, "the clock to pass %.3f" % t_ms, interval_s=0.001)


def record_count(node, db, table):
    status, body = node.op({"operation": "describe_table", "database": db, "table": table})
    return body.get("record_count", -1) if status == 200 else -1


class DataTest(cluster.ClusterTestCase):

    def test_06_new_node_joins_100k_while_writes_continue(self):
        t = "big"
        a = self.start_repl_node("A")
        self.create_table(a, DB, t)
        total = 100_000
        for start in range(0, total, 1000):
            r = self.insert(a, DB, t, [{"id": i, "name": "rec-%d" % i, "group": i % 97, "pad": "x" * 40}
                                       for i in range(start, start + 1000)])
            self.assertEqual(r["message"], "inserted 1000 of 1000 records")
        b = self.start_repl_node("B")
        w = Writer(a, DB, t, "during-copy", batch=10)
        w.start()
        try:
            wait_until(lambda: len(w.acked) >= 20, 10, "writes on A before the join")
            self.add_node(b, a)
            # Writes continue during the copy; updates and deletes of copied rows too.
            self.insert(a, DB, t, [{"id": i, "name": "updated-%d" % i} for i in range(0, 1000, 7)], op="update")
            a.ok({"operation": "delete", "database": DB, "table": t, "ids": list(range(1, 1000, 13))})
            wait_until(lambda: record_count(b, DB, t) > 0, 30, "B to start receiving the copy")
            n = len(w.acked)
            wait_until(lambda: len(w.acked) >= n + 200, 30, "200 more writes on A while B copies")
        finally:
            w.stop()
        self.assertFalse(w.errors, w.errors[:5])
        expected = total - len(range(1, 1000, 13)) + len(w.acked)
        wait_until(lambda: record_count(b, DB, t) == record_count(a, DB, t) == expected, 60,
                   "B's record count to reach A's (%d)" % expected)
        contents = wait_converged([a, b], DB, 60)
        self.assertEqual(len(contents[t]), expected)
        self.assertGreaterEqual(cluster.counter_total(b, "copies_started", DB), 1,
                                "B joined with no data: it must have started an initial copy of %s" % DB)
        self.assertGreaterEqual(cluster.counter_total(b, "copies_completed", DB), 1,
                                cluster.db_sockets(b, DB))

    def test_07_start_time_skips_the_copy(self):
        t = "st"
        a = self.start_repl_node("A")
        self.create_table(a, DB, t)
        self.insert(a, DB, t, [{"id": "old-%d" % i} for i in range(50)])
        start_ms = now_ms() + 50
        wait_clock_past(start_ms + 50)
        self.insert(a, DB, t, [{"id": "new-%d" % i} for i in range(20)])
        b = self.start_repl_node("B")
        self.add_node(b, a, start_time=int(start_ms))
        wait_record(b, DB, t, "new-19", timeout_s=20)
        self.insert(a, DB, t, [{"id": "later-a"}])
        wait_record(b, DB, t, "later-a")
        self.insert(b, DB, t, [{"id": "later-b"}])
        wait_record(a, DB, t, "later-b")
        ids = set(json.loads(k) for k in cluster.table_contents(b, DB, [t])[t])
        self.assertEqual(ids, {"new-%d" % i for i in range(20)} | {"later-a", "later-b"},
                         "B must hold only what was written at or after start_time")
        self.assertEqual(cluster.counter_total(b, "copies_started"), 0,
                         "start_time must skip the copy: %r" % cluster.db_sockets(b))

    def test_08_conflicts_resolve_to_the_highest_version(self):
        t = "conf"
        nodes = self.start_repl_nodes(["A", "B", "C"])
        a, b, c = nodes
        for n in nodes:
            self.create_table(n, DB, t)
        # Part 1: the three nodes are not linked yet; writes to the same keys are made one at a
        # time with the clock moving on between them, so their versions are ordered as made.
        rnd = random.Random(8)
        keys = ["k%d" % i for i in range(30)]
        local = {n.name: set() for n in nodes}  # keys present on each node
        last_writer = {}  # key -> (node name, kind) of the latest write
        last_t = 0.0
        for step in range(270):
            n = nodes[(step // 30) % 3] if step < 90 else rnd.choice(nodes)
            k = keys[step % 30] if step < 90 else rnd.choice(keys)
            present = k in local[n.name]
            kind = rnd.choice(["upsert", "update", "delete"]) if present else "upsert"
            wait_clock_past(last_t + 2)
            if kind == "upsert":
                n.ok({"operation": "upsert", "database": DB, "table": t,
                      "records": [{"id": k, "v": step, "by": n.name, "u_" + n.name: step}]})
                local[n.name].add(k)
            elif kind == "update":
                n.ok({"operation": "update", "database": DB, "table": t, "records": [{"id": k, "p_" + n.name: step}]})
            else:
                n.ok({"operation": "delete", "database": DB, "table": t, "ids": [k]})
                local[n.name].discard(k)
            last_t = now_ms()
            last_writer[k] = (n.name, kind)
        before = {n.name: cluster.table_contents(n, DB, [t])[t] for n in nodes}
        expected = {}
        for k, (name, kind) in last_writer.items():
            pk = json.dumps(k)
            if kind != "delete":
                expected[pk] = before[name][pk]
        self.add_node(a, b)
        self.add_node(a, c)
        contents = wait_converged(nodes, DB, 30)
        # search_by_value "*" lists every attribute the table has, null where a record lacks it;
        # the table gained the other nodes' attributes, so compare without nulls (no write here
        # stores a null).
        def strip(rows):
            return {pk: json.dumps({k: v for k, v in json.loads(row).items() if v is not None}, sort_keys=True)
                    for pk, row in rows.items()}
        expected = strip(expected)
        got = strip(contents[t])
        wrong = [(json.loads(pk), last_writer[json.loads(pk)], expected.get(pk), got.get(pk))
                 for pk in sorted(set(expected) | set(got)) if expected.get(pk) != got.get(pk)]
        self.assertFalse(wrong, "%d keys did not resolve to the latest write (key, latest writer, expected row, "
                                "got row): %s" % (len(wrong), wrong[:5]))
        # Part 2: linked now; three clients hammer the same keys concurrently.
        wait_linked(b, c, DB, 20)
        stop = threading.Event()
        failures = []

        ops_done = [0, 0, 0]

        def hammer(node, seed):
            r = random.Random(seed)
            while not stop.is_set():
                ops_done[seed] += 1
                k = r.choice(keys[:10])
                kind = r.choice(["upsert", "upsert", "update", "delete"])
                if kind == "upsert":
                    body = {"operation": "upsert", "records": [{"id": k, "v": r.random(), "by": node.name}]}
                elif kind == "update":
                    body = {"operation": "update", "records": [{"id": k, "p_" + node.name: r.random()}]}
                else:
                    body = {"operation": "delete", "ids": [k]}
                body.update({"database": DB, "table": t})
                status, got = node.op(body)
                if status != 200:
                    failures.append((node.name, body, status, got))

        threads = [threading.Thread(target=hammer, args=(n, i), daemon=True) for i, n in enumerate(nodes)]
        for th in threads:
            th.start()
        try:
            wait_until(lambda: min(ops_done) >= 300 or failures, 60, "300 conflicting writes per node")
        finally:
            stop.set()
        for th in threads:
            th.join(30)
        self.assertFalse(failures, failures[:5])
        t_last = now_ms()
        wait_converged(nodes, DB, 30)
        sys_msg = "3-node conflict convergence took %.0f ms after the last write" % (now_ms() - t_last)
        print(sys_msg)

    def test_09_delete_not_undone_by_older_update(self):
        t = "del"
        a, b = self.start_repl_nodes(["A", "B"])
        self.add_node(a, b)
        self.create_table(a, DB, t)
        self.wait_table(b, DB, t)
        self.insert(a, DB, t, [{"id": "k", "v": 0}, {"id": "keep", "v": 0}])
        wait_record(b, DB, t, "k")
        a.kill9()
        # B updates k (older), then goes away before A is back.
        self.insert(b, DB, t, [{"id": "k", "v": 1, "by": "B"}], op="update")
        t_update = now_ms()
        b.kill9()
        a.start()
        wait_clock_past(t_update + 5)
        # A deletes k (newer) while B is down.
        a.ok({"operation": "delete", "database": DB, "table": t, "ids": ["k"]})
        self.insert(a, DB, t, [{"id": "after", "v": 2}])
        b.start()
        contents = wait_converged([a, b], DB, 30, min_rows=2)
        self.assertNotIn(json.dumps("k"), contents[t], "the older update resurrected a deleted record")
        self.assertEqual(sorted(json.loads(k) for k in contents[t]), ["after", "keep"])
        # Still deleted after both restart (the tombstone and the log agree).
        a.restart()
        b.restart()
        self.insert(a, DB, t, [{"id": "final"}])
        contents = wait_converged([a, b], DB, 30, min_rows=3)
        self.assertNotIn(json.dumps("k"), contents[t])

    def test_10_transaction_never_seen_half_applied(self):
        t = "txn"
        a, b = self.start_repl_nodes(["A", "B"])
        self.add_node(a, b)
        self.create_table(a, DB, t)
        self.wait_table(b, DB, t)
        shared = ["s%d" % i for i in range(10)]
        batches = 60
        violations = []
        observations = [0]
        done = threading.Event()

        def check_snapshot(rows):
            per_batch = {}
            shared_batches = set()
            for r in rows:
                if r["id"] in shared:
                    shared_batches.add(r.get("batch"))
                else:
                    per_batch[r["batch"]] = per_batch.get(r["batch"], 0) + 1
            partial = {bt: n for bt, n in per_batch.items() if n != 100}
            if partial:
                return "batches with a strict subset of their 100 new records: %r" % partial
            if not per_batch:
                return None if not shared_batches else "shared ids without any batch: %r" % shared_batches
            if len(shared_batches) != 1 or sum(1 for r in rows if r["id"] in shared) != 10:
                return "shared ids not all from one batch: %r" % shared_batches
            top = max(per_batch)
            if shared_batches != {top} or sorted(per_batch) != list(range(top + 1)):
                return "shared ids say batch %r but new records hold batches %r" % (shared_batches, sorted(per_batch))
            return None

        def poll():
            while not done.is_set():
                status, rows = b.op({"operation": "search_by_value", "database": DB, "table": t,
                                     "search_attribute": "id", "search_value": "*", "get_attributes": ["id", "batch"]})
                if status != 200:
                    continue
                observations[0] += 1
                v = check_snapshot(rows)
                if v:
                    violations.append(v)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            for bt in range(batches):
                records = [{"id": "b%d-%d" % (bt, i), "batch": bt} for i in range(100)]
                records += [{"id": s, "batch": bt} for s in shared]
                r = a.ok({"operation": "upsert", "database": DB, "table": t, "records": records})
                self.assertEqual(len(r["upserted_hashes"]), 110)
            def all_there():
                if record_count(b, DB, t) != batches * 100 + 10:
                    return False
                rows = b.ok({"operation": "search_by_id", "database": DB, "table": t, "ids": ["s0"],
                             "get_attributes": ["batch"]})
                return rows and rows[0].get("batch") == batches - 1
            wait_until(all_there, 30, "B to hold every batch")
        finally:
            done.set()
            poller.join(30)
        self.assertFalse(violations, "receiver saw half-applied transactions %d times; first: %s"
                         % (len(violations), violations[:3]))
        self.assertGreater(observations[0], 5, "the poller must have looked at the receiver while it applied")
        wait_converged([a, b], DB, 30)


if __name__ == "__main__":
    harness.main()
