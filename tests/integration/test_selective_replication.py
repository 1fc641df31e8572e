"""What flows where (issue 4): replicate:false tables and replication.databases, on real processes.

Absence is asserted after a marker: a row written to a replicated table AFTER the local-only rows
is waited for on the other node (the link streams the log in order, so once the marker is there
everything written before it that could have flowed has), then the local-only rows are checked to
be absent, and kept being absent for a while.

1. A replicate:false table made with create_table, one declared in <root>/schema.graphql and one
   in a file listed in schema.files: rows written on either node never reach the other; the
   definition of a local-only table is not created on the peer; describe_table says
   "replicate": false.
2. The subscriber side: a table that is replicate:false on B but replicates on A (A publishes it)
   never takes A's rows on B.
3. A database not listed in replication.databases does not flow; a listed one does.
4. A malformed schema file stops start-up with an error naming the file, line and what was expected.
"""

import json
import os
import subprocess

import cluster
import harness
from cluster import assert_stays_absent, wait_linked, wait_record

DB = "dev"

SCHEMA = """# deployed on every node, as a component would be
type Reading @table(database: "dev", table: "reading", replicate: false) {
  id: ID! @primaryKey
  value: Float
  sensor: String @indexed
}
type Marker @table(database: "dev", table: "marker") {
  id: ID!
  note: String
}
"""

EXTRA_SCHEMA = """type Scratch @table(database: "dev", replicate: false) { key: ID! @primaryKey  n: Int }
"""


def write_schema(node, name, text):
    os.makedirs(node.root, exist_ok=True)
    path = os.path.join(node.root, name)
    with open(path, "w") as f:
        f.write(text)
    return path


