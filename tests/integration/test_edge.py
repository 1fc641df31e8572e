"""The edge -> cloud pattern of seeds/003 with real processes, through per-table subscriptions.

A cloud node and an edge node. Only the edge links (add_node with subscriptions); the edge
advertises an unreachable URL (port 1), so any dial from the cloud fails: everything flows over
the one connection the edge dials. The edge subscribes to `thresholds` from the cloud,
publishes `alerts` to the cloud and keeps `sensor_data` local by leaving it out of the list. An application loop on the edge
(a thread) writes sensor readings through the edge's local API, compares each with the
threshold it reads locally, and writes an alert carrying the last readings when exceeded.
"""

import json
import threading
import time

import cluster
import harness
from harness import wait_until

DB = "dev"
SENSOR = "s1"

# As seeds/003 writes them: `sensor_data` is simply not listed, and so never crosses (explicit
# subscriptions carry exactly the listed tables; issue 8 item 2).
EDGE_SUBSCRIPTIONS = [
    {"database": DB, "table": "thresholds", "publish": False, "subscribe": True},
    {"database": DB, "table": "alerts", "publish": True, "subscribe": False},
]


class EdgeApp(threading.Thread):
    """Writes readings to the edge, compares with the local threshold, writes alerts."""

    def __init__(self, edge, prefix):
        super().__init__(daemon=True)
        self.edge, self.prefix = edge, prefix
        self.stop_event = threading.Event()
        self.paused = threading.Event()
        self.lock = threading.Lock()
        self.alerts = []  # ids of alerts the edge acknowledged
        self.readings = 0
        self.errors = []
        self.seq = 0

    def threshold(self):
        status, rows = self.edge.op({"operation": "search_by_id", "database": DB, "table": "thresholds",
                                     "ids": [SENSOR], "get_attributes": ["*"]}, timeout=5)
        if status != 200 or not rows:
            return None
        return rows[0].get("max")

    def run(self):
        last = []
        while not self.stop_event.is_set():
            if self.paused.is_set():
                time.sleep(0.02)
                continue
            self.seq += 1
            reading = {"id": "%s-r%06d" % (self.prefix, self.seq), "sensor": SENSOR,
                       "value": (self.seq * 7) % 100, "at": time.time()}
            try:
                status, body = self.edge.op({"operation": "insert", "database": DB, "table": "sensor_data",
                                             "records": [reading]}, timeout=5)
                if status != 200:
                    self.errors.append("reading %s %s" % (status, json.dumps(body)[:200]))
                    time.sleep(0.05)
                    continue
                self.readings += 1
                last = (last + [reading])[-5:]
                limit = self.threshold()
                if limit is not None and reading["value"] > limit:
                    alert = {"id": "%s-a%06d" % (self.prefix, self.seq), "sensor": SENSOR,
                             "value": reading["value"], "max": limit, "readings": list(last)}
                    status, body = self.edge.op({"operation": "insert", "database": DB, "table": "alerts",
                                                 "records": [alert]}, timeout=5)
                    if status == 200 and body.get("inserted_hashes") == [alert["id"]]:
                        with self.lock:
                            self.alerts.append(alert["id"])
                    else:
                        self.errors.append("alert %s %s" % (status, json.dumps(body)[:200]))
            except Exception as e:  # noqa: BLE001 (the edge is being restarted)
                self.errors.append(repr(e))
                time.sleep(0.05)
            time.sleep(0.02)

    def alert_ids(self):
        with self.lock:
            return list(self.alerts)

    def stop(self):
        self.stop_event.set()
        self.join(30)


def ids_of(node, table):
    rows = node.ok({"operation": "search_by_value", "database": DB, "table": table,
                    "search_attribute": "id", "search_value": "*", "get_attributes": ["id"]})
    return [r["id"] for r in rows]


