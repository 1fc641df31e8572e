"""GET /metrics (issue 12, docs/operations.md): every line of a real node's exposition parses
with a strict parser of the text format; counters move after operations; a 2-node cluster
exports per-peer series; metrics.allowedIps and metrics.enabled refuse scrapes.
"""

import unittest

import cluster
import harness
import prom_text
from harness import wait_until

DB, T = "dev", "dog"


def scrape(node, source_ip=None):
    status, headers, body = node.request("GET", "/metrics", source_ip=source_ip)
    return status, headers, body.decode()


def families(node):
    status, headers, text = scrape(node)
    assert status == 200, (status, text)
    assert headers["content-type"].startswith("text/plain; version=0.0.4"), headers
    return prom_text.parse(text)


class MetricsTest(cluster.ClusterTestCase):

    def test_01_every_line_parses_and_counters_move(self):
        node = self.start_node()
        before = families(node)
        for name in ("meshdb_operations_total", "meshdb_operation_duration_seconds",
                     "meshdb_http_open_connections", "meshdb_storage_used_bytes",
                     "meshdb_storage_group_commit_writes", "meshdb_storage_commit_duration_seconds",
                     "meshdb_replication_peers", "meshdb_build_info"):
            self.assertIn(name, before)
        self.assertEqual("histogram", before["meshdb_operation_duration_seconds"]["type"])
        ok_inserts = prom_text.value(before, "meshdb_operations_total", operation="insert", status="ok") or 0
        node.ok({"operation": "create_table", "database": DB, "table": T, "primary_key": "id"})
        node.ok({"operation": "insert", "database": DB, "table": T,
                 "records": [{"id": i} for i in range(5)]})
        node.ok({"operation": "search_by_value", "database": DB, "table": T,
                 "search_attribute": "id", "search_value": "*"})
        node.op({"operation": "describe_table", "database": DB, "table": "nope"})
        node.op({"operation": "no_such_operation_xyz"})
        after = families(node)
        v = lambda name, **labels: prom_text.value(after, name, **labels)  # noqa: E731
        self.assertEqual(ok_inserts + 1, v("meshdb_operations_total", operation="insert", status="ok"))
        self.assertEqual(1, v("meshdb_operations_total", operation="describe_table", status="not_found"))
        # A name the client made up is not a label value.
        self.assertEqual(1, v("meshdb_operations_total", operation="unknown", status="invalid_argument"))
        self.assertIsNone(v("meshdb_operations_total", operation="no_such_operation_xyz"))
        self.assertGreaterEqual(v("meshdb_operation_duration_seconds_count", operation="insert"), 1)
        self.assertEqual(5, v("meshdb_records_written_total", database=DB, source="local"))
        self.assertEqual(5, v("meshdb_records_read_total", database=DB))
        self.assertGreater(v("meshdb_storage_used_bytes", database=DB), 0)
        self.assertGreaterEqual(v("meshdb_storage_group_commit_writes_count"), 1)
        self.assertGreaterEqual(v("meshdb_http_open_connections"), 1)  # this scrape's

    def test_02_two_nodes_have_per_peer_series(self):
        key = cluster.new_cluster_key()
        a = self.start_repl_node("A", cluster_key=key)
        b = self.start_repl_node("B", cluster_key=key, routes=[a])
        self.create_table(a, DB, T)
        self.wait_table(b, DB, T)
        self.insert(a, DB, T, [{"id": i} for i in range(10)])
        cluster.wait_linked(a, b, DB)
        cluster.wait_record(b, DB, T, 9)

        def b_series_ok():
            f = families(a)
            peer = b.repl_name
            return (prom_text.value(f, "meshdb_replication_link_connected", peer=peer, database=DB) == 1
                    and prom_text.value(f, "meshdb_replication_link_state", peer=peer, database=DB,
                                        state="Streaming") == 1
                    and prom_text.value(f, "meshdb_replication_sent_bytes_total", peer=peer, database=DB) > 0
                    and prom_text.value(f, "meshdb_replication_records_behind", peer=peer, database=DB) == 0)
        wait_until(b_series_ok, 20, "A's metrics to show a streaming, caught-up link to B")
        f = families(b)
        self.assertGreater(prom_text.value(f, "meshdb_replication_received_bytes_total", peer=a.repl_name,
                                           database=DB), 0)
        self.assertEqual(10, prom_text.value(f, "meshdb_records_written_total", database=DB,
                                             source="replication")
                         + (prom_text.value(f, "meshdb_records_written_total", database=DB, source="copy") or 0))
        # No merge runs: its progress gauges are there, at 0, for both directions.
        for part in ("records", "total"):
            for direction in ("receive", "send"):
                self.assertEqual(0, prom_text.value(f, "meshdb_replication_merge_progress_" + part,
                                                    peer=a.repl_name, database=DB, direction=direction))
        for state in ("Connecting", "CatchingUp", "Streaming", "Backoff", "Idle", "Error"):
            self.assertIsNotNone(prom_text.value(f, "meshdb_replication_link_state", peer=a.repl_name,
                                                 database=DB, state=state))

    def test_03_allowed_ips_refuse_other_addresses(self):
        probe = self.new_node()  # only its address is used, as the allowed client
        node = self.start_node(["--METRICS_ALLOWEDIPS", '["%s"]' % probe.ip])
        status, _, text = scrape(node, source_ip=probe.ip)
        self.assertEqual(200, status, text)
        prom_text.parse(text)
        status, _, text = scrape(node, source_ip=node.ip)
        self.assertEqual(403, status)
        self.assertIn("metrics.allowedIps", text)
        # The operations API itself is not affected.
        node.ok({"operation": "describe_all"})

    def test_04_disabled_answers_404(self):
        node = self.start_node(["--METRICS_ENABLED", "false"])
        status, _, text = scrape(node)
        self.assertEqual(404, status)
        self.assertIn("metrics.enabled", text)

    def test_05_bad_allowed_ips_stop_the_start(self):
        node = self.start_node(["--METRICS_ALLOWEDIPS", '["not-an-ip"]'], wait=False)
        wait_until(lambda: not node.running(), 20, "the node to refuse the bad setting")
        self.assertIn("metrics.allowedIps", node.output_text())