class SelectiveReplicationTest(cluster.ClusterTestCase):

    def marker(self, writer, reader, tag):
        """Writes a marker row on writer and waits for it on reader (everything before it flowed)."""
        self.insert(writer, DB, "marker", [{"id": tag, "note": "after local-only rows"}])
        wait_record(reader, DB, "marker", tag, timeout_s=20)

    def start_pair(self, extra=()):
        a = self.new_repl_node("A")
        b = self.new_repl_node("B")
        for n in (a, b):
            write_schema(n, "schema.graphql", SCHEMA)
            write_schema(n, "extra.graphql", EXTRA_SCHEMA)
        files = ["--SCHEMA_FILES", json.dumps(["extra.graphql"])]
        self.start_repl_node("A", node=a, extra=list(extra) + files)
        self.start_repl_node("B", node=b, extra=list(extra) + files)
        self.add_node(b, a)
        wait_linked(a, b, DB)
        wait_linked(b, a, DB)
        return a, b

    def test_01_local_only_tables_never_flow(self):
        a, b = self.start_pair()
        # Schema-file tables exist on both, typed, with replicate false shown by describe_table.
        for n in (a, b):
            for table in ("reading", "Scratch"):
                d = n.ok({"operation": "describe_table", "database": DB, "table": table})
                self.assertIs(d.get("replicate"), False, d)
                self.assertTrue(d["schema_defined"], d)
            d = n.ok({"operation": "describe_table", "database": DB, "table": "marker"})
            self.assertNotIn("replicate", d)
            self.assertEqual(d["hash_attribute"], "id")

        # create_table replicate:false on A: the definition does not reach B.
        a.ok({"operation": "create_table", "database": DB, "table": "local", "primary_key": "id",
              "replicate": False})
        d = a.ok({"operation": "describe_table", "database": DB, "table": "local"})
        self.assertIs(d.get("replicate"), False, d)
        harness.assert_op(a, {"operation": "create_table", "database": DB, "table": "bad",
                              "primary_key": "id", "replicate": "no"},
                          400, {"error": "'replicate' must be a boolean"})
        self.insert(a, DB, "local", [{"id": "a-1", "v": 1}])
        self.marker(a, b, "m-def")
        status, _ = b.op({"operation": "describe_table", "database": DB, "table": "local"})
        self.assertEqual(status, 404, "the local-only table's definition reached B")
        b.ok({"operation": "create_table", "database": DB, "table": "local", "primary_key": "id",
              "replicate": False})

        # Rows written on either node, in all three local-only tables, stay where they were written.
        for n, tag in ((a, "a"), (b, "b")):
            self.insert(n, DB, "local", [{"id": tag + "-2", "v": 2}])
            self.insert(n, DB, "reading", [{"id": tag + "-r1", "value": 1.5, "sensor": "s1"}])
            n.ok({"operation": "insert", "database": DB, "table": "Scratch",
                  "records": [{"key": tag + "-s1", "n": 1}]})
            n.ok({"operation": "update", "database": DB, "table": "local", "records": [{"id": tag + "-2", "v": 3}]})
        self.marker(a, b, "m-a")
        self.marker(b, a, "m-b")
        for reader, tag in ((b, "a"), (a, "b")):
            for table, pk in (("local", tag + "-2"), ("local", tag + "-1"), ("reading", tag + "-r1"),
                              ("Scratch", tag + "-s1")):
                assert_stays_absent(self, reader, DB, table, pk, duration_s=0.3)
        # And they keep being absent while more replicated writes flow.
        self.marker(a, b, "m-a2")
        assert_stays_absent(self, b, DB, "reading", "a-r1", duration_s=1.0)
        assert_stays_absent(self, a, DB, "reading", "b-r1", duration_s=1.0)
        for n, own in ((a, "a"), (b, "b")):
            rows = n.ok({"operation": "search_by_value", "database": DB, "table": "reading",
                         "search_attribute": "id", "search_value": "*", "get_attributes": ["id"]})
            self.assertEqual(sorted(r["id"] for r in rows), [own + "-r1"])

    def test_02_subscriber_drops_rows_for_a_table_local_only_here(self):
        a, b = self.start_pair()
        # Same name, different choice: A replicates dev.split, B keeps its own.
        b.ok({"operation": "create_table", "database": DB, "table": "split", "primary_key": "id",
              "replicate": False})
        a.ok({"operation": "create_table", "database": DB, "table": "split", "primary_key": "id"})
        self.insert(a, DB, "split", [{"id": "from-a", "v": 1}])
        self.insert(b, DB, "split", [{"id": "from-b", "v": 1}])
        self.marker(a, b, "m-split-a")
        self.marker(b, a, "m-split-b")
        assert_stays_absent(self, b, DB, "split", "from-a", duration_s=1.0)
        assert_stays_absent(self, a, DB, "split", "from-b", duration_s=0.5)
        d = b.ok({"operation": "describe_table", "database": DB, "table": "split"})
        self.assertIs(d.get("replicate"), False, d)
        self.assertEqual(d["record_count"], 1, d)

    def test_03_unlisted_database_does_not_flow(self):
        a, b = self.start_pair(extra=["--REPLICATION_DATABASES", json.dumps(["dev"])])
        for n in (a, b):
            n.ok({"operation": "create_table", "database": "private", "table": "t", "primary_key": "id"})
        self.insert(a, "private", "t", [{"id": "p-a"}])
        self.insert(b, "private", "t", [{"id": "p-b"}])
        self.marker(a, b, "m-db-a")
        self.marker(b, a, "m-db-b")
        assert_stays_absent(self, b, "private", "t", "p-a", duration_s=1.0)
        assert_stays_absent(self, a, "private", "t", "p-b", duration_s=0.5)
        # The listed database does flow (the markers above), and so does a new table in it.
        a.ok({"operation": "create_table", "database": DB, "table": "later", "primary_key": "id"})
        self.insert(a, DB, "later", [{"id": "l-1"}])
        wait_record(b, DB, "later", "l-1", timeout_s=20)
        self.assertFalse(cluster.connected(a, b, "private"), cluster.cluster_status(a))

    def test_04_malformed_schema_file_stops_start_up(self):
        node = self.new_repl_node("bad")
        path = write_schema(node, "schema.graphql",
                            "type Ok @table { id: ID! }\ntype Broken @table {\n  id ID!\n}\n")
        self.start_repl_node("bad", node=node, wait=False)
        try:
            code = node.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.fail("a node with a malformed schema.graphql did not exit within 15s")
        self.assertNotEqual(code, 0)
        out = node.output_text()
        self.assertIn(path + ":3:6: expected ':', got 'ID'", out)


if __name__ == "__main__":
    harness.main()
