"""Initial copies of stored (compressed) rows, capability "copy-stored" (docs/replication.md).

A node that holds a table with compressed rows (more than the 1000 rows that train its
dictionary) copies it to a new node: the receiver stores the rows as they came with the
sender's dictionary, builds its index, serves reads and searches, and its own later writes
(which compress with the dictionary it adopted) replicate back. With replication.copyStoredRows
false on either side (what an older peer that does not announce the capability gets), the copy
carries record bytes as before and the same holds.
"""

import cluster
import harness
from cluster import wait_converged, wait_record
from harness import wait_until

DB = "dev"
ROWS = 3000


class CopyStoredTest(cluster.ClusterTestCase):

    def fill(self, a, t):
        self.create_table(a, DB, t)

        def rows(start, end):
            return [{"id": i, "name": "user-%d" % i, "num": i * 7919 % 100003,
                     "text": "row %d of a table large enough to compress, %s" % (i, "abc " * (i % 20))}
                    for i in range(start, end)]

        # Row 1001 starts the table's dictionary training (in the background); the rows after
        # are written once A installed it, so most of what B copies is compressed.
        for start, end in ((0, 500), (500, 1000), (1000, 1001)):
            self.insert(a, DB, t, rows(start, end))
        wait_until(lambda: a.ok({"operation": "describe_table", "database": DB, "table": t})
                   .get("compression_dictionary", 0) != 0, 60, "A to install %s's dictionary" % t)
        for start in range(1001, ROWS, 500):
            self.insert(a, DB, t, rows(start, min(start + 500, ROWS)))

    def copy_and_check(self, a_extra=(), b_extra=(), expect_log="rows as stored"):
        t = "dog"
        a = self.start_repl_node("A", extra=a_extra)
        self.fill(a, t)
        b = self.start_repl_node("B", extra=b_extra)
        self.add_node(b, a)
        contents = wait_converged([a, b], DB, 60, min_rows=ROWS)
        self.assertEqual(len(contents[t]), ROWS)
        # Every row is in before the copy ends; the index is built at its end (CopyEnd).
        wait_until(lambda: cluster.counter_total(b, "copies_completed", DB) >= 1, 60,
                   "B to report its copy of %s completed (index built)" % DB)
        self.assertIn(expect_log, a.log_text() + a.output_text(),
                      "A's log must say how it sent the copy")
        if expect_log == "rows as stored":
            # B adopted the dictionary A's rows name, so it trains none of its own.
            describe = {"operation": "describe_table", "database": DB, "table": t}
            self.assertEqual(b.ok(describe).get("compression_dictionary"),
                             a.ok(describe)["compression_dictionary"])
        # The copied rows' index was built: a search by value finds one.
        found = b.ok({"operation": "search_by_value", "database": DB, "table": t,
                      "search_attribute": "name", "search_value": "user-2718",
                      "get_attributes": ["id", "text"]})
        self.assertEqual([r["id"] for r in found], [2718])
        self.assertTrue(found[0]["text"].startswith("row 2718 of"))
        # B's own writes (new rows and an update of a copied row) read back and replicate to A.
        self.insert(b, DB, t, [{"id": ROWS + i, "name": "b-%d" % i, "text": "written on B " * 10}
                               for i in range(20)])
        self.insert(b, DB, t, [{"id": 5, "name": "updated-on-b"}], op="update")
        wait_record(a, DB, t, ROWS + 19)
        contents = wait_converged([a, b], DB, 30, min_rows=ROWS + 20)
        self.assertEqual(len(contents[t]), ROWS + 20)
        got = b.ok({"operation": "search_by_id", "database": DB, "table": t, "ids": [5],
                    "get_attributes": ["*"]})
        self.assertEqual(got[0]["name"], "updated-on-b")
        self.assertTrue(got[0]["text"].startswith("row 5 of"))
        # After a restart B still reads every row (the dictionary is in its meta).
        b.restart()
        contents = wait_converged([a, b], DB, 30, min_rows=ROWS + 20)
        self.assertEqual(len(contents[t]), ROWS + 20)

    def test_01_stored_rows_copy_reads_back_and_takes_writes(self):
        self.copy_and_check()

    def test_02_receiver_without_the_capability_gets_record_bytes(self):
        self.copy_and_check(b_extra=["--REPLICATION_COPYSTOREDROWS", "false"], expect_log="record bytes")

    def test_03_sender_without_the_capability_sends_record_bytes(self):
        self.copy_and_check(a_extra=["--REPLICATION_COPYSTOREDROWS", "false"], expect_log="record bytes")


if __name__ == "__main__":
    harness.main()
