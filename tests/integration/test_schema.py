"""Databases, tables and attributes (as HarperDB answers them).

Where HarperDB answers 500 for a client error, meshdb answers 400 with the same text, and
create_attribute on an unknown table is 404 "Table 'dev.nosuch' does not exist".
"""

import os
import unittest

import harness
from harness import ANY, Any, assert_op

SYSTEM_403 = ("The 'system' database, tables and records are used internally by HarperDB and cannot be "
              "updated or removed.")

DESCRIBE_KEYS = ["schema", "name", "hash_attribute", "audit", "schema_defined", "attributes", "db_size",
                 "sources", "record_count", "table_size", "db_audit_size"]


def err(text):
    return {"error": text}


class SchemaTest(harness.NodeTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.node = cls.start_class_node()

    # -- create_database / create_schema ------------------------------------------------------

    def test_create_database(self):
        n = self.node
        assert_op(n, {"operation": "create_database", "database": "cdb"}, 200,
                  {"message": "database 'cdb' successfully created"})
        assert_op(n, {"operation": "create_database", "database": "cdb"}, 400, err("database 'cdb' already exists"))
        assert_op(n, {"operation": "create_database", "database": "system"}, 400,
                  err("database 'system' already exists"))
        assert_op(n, {"operation": "create_database", "database": 5}, 400, err("'database' must be a string"))
        assert_op(n, {"operation": "create_database", "database": ""}, 400,
                  err("'database' is not allowed to be empty"))
        assert_op(n, {"operation": "create_database", "database": "bad/name"}, 400,
                  err("'database' names cannot include backticks or forward slashes"))
        assert_op(n, {"operation": "create_database", "database": "bad`name"}, 400,
                  err("'database' names cannot include backticks or forward slashes"))
        # Names HarperDB takes that no file could carry: a clear 400, no path, nothing on disk.
        for name, words in (("y" * 241, "'database' names can be at most 240 characters long"),
                            ("..", "'database' names cannot be '.' or '..'")):
            assert_op(n, {"operation": "create_database", "database": name}, 400, err(words + (
                " (the database's files are named after it)" if len(name) > 240 else "")))
            status, body = n.op({"operation": "create_table", "database": name, "table": "t",
                                 "primary_key": "id"})
            self.assertEqual(status, 400, body)
            self.assertNotIn(n.root, body["error"])
        self.assertEqual([f for f in os.listdir(os.path.join(n.root, "database")) if f.startswith("yy")], [])
        assert_op(n, {"operation": "create_database", "database": "z" * 240}, 200)
        all_dbs = n.ok({"operation": "describe_all"})
        self.assertEqual(all_dbs.get("cdb"), {}, "an empty database appears as {} in describe_all")
        self.assertNotIn("system", all_dbs)
        self.assertNotIn("bad/name", all_dbs)

    def test_create_database_without_name_creates_data(self):
        n = self.node
        before = n.ok({"operation": "describe_all"})
        if "data" in before:
            assert_op(n, {"operation": "create_database"}, 400, err("database 'data' already exists"))
        else:
            assert_op(n, {"operation": "create_database"}, 200, {"message": "database 'data' successfully created"})
        self.assertIn("data", n.ok({"operation": "describe_all"}))

    def test_schema_aliases(self):
        n = self.node
        assert_op(n, {"operation": "create_schema", "schema": "sdb"}, 200,
                  {"message": "database 'sdb' successfully created"})
        assert_op(n, {"operation": "create_schema", "schema": "sdb"}, 400, err("database 'sdb' already exists"))
        assert_op(n, {"operation": "create_table", "schema": "sdb", "table": "t", "hash_attribute": "key"}, 200,
                  {"message": "table 'sdb.t' successfully created."})
        desc = assert_op(n, {"operation": "describe_schema", "schema": "sdb"}, 200)
        self.assertEqual(list(desc), ["t"])
        self.assertEqual(desc["t"]["hash_attribute"], "key")
        self.assertEqual(desc["t"]["schema"], "sdb")
        assert_op(n, {"operation": "describe_table", "schema": "sdb", "table": "t"}, 200,
                  {"schema": "sdb", "name": "t", "hash_attribute": "key"})
        assert_op(n, {"operation": "drop_table", "schema": "sdb", "table": "t"}, 200,
                  {"message": "successfully deleted table 'sdb.t'"})
        assert_op(n, {"operation": "drop_schema", "schema": "sdb"}, 200, {"message": "successfully deleted 'sdb'"})
        assert_op(n, {"operation": "describe_schema", "schema": "sdb"}, 404, err("database 'sdb' does not exist"))
        assert_op(n, {"operation": "drop_schema", "schema": "sdb"}, 404, err("database 'sdb' does not exist"))

    # -- create_table ----------------------------------------------------------------------------

    def test_create_table(self):
        n = self.node
        n.ok({"operation": "create_database", "database": "ct"})
        assert_op(n, {"operation": "create_table", "database": "ct", "table": "dog", "primary_key": "id"}, 200,
                  {"message": "table 'ct.dog' successfully created."})
        assert_op(n, {"operation": "create_table", "database": "ct", "table": "dog", "primary_key": "id"}, 400,
                  err("Table 'dog' already exists in 'ct'"))
        assert_op(n, {"operation": "create_table", "database": "ct", "table": "cat"}, 400,
                  err("'primary_key' is required"))
        assert_op(n, {"operation": "create_table", "database": "ct", "primary_key": "id"}, 400,
                  err("'table' is required"))
        assert_op(n, {"operation": "create_table", "database": "ct"}, 400,
                  err("'table' is required. 'primary_key' is required"))
        assert_op(n, {"operation": "create_table", "database": "ct", "table": 7, "primary_key": "id"}, 400,
                  err("'table' must be a string"))
        assert_op(n, {"operation": "create_table", "database": "ct", "table": "cat", "primary_key": 7}, 400,
                  err("'primary_key' must be a string"))
        assert_op(n, {"operation": "create_table", "database": "ct", "table": "a/b", "primary_key": "id"}, 400,
                  err("'table' names cannot include backticks or forward slashes"))
        # The legacy hash_attribute alias.
        assert_op(n, {"operation": "create_table", "database": "ct", "table": "legacy", "hash_attribute": "code"},
                  200, {"message": "table 'ct.legacy' successfully created."})
        self.assertEqual(sorted(n.ok({"operation": "describe_database", "database": "ct"})), ["dog", "legacy"])
        # Failed creations left nothing behind.
        self.assertNotIn("cat", n.ok({"operation": "describe_database", "database": "ct"}))

    def test_create_table_auto_creates_database(self):
        n = self.node
        assert_op(n, {"operation": "create_table", "database": "autodb", "table": "t", "primary_key": "id"}, 200,
                  {"message": "table 'autodb.t' successfully created."})
        self.assertIn("t", n.ok({"operation": "describe_database", "database": "autodb"}))
        self.assertIn("autodb", n.ok({"operation": "describe_all"}))

    def test_create_table_default_database_is_data(self):
        n = self.node
        assert_op(n, {"operation": "create_table", "table": "indata", "primary_key": "id"}, 200,
                  {"message": "table 'data.indata' successfully created."})
        self.assertIn("indata", n.ok({"operation": "describe_database", "database": "data"}))
        # describe_database without a database describes `data`.
        self.assertIn("indata", n.ok({"operation": "describe_database"}))

    # -- drop_table / drop_database -------------------------------------------------------------

    def test_drop_table(self):
        n = self.node
        n.ok({"operation": "create_table", "database": "dt", "table": "t1", "primary_key": "id"})
        n.ok({"operation": "insert", "database": "dt", "table": "t1", "records": [{"id": 1}]})
        assert_op(n, {"operation": "drop_table", "database": "dt", "table": "t1"}, 200,
                  {"message": "successfully deleted table 'dt.t1'"})
        assert_op(n, {"operation": "drop_table", "database": "dt", "table": "t1"}, 404,
                  err("Table 'dt.t1' does not exist"))
        assert_op(n, {"operation": "describe_table", "database": "dt", "table": "t1"}, 404,
                  err("Table 'dt.t1' does not exist"))
        assert_op(n, {"operation": "drop_table", "database": "dt", "table": "nosuch"}, 404,
                  err("Table 'dt.nosuch' does not exist"))
        assert_op(n, {"operation": "drop_table", "database": "dt"}, 400, err("'table' is required"))
        assert_op(n, {"operation": "drop_table", "database": "system", "table": "hdb_user"}, 403, err(SYSTEM_403))
        # A re-created table starts empty.
        n.ok({"operation": "create_table", "database": "dt", "table": "t1", "primary_key": "id"})
        self.assertEqual(harness.count_records(n, "dt", "t1"), 0)

    def test_drop_database(self):
        n = self.node
        n.ok({"operation": "create_table", "database": "ddb", "table": "a", "primary_key": "id"})
        n.ok({"operation": "create_table", "database": "ddb", "table": "b", "primary_key": "id"})
        n.ok({"operation": "insert", "database": "ddb", "table": "a", "records": [{"id": 1}]})
        assert_op(n, {"operation": "drop_database", "database": "ddb"}, 200, {"message": "successfully deleted 'ddb'"})
        self.assertNotIn("ddb", n.ok({"operation": "describe_all"}))
        assert_op(n, {"operation": "describe_database", "database": "ddb"}, 404, err("database 'ddb' does not exist"))
        assert_op(n, {"operation": "drop_database", "database": "nodb2"}, 404, err("database 'nodb2' does not exist"))
        assert_op(n, {"operation": "drop_database"}, 400, err("'database' is required"))
        assert_op(n, {"operation": "drop_database", "database": "system"}, 403, err(SYSTEM_403))
        # The system database still works.
        rows = n.ok({"operation": "search_by_value", "database": "system", "table": "hdb_user",
                     "search_attribute": "username", "search_value": "admin", "get_attributes": ["username"]})
        self.assertEqual(rows, [{"username": "admin"}])

    # -- describe_* ------------------------------------------------------------------------------

    def test_describe_table(self):
        n = self.node
        n.ok({"operation": "create_table", "database": "desc", "table": "dog", "primary_key": "id"})
        d = assert_op(n, {"operation": "describe_table", "database": "desc", "table": "dog"}, 200, {
            "schema": "desc", "name": "dog", "hash_attribute": "id", "audit": Any(bool), "schema_defined": False,
            "attributes": [{"attribute": "id", "is_primary_key": True},
                           {"attribute": "__createdtime__", "indexed": True},
                           {"attribute": "__updatedtime__", "indexed": True}],
            "db_size": Any(int, float), "sources": [], "record_count": 0, "table_size": Any(int, float),
            "db_audit_size": Any(int, float)})
        keys = [k for k in d if k in DESCRIBE_KEYS]
        self.assertEqual(keys, DESCRIBE_KEYS, "describe_table field order")
        n.ok({"operation": "insert", "database": "desc", "table": "dog",
              "records": [{"id": 1, "name": "a"}, {"id": 2, "breed": "b", "name": "c"}]})
        d = n.ok({"operation": "describe_table", "database": "desc", "table": "dog"})
        self.assertEqual(d["record_count"], 2)
        self.assertEqual([a["attribute"] for a in d["attributes"]],
                         ["id", "__createdtime__", "__updatedtime__", "name", "breed"])
        self.assertEqual(d["attributes"][3], {"attribute": "name", "indexed": True})
        self.assertIsInstance(d.get("last_updated_record"), (int, float))
        assert_op(n, {"operation": "describe_table", "database": "desc", "table": "nosuch"}, 404,
                  err("Table 'desc.nosuch' does not exist"))
        assert_op(n, {"operation": "describe_table", "database": "nodb", "table": "dog"}, 404,
                  err("database 'nodb' does not exist"))
        assert_op(n, {"operation": "describe_table", "database": "desc"}, 400, err("'table' is required"))

    def test_describe_database_and_all(self):
        n = self.node
        n.ok({"operation": "create_database", "database": "emptydb"})
        assert_op(n, {"operation": "describe_database", "database": "emptydb"}, 200, {})
        self.assertEqual(n.ok({"operation": "describe_database", "database": "emptydb"}), {})
        n.ok({"operation": "create_table", "database": "two", "table": "x", "primary_key": "id"})
        n.ok({"operation": "create_table", "database": "two", "table": "y", "primary_key": "yid"})
        d = n.ok({"operation": "describe_database", "database": "two"})
        self.assertEqual(sorted(d), ["x", "y"])
        self.assertEqual(d["y"]["hash_attribute"], "yid")
        self.assertEqual(d["x"]["schema"], "two")
        assert_op(n, {"operation": "describe_database", "database": "nodb"}, 404,
                  err("database 'nodb' does not exist"))
        everything = n.ok({"operation": "describe_all"})
        self.assertEqual(everything["emptydb"], {})
        self.assertEqual(sorted(everything["two"]), ["x", "y"])
        self.assertEqual(everything["two"]["y"]["hash_attribute"], "yid")
        self.assertNotIn("system", everything)
        # describe_database system works for a super user and lists the system tables.
        sysd = n.ok({"operation": "describe_database", "database": "system"})
        for t, pk in [("hdb_user", "username"), ("hdb_role", "id"), ("hdb_nodes", "name"),
                      ("hdb_certificate", "name")]:
            self.assertIn(t, sysd)
            self.assertEqual(sysd[t]["hash_attribute"], pk, t)

    # -- create_attribute ------------------------------------------------------------------------

    def test_create_attribute(self):
        n = self.node
        n.ok({"operation": "create_table", "database": "ca", "table": "dog", "primary_key": "id"})
        assert_op(n, {"operation": "create_attribute", "database": "ca", "table": "dog", "attribute": "color"}, 200,
                  {"message": "attribute 'ca.dog.color' successfully created."})
        attrs = [a["attribute"] for a in n.ok({"operation": "describe_table", "database": "ca",
                                               "table": "dog"})["attributes"]]
        self.assertIn("color", attrs)
        assert_op(n, {"operation": "create_attribute", "database": "ca", "table": "dog", "attribute": "color"}, 400,
                  err("attribute 'color' already exists in ca.dog"))
        n.ok({"operation": "insert", "database": "ca", "table": "dog", "records": [{"id": 1, "weight": 3}]})
        assert_op(n, {"operation": "create_attribute", "database": "ca", "table": "dog", "attribute": "weight"}, 400,
                  err("attribute 'weight' already exists in ca.dog"))
        assert_op(n, {"operation": "create_attribute", "database": "ca", "table": "dog"}, 400,
                  err("Attribute name is required"))
        assert_op(n, {"operation": "create_attribute", "database": "ca", "table": "nosuch", "attribute": "x"}, 404,
                  err("Table 'ca.nosuch' does not exist"))
        # Unknown database: a client error (HarperDB's 500 is a crash), with an error text.
        status, body = n.op({"operation": "create_attribute", "database": "nodbca", "table": "dog",
                             "attribute": "x"})
        self.assertIn(status, (400, 404), body)
        self.assertIsInstance(body, dict)
        self.assertIn("error", body)
        self.assertNotIn("nodbca", n.ok({"operation": "describe_all"}))
        # The `schema` alias.
        assert_op(n, {"operation": "create_attribute", "schema": "ca", "table": "dog", "attribute": "size"}, 200,
                  {"message": "attribute 'ca.dog.size' successfully created."})


if __name__ == "__main__":
    harness.main()
