"""kill -9 of the node receiving an initial copy (issue 13 "Writes that stay fast as tables grow").

An initial copy into an empty table defers the table's secondary index and builds it in one
sorted pass in the commit of the copy's end (docs/storage.md "Deferred index build"); a marker
in the database's meta, committed with the first copied rows, makes the next open build an index
that a crash left unbuilt. Checked here, each time on a fresh receiver B of a source A:

1. B is killed (kill -9) part-way through the copy, and restarted: its open builds the index
   the copy left pending (logged), it copies again, and then holds every row of A; searches by
   every attribute (an index range covering all values, and equality on sampled rows) return
   exactly what A returns;
2. B is killed while the copy's end builds the deferred index (paused there by
   tests/integration/lmdb_pause_shim.cc, an LD_PRELOAD library): the same checks after the
   restart.

Observable state: cluster_status `copy_progress` / `copies_completed`, describe_table's
record_count, search_by_conditions / search_by_value answers, B's log.
"""

import os
import random
import shutil
import string
import tempfile
import threading
import time

import cluster
import harness
from harness import wait_until

DB, T = "dev", "rows"
TOTAL = 120_000


def random_records(rng, n):
    return [{"id": "".join(rng.choices(string.ascii_lowercase + string.digits, k=20)),
             "v": rng.randint(-10**9, 10**9),
             "f": rng.random(),
             "s": "".join(rng.choices(string.ascii_letters, k=rng.randint(20, 120))),
             "tags": [rng.choice("abcde"), rng.choice("xyz")]}
            for _ in range(n)]


def record_count(node):
    status, body = node.op({"operation": "describe_table", "database": DB, "table": T})
    return body.get("record_count", -1) if status == 200 else -1


def copy_socket(node, peer):
    for c in cluster.cluster_status(node).get("connections", []):
        if c.get("name") == peer.repl_name:
            for s in c.get("database_sockets", []):
                if s.get("database") == DB:
                    return s
    return {}


# Conditions whose index range covers every value of the attribute (ops/conditions.cc plans an
# index scan for a range condition on an indexed attribute).
ALL_BY = {
    "v": {"search_attribute": "v", "search_type": "greater_than_equal", "search_value": -10**12},
    "f": {"search_attribute": "f", "search_type": "greater_than_equal", "search_value": -1},
    "s": {"search_attribute": "s", "search_type": "greater_than_equal", "search_value": ""},
}