class EdgeTest(cluster.ClusterTestCase):

    def assert_no_sensor_data_on(self, node):
        desc = cluster.describe_database(node, DB)
        self.assertNotIn("sensor_data", desc, "%s learned of sensor_data: %r" % (node.name, desc))
        status, _ = node.op({"operation": "search_by_value", "database": DB, "table": "sensor_data",
                             "search_attribute": "id", "search_value": "*"})
        self.assertNotEqual(status, 200)

    def wait_threshold(self, node, value, timeout_s=15):
        cluster.wait_record(node, DB, "thresholds", SENSOR, timeout_s, expect={"max": value})

    def test_edge_to_cloud(self):
        cloud = self.start_repl_node("cloud")
        edge = self.new_repl_node("edge")
        edge_args = ["--REPLICATION_URL", self.url(edge.ip, 1)]
        self.start_repl_node("edge", node=edge, extra=edge_args)

        # The cloud owns the thresholds; the edge its readings and alerts.
        self.create_table(cloud, DB, "thresholds", primary_key="sensor")
        self.insert(cloud, DB, "thresholds", [{"sensor": SENSOR, "max": 1000}])
        self.create_table(edge, DB, "sensor_data")
        self.create_table(edge, DB, "alerts")
        self.create_table(edge, "logs", "entries")  # a database the subscriptions do not name
        self.insert(edge, "logs", "entries", [{"id": "l1"}])

        self.add_node(edge, cloud, subscriptions=EDGE_SUBSCRIPTIONS)
        self.wait_threshold(edge, 1000)

        # Both ends show the relationship, each from its own side, defined by the edge.
        def subs_of(node, peer):
            for c in cluster.cluster_status(node)["connections"]:
                if c.get("name") == peer.repl_name:
                    return c.get("subscriptions"), c.get("subscriptions_owner")
            return None, None

        def by_table(subs):
            return {s["table"]: (s["publish"], s["subscribe"]) for s in subs or []}

        subs, owner = subs_of(edge, cloud)
        self.assertEqual(owner, edge.repl_name)
        self.assertEqual(by_table(subs), {"thresholds": (False, True), "alerts": (True, False)})
        wait_until(lambda: subs_of(cloud, edge)[1] == edge.repl_name, 15,
                   "the cloud to learn the edge's subscriptions")
        subs, owner = subs_of(cloud, edge)
        self.assertEqual(by_table(subs), {"thresholds": (True, False), "alerts": (False, True)})
        # The cloud knows the edge only at its unreachable URL.
        self.assertEqual(cluster.node_rows(cloud)[edge.repl_name]["url"], self.url(edge.ip, 1))

        app = EdgeApp(edge, "e")
        app.start()
        try:
            wait_until(lambda: app.readings >= 20, 20, "the edge app to write readings")
            self.assertEqual(app.alert_ids(), [], "no alert while the threshold is 1000")

            # A threshold changed on the cloud reaches the edge; alerts follow and reach the cloud.
            self.insert(cloud, DB, "thresholds", [{"sensor": SENSOR, "max": 50}], op="update")
            self.wait_threshold(edge, 50)
            wait_until(lambda: len(app.alert_ids()) >= 5, 20, "the edge app to raise alerts")
            wait_until(lambda: set(app.alert_ids()[:5]) <= set(ids_of(cloud, "alerts")), 20,
                       "the first alerts to reach the cloud")
            # An edge table the subscriptions do not list stays local, as does a database they
            # do not name.
            self.assert_no_sensor_data_on(cloud)
            self.assertNotIn("logs", cloud.ok({"operation": "describe_all"}))

            # The cloud goes away; the edge keeps working locally and raising alerts.
            cloud.kill9()
            before = len(app.alert_ids())
            wait_until(lambda: len(app.alert_ids()) >= before + 10, 30,
                       "alerts to be written while the cloud is down")
            offline_alerts = app.alert_ids()[before:]
            cloud.start()

            # The edge restarts too (its link is cut and restored once more).
            app.paused.set()
            edge.kill9()
            edge.start()
            app.paused.clear()
            before = len(app.alert_ids())
            wait_until(lambda: len(app.alert_ids()) >= before + 5, 30,
                       "alerts to be written after the edge restarted")
            self.insert(cloud, DB, "thresholds", [{"sensor": SENSOR, "max": 60}], op="update")
            self.wait_threshold(edge, 60)
        finally:
            app.stop()

        written = app.alert_ids()
        self.assertEqual(len(written), len(set(written)))
        self.assertTrue(set(offline_alerts) <= set(written))

        def cloud_has_all():
            return set(written) <= set(ids_of(cloud, "alerts"))
        try:
            wait_until(cloud_has_all, 30, "every alert written on the edge to reach the cloud")
        except AssertionError:
            missing = sorted(set(written) - set(ids_of(cloud, "alerts")))
            raise AssertionError("%d alerts missing on the cloud, e.g. %s\n%s" % (
                len(missing), missing[:10], "\n".join(cluster.dump_cluster([cloud, edge], []))))
        # Each alert arrived once and intact: the cloud holds exactly the edge's alerts.
        cloud_ids = ids_of(cloud, "alerts")
        self.assertEqual(len(cloud_ids), len(set(cloud_ids)), "duplicate alert ids on the cloud")
        self.assertEqual(sorted(cloud_ids), sorted(ids_of(edge, "alerts")))
        self.assertEqual(cluster.table_contents(cloud, DB, ["alerts"]),
                         cluster.table_contents(edge, DB, ["alerts"]))
        self.assertGreater(len(set(offline_alerts) & set(cloud_ids)), 0)
        # Alerts carry the readings that led to them.
        sample = cloud.ok({"operation": "search_by_id", "database": DB, "table": "alerts",
                           "ids": [offline_alerts[0]], "get_attributes": ["*"]})[0]
        self.assertGreater(len(sample["readings"]), 0)
        self.assertEqual(sample["readings"][-1]["value"], sample["value"])
        # Readings stayed on the edge, all of them; the cloud never saw the table.
        self.assertGreaterEqual(harness.count_records(edge, DB, "sensor_data"), app.readings)
        self.assert_no_sensor_data_on(cloud)
        # Thresholds flow one way: a threshold row written on the edge stays there.
        self.insert(edge, DB, "thresholds", [{"sensor": "edge-only", "max": 1}])
        cluster.assert_stays_absent(self, cloud, DB, "thresholds", "edge-only", 2.0)