class ParserSelfTest(unittest.TestCase):
    """The parser must refuse what the format does not allow, or the scrapes above prove nothing."""

    GOOD = ("# HELP m_total x\n# TYPE m_total counter\nm_total{a=\"q\\\"\"} 1\n"
            "# HELP h y\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
            "h_sum 3\nh_count 2\n")

    def test_accepts_good_text(self):
        f = prom_text.parse(self.GOOD)
        self.assertEqual('q"', f["m_total"]["samples"][0][1]["a"])

    def test_refuses_bad_text(self):
        bad = [
            "m 1\n",  # no HELP/TYPE
            "# HELP m x\n# TYPE m gauge\nm 1",  # no final newline
            "# HELP m x\n# TYPE m gauge\nm{a=\"b} 1\n",  # unterminated value
            "# HELP m x\n# TYPE m gauge\nm abc\n",  # bad value
            "# HELP m x\n# TYPE m gauge\nm 1\n# HELP m x\n# TYPE m gauge\nm 2\n",  # repeated family
            "# HELP m x\n# TYPE m gauge\n# HELP n x\n# TYPE n gauge\nm 1\n",  # outside its family
            "# HELP h y\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n",
            "# HELP h y\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 3\nh_count 1\n",  # no +Inf
            "# HELP m x\n# TYPE m counter\nm -1\n",
        ]
        for text in bad:
            with self.assertRaises(ValueError, msg=text):
                prom_text.parse(text)


if __name__ == "__main__":
    harness.main()
