"""remove_node across a 3-node cluster: after A removes C, nobody sends to C or accepts from
C, and C's hdb_nodes row disappears on every node through gossip; the refusal survives the
members' restarts until an admin adds C again."""

import time

import cluster
import harness
from harness import wait_until

DB = "dev"


class RemoveNodeTest(cluster.ClusterTestCase):

    def test_remove_node_across_the_cluster(self):
        a, b, c = self.start_repl_nodes(["A", "B", "C"])
        self.create_table(a, DB, "t")
        self.add_node(a, b)
        self.add_node(a, c)
        # Gossip links B and C too; a marker written on C reaches both A and B.
        self.wait_table(c, DB, "t")
        self.insert(c, DB, "t", [{"id": "from-c-before"}])
        for n in (a, b):
            cluster.wait_record(n, DB, "t", "from-c-before", 20)
        cluster.wait_linked(b, c, DB)
        for n in (a, b, c):
            wait_until(lambda n=n: set(cluster.node_rows(n)) >= {a.repl_name, b.repl_name, c.repl_name},
                       15, "%s to know all three nodes" % n.name)

        got = harness.assert_op(a, {"operation": "remove_node", "hostname": c.repl_name}, 200)
        self.assertEqual(got, {"message": "Successfully removed '%s' from cluster" % c.repl_name})

        # C's record disappears from hdb_nodes everywhere (C included).
        for n in (a, b, c):
            wait_until(lambda n=n: c.repl_name not in cluster.node_rows(n), 15,
                       "%s to drop %s's hdb_nodes row" % (n.name, c.name))
        # No member keeps a connection with C.
        for n in (a, b):
            wait_until(lambda n=n: cluster.database_socket(cluster.cluster_status(n), c.repl_name, DB) is None
                       or not cluster.connected(n, c, DB), 15, "%s to drop its link to C" % n.name)

        # Positive control first (A -> B still flows), then nothing crosses to or from C.
        self.insert(a, DB, "t", [{"id": "from-a-after"}])
        self.insert(c, DB, "t", [{"id": "from-c-after"}])
        self.insert(b, DB, "t", [{"id": "from-b-after"}])
        cluster.wait_record(b, DB, "t", "from-a-after", 15)
        cluster.wait_record(a, DB, "t", "from-b-after", 15)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            for n in (a, b):
                rows = n.ok({"operation": "search_by_id", "database": DB, "table": "t",
                             "ids": ["from-c-after"], "get_attributes": ["id"]})
                self.assertEqual(rows, [], "%s received a write from removed C" % n.name)
            rows = c.ok({"operation": "search_by_id", "database": DB, "table": "t",
                         "ids": ["from-a-after", "from-b-after"], "get_attributes": ["id"]})
            self.assertEqual(rows, [], "removed C received writes from the cluster")
            time.sleep(0.1)

        # Also after a restart of C: it stays out (no peers, its token refused).
        c.restart()
        self.insert(c, DB, "t", [{"id": "from-c-restarted"}])
        self.insert(a, DB, "t", [{"id": "from-a-later"}])
        cluster.wait_record(b, DB, "t", "from-a-later", 15)
        cluster.assert_stays_absent(self, a, DB, "t", "from-c-restarted", 2.0)
        cluster.assert_stays_absent(self, b, DB, "t", "from-c-restarted", 0.5)
        cluster.assert_stays_absent(self, c, DB, "t", "from-a-later", 0.5)
        for n in (a, b, c):
            self.assertNotIn(c.repl_name, cluster.node_rows(n), n.name)


