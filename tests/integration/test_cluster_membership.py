"""remove_node across a 3-node cluster: after A removes C, nobody sends to C or accepts from
C, and C's hdb_nodes row disappears on every node through gossip; the refusal survives the
members' restarts until an admin adds C again."""

import json
import os
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


class RemovedNodeCase(cluster.ClusterTestCase):
    """Three nodes; C is started with routes to A and B and shares their cluster key, so it can
    always dial them with a valid node token."""

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
        # No wait for C's certificate_serial to reach A: remove_node also revokes the serial
        # C presented on its links to A, so the removal holds whether or not C's own
        # hdb_nodes row (C's system-table stream lags its data) has arrived.
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
        """Restarts A and B while C runs; C stays out; A and B still replicate."""
        a.restart()
        b.restart()
        self.insert(c, DB, "t", [{"id": "from-c-" + tag}])
        self.insert(a, DB, "t", [{"id": "from-a-" + tag}])
        cluster.wait_record(b, DB, "t", "from-a-" + tag, 20)  # positive control: A -> B
        self.assert_c_stays_out((a, b), c, "from-c-" + tag, 4.0)
        cluster.assert_stays_absent(self, c, DB, "t", "from-a-" + tag, 0.5)

    def wait_members_refused_c(self, a, b, c):
        """C did dial: each restarted member refused it, saying why (cluster_status counts the
        refusals since the restart and shows the latest reason)."""
        reason = "node '%s' was removed from the cluster" % c.repl_name
        for n in (a, b):
            wait_until(lambda n=n: cluster.link_errors(n)[0] > 0 and reason in (cluster.link_errors(n)[1] or ""),
                       10, "%s's cluster_status to show it refused C after its restart" % n.name)

    def readd_c_and_check(self, a, b, c):
        """add_node C on A lifts the refusal: data flows between C and both members."""
        self.add_node(a, c)
        self.insert(c, DB, "t", [{"id": "from-c-readded"}])
        self.insert(a, DB, "t", [{"id": "from-a-readded"}])
        for n in (a, b):
            cluster.wait_record(n, DB, "t", "from-c-readded", 20)
        cluster.wait_record(c, DB, "t", "from-a-readded", 20)
        wait_until(lambda: c.repl_name in cluster.node_rows(b), 15, "B to know C again")



class RemovedNodeRestartTest(RemovedNodeCase):
    """A removed node stays refused after the members restart (each member persists the mark
    in its local system.hdb_node_auth and loads it at start-up), until an admin adds it again.

    On plain ws://: the mark by name is what refuses C here. Over wss:// C's revoked
    certificate refuses it first (RevokedCertificateTest below, test_join.py)."""

    SCHEME = "ws"

    def test_node_removed_while_down_stays_refused_across_member_restarts(self):
        # C is down when it is removed: it never learns of it and, started again, keeps dialing
        # A and B (routes, valid token) and keeps its own hdb_nodes row.
        a, b, c = self.start_three()
        c.stop()
        self.remove_c(a, b, c)
        c.start()
        self.restart_members_and_check(a, b, c, "down")
        self.wait_members_refused_c(a, b, c)
        self.readd_c_and_check(a, b, c)

    def test_running_removed_node_stays_out_and_can_be_added_back(self):
        # C keeps running and learns of its removal (it leaves the cluster); the members
        # restart; add_node on A must still bring it back (C accepts A again).
        a, b, c = self.start_three()
        self.remove_c(a, b, c)
        wait_until(lambda: c.repl_name not in cluster.node_rows(c), 15, "C to drop its own row")
        self.restart_members_and_check(a, b, c, "running")
        self.readd_c_and_check(a, b, c)


class RevokedCertificateTest(RemovedNodeCase):
    """Over wss:// with the cluster's own CA (tls.* files): remove_node revokes C's certificate
    on every member, so C stays out across the members' restarts; add_node with C's revoked
    certificate is refused and writes nothing; once the operator gives C a new certificate from
    the cluster CA, add_node brings it back."""

    def test_removed_node_returns_only_with_a_new_certificate(self):
        # C is down when it is removed: started again, it keeps dialing A and B (routes, a
        # valid token) with its revoked certificate.
        a, b, c = self.start_three()
        c.stop()
        self.remove_c(a, b, c)
        c.start()
        self.restart_members_and_check(a, b, c, "revoked")
        self.wait_members_refused_c(a, b, c)

        status, body = a.op({"operation": "add_node", "hostname": c.repl_name,
                             "authorization": {"username": c.username, "password": c.password}})
        self.assertEqual(status, 400, body)
        self.assertIn("was revoked", json.dumps(body))
        self.assert_c_stays_out((a, b), c, "from-c-revoked", 1.0)

        self.reissue_certificate(c)
        c.restart()
        self.readd_c_and_check(a, b, c)


class HarperDbAnswersTest(cluster.ClusterTestCase):
    def test_cluster_network_answers_as_harperdb_in_replication_mode(self):
        # HARPERDB-OPS.md §2.0: the NATS-era operation needs clustering.enabled.
        a = self.start_repl_node("A")
        harness.assert_op(a, {"operation": "cluster_network"}, 400,
                          harness.error_body("Clustering must be enabled to perform this operation."))

    def test_a_route_that_never_answered_shows_the_host_it_dials(self):
        a = self.start_repl_node("A")
        silent = self.block().next_ip()  # nothing listens there
        a.ok({"operation": "cluster_set_routes", "routes": [{"host": silent, "port": 9925}]})
        wait_until(lambda: [c.get("name") for c in cluster.cluster_status(a)["connections"]] == [silent], 10,
                   "the unanswered route listed under the host it dials")