class CloudClusterTest(cluster.ClusterTestCase):
    """The edge learns of a second cloud node through gossip and links with it: the tables of
    its explicit subscriptions stay out of that automatic link."""

    def setup_cloud_cluster(self):
        edge = self.new_repl_node("edge")  # the lowest name: the edge dials gossip-learned nodes
        self.start_repl_node("edge", node=edge, extra=["--REPLICATION_URL", self.url(edge.ip, 1)])
        cloud, cloud2 = self.start_repl_nodes(["cloud", "cloud2"])
        self.create_table(cloud, DB, "thresholds", primary_key="sensor")
        self.add_node(cloud, cloud2)
        self.create_table(edge, DB, "sensor_data")
        self.create_table(edge, DB, "alerts")
        self.create_table(edge, DB, "shared")
        self.create_table(edge, "other", "notes")
        self.add_node(edge, cloud, subscriptions=EDGE_SUBSCRIPTIONS)
        cluster.wait_linked(edge, cloud2, DB, 30)
        status = cluster.cluster_status(edge)
        conn = [c for c in status["connections"] if c.get("name") == cloud2.repl_name][0]
        self.assertEqual(conn["subscriptions_owner"], edge.repl_name, conn)
        # The database the edge subscribed explicitly leaves the automatic link, every table of
        # it; other databases replicate fully.
        self.assertEqual(sorted((s["database"], s["table"], s["publish"], s["subscribe"])
                                for s in conn["subscriptions"]),
                         [("*", "*", True, True), (DB, "*", False, False)])

        return edge, cloud, cloud2

    def test_explicit_tables_leave_the_automatic_mesh(self):
        edge, cloud, cloud2 = self.setup_cloud_cluster()
        self.insert(edge, DB, "sensor_data", [{"id": "r1", "value": 1}])
        self.insert(edge, DB, "alerts", [{"id": "x1"}])
        self.insert(edge, DB, "shared", [{"id": "m1"}])
        self.insert(edge, "other", "notes", [{"id": "n1"}])
        # A database the edge never named replicates on the automatic link, and on by relay.
        for n in (cloud2, cloud):
            cluster.wait_record(n, "other", "notes", "n1", 20)
        cluster.wait_record(cloud, DB, "alerts", "x1", 20)
        cluster.wait_record(cloud2, DB, "alerts", "x1", 10)  # by relay through the cloud
        # Unlisted tables of the database it subscribed explicitly reach no cloud node, by no path.
        for n in (cloud, cloud2):
            self.assertNotIn("sensor_data", cluster.describe_database(n, DB), n.name)
            cluster.assert_stays_absent(self, n, DB, "shared", "m1", 1.0)

    # The edge->cloud2 link leaves tables out, so what it carries is partial and never advances
    # cloud2's version vector: the alerts transaction relayed whole by the cloud still applies,
    # and thresholds written on cloud2 reach the edge through the cloud.
    def test_filtered_tables_still_arrive_by_relay(self):
        edge, cloud, cloud2 = self.setup_cloud_cluster()
        self.insert(edge, DB, "alerts", [{"id": "x1"}])
        self.insert(cloud2, DB, "thresholds", [{"sensor": SENSOR, "max": 7}])
        cluster.wait_record(cloud, DB, "alerts", "x1", 20)
        cluster.wait_record(cloud2, DB, "alerts", "x1", 10)
        cluster.wait_record(edge, DB, "thresholds", SENSOR, 10, expect={"max": 7})


