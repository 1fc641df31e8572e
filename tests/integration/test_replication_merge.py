"""Long outages: transaction-log retention and merge resync; cluster_verify (issue 4).

1. Two linked nodes run with a tiny log size cap. B is killed; A writes (inserts, updates, a
   delete) until its log is trimmed past B's confirmed position. A is killed; B starts alone
   and writes too (its own inserts, an update of a key A also changed, a delete) until its
   log is trimmed past A. A starts: the two relink, each finds the other's position older
   than its log start and runs a merge resync (not a copy). Both end with the union resolved
   per key by last-writer-wins, cluster_verify reports every table matching, and
   cluster_status counts the merges (and no initial copy).
2. Figure: merge resync of 100k keys with 1% differing (printed).
3. Chain A - B - C (no A-C link): B is killed, A writes past its retention, B returns and
   merges with A; C, which stayed up behind B, must end holding what A holds.
4. Progress: during a merge of 150k rows, cluster_status shows it on both sides (B's
   merge_progress, A's merge_send_progress) with the same total, the count moves and never
   goes back, the rows B received end at that total, and /metrics has the same gauges.
6. Routes both ways and a 16 KiB log: B returns and merges with A, followed by further merges
   at once (B's merged rows come back to A and trim A's log past B again). No link fails
   ("... outside a merge": a MergeBegin that reached B before the previous merge's end had
   committed), every merge A started finishes (none is cut by a duplicate connection), and
   both nodes end equal.
"""

import json
import os
import re
import signal
import time

import cluster
import harness
import prom_text
from cluster import wait_converged, wait_linked
from harness import wait_until

DB, T = "dev", "dog"
KEY = cluster.new_cluster_key()
RETENTION = ["--REPLICATION_LOGRETENTION", "1s", "--REPLICATION_LOGRETENTIONBYTES", "16384",
             "--REPLICATION_LOGTRIMINTERVALMS", "200"]
PAD = "x" * 300


def user_rows(table_contents):
    """{id: record without HarperDB's __ attributes and nulls} of one table's contents."""
    rows = {}
    for text in table_contents.values():
        rec = json.loads(text)
        rows[rec["id"]] = {k: v for k, v in rec.items() if not k.startswith("__") and v is not None}
    return rows