class RemovedNodeRestartTest(cluster.ClusterTestCase):
    """A removed node stays refused after the members restart (each member persists the mark
    in its local system.hdb_node_auth and loads it at start-up), until an admin adds it again.
    C is started with routes to A and B and shares their cluster key, so it can always dial
    them with a valid node token."""

    def start_three(self):
        key = cluster.new_cluster_key()
        a = self.start_repl_node("A", cluster_key=key)
        b = self.start_repl_node("B", cluster_key=key, routes=[a])
        c = self.start_repl_node("C", cluster_key=key, routes=[a, b])
        self.create_table(a, DB, "t")
        for n in (b, c):
            self.wait_table(n, DB, "t")
        # Linked: records flow from C to both and from both to C. (Data, not the sockets'
        # `connected` flag: a duplicate connection closing may clear it on the kept link.)
        self.insert(c, DB, "t", [{"id": "from-c-before"}])
        self.insert(a, DB, "t", [{"id": "from-a-before"}])
        self.insert(b, DB, "t", [{"id": "from-b-before"}])
        for n in (a, b):
            cluster.wait_record(n, DB, "t", "from-c-before", 20)
        for pk in ("from-a-before", "from-b-before"):
            cluster.wait_record(c, DB, "t", pk, 20)
        for n in (a, b, c):
            wait_until(lambda n=n: set(cluster.node_rows(n)) >= {a.repl_name, b.repl_name, c.repl_name},
                       15, "%s to know all three nodes" % n.name)
        return a, b, c

    def remove_c(self, a, b, c):
        got = harness.assert_op(a, {"operation": "remove_node", "hostname": c.repl_name}, 200)
        self.assertEqual(got, {"message": "Successfully removed '%s' from cluster" % c.repl_name})
        for n in (a, b):
            wait_until(lambda n=n: c.repl_name not in cluster.node_rows(n), 15,
                       "%s to drop %s's hdb_nodes row" % (n.name, c.name))
            wait_until(lambda n=n: not cluster.connected(n, c, "system"), 15,
                       "%s to drop its link to C" % n.name)

    def assert_c_stays_out(self, members, c, record_id, duration_s):
        """Polls for duration_s: no member lists C (cluster_status connections, hdb_nodes) or
        holds C's record `record_id`."""
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline:
            for n in members:
                names = [conn.get("name") for conn in cluster.cluster_status(n).get("connections", [])]
                self.assertNotIn(c.repl_name, names, "%s lists removed C in cluster_status" % n.name)
                self.assertNotIn(c.repl_name, cluster.node_rows(n), "%s has C's hdb_nodes row" % n.name)
                rows = n.ok({"operation": "search_by_id", "database": DB, "table": "t",
                             "ids": [record_id], "get_attributes": ["id"]})
                self.assertEqual(rows, [], "%s received %r from removed C" % (n.name, record_id))
            time.sleep(0.1)

    def restart_members_and_check(self, a, b, c, tag):
        """Restarts A and B while C runs; C stays out; A and B still replicate. Returns each
        member's log offset from before its restart."""
        offsets = {n.name: cluster.log_size(n) for n in (a, b)}
        a.restart()
        b.restart()
        self.insert(c, DB, "t", [{"id": "from-c-" + tag}])
        self.insert(a, DB, "t", [{"id": "from-a-" + tag}])
        cluster.wait_record(b, DB, "t", "from-a-" + tag, 20)  # positive control: A -> B
        self.assert_c_stays_out((a, b), c, "from-c-" + tag, 4.0)
        cluster.assert_stays_absent(self, c, DB, "t", "from-a-" + tag, 0.5)
        return offsets

    def readd_c_and_check(self, a, b, c):
        """add_node C on A lifts the refusal: data flows between C and both members."""
        self.add_node(a, c)
        self.insert(c, DB, "t", [{"id": "from-c-readded"}])
        self.insert(a, DB, "t", [{"id": "from-a-readded"}])
        for n in (a, b):
            cluster.wait_record(n, DB, "t", "from-c-readded", 20)
        cluster.wait_record(c, DB, "t", "from-a-readded", 20)
        wait_until(lambda: c.repl_name in cluster.node_rows(b), 15, "B to know C again")

    def test_node_removed_while_down_stays_refused_across_member_restarts(self):
        # C is down when it is removed: it never learns of it and, started again, keeps dialing
        # A and B (routes, valid token) and keeps its own hdb_nodes row.
        a, b, c = self.start_three()
        c.stop()
        self.remove_c(a, b, c)
        c.start()
        offsets = self.restart_members_and_check(a, b, c, "down")
        # C did dial: each restarted member refused it, saying why.
        reason = "node '%s' was removed from the cluster" % c.repl_name
        for n in (a, b):
            wait_until(lambda n=n: reason in cluster.log_since(n, offsets[n.name]), 10,
                       "%s to log refusing C after its restart" % n.name)
        self.readd_c_and_check(a, b, c)

    def test_running_removed_node_stays_out_and_can_be_added_back(self):
        # C keeps running and learns of its removal (it leaves the cluster); the members
        # restart; add_node on A must still bring it back (C accepts A again).
        a, b, c = self.start_three()
        self.remove_c(a, b, c)
        wait_until(lambda: c.repl_name not in cluster.node_rows(c), 15, "C to drop its own row")
        self.restart_members_and_check(a, b, c, "running")
        self.readd_c_and_check(a, b, c)


if __name__ == "__main__":
    harness.main()