class UpdateNodeTest(cluster.ClusterTestCase):
    """update_node changes a link's subscriptions live, on both ends."""

    def link(self, publish_alerts):
        cloud = self.start_repl_node("cloud")
        edge = self.new_repl_node("edge")
        self.start_repl_node("edge", node=edge, extra=["--REPLICATION_URL", self.url(edge.ip, 1)])
        self.create_table(cloud, DB, "thresholds", primary_key="sensor")
        self.create_table(edge, DB, "alerts")
        subs = [{"database": DB, "table": "thresholds", "publish": False, "subscribe": True},
                {"database": DB, "table": "alerts", "publish": publish_alerts, "subscribe": False},
                {"database": DB, "table": "marker", "publish": True, "subscribe": True}]
        self.add_node(edge, cloud, subscriptions=subs)
        self.insert(cloud, DB, "thresholds", [{"sensor": "first", "max": 1}])
        cluster.wait_record(edge, DB, "thresholds", "first", 20)
        return cloud, edge, subs

    def update(self, edge, cloud, subs):
        got = harness.assert_op(edge, {"operation": "update_node", "hostname": cloud.repl_name,
                                       "subscriptions": subs}, 200)
        self.assertTrue(got["message"].startswith("Successfully updated"), got)

    def test_update_node_changes_subscriptions_live(self):
        cloud, edge, subs = self.link(publish_alerts=True)
        self.insert(edge, DB, "alerts", [{"id": "a1"}])
        cluster.wait_record(cloud, DB, "alerts", "a1", 20)

        # Stop publishing alerts and stop taking thresholds.
        subs = [dict(s, publish=False, subscribe=False) if s["table"] != "marker" else s for s in subs]
        self.update(edge, cloud, subs)
        wait_until(lambda: all(c.get("subscriptions") and not any(x["subscribe"] for x in c["subscriptions"]
                                                                  if x["table"] != "marker")
                               for c in cluster.cluster_status(cloud)["connections"]
                               if c.get("name") == edge.repl_name), 15,
                   "the cloud to apply the edge's new subscriptions")
        self.insert(edge, DB, "alerts", [{"id": "a2"}])
        self.insert(cloud, DB, "thresholds", [{"sensor": "second", "max": 2}])
        # A marker in a table still fully replicated proves the link is up again.
        self.create_table(edge, DB, "marker")
        self.insert(edge, DB, "marker", [{"id": "m1"}])
        cluster.wait_record(cloud, DB, "marker", "m1", 20)
        cluster.assert_stays_absent(self, cloud, DB, "alerts", "a2", 1.5)
        cluster.assert_stays_absent(self, edge, DB, "thresholds", "second", 0.5)

        # Publish again: new alerts flow.
        subs[1]["publish"] = True
        self.update(edge, cloud, subs)
        self.insert(edge, DB, "alerts", [{"id": "a3"}])
        cluster.wait_record(cloud, DB, "alerts", "a3", 20)

    def test_table_added_to_a_subscription_later_is_copied(self):
        cloud, edge, subs = self.link(publish_alerts=False)
        self.insert(edge, DB, "alerts", [{"id": "before"}])
        self.create_table(edge, DB, "marker")
        self.insert(edge, DB, "marker", [{"id": "m1"}])
        cluster.wait_record(cloud, DB, "marker", "m1", 20)
        subs[1]["publish"] = True
        self.update(edge, cloud, subs)
        self.insert(edge, DB, "alerts", [{"id": "after"}])
        cluster.wait_record(cloud, DB, "alerts", "after", 20)
        cluster.wait_record(cloud, DB, "alerts", "before", 5)


if __name__ == "__main__":
    harness.main()
