"""Replication conformance, links (issue 3 suite items 1, 2, 3, 13) and the cluster operations' shapes.

1. two nodes, one route, writes on both sides;
2. three nodes, C added to A only, ends linked to B, and data written on C reaches B;
3. chain A-B-C (routes A->B, B->C only, no A-C link) converges both ways;
13. routes set with cluster_set_routes and deleted with cluster_delete_routes link and unlink live
    (and are persisted in harperdb-config.yaml);
plus the shapes of add_node / cluster_status / routes responses and the 403s for non-super users
(HarperDB's permission errors and cluster operations).
"""

import json
import os

import time

import cluster
import harness
from cluster import wait_converged, wait_linked, wait_record
from harness import ANY, Any, assert_op, wait_until

DB, T = "dev", "dog"

RESTRICTED = "This operation is not authorized due to role restrictions and/or invalid database items"


def read_file(path):
    with open(path) as f:
        return f.read()


def restricted(name):
    return {"error": RESTRICTED, "unauthorized_access": ["Operation '%s' is restricted to 'super_user' roles" % name],
            "invalid_schema_items": []}


class LinksTest(cluster.ClusterTestCase):

    def test_01_two_nodes_one_route_writes_both_sides(self):
        key = cluster.new_cluster_key()
        a = self.start_repl_node("A", cluster_key=key)
        b = self.start_repl_node("B", cluster_key=key, routes=[a])
        self.create_table(a, DB, T)
        self.wait_table(b, DB, T)
        self.insert(a, DB, T, [{"id": "a%d" % i, "from": "A", "n": i} for i in range(20)])
        self.insert(b, DB, T, [{"id": "b%d" % i, "from": "B", "n": i} for i in range(20)])
        contents = wait_converged([a, b], DB, 20, min_rows=40)
        self.assertEqual(len(contents[T]), 40)
        # The single route is a two-way link: both sides show the other connected.
        wait_linked(a, b, DB)
        wait_linked(b, a, DB)
        # Updates and deletes flow both ways too.
        self.insert(b, DB, T, [{"id": "a1", "n": 100}], op="update")
        a.ok({"operation": "delete", "database": DB, "table": T, "ids": ["b2"]})
        wait_record(a, DB, T, "a1", expect={"n": 100, "from": "A"})
        contents = wait_converged([a, b], DB, 20)
        self.assertEqual(len(contents[T]), 39)
        self.assertNotIn('"b2"', contents[T])

    def test_04_routes_both_ways_keep_one_link_shown_connected(self):
        # Both nodes dial each other: one connection per database is kept, the other closed as a
        # duplicate. Closing the duplicate must not mark the kept link disconnected.
        key = cluster.new_cluster_key()
        a = self.new_repl_node("A")
        b = self.new_repl_node("B")
        self.start_repl_node("A", cluster_key=key, routes=[b], node=a)
        self.start_repl_node("B", cluster_key=key, routes=[a], node=b)
        self.create_table(a, DB, T)
        self.wait_table(b, DB, T)
        self.insert(a, DB, T, [{"id": "x"}])
        wait_record(b, DB, T, "x")
        deadline = time.time() + 2.0
        while time.time() < deadline:
            for x, y in ((a, b), (b, a)):
                for db in ("system", DB):
                    self.assertTrue(cluster.connected(x, y, db), "%s shows its %s link to %s disconnected: %r"
                                    % (x.name, db, y.name, cluster.database_socket(cluster.cluster_status(x), y.repl_name, db)))
            time.sleep(0.1)

    def test_05_a_peer_that_died_is_not_shown_streaming(self):
        # When B dies, A must not go on showing its links Streaming: the connection is gone. The
        # side that dials shows Backoff or Connecting, the side that waits Idle.
        key = cluster.new_cluster_key()
        a = self.start_repl_node("A", cluster_key=key)
        b = self.start_repl_node("B", cluster_key=key, routes=[a])
        self.create_table(a, DB, T)
        for db in ("system", DB):
            wait_linked(a, b, db)
        b.kill9()

        def sockets():
            return {db: cluster.database_socket(cluster.cluster_status(a), b.repl_name, db) for db in ("system", DB)}

        shown = wait_until(lambda: (lambda s: s if all(not x["connected"] for x in s.values()) else None)(sockets()),
                           10, "A to see B's links closed")
        for db, sock in shown.items():
            self.assertIn(sock["state"], ("Idle", "Backoff", "Connecting"), (db, sock))

    def test_02_c_added_to_a_only_links_to_b(self):
        a, b, c = self.start_repl_nodes(["A", "B", "C"])
        self.add_node(a, b)
        self.create_table(a, DB, T)
        self.insert(a, DB, T, [{"id": "from-a", "v": 1}])
        wait_record(b, DB, T, "from-a")
        # C knows only A.
        self.add_node(c, a)
        wait_record(c, DB, T, "from-a")
        # Node records gossip: C learns B and they link directly.
        wait_until(lambda: b.repl_name in cluster.node_rows(c), 20, "C's hdb_nodes to list B")
        wait_linked(c, b, DB, 20)
        wait_linked(b, c, DB, 20)
        # With A gone, C's writes still reach B (over the C-B link, not relayed by A).
        a.kill9()
        self.insert(c, DB, T, [{"id": "from-c", "v": 3}])
        wait_record(b, DB, T, "from-c", timeout_s=15)
        self.insert(b, DB, T, [{"id": "from-b", "v": 2}])
        wait_record(c, DB, T, "from-b", timeout_s=15)
        wait_converged([b, c], DB, 20, min_rows=3)

    def test_03_chain_converges_both_ways(self):
        key = cluster.new_cluster_key()
        # Routes A->B and B->C only. Node records gossip, and a node dials the peers it learns of
        # when its name is the lower one (docs/replication.md, Links), so A would dial C: C announces a URL
        # nobody can reach (port 1), which makes this a chain where A and C never talk and
        # A's writes reach C only through B. Names chain-a < chain-b < chain-c fix who would dial whom.
        a, b, c = (self.new_repl_node(x) for x in "ABC")
        for n in (a, b, c):
            n.repl_name = "chain-%s-%s" % (n.name.lower(), n.ip)
        c_url = ["--REPLICATION_URL", self.url(c.ip, 1)]
        self.start_repl_node("C", cluster_key=key, extra=c_url, node=c)
        self.start_repl_node("B", cluster_key=key, routes=[c], node=b,
                             extra=["--REPLICATION_URL", self.url(b.ip)])
        self.start_repl_node("A", cluster_key=key, routes=[b], node=a,
                             extra=["--REPLICATION_URL", self.url(a.ip)])
        self.create_table(a, DB, T)
        self.wait_table(c, DB, T)
        self.insert(a, DB, T, [{"id": "a%d" % i, "from": "A"} for i in range(10)])
        self.insert(c, DB, T, [{"id": "c%d" % i, "from": "C"} for i in range(10)])
        self.insert(b, DB, T, [{"id": "b0", "from": "B"}])
        wait_converged([a, b, c], DB, 20, min_rows=21)
        # Partial updates at the ends relay through B.
        self.insert(a, DB, T, [{"id": "c3", "touched_by": "A"}], op="update")
        self.insert(c, DB, T, [{"id": "a3", "touched_by": "C"}], op="update")
        wait_record(c, DB, T, "c3", expect={"touched_by": "A", "from": "C"})
        wait_record(a, DB, T, "a3", expect={"touched_by": "C", "from": "A"})
        wait_converged([a, b, c], DB, 20, min_rows=21)
        # It really is a chain: no A-C link was made.
        for x, y in ((a, c), (c, a)):
            s = cluster.database_socket(cluster.cluster_status(x), y.repl_name, DB)
            self.assertFalse(s and s.get("connected"),
                             "%s has a connected socket to %s; the chain test needs no A-C link: %r" % (x.name, y.name, s))

    def test_peer_links_show_the_links_of_peers(self):
        # cluster_status with peer_links: true on A tells B's link to C, a link A is not part
        # of, and its change when C is killed; the default answer stays HarperDB's.
        a, b, c = self.start_repl_nodes(["A", "B", "C"])
        self.add_node(a, b)
        self.create_table(a, DB, T)
        self.wait_table(b, DB, T)
        # C knows only A; node records gossip and C links to B too.
        self.add_node(c, a)
        wait_linked(b, c, DB, 20)
        wait_linked(c, b, DB, 20)

        def b_to_c(status):
            """A's view of B's socket to C for DB (None while not shown), and C's entry."""
            entries = {e["node_name"]: e for e in status["peer_links"]}
            for link in entries.get(b.repl_name, {}).get("links", []):
                if link["name"] == c.repl_name:
                    return ({s["database"]: s for s in link["database_sockets"]}.get(DB),
                            entries.get(c.repl_name))
            return None, entries.get(c.repl_name)

        def with_peer_links():
            return a.ok({"operation": "cluster_status", "peer_links": True})

        status = wait_until(lambda: (lambda st: st if (b_to_c(st)[0] or {}).get("state") == "Streaming" else None)(
            with_peer_links()), 20, "A's peer_links to show B's link to C streaming")
        socket, _ = b_to_c(status)
        self.assertIs(socket["connected"], True)
        self.assertIsInstance(socket["records_behind"], int)
        self.assertIsInstance(socket["ms_behind"], int)
        # Only what draws a link: no URL, sequence, counter or apply error of B's.
        self.assertEqual(sorted(socket), ["connected", "copy_progress", "database", "last_dial_error",
                                          "merge_progress", "merge_send_progress", "ms_behind",
                                          "records_behind", "state"])
        b_entry = [e for e in status["peer_links"] if e["node_name"] == b.repl_name][0]
        self.assertEqual(b_entry["status"], "ok")
        self.assertEqual(sorted(l["name"] for l in b_entry["links"]), sorted([a.repl_name, c.repl_name]))
        self.assertNotIn("url", json.dumps(b_entry))
        # One entry per peer of A, by name; C tells its link to B as well.
        self.assertEqual([e["node_name"] for e in status["peer_links"]], sorted([b.repl_name, c.repl_name]))
        c_entry = b_to_c(status)[1]
        self.assertEqual(c_entry["status"], "ok", c_entry)
        self.assertIn(b.repl_name, [l["name"] for l in c_entry["links"]])
        # The default answer has no such field; a bad value is refused.
        self.assertNotIn("peer_links", cluster.cluster_status(a))
        self.assertNotIn("peer_links", a.ok({"operation": "cluster_status", "peer_links": False}))
        assert_op(a, {"operation": "cluster_status", "peer_links": "yes"}, 400,
                  {"error": "'peer_links' must be a boolean"})

        # kill -9 of C: A sees B's link to C go down within a few seconds.
        c.kill9()
        killed = time.monotonic()
        status = wait_until(lambda: (lambda st: st if (b_to_c(st)[0] or {}).get("connected") is False else None)(
            with_peer_links()), 10, "A's peer_links to show B's link to C disconnected")
        self.assertNotEqual(b_to_c(status)[0]["state"], "Streaming")
        self.assertLess(time.monotonic() - killed, 10)
        # C's own links are not known any more, and A says why instead of failing.
        c_entry = wait_until(lambda: (lambda e: e if e and e["status"] == "unknown" else None)(
            b_to_c(with_peer_links())[1]), 10, "A's peer_links to mark C unknown")
        self.assertTrue(c_entry["reason"], c_entry)
        self.assertNotIn("links", c_entry)
        # Asking B stays quick while C is gone.
        started = time.monotonic()
        with_peer_links()
        self.assertLess(time.monotonic() - started, 1.5)

    def test_13_routes_set_and_delete_link_and_unlink_live(self):
        key = cluster.new_cluster_key()
        a = self.start_repl_node("A", cluster_key=key)
        b = self.start_repl_node("B", cluster_key=key)
        self.create_table(a, DB, T)
        self.create_table(b, DB, T)
        route = {"hostname": b.ip, "port": self.repl_port()}
        assert_op(a, {"operation": "cluster_get_routes"}, 200, [])
        assert_op(a, {"operation": "cluster_set_routes", "routes": [route]}, 200,
                  {"message": "cluster routes successfully set", "set": [route], "skipped": []})
        # Upsert: the same route again is skipped.
        assert_op(a, {"operation": "cluster_set_routes", "routes": [route]}, 200,
                  {"message": "cluster routes successfully set", "set": [], "skipped": [route]})
        assert_op(a, {"operation": "cluster_get_routes"}, 200, [route])
        config = read_file(os.path.join(a.root, "harperdb-config.yaml"))
        self.assertIn(b.ip, config, "cluster_set_routes must persist the route in harperdb-config.yaml")
        # Linked live, both ways, no restart.
        self.insert(a, DB, T, [{"id": "a1"}])
        self.insert(b, DB, T, [{"id": "b1"}])
        wait_record(b, DB, T, "a1")
        wait_record(a, DB, T, "b1")
        wait_linked(a, b, DB)
        # Delete: unknown routes are skipped; the link goes away live.
        other = {"hostname": "127.0.0.254", "port": self.repl_port()}
        assert_op(a, {"operation": "cluster_delete_routes", "routes": [route, other]}, 200,
                  {"message": "cluster routes successfully deleted", "deleted": [route], "skipped": [other]})
        assert_op(a, {"operation": "cluster_get_routes"}, 200, [])
        config = read_file(os.path.join(a.root, "harperdb-config.yaml"))
        self.assertNotIn(b.ip, config, "cluster_delete_routes must remove the route from harperdb-config.yaml")
        wait_until(lambda: not cluster.connected(a, b, DB) and not cluster.connected(b, a, DB), 10,
                   "the A-B link to close after cluster_delete_routes")
        self.insert(a, DB, T, [{"id": "a2"}])
        self.insert(b, DB, T, [{"id": "b2"}])
        cluster.assert_stays_absent(self, b, DB, T, "a2")
        cluster.assert_stays_absent(self, a, DB, T, "b2", duration_s=0.5)
        # Set again: linked again, and what was written meanwhile arrives.
        assert_op(a, {"operation": "cluster_set_routes", "routes": [route]}, 200, {"set": [route], "skipped": []})
        wait_converged([a, b], DB, 20, min_rows=4)