class CopyCrashTest(cluster.ClusterTestCase):

    def source(self):
        a = self.start_repl_node("A")
        self.create_table(a, DB, T)
        rng = random.Random(os.environ.get("MESHDB_TEST_SEED") or time.time_ns())
        rows = random_records(rng, TOTAL)
        for start in range(0, len(rows), 5000):
            self.insert(a, DB, T, rows[start:start + 5000])
        wait_until(lambda: record_count(a) == TOTAL, 60, "A to hold %d records" % TOTAL)
        return a, rows

    def join(self, a, env=None):
        """B runs add_node A in the background (the answer may come late while B applies the
        copy, or never when B is killed first: only the link matters here)."""
        b = self.new_repl_node("B")
        b.start(self.repl_args(b), env=env)
        body = {"operation": "add_node", "hostname": a.repl_name,
                "authorization": {"username": a.username, "password": a.password}}

        def add():
            try:
                b.op(body, timeout=90)
            except Exception:  # noqa: BLE001 (B may be killed meanwhile)
                pass
        threading.Thread(target=add, daemon=True).start()
        return b

    def ids(self, node, condition):
        got = node.ok({"operation": "search_by_conditions", "database": DB, "table": T,
                       "get_attributes": ["id"], "conditions": [condition]})
        return sorted(r["id"] for r in got)

    def assert_same_as_source(self, a, b, rows):
        self.assertEqual(record_count(b), TOTAL)
        for attribute, condition in ALL_BY.items():
            on_b = self.ids(b, condition)
            self.assertEqual(len(on_b), TOTAL, "a search by %s on %s must return every row" % (attribute, b.name))
            self.assertEqual(on_b, self.ids(a, condition), "searches by %s differ" % attribute)
        for row in random.Random(7).sample(rows, 40):
            for attribute in ("v", "f", "s"):
                body = {"operation": "search_by_value", "database": DB, "table": T, "get_attributes": ["id"],
                        "search_attribute": attribute, "search_value": row[attribute]}
                self.assertIn({"id": row["id"]}, b.ok(body), "search_by_value %s=%r on %s"
                              % (attribute, row[attribute], b.name))
                self.assertEqual(sorted(r["id"] for r in b.ok(body)), sorted(r["id"] for r in a.ok(body)))
        for tag in "abcdexyz":  # array elements are indexed one by one
            body = {"operation": "search_by_value", "database": DB, "table": T, "get_attributes": ["id"],
                    "search_attribute": "tags", "search_value": tag}
            self.assertEqual(sorted(r["id"] for r in b.ok(body)), sorted(r["id"] for r in a.ok(body)),
                             "search_by_value tags=%s" % tag)

    def wait_copied(self, a, b, timeout_s=180):
        def done():
            s = copy_socket(b, a)
            return (record_count(b) == TOTAL and s.get("copies_completed", 0) >= 1
                    and s.get("state") == "Streaming" and not s.get("copy_progress"))
        wait_until(done, timeout_s, "%s to finish copying %d records from %s" % (b.name, TOTAL, a.name))

    def restart_and_check(self, a, b, rows, expect_open_build):
        b.start()
        built_at_open = [l for l in b.log_text().splitlines()
                         if "left unbuilt by an interrupted initial copy; built it at open" in l]
        if expect_open_build:
            self.assertTrue(built_at_open, "B's open must build the index the killed copy left pending")
        self.wait_copied(a, b)
        self.assert_same_as_source(a, b, rows)
        # B streams from A afterwards.
        self.insert(a, DB, T, [{"id": "after-restart", "v": 5, "s": "late"}])
        cluster.wait_record(b, DB, T, "after-restart", timeout_s=30)
        body = {"operation": "search_by_value", "database": DB, "table": T, "get_attributes": ["id"],
                "search_attribute": "s", "search_value": "late"}
        self.assertIn({"id": "after-restart"}, b.ok(body))
        return bool(built_at_open)

    def test_01_receiver_killed_mid_copy(self):
        a, rows = self.source()
        b = self.join(a)

        def part_way():
            progress = copy_socket(b, a).get("copy_progress") or {}
            if copy_socket(b, a).get("copies_completed"):
                raise AssertionError("the copy completed before it could be interrupted; the test needs more rows")
            return 0 < progress.get("records", 0) < TOTAL // 2
        wait_until(part_way, 60, "B to be part-way through its copy", interval_s=0.002)
        b.kill9()
        # copy_progress counts committed chunks, so the first one (and the marker) is on disk.
        self.restart_and_check(a, b, rows, expect_open_build=True)

    def test_02_receiver_killed_during_index_build(self):
        a, rows = self.source()
        # lmdb_pause_shim (LD_PRELOAD) pauses B at the index build's first sorted append, inside
        # the transaction of the copy's end, and creates `marker` when it does: the kill lands
        # in that transaction however fast the machine is.
        marker_dir = tempfile.mkdtemp(prefix="meshdb-it-shim-")
        self.addCleanup(shutil.rmtree, marker_dir, ignore_errors=True)
        marker = os.path.join(marker_dir, "B-in-index-build")
        shim = harness.shim_library_path("MESHDB_LMDB_PAUSE_SHIM", "liblmdb_pause_shim.so")
        b = self.join(a, env={"LD_PRELOAD": shim, "LMDB_PAUSE_SHIM_MARKER": marker,
                              "LMDB_PAUSE_SHIM_MS": "30000"})
        wait_until(lambda: os.path.exists(marker), 120,
                   "B to start building the index its copy deferred", interval_s=0.01)
        # (The last chunks may share the end's group commit: the count need not be TOTAL yet.)
        self.assertFalse(copy_socket(b, a).get("copies_completed"), "the copy must not be done yet")
        b.kill9()
        b.env_overrides = {}
        self.restart_and_check(a, b, rows, expect_open_build=True)


if __name__ == "__main__":
    harness.main()
