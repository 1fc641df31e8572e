"""kill -9 under write load: acknowledged writes survive, and no batch is half-applied.

Several client threads insert batches of 20 records (distinct ids) in a loop and note which
requests were answered 200. The node is killed with SIGKILL while they run and restarted on
the same root. Then every acknowledged record must be present with its content, and every
batch that was sent must be either entirely present or entirely absent. Repeated for a few
kill cycles; earlier cycles' acknowledged data must survive later kills too.

A kill -9 leaves the OS page cache intact, so it cannot show a write answered before it was
on disk. test_power_loss_under_write_load can: the node runs with power_loss_shim.cc
(LD_PRELOAD), which keeps for each LMDB file the image that only completed fsyncs would have
left on disk; after the kill the test puts those images in place of the files (a power cut at
the moment of the kill) and checks the same things. test_kill9_while_recovering also kills
each restart a few milliseconds in, while it replays the write-ahead log.
"""

import glob
import http.client
import json
import os
import random
import shutil
import tempfile
import threading
import time
import unittest

import harness
from harness import wait_until

DB, TABLE = "crash", "batch"
THREADS = 4
BATCH = 20
CYCLES = 4


class Loader(threading.Thread):
    """Inserts batches until stopped or the connection fails; records what was acknowledged."""

    def __init__(self, node, cycle, index, stop):
        super().__init__(daemon=True)
        self.node, self.cycle, self.index, self.stop = node, cycle, index, stop
        self.sent = {}  # batch name -> list of records
        self.acked = set()  # batch names answered 200 with the full count
        self.bad_answers = []  # (batch, status, body) for non-200 answers while the node was up

    def batch(self, seq):
        name = "c%d-t%d-b%d" % (self.cycle, self.index, seq)
        return name, [{"id": "%s-r%02d" % (name, i), "batch": name, "i": i, "payload": "p" * (i * 7 % 50),
                       "nested": {"seq": seq, "tags": [self.cycle, self.index]}} for i in range(BATCH)]

    def run(self):
        seq = 0
        auth = self.node.auth_header()
        while not self.stop.is_set():
            name, records = self.batch(seq)
            seq += 1
            self.sent[name] = records
            body = json.dumps({"operation": "insert", "database": DB, "table": TABLE, "records": records})
            conn = http.client.HTTPConnection(self.node.ip, self.node.port, timeout=10)
            try:
                conn.request("POST", "/", body, {"Content-Type": "application/json", "Authorization": auth})
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                return  # the node is gone; this batch's fate is unknown
            finally:
                conn.close()
            if resp.status == 200:
                parsed = json.loads(data)
                if parsed.get("message") == "inserted %d of %d records" % (BATCH, BATCH):
                    self.acked.add(name)
                else:
                    self.bad_answers.append((name, resp.status, parsed))
            else:
                self.bad_answers.append((name, resp.status, data[:300]))


