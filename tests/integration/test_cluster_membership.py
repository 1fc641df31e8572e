"""remove_node across a 3-node cluster: after A removes C, nobody sends to C or accepts from
C, and C's hdb_nodes row disappears on every node through gossip."""

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


if __name__ == "__main__":
    harness.main()
