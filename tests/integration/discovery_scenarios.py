"""Self-forming clusters (issue 10), the scenarios both discovery backends must pass.

test_discovery_etcd.py runs them against a real etcd (etcd_fixture.py), test_discovery_consul.py
against the Consul stand-in (consul_standin.py). A node gets only the discovery flags on top of
the usual harness arguments (its name, fast reconnects):

    --disco-mode etcd-kv|consul-kv --disco-config '<JSON>' --disco-key <random per test>
    --DISCOVERY_AUTHORIZATION admin:<password>

and no routes, no cluster key and no allowed-IP list (ALLOW_MODULE_BLOCK = False): every link
comes from the join that discovery makes, authenticated like add_node. What is checked is
observable: cluster_status (its connections and its `discovery` section), records reaching every
node, and the keys in the store (`<key>/seed` and `<key>/nodes/<id>`, JSON values naming the
node, never a secret).
"""

import json
import os
import random
import secrets
import subprocess
import sys
import time

import cluster
import harness
from harness import wait_until

DB, TABLE = "dev", "items"
PASSWORD = "disco-" + secrets.token_hex(8)  # distinctive, so a leak into the store is visible
TTL_S = 3
REFRESH_S = TTL_S / 3  # the node's default refresh interval
MESH_DEADLINE_S = 30


def node_id(name):
    """The <id> of a node's key: its name lower-cased, every char outside [a-z0-9_-] as '-'."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "-" for c in name.lower())


def discovery(node):
    return cluster.cluster_status(node)["discovery"]


def figure(what, seconds):
    """A measured time, printed for docs/discovery.md's figures."""
    sys.stderr.write("\nFIGURE %s: %.2f s\n" % (what, seconds))