class CrashTest(harness.NodeTestCase):

    def all_records(self, node):
        rows = node.ok({"operation": "search_by_value", "database": DB, "table": TABLE, "search_attribute": "id",
                        "search_value": "*", "get_attributes": ["id", "batch", "i", "payload", "nested"]})
        return {r["id"]: r for r in rows}

    def check(self, node, sent, acked):
        stored = self.all_records(node)
        by_batch = {}
        for rid, row in stored.items():
            by_batch.setdefault(row.get("batch"), []).append(rid)
        unknown = set(by_batch) - set(sent)
        self.assertFalse(unknown, "records of batches never sent: %s" % sorted(unknown)[:5])
        for name, records in sent.items():
            present = by_batch.get(name, [])
            if name in acked:
                self.assertEqual(len(present), BATCH, "acknowledged batch %s has %d of %d records"
                                 % (name, len(present), BATCH))
            else:
                self.assertIn(len(present), (0, BATCH), "batch %s half-applied: %d of %d records"
                              % (name, len(present), BATCH))
            if present:
                for rec in records:
                    self.assertEqual(stored.get(rec["id"]), rec, "record %s content" % rec["id"])
        return len(stored)

    def test_kill9_under_write_load(self):
        self.kill_cycles()

    def test_power_loss_under_write_load(self):
        shim = harness.shim_library_path("MESHDB_POWER_LOSS_SHIM", "libpower_loss_shim.so")
        self.assertTrue(os.path.exists(shim), "build power_loss_shim first: %s" % shim)
        images = tempfile.mkdtemp(prefix="meshdb-it-powerloss-")
        self.addCleanup(shutil.rmtree, images, True)

        def power_cut(node):
            # Only what an fsync covered survives: the images replace the data files and their
            # write-ahead logs, and the lock files (reader slots, rebuilt by LMDB) go. A log file
            # written O_DSYNC (direct appends) is durable write by write: the shim marks it, and
            # it stays as it is.
            data_files = glob.glob(os.path.join(node.root, "**", "*.mdb"), recursive=True)
            self.assertTrue(data_files, "no LMDB files under %s" % node.root)
            for path in data_files:
                for suffix in ("", "-wal.0", "-wal.1", "-checkpoint"):
                    image = os.path.join(images, os.path.basename(path) + suffix)
                    if os.path.exists(image + ".synchronous"):
                        continue
                    self.assertTrue(os.path.exists(image), "no image of %s" % (path + suffix))
                    shutil.copyfile(image, path + suffix)
                if os.path.exists(path + "-lock"):
                    os.remove(path + "-lock")

        self.kill_cycles(env={"LD_PRELOAD": shim, "POWER_LOSS_SHIM_DIR": images}, after_kill=power_cut)

    def test_kill9_while_recovering(self):
        # After each kill -9, the node's next starts are killed too, a few milliseconds in,
        # while they replay the write-ahead log (docs/storage.md "The write-ahead log",
        # Recovery): each must leave the last checkpoint whole for the start after it.
        rng = random.Random(int(os.environ.get("MESHDB_TEST_SEED", time.time_ns())))

        def kill_while_recovering(node):
            for _ in range(4):
                node.launch()
                time.sleep(rng.uniform(0.002, 0.06))
                node.kill9()

        self.kill_cycles(after_kill=kill_while_recovering)

    def kill_cycles(self, env=None, after_kill=None):
        """Kill -9 under load CYCLES times (then `after_kill(node)`), checking the data each time."""
        node = self.start_node(env=env)
        node.ok({"operation": "create_table", "database": DB, "table": TABLE, "primary_key": "id"})
        sent, acked = {}, set()
        rng = random.Random(int(os.environ.get("MESHDB_TEST_SEED", time.time_ns())))
        for cycle in range(CYCLES):
            stop = threading.Event()
            loaders = [Loader(node, cycle, i, stop) for i in range(THREADS)]
            for t in loaders:
                t.start()
            try:
                # Kill only once the load is well under way, at a different point each cycle.
                target = rng.randint(10, 40) * THREADS
                wait_until(lambda: sum(len(t.acked) for t in loaders) >= target, 60,
                           "cycle %d: %d acknowledged batches before the kill" % (cycle, target))
                node.kill9()
            finally:
                stop.set()
                for t in loaders:
                    t.join(15)
            for t in loaders:
                self.assertFalse(t.is_alive(), "a loader thread hung")
                self.assertEqual(t.bad_answers, [], "non-200 answers under load")
                sent.update(t.sent)
                acked.update(t.acked)
            if after_kill:
                after_kill(node)
            node.start()
            total = self.check(node, sent, acked)
            self.assertGreaterEqual(total, len(acked) * BATCH)
            sys_msg = "cycle %d: %d batches sent, %d acknowledged, %d records stored" % (
                cycle, len(sent), len(acked), total)
            print(sys_msg)
        # Still writable and consistent after the last restart.
        harness.assert_op(node, {"operation": "insert", "database": DB, "table": TABLE,
                                 "records": [{"id": "after", "batch": "after"}]}, 200,
                          {"message": "inserted 1 of 1 records"})
        desc = node.ok({"operation": "describe_table", "database": DB, "table": TABLE})
        self.assertEqual(desc["record_count"], len(self.all_records(node)))
        self.assertEqual(node.stop(), 0)


    def test_sigterm_under_write_load(self):
        # A clean stop while clients write: exit 0 promptly, every acknowledged batch kept whole.
        node = self.start_node()
        node.ok({"operation": "create_table", "database": DB, "table": TABLE, "primary_key": "id"})
        stop = threading.Event()
        loaders = [Loader(node, 0, i, stop) for i in range(THREADS)]
        for t in loaders:
            t.start()
        try:
            wait_until(lambda: sum(len(t.acked) for t in loaders) >= 20 * THREADS, 60, "acknowledged batches")
            t0 = time.monotonic()
            code = node.stop(deadline_s=15)
            elapsed = time.monotonic() - t0
        finally:
            stop.set()
            for t in loaders:
                t.join(15)
        self.assertEqual(code, 0, "SIGTERM under load must still exit 0")
        self.assertLess(elapsed, 10.0)
        sent, acked = {}, set()
        for t in loaders:
            self.assertEqual(t.bad_answers, [], "non-200 answers under load")
            sent.update(t.sent)
            acked.update(t.acked)
        node.start()
        self.check(node, sent, acked)

if __name__ == "__main__":
    harness.main()
