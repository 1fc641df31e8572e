"""Replication conformance, failures and restarts (issue 3 suite items 4, 5, 11, 12).

4. kill -9 of a subscriber under continuous writes, restart: every acknowledged write arrives, and
   the restarted node resumes from its persisted position (no "starting initial copy" log line
   after the restart);
5. kill -9 of the publisher mid-stream, restart: everything acknowledged arrives, no re-copy;
11. remove_node stops traffic both ways;
12. all nodes restarted at once resume without re-copying.
"""

import os
import signal
import time

import cluster
import harness
from cluster import Writer, wait_converged, wait_linked, wait_record
from harness import wait_until

DB, T = "dev", "load"


class RecoveryTest(cluster.ClusterTestCase):

    def linked_pair(self):
        a, b = self.start_repl_nodes(["A", "B"])
        self.add_node(a, b)
        self.create_table(a, DB, T)
        self.wait_table(b, DB, T)
        self.insert(a, DB, T, [{"id": "seed-%d" % i, "v": i} for i in range(50)])
        wait_converged([a, b], DB, 20, min_rows=50)
        return a, b

    def assert_all_acked(self, contents, writers):
        ids = set(contents[T])
        for w in writers:
            missing = [i for i in w.acked if '"%s"' % i not in ids]
            self.assertFalse(missing, "%d acknowledged records of writer %s missing, e.g. %r"
                             % (len(missing), w.prefix, missing[:5]))

    def assert_no_copy_since(self, node, baseline, when):
        self.assertEqual(baseline.since(), 0,
                         "%s started a new initial copy %s (it must resume from its persisted position): %r"
                         % (node.name, when, cluster.db_sockets(node)))

    def test_04_kill_subscriber_under_writes_no_recopy(self):
        a, b = self.linked_pair()
        w = Writer(a, DB, T, "w4", batch=5)
        w.start()
        try:
            wait_until(lambda: len(w.acked) >= 100, 20, "100 acknowledged writes on A")
            wait_record(b, DB, T, w.acked[50])
            b.kill9()
            offset = cluster.Baseline(b, "copies_started")
            n = len(w.acked)
            wait_until(lambda: len(w.acked) >= n + 200, 20, "200 more acknowledged writes while B is down")
            b.start()
            n = len(w.acked)
            wait_until(lambda: len(w.acked) >= n + 100, 20, "100 more acknowledged writes after B restarted")
        finally:
            w.stop()
        self.assertFalse(w.errors, w.errors[:5])
        contents = wait_converged([a, b], DB, 30, min_rows=50 + len(w.acked))
        self.assert_all_acked(contents, [w])
        self.assert_no_copy_since(b, offset, "after kill -9 and restart")

    def test_05_kill_publisher_mid_stream(self):
        a, b = self.linked_pair()
        w1 = Writer(a, DB, T, "w5a", batch=50)
        w2 = Writer(a, DB, T, "w5b", batch=50)
        w1.start()
        w2.start()
        try:
            wait_until(lambda: len(w1.acked) + len(w2.acked) >= 2000, 30, "2000 acknowledged writes on A")
            # B is receiving: kill the publisher while the stream is running.
            wait_record(b, DB, T, (w1.acked or w2.acked)[0])
            offsets = {n.name: cluster.Baseline(n, "copies_started") for n in (a, b)}
            a.kill9()
        finally:
            w1.stop()
            w2.stop()
        a.start()
        w3 = Writer(a, DB, T, "w5c", batch=5)
        w3.start()
        try:
            wait_until(lambda: len(w3.acked) >= 100, 20, "100 acknowledged writes after A restarted")
        finally:
            w3.stop()
        self.assertFalse(w3.errors, w3.errors[:5])
        contents = wait_converged([a, b], DB, 30, min_rows=50 + len(w1.acked) + len(w2.acked) + len(w3.acked))
        self.assert_all_acked(contents, [w1, w2, w3])
        for n in (a, b):
            self.assert_no_copy_since(n, offsets[n.name], "after the publisher's kill -9")
        wait_linked(a, b, DB)

    def test_11_remove_node_stops_traffic_both_ways(self):
        a, b = self.linked_pair()
        wait_linked(a, b, DB)
        harness.assert_op(a, {"operation": "remove_node", "hostname": b.repl_name}, 200,
                          {"message": "Successfully removed '%s' from cluster" % b.repl_name})
        wait_until(lambda: not cluster.connected(a, b, DB) and not cluster.connected(b, a, DB), 10,
                   "the A-B link to close after remove_node")
        # B's record is gone on both sides.
        wait_until(lambda: b.repl_name not in cluster.node_rows(a), 10, "A's hdb_nodes to drop B")
        wait_until(lambda: b.repl_name not in cluster.node_rows(b), 10, "B's hdb_nodes to drop B's row")
        self.insert(a, DB, T, [{"id": "after-remove-a"}])
        self.insert(b, DB, T, [{"id": "after-remove-b"}])
        cluster.assert_stays_absent(self, b, DB, T, "after-remove-a", duration_s=2)
        cluster.assert_stays_absent(self, a, DB, T, "after-remove-b", duration_s=0.5)
        # Still apart after a reconnect interval and a restart of each side.
        b.restart()
        a.restart()
        self.insert(a, DB, T, [{"id": "after-restart-a"}])
        self.insert(b, DB, T, [{"id": "after-restart-b"}])
        cluster.assert_stays_absent(self, b, DB, T, "after-restart-a", duration_s=1.5)
        cluster.assert_stays_absent(self, a, DB, T, "after-restart-b", duration_s=0.5)
        self.assertFalse(cluster.connected(a, b, DB))
        self.assertFalse(cluster.connected(b, a, DB))

    def test_11b_remove_node_of_a_stopped_node_answers_within_its_wait(self):
        # A node that is there but silent (SIGSTOP) cannot acknowledge its removal: remove_node
        # waits for that once (3 s), and does not then also wait for an answer to its question.
        a, b = self.linked_pair()
        wait_linked(a, b, "system")
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            harness.assert_op(a, {"operation": "remove_node", "hostname": b.repl_name}, 200,
                              {"message": "Successfully removed '%s' from cluster" % b.repl_name})
            took = time.monotonic() - started
            self.assertLess(took, 5.0, "remove_node of a stopped node took %.1f s" % took)
            self.assertNotIn(b.repl_name, cluster.node_rows(a))
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        # Once it runs again it learns it was removed, and nothing flows between them.
        wait_until(lambda: b.repl_name not in cluster.node_rows(b), 20, "B to learn of its removal")
        self.insert(a, DB, T, [{"id": "after-remove"}])
        cluster.assert_stays_absent(self, b, DB, T, "after-remove", duration_s=1.5)

    def test_13_a_stopped_peer_is_shown_disconnected_then_relinks_when_it_resumes(self):
        # A SIGSTOPped node keeps its TCP connections open but sends nothing, not even pings:
        # after the silence limit (20 s) A aborts its links and shows them disconnected.
        a, b = self.linked_pair()
        for db in ("system", DB):
            wait_linked(a, b, db)
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            stopped = time.monotonic()
            wait_until(lambda: not cluster.connected(a, b, DB) and not cluster.connected(a, b, "system"), 45,
                       "A to show the stopped B disconnected")
            self.assertGreater(time.monotonic() - stopped, 15, "A gave up on a live link too early")
            sock = cluster.database_socket(cluster.cluster_status(a), b.repl_name, DB)
            self.assertIn(sock["state"], ("Idle", "Backoff", "Connecting"), sock)
            self.insert(a, DB, T, [{"id": "while-stopped"}])
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        for db in ("system", DB):
            wait_linked(a, b, db, timeout_s=30)
        wait_record(b, DB, T, "while-stopped")

    def test_12_all_restarted_at_once_resume_without_recopy(self):
        a, b, c = self.start_repl_nodes(["A", "B", "C"])
        self.add_node(a, b)
        self.add_node(a, c)
        self.create_table(a, DB, T)
        for n in (b, c):
            self.wait_table(n, DB, T)
        for n in (a, b, c):
            self.insert(n, DB, T, [{"id": "%s-%d" % (n.name, i), "v": i} for i in range(100)])
        wait_converged([a, b, c], DB, 30, min_rows=300)
        offsets = {n.name: cluster.Baseline(n, "copies_started") for n in (a, b, c)}
        for n in (a, b, c):
            n.proc.send_signal(signal.SIGTERM)
        for n in (a, b, c):
            self.assertEqual(n.stop(), 0, "%s exit code after SIGTERM" % n.name)
        for n in (a, b, c):
            n.launch()
        for n in (a, b, c):
            n.wait_ready()
        for n in (a, b, c):
            self.insert(n, DB, T, [{"id": "%s-after" % n.name}])
            self.insert(n, DB, T, [{"id": "A-1", "touched": n.name}], op="update")
        wait_converged([a, b, c], DB, 30, min_rows=303)
        for x in (a, b, c):
            for y in (a, b, c):
                if x is not y:
                    wait_linked(x, y, DB)
            self.assert_no_copy_since(x, offsets[x.name], "after all nodes restarted")


if __name__ == "__main__":
    harness.main()