class MergeTest(cluster.ClusterTestCase):

    def assert_rows(self, rows, expected):
        missing = sorted(set(expected) - set(rows))
        extra = sorted(set(rows) - set(expected))
        self.assertFalse(missing, "lost rows: %r" % missing[:10])
        self.assertFalse(extra, "resurrected/unknown rows: %r" % extra[:10])
        for pk, rec in expected.items():
            self.assertEqual(rows[pk], rec, pk)

    def start_pair(self):
        a = self.new_repl_node("A")
        b = self.new_repl_node("B")
        self.start_repl_node("A", KEY, routes=[b], extra=RETENTION, node=a)
        self.start_repl_node("B", KEY, routes=[a], extra=RETENTION, node=b)
        wait_linked(a, b, "system")
        return a, b

    def verify(self, node, **extra):
        body = {"operation": "cluster_verify", "database": DB}
        body.update(extra)
        return harness.assert_op(node, body, 200)

    def write_rows(self, node, prefix, numbers, expected):
        """Inserts one padded row per number on node, recording each in expected."""
        for i in numbers:
            rec = {"id": "%s-%03d" % (prefix, i), "v": i, "by": node.name, "pad": PAD}
            self.insert(node, DB, T, [rec])
            expected[rec["id"]] = rec

    def trimmed_past(self, node, peer):
        """How often node's log of DB was trimmed past the position peer confirmed (cluster_status
        log_trimmed_past, counted since node started)."""
        return cluster.socket_counter(node, peer, DB, "log_trimmed_past")

    def write_until_trimmed(self, node, peer, prefix, expected, first, at_least=0):
        """Writes rows numbered from `first` until node's log was trimmed past the position peer
        confirmed (once more since this call) and at least up to `at_least`; returns the next
        number."""
        before = self.trimmed_past(node, peer)
        i = first
        while (i < at_least or self.trimmed_past(node, peer) <= before) and i < 400:
            self.write_rows(node, prefix, [i], expected)
            i += 1
            time.sleep(0.01)
        self.wait_trimmed(node, peer, before)
        return i

    def write_alone(self, node, peer, prefix, upserts, deleted, expected):
        """While peer is down: node writes 60 rows, upserts `upserts` ((id, v) pairs, by node) and
        deletes row `deleted`, then writes until its log was trimmed past peer's position.
        `expected` follows every change."""
        self.write_rows(node, prefix, range(60), expected)
        for rid, v in upserts:
            expected[rid] = {"id": rid, "v": v, "by": node.name}
            self.insert(node, DB, T, [dict(expected[rid])], op="upsert")
        node.ok({"operation": "delete", "database": DB, "table": T, "ids": [deleted]})
        del expected[deleted]
        # Keeps writing until the trim passes peer's confirmed position.
        self.write_until_trimmed(node, peer, prefix, expected, 60)

    def wait_trimmed(self, node, peer, before, timeout_s=20):
        wait_until(lambda: self.trimmed_past(node, peer) > before, timeout_s,
                   "%s's log of %s to be trimmed past %s's position" % (node.name, DB, peer.name))

    def merges(self, pairs, field="merges_completed"):
        """The sum of a merge counter over (node, peer) sockets for DB."""
        return sum(cluster.socket_counter(n, p, DB, field) for n, p in pairs)

    def seed(self, writer, nodes, n):
        """Creates T on writer, inserts n seed rows, waits until nodes converge; returns them."""
        self.create_table(writer, DB, T)
        self.wait_table(nodes[-1], DB, T)
        seed = [{"id": "s-%03d" % i, "v": i, "by": "seed"} for i in range(n)]
        self.insert(writer, DB, T, seed)
        wait_converged(nodes, DB, 30, min_rows=n)
        return {r["id"]: dict(r) for r in seed}

    def test_01_merge_after_both_wrote_while_apart(self):
        a, b = self.start_pair()
        expected = self.seed(a, [a, b], 100)
        # Converged: cluster_verify agrees, on both sides, for one table and for all.
        got = self.verify(a)
        self.assertEqual(got["differing_tables"], [], got)
        self.assertEqual(got["node_name"], a.repl_name)
        row = [t for t in got["tables"] if t["table"] == T][0]
        self.assertEqual(row["record_count"], 100)
        self.assertTrue(row["matches"])
        self.assertEqual(row["nodes"][b.repl_name]["hash"], row["hash"], got)
        self.assertEqual(self.verify(b, table=T)["differing_tables"], [])

        # --- B down; A writes past its log retention.
        b.kill9()
        self.write_alone(a, b, "a", [("s-005", 1005), ("s-010", 1010)], "s-007", expected)

        # --- A down; B starts alone and writes past its own retention.
        a.kill9()
        b.start()
        # s-010: A changed it first, B later: B's version wins everywhere.
        self.write_alone(b, a, "b", [("s-010", 2010), ("s-020", 2020)], "s-030", expected)

        # --- A returns: both merge. (A's counters start at 0 with the process; B's count since
        # its start, when A was down and nothing merged or copied.)
        a.start()
        contents = wait_converged([a, b], DB, 60, min_rows=len(expected))
        self.assert_rows(user_rows(contents[T]), expected)

        pairs = [(a, b), (b, a)]
        wait_until(lambda: self.merges(pairs) >= 1, 20,
                   "cluster_status of A or B to count a finished merge resync")
        copies = cluster.counter_total(a, "copies_started") + cluster.counter_total(b, "copies_started")
        self.assertEqual(copies, 0, "a full copy ran instead of a merge: %r %r"
                         % (cluster.db_sockets(a), cluster.db_sockets(b)))
        # Only differing records moved: far fewer than the table holds.
        sent = self.merges(pairs, "merge_records_sent")
        print("\nmerge resync: %d records sent in total for %d rows; %d merges"
              % (sent, len(expected), self.merges(pairs)))
        self.assertLess(sent, 2 * len(expected))

        got = self.verify(a)
        self.assertEqual(got["differing_tables"], [], got)
        got = self.verify(b)
        self.assertEqual(got["differing_tables"], [], got)
        row = [t for t in got["tables"] if t["table"] == T][0]
        self.assertEqual(row["record_count"], len(expected))

    def test_02_verify_reports_differences_and_needs_super_user(self):
        a = self.start_repl_node("C", KEY, extra=RETENTION)
        status, body = a.op({"operation": "cluster_verify"})
        self.assertEqual(status, 400, body)
        status, body = a.op({"operation": "cluster_verify", "database": "nope"})
        self.assertEqual(status, 404, body)
        self.create_table(a, DB, "cat")
        self.insert(a, DB, "cat", [{"id": 1}])
        got = self.verify(a, table="cat")
        self.assertEqual(got["tables"][0]["record_count"], 1)
        self.assertEqual(got["differing_tables"], [])  # no linked peers
        a.ok({"operation": "add_role", "role": "reader", "permission": {"super_user": False}})
        a.ok({"operation": "add_user", "username": "joe", "password": "pw", "role": "reader",
              "active": True})
        status, body = a.op({"operation": "cluster_verify", "database": DB},
                            auth=("joe", "pw"))
        self.assertEqual(status, 403, body)
        self.assertIn("clusterVerify", str(body))

    def test_02b_verify_never_gives_a_false_all_clear(self):
        # Issue 8 item 4: with no live link, cluster_verify answered "nodes": {} and matches.
        a, b = self.start_pair()
        self.create_table(a, DB, "cat")
        self.insert(a, DB, "cat", [{"id": 1}])
        wait_converged([a, b], DB, 30, min_rows=1)
        both = lambda: self.verify(a)
        wait_until(lambda: both()["matches"], 20, "cluster_verify to match while linked")
        got = both()
        self.assertEqual(got["unreachable"], [])
        self.assertEqual(got["tables"][0]["nodes"][b.repl_name]["record_count"], 1, got)

        b.kill9()
        wait_until(lambda: not cluster.connected(a, b, DB), 10, "A to see B gone")
        got = self.verify(a)
        self.assertFalse(got["matches"], got)
        self.assertEqual(got["unreachable"], [b.repl_name], got)
        cat = [t for t in got["tables"] if t["table"] == "cat"][0]
        self.assertFalse(cat["matches"], got)
        self.assertTrue(cat["nodes"][b.repl_name]["unreachable"], got)

        b.start()
        wait_until(lambda: self.verify(a)["matches"], 30, "cluster_verify to match after B is back")

    def test_03_figure_merge_100k_keys_1pct_differing(self):
        a, b = self.start_pair()
        self.create_table(a, DB, "big")
        self.wait_table(b, DB, "big")
        n = 100000
        for start in range(0, n, 5000):
            self.insert(a, DB, "big", [{"id": k, "v": k} for k in range(start, start + 5000)])
        wait_converged([a, b], DB, 120, min_rows=n, tables=["big"])
        b.kill9()
        trimmed = self.trimmed_past(a, b)
        changed = list(range(0, n, 100))  # 1%
        # Random padding: the log stores entries compressed, and 1000 copies of one text would
        # not grow it past the retention cap.
        for start in range(0, len(changed), 100):
            self.insert(a, DB, "big", [{"id": k, "v": -k, "pad": os.urandom(150).hex()}
                                       for k in changed[start:start + 100]], op="upsert")
        self.wait_trimmed(a, b, trimmed, 30)
        t0 = time.time()
        b.start()
        # B's counters start at 0 with the process; records received count when a merge it
        # subscribed to finished.
        received = lambda: cluster.socket_counter(b, a, DB, "merge_records_received")
        wait_until(lambda: received() >= len(changed), 120, "B's merge from A to finish")
        wall = time.time() - t0
        sock = cluster.database_socket(cluster.cluster_status(b), a.repl_name, DB)
        print("\nFIGURE merge resync, %d keys, 1%% differing (%d changed on A): %s ms on B from "
              "MergeBegin to the last row committed, %s records received; %.2f s from B's start "
              "to merge done" % (n, len(changed), sock["last_merge_ms"], sock["merge_records_received"], wall))
        self.assertEqual(cluster.counter_total(b, "copies_started"), 0, sock)
        self.assertLess(sock["merge_records_received"], n // 4)  # far from a full copy
        self.assertEqual(self.verify(a, table="big")["differing_tables"], [])

    def test_04_merged_rows_reach_a_node_behind_the_merged_one(self):
        # Chain A - B - C as in test_replication_links test_03: routes A->B and B->C; C announces
        # an unreachable URL so A (the lower name) never links C. A's rows reach C only via B.
        a, b, c = (self.new_repl_node(x) for x in "ABC")
        for n in (a, b, c):
            n.repl_name = "chain-%s-%s" % (n.name.lower(), n.ip)
        self.start_repl_node("C", KEY, node=c, extra=RETENTION + ["--REPLICATION_URL", self.url(c.ip, 1)])
        self.start_repl_node("B", KEY, routes=[c], node=b, extra=RETENTION + [
            "--REPLICATION_URL", self.url(b.ip)])
        self.start_repl_node("A", KEY, routes=[b], node=a, extra=RETENTION + [
            "--REPLICATION_URL", self.url(a.ip)])
        expected = self.seed(a, [a, b, c], 20)

        # --- B down; A writes until its log is trimmed past B's position. C stays up, idle.
        b.kill9()
        self.insert(a, DB, T, [{"id": "s-005", "v": 1005, "by": "A"}], op="upsert")
        expected["s-005"] = {"id": "s-005", "v": 1005, "by": "A"}
        a.ok({"operation": "delete", "database": DB, "table": T, "ids": ["s-007"]})
        del expected["s-007"]
        i = self.write_until_trimmed(a, b, "a", expected, 0, at_least=30)
        self.assertTrue(c.running(), "C must stay up the whole time")

        # --- B returns: it merges with A (no copy).
        merged_a = cluster.Baseline(a, "merges_completed", DB)
        copied_a = cluster.Baseline(a, "copies_started")
        b.start()
        wait_converged([a, b], DB, 20, min_rows=len(expected))
        wait_until(lambda: merged_a.since() + cluster.socket_counter(b, a, DB, "merges_completed") >= 1,
                   20, "cluster_status of A or B to count a finished merge resync")
        self.assertEqual(copied_a.since() + cluster.counter_total(b, "copies_started"), 0,
                         "a full copy ran instead of a merge: %r" % cluster.db_sockets(b))
        print("\nchain merge: A wrote %d rows while B was down; B's socket to A: %r"
              % (i, cluster.database_socket(cluster.cluster_status(b), a.repl_name, DB)))

        # --- C, behind B, must end holding exactly what A holds.
        try:
            contents = wait_converged([a, b, c], DB, 15, min_rows=len(expected))
        except AssertionError as e:
            on_c = user_rows(cluster.table_contents(c, DB, [T]).get(T, {}))
            missing = sorted(set(expected) - set(on_c))
            kept = sorted(set(on_c) - set(expected))
            old = sorted(k for k in set(on_c) & set(expected) if on_c[k] != expected[k])
            raise AssertionError(
                "C (behind B) did not receive the rows B merged from A: %d rows missing on C %r, "
                "%d deleted rows still on C %r, %d updated rows stale on C %r\n%s"
                % (len(missing), missing[:8], len(kept), kept, len(old), old, e)) from None
        self.assert_rows(user_rows(contents[T]), expected)
        got = self.verify(b)
        self.assertEqual(got["differing_tables"], [], got)

        # It really is a chain: no A-C link was made.
        for x, y in ((a, c), (c, a)):
            s = cluster.database_socket(cluster.cluster_status(x), y.repl_name, DB)
            self.assertFalse(s and s.get("connected"),
                             "%s has a connected socket to %s; the chain test needs no A-C link: %r"
                             % (x.name, y.name, s))

    def test_05_merge_progress_moves_and_ends_at_total(self):
        # One route, B to A: with routes both ways the two dials can make a duplicate link,
        # whose closing cuts a merge already begun on it (then another merge starts over).
        a, b = self.new_repl_node("A"), self.new_repl_node("B")
        self.start_repl_node("A", KEY, extra=RETENTION, node=a)
        self.start_repl_node("B", KEY, routes=[a], extra=RETENTION, node=b)
        wait_linked(a, b, "system")
        seed = self.seed(a, [a, b], 10)
        b.kill9()
        trimmed = self.trimmed_past(a, b)
        n, batch, pad = 150000, 15000, "y" * 200
        for start in range(0, n, batch):
            self.insert(a, DB, T, [{"id": "m-%06d" % k, "v": k, "pad": pad} for k in range(start, start + batch)])
        self.wait_trimmed(a, b, trimmed, 30)
        b.start()

        def progress(node, peer, field):
            return (cluster.database_socket(cluster.cluster_status(node), peer.repl_name, DB) or {}).get(field)

        def receiving():
            p = progress(b, a, "merge_progress")
            return p if p and p["phase"] == "receiving" and p["records"] > 0 else None

        # The rows phase on B: the total is known from A's MergeTotal. B is stopped at once, so
        # A (whose send queue then fills) stays in its rows phase while its side is read.
        first = wait_until(receiving, 60, "B's merge from A to receive rows", interval_s=0.01)
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            total = first["total"]
            # Every row A wrote while B was down, and the seed rows sharing their buckets.
            self.assertGreaterEqual(total, n, first)
            self.assertLessEqual(total, n + len(seed), first)
            self.assertLess(first["records"], total, first)
            self.assertGreaterEqual(first["rate"], 0, first)
            sent = progress(a, b, "merge_send_progress")
            self.assertIsNotNone(sent, "A shows no merge to B while B holds it up")
            self.assertEqual((sent["phase"], sent["total"]), ("sending", total), sent)
            self.assertLessEqual(sent["records"], total, sent)
            status, _, body = a.request("GET", "/metrics")
            self.assertEqual(status, 200)
            f = prom_text.parse(body.decode())
            self.assertEqual(prom_text.value(f, "meshdb_replication_merge_progress_total", peer=b.repl_name,
                                             database=DB, direction="send"), total)
            self.assertEqual(prom_text.value(f, "meshdb_replication_merge_progress_total", peer=b.repl_name,
                                             database=DB, direction="receive"), 0)
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)

        # Paced by stopping A: each step the count B shows is further on, below the total.
        seen = [first["records"]]
        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            for _ in range(3):
                target = seen[-1] + 5000
                os.kill(a.proc.pid, signal.SIGCONT)
                wait_until(lambda: (progress(b, a, "merge_progress") or {"records": target})["records"] >= target,
                           30, "B's merge to pass %d records" % target, interval_s=0.01)
                os.kill(a.proc.pid, signal.SIGSTOP)
                p = progress(b, a, "merge_progress")
                self.assertIsNotNone(p, "the merge ended while A was stopped")
                self.assertEqual((p["phase"], p["total"]), ("receiving", total), p)
                self.assertLess(p["records"], total, p)
                self.assertGreater(p["rate"], 0, p)
                seen.append(p["records"])
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        self.assertEqual(seen, sorted(set(seen)), "the count went back or stood still: %r" % seen)

        # The end: A sent exactly the total, and B holds every row. With a 16 KiB log this
        # merge is not the last: the rows B logs as it merges come back to A and trim A's log
        # past B's position again, so A starts another (short) merge at once. A's counter is
        # read as soon as the first merge ends, long before another can.
        sent_total = wait_until(lambda: cluster.socket_counter(a, b, DB, "merge_records_sent"), 60,
                                "A's merge to B to finish", interval_s=0.01)
        self.assertEqual(sent_total, total)
        wait_until(lambda: harness.count_records(b, DB, T) == n + len(seed), 60, "B to hold every row")

    def test_06_back_to_back_merges_with_both_dialing(self):
        a, b = self.start_pair()  # routes both ways: B's return may be dialled twice
        expected = self.seed(a, [a, b], 10)
        b.kill9()
        trimmed = self.trimmed_past(a, b)
        n, batch, pad = 30000, 5000, "y" * 200
        for start in range(0, n, batch):
            rows = [{"id": "m-%06d" % k, "v": k, "pad": pad} for k in range(start, start + batch)]
            self.insert(a, DB, T, rows)
            expected.update((r["id"], r) for r in rows)
        self.wait_trimmed(a, b, trimmed, 30)
        copied_a = cluster.Baseline(a, "copies_started")
        b.start()
        contents = wait_converged([a, b], DB, 90, min_rows=len(expected))
        self.assert_rows(user_rows(contents[T]), expected)

        # Every merge ended on both sides (one cut by a duplicate connection never logs its
        # end): per node, the merges it started (sending) and was asked for (receiving) with
        # the other one, and the "done" lines both kinds log.
        def merges(node, peer):
            log, p = node.log_text(), re.escape(peer.repl_name)
            started = len(re.findall(r"starting merge resync of database %s with %s \(" % (DB, p), log))
            requested = len(re.findall(r"peer %s db %s: merge resync requested" % (p, DB), log))
            done = len(re.findall(r"merge resync of %s with %s done: " % (DB, p), log))
            return started, requested, done

        def all_ended():
            counts = [merges(a, b), merges(b, a)]
            return counts[0][0] >= 1 and all(s + r == d for s, r, d in counts)

        wait_until(all_ended, 30, "every merge between A and B to end on both sides")
        print("\nback-to-back merges (started, requested, done): A %r, B %r"
              % (merges(a, b), merges(b, a)))
        for node in (a, b):
            self.assertNotIn("outside a merge", node.log_text())
        self.assertEqual(copied_a.since() + cluster.counter_total(b, "copies_started"), 0,
                         "a full copy ran instead of a merge: %r" % cluster.db_sockets(b))
        got = self.verify(a)
        self.assertEqual(got["differing_tables"], [], got)


if __name__ == "__main__":
    harness.main()