class OverLongHostsAndUrlsTest(cluster.ClusterTestCase):
    """Issue 8 item 6: every cluster operation refuses a host name longer than 253 characters
    or a URL longer than 2048 with a 400 naming the field, and changes nothing (membership
    rows, local link state, routes in force and in harperdb-config.yaml, links)."""

    def membership(self, node):
        rows = {name: (r.get("url"), r.get("subscriptions")) for name, r in cluster.node_rows(node).items()}
        local = node.ok({"operation": "search_by_value", "database": "system", "table": "hdb_node_auth",
                         "search_attribute": "name", "search_value": "*",
                         "get_attributes": ["name", "added", "removed", "subscriptions"]})
        local = sorted((r.get("name"), r.get("added"), r.get("removed"), repr(r.get("subscriptions")))
                       for r in local)
        routes = node.ok({"operation": "cluster_get_routes"})
        links = sorted(c.get("name") for c in cluster.cluster_status(node).get("connections", []))
        with open(os.path.join(node.root, "harperdb-config.yaml")) as f:
            config_text = f.read()
        return {"hdb_nodes": rows, "hdb_node_auth": local, "routes": routes, "links": links,
                "config": config_text}

    def test_over_long_hosts_and_urls_are_refused_naming_the_field(self):
        a, b = self.start_repl_nodes(["A", "B"])
        self.add_node(a, b)
        a.ok({"operation": "cluster_set_routes", "server": "hub", "routes": [{"hostname": b.repl_name, "port": self.repl_port()}]})
        self.create_table(a, DB, "t")
        self.wait_table(b, DB, "t")
        cluster.wait_linked(a, b, DB)
        wait_until(lambda: set(cluster.node_rows(b)) == {a.repl_name, b.repl_name}, 15, "B to know A")
        before = {n.name: self.membership(n) for n in (a, b)}

        huge_host = "h" * 100000  # the configure_cluster input (answered 500 before)
        host_254 = "h" * 254
        long_url = "ws://%s:9925/%s" % (b.ip, "p" * 2100)
        url_254 = "ws://%s:9925" % host_254
        auth = {"username": b.username, "password": b.password}

        def too_long(field, limit):
            return "'%s' length must be less than or equal to %d characters long" % (field, limit)

        def host_too_long(field):
            return "'%s' host length must be less than or equal to 253 characters long" % field

        cases = [
            ({"operation": "configure_cluster", "connections": [{"hostname": huge_host, "authorization": auth}]},
             "'connections[0]': " + too_long("hostname", 253)),
            ({"operation": "configure_cluster",
              "connections": [{"hostname": b.repl_name, "authorization": auth}, {"url": long_url}]},
             "'connections[1]': " + too_long("url", 2048)),
            ({"operation": "configure_cluster", "connections": [{"url": url_254}]},
             "'connections[0]': " + host_too_long("url")),
            # Naming this node is refused before any other node is removed (answered 500 after
            # removing B).
            ({"operation": "configure_cluster", "connections": [{"hostname": a.repl_name}]},
             "'connections[0]': '%s' is this node" % a.repl_name),
            ({"operation": "add_node", "hostname": huge_host, "authorization": auth}, too_long("hostname", 253)),
            ({"operation": "set_node", "hostname": host_254}, too_long("hostname", 253)),
            ({"operation": "add_node", "node_name": host_254}, too_long("node_name", 253)),
            ({"operation": "add_node", "url": long_url}, too_long("url", 2048)),
            ({"operation": "add_node", "url": url_254}, host_too_long("url")),
            ({"operation": "update_node", "hostname": b.repl_name, "url": long_url}, too_long("url", 2048)),
            ({"operation": "update_node", "hostname": host_254}, too_long("hostname", 253)),
            ({"operation": "set_node_replication", "hostname": huge_host,
              "subscriptions": [{"database": DB, "table": "t", "publish": True, "subscribe": True}]},
             too_long("hostname", 253)),
            ({"operation": "remove_node", "hostname": huge_host}, too_long("hostname", 253)),
            ({"operation": "remove_node", "url": long_url}, too_long("url", 2048)),
            ({"operation": "cluster_set_routes", "server": "hub", "routes": [huge_host]}, too_long("routes[0]", 2048)),
            ({"operation": "cluster_set_routes", "server": "hub",
              "routes": ["127.0.0.1:1", {"hostname": host_254, "port": 9925}]}, too_long("routes[1].hostname", 253)),
            ({"operation": "cluster_set_routes", "server": "hub", "routes": [host_254 + ":9925"]},
             host_too_long("routes[0]")),
            ({"operation": "cluster_delete_routes", "routes": [{"host": huge_host, "port": 9925}]},
             too_long("routes[0].host", 253)),
            ({"operation": "cluster_delete_routes", "routes": ["wss://%s:9925" % host_254]},
             host_too_long("routes[0]")),
        ]
        for body, message in cases:
            with self.subTest(operation=body["operation"], message=message):
                harness.assert_op(a, body, 400, harness.error_body(message))
        for n in (a, b):
            self.assertTrue(n.running(), "%s must survive the bad input" % n.name)
            self.assertEqual(self.membership(n), before[n.name], "bad input changed %s's cluster state" % n.name)
        # Still linked: a record written on A reaches B.
        self.insert(a, DB, "t", [{"id": "after-bad-input"}])
        cluster.wait_record(b, DB, "t", "after-bad-input", 15)


if __name__ == "__main__":
    harness.main()