class ClusterOperationsShapeTest(cluster.ClusterTestCase):

    def test_non_super_user_gets_403(self):
        n = self.start_repl_node("A")
        self.create_table(n, DB, T)
        perm = {"super_user": False, "dev": {"tables": {"dog": {"read": True, "insert": False, "update": False,
                                                                 "delete": False, "attribute_permissions": []}}}}
        assert_op(n, {"operation": "add_role", "role": "reader", "permission": perm}, 200)
        assert_op(n, {"operation": "add_user", "username": "reader", "password": "pw-123", "role": "reader",
                      "active": True}, 200)
        reader = ("reader", "pw-123")
        route = {"hostname": "127.0.0.9", "port": 9925}
        cases = [
            ({"operation": "add_node", "hostname": "127.0.0.9"}, "addNode"),
            ({"operation": "update_node", "hostname": "127.0.0.9"}, "updateNode"),
            ({"operation": "remove_node", "hostname": "127.0.0.9"}, "removeNode"),
            ({"operation": "configure_cluster", "connections": []}, "configureCluster"),
            ({"operation": "cluster_status"}, "clusterStatus"),
            ({"operation": "cluster_status", "peer_links": True}, "clusterStatus"),
            ({"operation": "cluster_set_routes", "routes": [route]}, "setRoutes"),
            ({"operation": "cluster_get_routes"}, "getRoutes"),
            ({"operation": "cluster_delete_routes", "routes": [route]}, "deleteRoutes"),
        ]
        for body, name in cases:
            with self.subTest(operation=body["operation"]):
                assert_op(n, body, 403, restricted(name), auth=reader)
        # Nothing changed.
        assert_op(n, {"operation": "cluster_get_routes"}, 200, [])
        self.assertNotIn("127.0.0.9", cluster.node_rows(n))

    def test_single_node_status_and_route_validation(self):
        n = self.start_repl_node("A")
        st = assert_op(n, {"operation": "cluster_status"}, 200,
                       {"type": "cluster-status", "connections": [], "node_name": n.ip, "is_enabled": True})
        self.assertEqual(list(st)[:2], ["type", "connections"], "key order: type, connections, node_name, ...")
        assert_op(n, {"operation": "cluster_set_routes"}, 400, {"error": "'routes' is required"})
        assert_op(n, {"operation": "cluster_set_routes", "routes": "x"}, 400,
                  {"error": "'routes' must be one of [array]"})
        assert_op(n, {"operation": "cluster_set_routes", "routes": [{"port": -1}]}, 400,
                  {"error": "'routes' does not match any of the allowed types"})
        assert_op(n, {"operation": "cluster_set_routes", "server": "x", "routes": []}, 400,
                  {"error": "'server' must be one of [hub, leaf]"})
        assert_op(n, {"operation": "cluster_delete_routes"}, 400, {"error": "'routes' is required"})
        assert_op(n, {"operation": "configure_cluster"}, 400, {"error": "'connections' is required"})
        assert_op(n, {"operation": "configure_cluster", "connections": []}, 200,
                  {"message": "Configure cluster complete.", "connections": []})
        assert_op(n, {"operation": "remove_node", "hostname": "127.0.0.99"}, 400,
                  {"error": "127.0.0.99 does not exist"})
        assert_op(n, {"operation": "add_node", "hostname": 5, "verify_tls": "x"}, 400,
                  {"error": "'hostname' must be a string. 'verify_tls' must be a boolean"})
        # String and object routes, and a legacy {host, port}.
        routes = ["ws://127.0.0.9:9925", {"hostname": "127.0.0.10", "port": 9925}]
        assert_op(n, {"operation": "cluster_set_routes", "routes": routes}, 200,
                  {"message": "cluster routes successfully set", "set": routes, "skipped": []})
        assert_op(n, {"operation": "cluster_get_routes"}, 200, routes)
        assert_op(n, {"operation": "cluster_delete_routes", "routes": routes}, 200,
                  {"message": "cluster routes successfully deleted", "deleted": routes, "skipped": []})

    def test_add_node_status_and_node_rows(self):
        a, b = self.start_repl_nodes(["A", "B"])
        url_b = self.url(b.ip)
        got = self.add_node(a, b)
        self.assertEqual(got, {"message": "Successfully added '%s' to cluster" % url_b})
        self.create_table(a, DB, T)
        wait_linked(a, b, DB)
        wait_linked(b, a, DB)
        # latency is omitted until the first Ping is answered (absent values are omitted, §2.3).
        wait_until(lambda: "latency" in (cluster.database_socket(cluster.cluster_status(a), b.repl_name, DB) or {}),
                   10, "A's dev socket to B to report latency")
        st = cluster.cluster_status(a)
        harness.assert_subset({"type": "cluster-status", "node_name": a.ip, "is_enabled": True}, st)
        conns = [c for c in st["connections"] if c.get("name") == b.ip]
        self.assertEqual(len(conns), 1, st)
        conn = conns[0]
        harness.assert_subset({"url": url_b, "name": b.ip, "subscriptions": ANY, "database_sockets": Any(list)}, conn)
        dbs = {s["database"]: s for s in conn["database_sockets"]}
        self.assertIn("system", dbs, conn)
        self.assertIn(DB, dbs, conn)
        sock = dbs[DB]
        harness.assert_subset({"database": DB, "connected": True, "latency": Any(int, float), "nodes": Any(list),
                               "state": Any(str), "sent_sequence": Any(int), "acked_sequence": Any(int),
                               "local_sequence": Any(int), "records_behind": Any(int),
                               "ms_behind": Any(int, float), "copies_completed": Any(int),
                               "copied_records": Any(int), "copies_started": Any(int),
                               "merges_completed": Any(int), "merge_records_sent": Any(int),
                               "merge_records_received": Any(int), "last_merge_ms": Any(int),
                               "log_start_sequence": Any(int), "log_trimmed_past": Any(int),
                               "dial_failures": Any(int), "last_dial_error": ANY},
                              sock, "cluster_status database_sockets[dev]")
        self.assertGreaterEqual(sock["log_start_sequence"], 1, sock)
        self.assertEqual((sock["merges_completed"], sock["log_trimmed_past"]), (0, 0), sock)
        harness.assert_subset({"link_errors": Any(int), "last_link_error": ANY}, st)
        self.assertIn(b.ip, sock["nodes"])
        # Both nodes hold both rows; credentials never appear in hdb_nodes or in responses.
        wait_until(lambda: {a.ip, b.ip} <= set(cluster.node_rows(b)), 10, "B's hdb_nodes to list A and B")
        for n in (a, b):
            rows = cluster.node_rows(n)
            self.assertIn(b.ip, rows)
            self.assertEqual(rows[b.ip].get("url"), url_b, rows)
            for row in rows.values():
                self.assertNotIn("authorization", row, "hdb_nodes rows never hold credentials: %r" % row)
            text = json.dumps(rows) + json.dumps(cluster.cluster_status(n))
            self.assertNotIn(cluster.basic(b.username, b.password).split()[1], text)
            self.assertNotIn('"%s"' % b.password, text)
        # update_node answers "updated" only if A's probe of B succeeds. It carries no
        # credentials: A signs a node token with its cluster key, which B accepts only once that
        # key replicated to B's system.hdb_cluster_keys. B lists A in hdb_nodes as soon as A's
        # Hello arrives, which proves nothing about the key, so wait for the key itself.
        wait_until(lambda: cluster.cluster_key_ids(a) and cluster.cluster_key_ids(a) <= cluster.cluster_key_ids(b),
                   10, "A's cluster keys to reach B's system.hdb_cluster_keys")
        # update_node answers "updated"; a second add_node is not an error.
        assert_op(a, {"operation": "update_node", "hostname": b.ip,
                      "subscriptions": [{"database": DB, "table": T, "subscribe": True, "publish": True}]},
                  200, {"message": "Successfully updated '%s'" % url_b})
        self.add_node(a, b)
        # An unreachable node: still 200, with the error appended.
        got = assert_op(a, {"operation": "add_node", "url": "ws://127.0.0.9:18999"}, 200)
        self.assertTrue(got["message"].startswith(
            "Successfully added 'ws://127.0.0.9:18999' to cluster but there was an error updating target node"), got)


if __name__ == "__main__":
    harness.main()