class DiscoveryCase:
    """Helpers, mixed into a cluster.ClusterTestCase with a store. The subclass provides:

    MODE                   "etcd-kv" or "consul-kv"
    FAILOVER_SLACK_S       what the backend adds to TTL + refresh before a new seed can hold
    start_store() / stop_store() / store_running()
    store_config()         the disco-config fields that reach the store (endpoints / address, token)
    store_endpoint()       what cluster_status's discovery.endpoint shows
    store_keys(prefix)     {key: value} of every key under prefix, in the backend's key form
    key_path(key, *parts)  the store key of <key or the test's disco key>/<parts>
    """

    ALLOW_MODULE_BLOCK = False
    # Identical nodes, each with the CA and certificate it generates (no CA shared by the
    # test): over wss a joiner trusts the CA the seed published in the store.
    SHARED_CA = False

    def setUp(self):
        super().setUp()
        if not self.store_running():
            self.start_store()  # a test that stopped it failed half-way
        self.disco_key = "t" + secrets.token_hex(5)

    # -- nodes --------------------------------------------------------------------------------

    def new_repl_node(self, label):
        node = self.new_node(name=label, password=PASSWORD)
        node.repl_name = node.ip
        self._test_nodes.append(node)
        return node

    def disco_args(self, key=None):
        config = dict(self.store_config(), ttl=TTL_S)
        return ["--disco-mode", self.MODE, "--disco-config", json.dumps(config),
                "--disco-key", key or self.disco_key,
                "--DISCOVERY_AUTHORIZATION", "%s:%s" % (harness.DEFAULT_USER, PASSWORD)]

    def start_disco_node(self, label, key=None, wait=True, extra=()):
        return self.start_repl_node(label, extra=self.disco_args(key) + list(extra), wait=wait)

    def start_disco_nodes(self, labels, key=None, extra=()):
        """Launches the nodes at once in a random order, then waits until each answers; returns
        them in the order of labels and the time the last one was launched."""
        order = list(labels)
        random.shuffle(order)
        nodes = {label: self.start_disco_node(label, key, wait=False, extra=extra) for label in order}
        launched = time.monotonic()
        for node in nodes.values():
            node.wait_ready()
        return [nodes[label] for label in labels], launched

    def meshed_cluster(self, labels=("a", "b", "c"), key=None):
        nodes, _ = self.start_disco_nodes(labels, key)
        self.wait_full_mesh(nodes)
        return nodes

    # -- waiting and checking -----------------------------------------------------------------

    @staticmethod
    def missing_links(nodes):
        """[(node, peer)] pairs where node's cluster_status does not show peer connected."""
        missing = []
        for node in nodes:
            status = cluster.cluster_status(node)
            for peer in nodes:
                s = cluster.database_socket(status, peer.repl_name, "system")
                if peer is not node and not (s and s.get("connected") is True):
                    missing.append((node.name, peer.name))
        return missing

    def wait_full_mesh(self, nodes, timeout_s=MESH_DEADLINE_S):
        """Waits until every node shows every other connected (its system database socket)."""
        try:
            wait_until(lambda: not self.missing_links(nodes), timeout_s,
                       "a full mesh of %s" % ", ".join(n.name for n in nodes))
        except AssertionError as e:
            raise AssertionError("%s\nmissing links (node, peer): %s\n%s" % (
                e, self.missing_links(nodes), "\n".join(cluster.dump_cluster(nodes, []))))

    def assert_writes_reach_all(self, nodes, tag):
        """A record written on each node reaches every other node."""
        if TABLE not in cluster.describe_database(nodes[0], DB):
            self.create_table(nodes[0], DB, TABLE)
        for node in nodes:
            self.wait_table(node, DB, TABLE)
        for writer in nodes:
            pk = "%s-%s" % (tag, writer.name)
            self.insert(writer, DB, TABLE, [{"id": pk, "from": writer.name}])
            for reader in nodes:
                cluster.wait_record(reader, DB, TABLE, pk, expect={"from": writer.name})

    def seed_value(self, key=None):
        path = self.key_path(key, "seed")
        raw = self.store_keys(path).get(path)
        return json.loads(raw) if raw else None

    def wait_one_seed(self, nodes, timeout_s=15):
        """Waits until exactly one of nodes holds the seed, all agree on it and so does the
        store; returns the holder."""
        def agreed():
            views = {n.name: discovery(n) for n in nodes}
            holders = [n for n in nodes if views[n.name]["is_seed"] is True]
            stored = self.seed_value()
            if len(holders) != 1 or not stored or stored.get("name") != holders[0].repl_name:
                return None
            return holders[0] if all(v["seed"] == holders[0].repl_name for v in views.values()) else None
        return wait_until(agreed, timeout_s, "one seed holder among %s, agreed by all and the store"
                          % [n.name for n in nodes])

    def assert_discovery_section(self, node, key=None):
        harness.assert_subset({"mode": self.MODE, "key": key or self.disco_key, "endpoint": self.store_endpoint(),
                               "registered": True, "is_seed": harness.Any(bool), "seed": harness.Any(str),
                               "last_error": None}, discovery(node), node.name)

    def registrations(self, key=None):
        """{node id: parsed value} of the nodes/ keys of a disco key."""
        prefix = self.key_path(key, "nodes") + "/"
        return {k[len(prefix):]: json.loads(v) for k, v in self.store_keys(prefix).items()}

    def assert_registered(self, nodes, key=None):
        """Each node has its nodes/<id> key, naming it, and nothing in the store is secret."""
        regs = self.registrations(key)
        self.assertEqual(sorted(regs), sorted(node_id(n.repl_name) for n in nodes), regs)
        for n in nodes:
            value = regs[node_id(n.repl_name)]
            self.assertEqual(value.get("name"), n.repl_name, value)
            self.assertEqual(value.get("url"), cluster.cluster_status(n)["url"], value)
            self.assertTrue(value.get("operations_url", "").startswith("http://%s:%d" % (n.ip, n.port)), value)
            self.assertIn("BEGIN CERTIFICATE", value.get("ca", ""), value)
        self.assert_nothing_secret(key)

    def assert_nothing_secret(self, key=None):
        everything = json.dumps(self.store_keys(self.key_path(key, "")))
        for secret in (PASSWORD, cluster.basic(harness.DEFAULT_USER, PASSWORD)[len("Basic "):],
                       "PRIVATE KEY", "authorization", "password"):
            self.assertNotIn(secret, everything)

    def wait_registered_again(self, nodes):
        wait_until(lambda: all(discovery(n)["registered"] is True for n in nodes), 30,
                   "every node to report itself registered again")
        wait_until(lambda: sorted(self.registrations()) == sorted(node_id(n.repl_name) for n in nodes),
                   15, "every node's key to be back in the store")

    @staticmethod
    def linked_names(node):
        return {c.get("name") for c in cluster.cluster_status(node).get("connections", [])}

    def assert_keys_stay(self, nodes, duration_s):
        """For duration_s, every node's key stays in the store (a lapsed, unrenewed lease or
        session would have taken it away within one TTL)."""
        want = sorted(node_id(n.repl_name) for n in nodes)
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            self.assertEqual(sorted(self.registrations()), want)
            time.sleep(0.2)

    def assert_refused_at_start(self, args, *words):
        """A node started with args exits non-zero, its output naming each of words."""
        node = self.new_repl_node("bad")
        node.launch(self.repl_args(node, extra=args))
        try:
            code = node.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.fail("the node started with %s" % args)
        self.assertNotEqual(code, 0)
        said = node.output_text().split("\n", 2)[2]  # after the harness's "=== start: <command>" line
        for word in words:
            self.assertIn(word, said)

    def disco_args_with(self, flag, value):
        """disco_args() with one flag's value replaced."""
        args = self.disco_args()
        args[args.index(flag) + 1] = value
        return args


