"""Insecure mode (docs/security.md "Insecure mode: plain ws:// authenticated by IP address").

Nodes replicate over plain ws:// (no TLS). An inbound plain upgrade carrying a node token is
accepted only from the address of a route's host, of a member's URL host, or one in
replication.allowedIps; a super_user's Basic credentials (add_node's first contact) are accepted
from any address. Every node here runs WITHOUT the module-block allow-list other cluster tests
use (ALLOW_MODULE_BLOCK = False), so refusals between 127.x addresses are visible.
"""

import json

import cluster
import harness
from harness import wait_until

DB = "dev"
T = "items"


def count_prefix(node, prefix):
    """Rows of dev.items on node whose id starts with prefix (0 while the table is missing)."""
    status, rows = node.op({"operation": "search_by_value", "database": DB, "table": T,
                            "search_attribute": "id", "search_value": prefix + "*",
                            "get_attributes": ["id"]})
    return len(rows) if status == 200 else 0


class InsecureModeTest(cluster.ClusterTestCase):
    SCHEME = "ws"  # replication.port set: the nodes' own URLs are ws://, as an operator opts in
    ALLOW_MODULE_BLOCK = False

    def wait_count(self, node, prefix, n, what, timeout_s=20):
        wait_until(lambda: count_prefix(node, prefix) == n, timeout_s,
                   "%s to hold %d %s rows (%s)" % (node.name, n, prefix, what))

    def test_intruder_with_the_cluster_key_is_refused_until_allowed(self):
        key = cluster.new_cluster_key()
        a = self.new_repl_node("A")
        b = self.new_repl_node("B")
        x = self.new_repl_node("X")  # has the cluster key, but A knows neither its route nor it
        self.start_repl_node("A", cluster_key=key, routes=[b], node=a)
        self.start_repl_node("B", cluster_key=key, routes=[a], node=b)
        self.start_repl_node("X", cluster_key=key, routes=[a], node=x)

        # The intruder's rows are written first, the legitimate peer's after them.
        self.create_table(x, DB, T)
        self.insert(x, DB, T, [{"id": "x%d" % i, "from": "X"} for i in range(10)])

        refused = "replication from %s refused: not a route, a member or in replication.allowedIps" % x.ip
        wait_until(lambda: refused in (cluster.link_errors(a)[1] or ""), 20,
                   "A's last_link_error to report the refusal of %s (now %r)" % (x.ip, cluster.link_errors(a)))
        self.assertIn(refused, a.log_text())
        # X sees the 403 and its reason when dialling.
        wait_until(lambda: any("403" in (s.get("last_dial_error") or "") and refused in s["last_dial_error"]
                               for _, s in cluster.db_sockets(x)), 20, "X's last_dial_error to show the 403")

        # Positive control: the route peer B links and its rows arrive on A.
        self.create_table(b, DB, T)
        self.insert(b, DB, T, [{"id": "b%d" % i, "from": "B"} for i in range(10)])
        self.wait_count(a, "b", 10, "B's rows over the route link")
        cluster.wait_linked(a, b, "system")
        # Nothing of X reached A (nor, through A, B), and X is not a member.
        self.assertEqual(count_prefix(a, "x"), 0)
        self.assertEqual(count_prefix(b, "x"), 0)
        self.assertNotIn(x.repl_name, cluster.node_rows(a))
        self.assertFalse(cluster.connected(x, a, "system"))
        errors_before = cluster.link_errors(a)[0]
        wait_until(lambda: cluster.link_errors(a)[0] > errors_before, 10,
                   "A to keep refusing X's redials (link_errors growing)")
        self.assertEqual(count_prefix(a, "x"), 0)

        # The operator allows X's address: A restarts with it in replication.allowedIps.
        a.stop()
        self.start_repl_node("A", cluster_key=key, routes=[b], node=a,
                             extra=["--REPLICATION_ALLOWEDIPS", json.dumps([x.ip])])
        self.assertIn("[%s]" % x.ip, a.log_text())  # the start-up warning names the allow-list
        self.wait_count(a, "x", 10, "X's rows once X is allowed")
        cluster.wait_linked(a, x, "system")
        cluster.wait_linked(x, a, DB)
        # X is a member now (A recorded it): the mesh carries its rows on to B too.
        self.wait_count(b, "x", 10, "X's rows relayed to B")
        self.wait_count(x, "b", 10, "B's rows on X")

    def test_allowed_block_admits_a_peer_without_a_route(self):
        # A CIDR block in replication.allowedIps: B dials A with a one-way route and links.
        key = cluster.new_cluster_key()
        a = self.new_repl_node("A")
        b = self.new_repl_node("B")
        block = b.ip.rsplit(".", 1)[0] + ".0/24"
        self.start_repl_node("A", cluster_key=key, node=a, extra=["--REPLICATION_ALLOWEDIPS", json.dumps([block])])
        self.start_repl_node("B", cluster_key=key, routes=[a], node=b)
        self.create_table(b, DB, T)
        self.insert(b, DB, T, [{"id": "b%d" % i} for i in range(5)])
        self.wait_count(a, "b", 5, "B's rows over the allowed link")
        self.insert(a, DB, T, [{"id": "a%d" % i} for i in range(5)])
        self.wait_count(b, "a", 5, "A's rows on B")
        self.assertIn(block, a.log_text())

    def test_add_node_with_super_user_credentials_from_a_fresh_node(self):
        # No shared key, no routes, no allow-list: the fresh node F knows nothing of A and A
        # nothing of F. add_node on F with A's super_user credentials is the authentication.
        a = self.start_repl_node("A")
        f = self.start_repl_node("F")
        # replication.port comes before the default securePort: both nodes are on plain ws://.
        for n in (a, f):
            url = "ws://%s:%d" % (n.ip, harness.OPS_PORT)
            wait_until(lambda: cluster.node_rows(n).get(n.repl_name, {}).get("url") == url, 10,
                       "%s's own row to say %s (now %r)" % (n.name, url, cluster.node_rows(n).get(n.repl_name)))
        self.create_table(a, DB, T)
        self.insert(a, DB, T, [{"id": "a%d" % i} for i in range(5)])
        self.add_node(f, a)
        self.wait_count(f, "a", 5, "A's rows on F after add_node")
        self.insert(f, DB, T, [{"id": "f%d" % i} for i in range(5)])
        self.wait_count(a, "f", 5, "F's rows on A (links on node tokens from members)")
        cluster.wait_linked(a, f, DB)
        cluster.wait_linked(f, a, DB)


if __name__ == "__main__":
    harness.main()