class Scenarios(DiscoveryCase):
    """The scenarios of issue 10, for each backend."""

    def test_three_nodes_in_random_order_form_a_full_mesh_and_a_fourth_joins_later(self):
        nodes, launched = self.start_disco_nodes(["a", "b", "c"])
        self.wait_full_mesh(nodes)
        figure("%s: last of three simultaneous starts to a full mesh" % self.MODE, time.monotonic() - launched)
        self.wait_one_seed(nodes)
        for n in nodes:
            self.assert_discovery_section(n)
        self.assert_registered(nodes)
        self.assert_writes_reach_all(nodes, "three")

        d = self.start_disco_node("d")
        nodes.append(d)
        self.wait_full_mesh(nodes)
        self.wait_one_seed(nodes)
        self.assert_registered(nodes)
        self.assert_writes_reach_all(nodes, "four")

    def test_nodes_on_wss_join_with_a_signed_certificate_and_link_by_mutual_tls(self):
        # Each node has its own generated CA; the joiner trusts the CA the seed published and
        # joins as add_node does (verify_tls on), so its certificate gets signed by the seed.
        nodes, _ = self.start_disco_nodes(["a", "b", "c"], extra=["--REPLICATION_SECUREPORT", "9933"])
        self.wait_full_mesh(nodes)
        for n in nodes:
            self.assertTrue(cluster.cluster_status(n)["url"].startswith("wss://"), n.name)
            self.assertIn("BEGIN CERTIFICATE", self.registrations()[node_id(n.repl_name)]["ca"])
        seed = self.wait_one_seed(nodes)
        for n in nodes:
            if n is seed:
                continue
            # The certificate a joiner presents now was issued by the seed's CA.
            issuer = open(os.path.join(n.root, "keys", "replicationIssuer.pem")).read()
            self.assertEqual(issuer.strip(), self.registrations()[node_id(seed.repl_name)]["ca"].strip(),
                             n.name)
        self.assert_writes_reach_all(nodes, "wss")
        self.assert_nothing_secret()

    def test_the_seed_moves_when_its_holder_is_killed_and_a_fifth_node_joins_the_survivors(self):
        nodes = self.meshed_cluster(("a", "b", "c", "d"))
        holder = self.wait_one_seed(nodes)
        holder.kill9()
        killed = time.monotonic()
        survivors = [n for n in nodes if n is not holder]
        bound_s = TTL_S + REFRESH_S + self.FAILOVER_SLACK_S
        wait_until(lambda: (self.seed_value() or {}).get("name") in [n.repl_name for n in survivors],
                   3 * bound_s, "a survivor to hold the seed in the store")
        failover_s = time.monotonic() - killed
        figure("%s: seed failover after kill -9 (TTL %ss)" % (self.MODE, TTL_S), failover_s)
        self.assertLessEqual(failover_s, bound_s, "seed failover took %.2f s" % failover_s)
        self.wait_one_seed(survivors)
        wait_until(lambda: node_id(holder.repl_name) not in self.registrations(), 3 * TTL_S,
                   "the killed node's key to expire")

        e = self.start_disco_node("e")
        self.wait_full_mesh(survivors + [e])
        self.assert_registered(survivors + [e])
        self.assert_writes_reach_all(survivors + [e], "after-failover")

    def test_writes_replicate_while_the_store_is_down_and_every_node_registers_again(self):
        nodes = self.meshed_cluster()
        self.assert_writes_reach_all(nodes, "before")
        writer = cluster.Writer(nodes[0], DB, TABLE, "outage", pause_s=0.05)
        self.stop_store()
        stopped = time.monotonic()
        writer.start()
        try:
            wait_until(lambda: all(discovery(n)["last_error"] for n in nodes), 3 * TTL_S,
                       "every node to report the store's error")
            self.insert(nodes[1], DB, TABLE, [{"id": "during-outage", "from": nodes[1].name}])
            for n in nodes:
                cluster.wait_record(n, DB, TABLE, "during-outage")
            # A node started while the store is away starts anyway (and reports the store).
            late = self.start_disco_node("late")
            wait_until(lambda: discovery(late)["last_error"], 3 * TTL_S, "the late node to report the store")
            time.sleep(max(0.0, 10 - (time.monotonic() - stopped)))  # the outage under test: 10 s
        finally:
            self.start_store()
            writer.stop()
        self.assertEqual(writer.errors, [])
        self.assertGreater(len(writer.acked), 0)
        self.assertTrue(all(n.running() for n in nodes))
        # Once the store answers, the late node finds the cluster by itself.
        nodes.append(late)
        self.wait_full_mesh(nodes)
        cluster.wait_converged(nodes, DB, min_rows=len(writer.acked) + 4)
        self.wait_registered_again(nodes)
        self.wait_one_seed(nodes)
        self.assert_keys_stay(nodes, 2 * TTL_S + 1)
        self.assert_writes_reach_all(nodes, "after")

    def test_two_clusters_with_different_keys_on_one_store_stay_apart(self):
        key_x, key_y = self.disco_key, "t" + secrets.token_hex(5)
        xs = self.meshed_cluster(("x1", "x2"), key_x)
        ys = self.meshed_cluster(("y1", "y2"), key_y)
        self.assertEqual(sorted(self.registrations(key_x)), sorted(node_id(n.repl_name) for n in xs))
        self.assertEqual(sorted(self.registrations(key_y)), sorted(node_id(n.repl_name) for n in ys))
        self.assert_writes_reach_all(xs, "x")
        end = time.monotonic() + 2 * TTL_S  # a bounded negative check, across refreshes
        while time.monotonic() < end:
            for ours, theirs in ((xs, ys), (ys, xs)):
                for node in ours:
                    names = self.linked_names(node)
                    self.assertFalse(names & {t.repl_name for t in theirs}, "%s links to %s" % (node.name, names))
            time.sleep(0.2)
        cluster.assert_stays_absent(self, ys[0], DB, TABLE, "x-" + xs[0].name)

    def test_a_restarted_node_rejoins_with_its_data_without_a_new_copy(self):
        a, b, c = self.meshed_cluster()
        self.assert_writes_reach_all([a, b, c], "before")
        self.assertEqual(c.stop(), 0)
        self.insert(a, DB, TABLE, [{"id": "while-c-was-down", "from": a.name}])
        c.start()
        self.wait_full_mesh([a, b, c])
        cluster.wait_record(c, DB, TABLE, "while-c-was-down")
        cluster.wait_converged([a, b, c], DB)
        self.assertEqual(cluster.counter_total(c, "copies_completed"), 0, "c copied a database again")
        self.wait_registered_again([a, b, c])

    def test_bad_discovery_flags_are_refused_at_start(self):
        good = self.start_disco_node("good")  # the control: the same flags, good values, start
        wait_until(lambda: discovery(good)["registered"], 15, "the control node to register")
        self.assert_refused_at_start(self.disco_args_with("--disco-mode", "bogus"), "disco-mode")
        self.assert_refused_at_start(self.disco_args_with("--disco-config", "{not json"), "disco-config")
        self.assert_refused_at_start(self.disco_args_with("--disco-config", "/nonexistent.json"), "disco-config")
