"""The `sql` operation (HARPERDB-OPS.md §5, docs/sql.md): SELECT shapes, writes through the
insert/update/delete path, HarperDB's errors, per-table permissions, and replication of a SQL
write.
"""

import unittest

import cluster
import harness
from harness import ANY, assert_op, table_perm

DB = "dev"
INVALID_TAIL = (". Please ensure your SQL is valid. Try adding backticks to reserved words and schema "
                "table references.")

DOGS = [
    {"id": 1, "name": "Penny", "age": 5, "owner_id": 1, "breed_id": 10, "good": True,
     "address": {"city": "Denver", "zip": "80202"}},
    {"id": 2, "name": "Kato", "age": 3, "owner_id": 2, "breed_id": 11, "good": False},
    {"id": 3, "name": "Riley", "age": 8, "owner_id": 1, "breed_id": 10},
    {"id": 4, "name": "Harper", "age": 3},
    {"id": 5, "name": "Kaylee", "age": 12, "owner_id": 3, "breed_id": 12},
]
OWNERS = [{"id": 1, "name": "Kyle"}, {"id": 2, "name": "Zach"}, {"id": 3, "name": "Stephen"}]
BREEDS = [{"id": 10, "name": "Mutt"}, {"id": 11, "name": "Husky"}, {"id": 12, "name": "Poodle"}]


class SqlTest(harness.NodeTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.node = cls.start_class_node()
        n = cls.node
        for table, records in (("dog", DOGS), ("owner", OWNERS), ("breed", BREEDS)):
            n.ok({"operation": "create_table", "database": DB, "table": table, "primary_key": "id"})
            n.ok({"operation": "insert", "database": DB, "table": table, "records": records})

    def sql(self, text, status=200, auth=harness.ADMIN):
        got_status, body = self.node.op({"operation": "sql", "sql": text}, auth=auth)
        self.assertEqual(got_status, status, "%s -> %s %s" % (text, got_status, body))
        return body

    def ids(self, text):
        return [row["id"] for row in self.sql(text)]

    def fresh_table(self, name):
        self.node.ok({"operation": "create_table", "database": DB, "table": name, "primary_key": "id"})
        return name

    # -- SELECT ----------------------------------------------------------------------------------

    def test_select_star_returns_whole_records(self):
        rows = self.sql("SELECT * FROM dev.dog WHERE id = 1")
        self.assertEqual(len(rows), 1)
        harness.assert_subset({"id": 1, "name": "Penny", "age": 5, "good": True,
                               "address": {"city": "Denver", "zip": "80202"},
                               "__createdtime__": ANY, "__updatedtime__": ANY}, rows[0])
        # Attributes a record lacks read as null; backticked names work.
        rows = self.sql("SELECT * FROM `dev`.`dog` WHERE `id` = 4")
        self.assertEqual(rows[0]["owner_id"], None)
        self.assertEqual(rows[0]["name"], "Harper")

    def test_columns_aliases_and_nested_attributes(self):
        self.assertEqual(self.sql("SELECT name AS dog_name, age FROM dev.dog WHERE id = 2"),
                         [{"dog_name": "Kato", "age": 3}])
        self.assertEqual(self.sql("SELECT address->>'city' AS city, json_extract(address, '$.zip') AS zip "
                                  "FROM dev.dog WHERE id = 1"), [{"city": "Denver", "zip": "80202"}])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE address->>'city' = 'Denver'"), [1])

    def test_where_operators(self):
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE age = 3 ORDER BY id"), [2, 4])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE age <> 3 ORDER BY id"), [1, 3, 5])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE age != 3 AND age < 8 ORDER BY id"), [1])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE age <= 5 AND age >= 5"), [1])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE age > 5 ORDER BY id"), [3, 5])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE (age = 3 OR age = 12) AND NOT name = 'Kato' "
                                  "ORDER BY id"), [4, 5])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE id IN (2, 3, 99) ORDER BY id"), [2, 3])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE name LIKE 'Ka%' ORDER BY id"), [2, 5])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE name LIKE 'R_ley'"), [3])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE owner_id IS NULL"), [4])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE owner_id IS NOT NULL ORDER BY id"), [1, 2, 3, 5])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE age BETWEEN 4 AND 8 ORDER BY id"), [1, 3])
        self.assertEqual(self.ids("SELECT id FROM dev.dog WHERE good = true"), [1])

    def test_order_limit_offset_distinct(self):
        self.assertEqual(self.ids("SELECT id FROM dev.dog ORDER BY age DESC, name ASC"), [5, 3, 1, 4, 2])
        self.assertEqual(self.ids("SELECT id FROM dev.dog ORDER BY id LIMIT 2 OFFSET 1"), [2, 3])
        self.assertEqual(self.ids("SELECT id FROM dev.dog ORDER BY id DESC LIMIT 2"), [5, 4])
        self.assertEqual(self.sql("SELECT DISTINCT age FROM dev.dog ORDER BY age"),
                         [{"age": 3}, {"age": 5}, {"age": 8}, {"age": 12}])

    def test_aggregates(self):
        self.assertEqual(self.sql("SELECT COUNT(*) AS n FROM dev.dog"), [{"n": 5}])
        self.assertEqual(self.sql("SELECT COUNT(*) FROM dev.owner"), [{"COUNT(*)": 3}])
        self.assertEqual(self.sql("SELECT COUNT(owner_id) AS n, SUM(age) AS total, AVG(age) AS mean, "
                                  "MIN(age) AS youngest, MAX(name) AS last FROM dev.dog"),
                         [{"n": 4, "total": 31, "mean": 6.2, "youngest": 3, "last": "Riley"}])
        self.assertEqual(self.sql("SELECT owner_id, COUNT(*) AS dogs FROM dev.dog WHERE owner_id IS NOT NULL "
                                  "GROUP BY owner_id HAVING COUNT(*) > 1"), [{"owner_id": 1, "dogs": 2}])

    def test_joins(self):
        self.assertEqual(self.sql("SELECT d.name AS dog, o.name AS owner FROM dev.dog AS d "
                                  "INNER JOIN dev.owner AS o ON d.owner_id = o.id WHERE d.age > 4 ORDER BY d.id"),
                         [{"dog": "Penny", "owner": "Kyle"}, {"dog": "Riley", "owner": "Kyle"},
                          {"dog": "Kaylee", "owner": "Stephen"}])
        self.assertEqual(self.sql("SELECT d.id, o.name AS owner FROM dev.dog d LEFT JOIN dev.owner o "
                                  "ON d.owner_id = o.id WHERE d.age = 3 ORDER BY d.id"),
                         [{"id": 2, "owner": "Zach"}, {"id": 4, "owner": None}])
        self.assertEqual(self.sql("SELECT d.name AS dog, o.name AS owner, b.name AS breed FROM dev.dog d "
                                  "JOIN dev.owner o ON d.owner_id = o.id JOIN dev.breed b ON d.breed_id = b.id "
                                  "WHERE b.name = 'Mutt' ORDER BY d.name"),
                         [{"dog": "Penny", "owner": "Kyle", "breed": "Mutt"},
                          {"dog": "Riley", "owner": "Kyle", "breed": "Mutt"}])

    def test_system_tables_read_by_super_user(self):
        users = self.sql("SELECT username, active FROM system.hdb_user")
        self.assertIn({"username": harness.DEFAULT_USER, "active": True}, users)
        self.assertIsInstance(self.sql("SELECT * FROM system.hdb_nodes"), list)
        self.assertIn({"role": "super_user"}, self.sql("SELECT role FROM system.hdb_role"))

    # -- errors ----------------------------------------------------------------------------------

    def test_errors(self):
        self.assertEqual(self.sql("SELEC * FROM dev.dog", 400),
                         {"error": "Invalid SQL at: SELEC * FROM dev.dog" + INVALID_TAIL})
        assert_op(self.node, {"operation": "sql"}, 400,
                  {"error": "The 'sql' parameter is missing from the request body"})
        self.assertEqual(self.sql("SELECT * FROM dev.nosuch", 404), {"error": "Table 'dev.nosuch' does not exist"})
        self.assertEqual(self.sql("SELECT * FROM nodb.dog", 404), {"error": "database 'nodb' does not exist"})
        self.assertEqual(self.sql("SELECT shard FROM dev.dog", 500), {"error": "unknown column shard"})
        self.assertEqual(self.sql("DROP TABLE dev.dog", 400),
                         {"error": "Only SELECT, INSERT, UPDATE and DELETE statements are supported"})
        self.sql("SELECT * FROM dev.dog; DELETE FROM dev.dog", 400)
        self.assertEqual(self.sql("SELECT COUNT(*) AS n FROM dev.dog"), [{"n": 5}])  # nothing deleted

    # -- writes ----------------------------------------------------------------------------------

    def test_insert_answers_like_insert(self):
        t = self.fresh_table("sql_insert")
        got = self.sql("INSERT INTO dev.sql_insert (id, name, weight) VALUES (1, 'Rex', 30), (2, 'Ace', 12)")
        self.assertEqual(got, {"message": "inserted 2 of 2 records", "inserted_hashes": [1, 2], "skipped_hashes": []})
        # An existing key is skipped; a missing key is generated and reported as null.
        got = self.sql("INSERT INTO dev.sql_insert (id, name) VALUES (1, 'Dup')")
        self.assertEqual(got, {"message": "inserted 0 of 1 records", "inserted_hashes": [], "skipped_hashes": [1]})
        got = self.sql("INSERT INTO dev.sql_insert (name) VALUES ('NoKey')")
        self.assertEqual(got["inserted_hashes"], [None])
        rows = self.node.ok({"operation": "search_by_id", "database": DB, "table": t, "ids": [1, 2],
                             "get_attributes": ["id", "name", "weight"]})
        self.assertEqual(rows, [{"id": 1, "name": "Rex", "weight": 30}, {"id": 2, "name": "Ace", "weight": 12}])
        self.assertEqual(self.sql("SELECT COUNT(*) AS n FROM dev.sql_insert"), [{"n": 3}])
        # INSERT ... SELECT
        got = self.sql("INSERT INTO dev.sql_insert (id, name) SELECT id + 100, name FROM dev.owner")
        self.assertEqual(got["message"], "inserted 3 of 3 records")

    def test_update_answers_like_update(self):
        t = self.fresh_table("sql_update")
        self.node.ok({"operation": "insert", "database": DB, "table": t,
                      "records": [{"id": i, "name": "n%d" % i, "age": i, "keep": "k"} for i in range(1, 6)]})
        got = self.sql("UPDATE dev.sql_update SET name = 'old', age = age * 10 WHERE age >= 4")
        self.assertEqual(got, {"message": "updated 2 of 2 records", "update_hashes": [4, 5], "skipped_hashes": []})
        self.assertEqual(self.sql("SELECT id, name, age, keep FROM dev.sql_update WHERE id >= 4"),
                         [{"id": 4, "name": "old", "age": 40, "keep": "k"},
                          {"id": 5, "name": "old", "age": 50, "keep": "k"}])
        self.assertEqual(self.sql("UPDATE dev.sql_update SET name = 'x' WHERE id = 99"),
                         {"message": "updated 0 of 0 records", "update_hashes": [], "skipped_hashes": []})
        self.assertEqual(self.sql("UPDATE dev.sql_update SET id = 7 WHERE id = 1", 400),
                         {"error": "The primary key 'id' of a record cannot be changed"})

    def test_an_update_of_many_rows_keeps_objects_arrays_and_booleans(self):
        t = self.fresh_table("sql_kinds")
        records = [{"id": i, "good": i % 2 == 0, "tags": ["a", str(i)], "address": {"city": "C", "zip": i},
                    "note": '{"not": "an object"}', "n": 1} for i in range(1, 5)]
        self.node.ok({"operation": "insert", "database": DB, "table": t, "records": records})

        def stored():
            return {r["id"]: r for r in self.node.ok({"operation": "search_by_value", "database": DB, "table": t,
                                                       "search_attribute": "id", "search_value": "*"})}

        # Several rows: SQLite passes the new values through a temporary table (two passes).
        self.sql("UPDATE dev.sql_kinds SET good = good, tags = tags, address = json_set(address, '$.zip', 0), "
                 "note = note, n = n WHERE id IN (1, 2, 3)")
        self.sql("UPDATE dev.sql_kinds SET good = json('true') WHERE id BETWEEN 3 AND 4")
        rows = stored()
        for i in (1, 2, 3):
            self.assertEqual(rows[i]["tags"], ["a", str(i)], rows[i])
            self.assertEqual(rows[i]["address"], {"city": "C", "zip": 0}, rows[i])
            self.assertEqual(rows[i]["note"], '{"not": "an object"}', rows[i])  # a string stays a string
            self.assertEqual(rows[i]["n"], 1, rows[i])  # a number stays a number
        self.assertEqual([rows[i]["good"] for i in (1, 2, 3, 4)], [False, True, True, True])
        self.assertEqual(rows[4]["address"], {"city": "C", "zip": 4})

    def test_index_ranges_find_booleans_as_sqlite_compares_them(self):
        t = self.fresh_table("sql_bools")
        self.node.ok({"operation": "insert", "database": DB, "table": t,
                      "records": [{"id": 1, "good": True}, {"id": 2, "good": False}, {"id": 3, "good": 5},
                                  {"id": 4, "good": "yes"}, {"id": 5}]})
        # (Text is greater than any number in SQLite, so 'yes' > 0.)
        for where, expected in (("good > 0", [1, 3, 4]), ("good >= 1", [1, 3, 4]), ("good BETWEEN 0 AND 1", [1, 2]),
                                ("good > false", [1, 3, 4]), ("good BETWEEN 1 AND 9", [1, 3]), ("good < 1", [2]),
                                ("good > 'a'", [4])):
            # The same answer with the index (good) as without it (+good: SQLite scans).
            self.assertEqual(self.ids("SELECT id FROM dev.sql_bools WHERE %s ORDER BY id" % where), expected, where)
            self.assertEqual(self.ids("SELECT id FROM dev.sql_bools WHERE +%s ORDER BY id" % where), expected, where)

    def test_delete_answers_like_delete(self):
        t = self.fresh_table("sql_delete")
        self.node.ok({"operation": "insert", "database": DB, "table": t,
                      "records": [{"id": i, "even": i % 2 == 0} for i in range(1, 6)]})
        got = self.sql("DELETE FROM dev.sql_delete WHERE even = true")
        self.assertEqual(got, {"message": "2 of 2 records successfully deleted", "deleted_hashes": [2, 4],
                               "skipped_hashes": []})
        self.assertEqual(self.ids("SELECT id FROM dev.sql_delete ORDER BY id"), [1, 3, 5])
        got = self.sql("DELETE FROM dev.sql_delete WHERE id = 3")
        self.assertEqual(got["message"], "1 of 1 record successfully deleted")

    def test_write_is_atomic_per_statement(self):
        self.node.ok({"operation": "create_table", "database": DB, "table": "sql_typed", "primary_key": "id",
                      "attributes": [{"name": "id", "type": "Int"}, {"name": "n", "type": "Int"}]})
        status, body = self.node.op({"operation": "sql",
                                     "sql": "INSERT INTO dev.sql_typed (id, n) VALUES (1, 1), (2, 'two')"})
        self.assertEqual(status, 400, body)
        self.assertIn("must be an integer", body["error"])
        self.assertEqual(self.sql("SELECT COUNT(*) AS n FROM dev.sql_typed"), [{"n": 0}])

    def test_text_that_is_not_utf8_is_refused_and_the_table_stays_readable(self):
        table = self.fresh_table("sql_bytes")
        self.sql("INSERT INTO dev.sql_bytes (id, v) VALUES (1, 'ok')")
        for statement in ("INSERT INTO dev.sql_bytes (id, v) VALUES (2, x'ff')",
                          "INSERT INTO dev.sql_bytes (id, v) VALUES (2, CAST(x'c328' AS TEXT))",
                          "INSERT INTO dev.sql_bytes (id, v) VALUES (CAST(x'fffe' AS TEXT), 1)",
                          "UPDATE dev.sql_bytes SET v = randomblob(8) WHERE id = 1",
                          "UPDATE dev.sql_bytes SET v = char(55357) WHERE id = 1"):
            body = self.sql(statement, 400)
            self.assertIn("is not valid UTF-8 text", body["error"])
        self.assertEqual(self.sql("SELECT id, v FROM dev.sql_bytes"), [{"id": 1, "v": "ok"}])
        self.assertEqual(len(self.node.ok({"operation": "search_by_value", "database": DB, "table": table,
                                           "search_attribute": "id", "search_value": "*"})), 1)
        # Such text read back is made valid JSON: each bad byte becomes U+FFFD.
        status, raw = self.node.op({"operation": "sql", "sql": "SELECT CAST(x'41ff42' AS TEXT) AS t"}, raw=True)
        self.assertEqual(status, 200, raw)
        self.assertEqual(raw, '[{"t":"A\ufffdB"}]')

    def test_other_statement_kinds_are_refused(self):
        for statement in ("VACUUM", "REINDEX", "EXPLAIN SELECT * FROM dev.dog", "EXPLAIN QUERY PLAN SELECT 1",
                          "EXPLAIN UPDATE dev.dog SET name = 'x'"):
            body = self.sql(statement, 400)
            self.assertEqual(body["error"], "Only SELECT, INSERT, UPDATE and DELETE statements are supported")
        self.assertEqual(self.sql("SELECT name FROM dev.dog WHERE id = 1"), [{"name": "Penny"}])

    def test_fts3_tokenizer_pointers_are_refused(self):
        for statement in ("SELECT hex(fts3_tokenizer('porter')) AS p",
                          "SELECT FTS3_TOKENIZER('simple', x'4141414141414141') AS p"):
            body = self.sql(statement, 400)
            self.assertEqual(body["error"], "The SQL function 'fts3_tokenizer' is not allowed")

    def test_tables_that_differ_only_in_case_are_named_clearly(self):
        self.fresh_table("sql_case")
        self.fresh_table("SQL_CASE")
        body = self.sql("SELECT * FROM dev.sql_case AS SQL_CASE", 400)
        self.assertEqual(body["error"], "Tables 'SQL_CASE' and 'sql_case' of database 'dev' differ only in "
                                        "case, which SQL does not tell apart: a statement can name only one "
                                        "of them")
        self.assertEqual(self.sql("SELECT COUNT(*) AS n FROM dev.sql_case"), [{"n": 0}])

    # -- permissions -----------------------------------------------------------------------------

    def test_an_insert_that_copies_its_own_rows_needs_read(self):
        n = self.node
        table = self.fresh_table("sql_own")
        n.ok({"operation": "insert", "database": DB, "table": table, "records": [{"id": 1, "secret": "s1"}]})
        n.ok({"operation": "add_role", "role": "sql_inserter",
              "permission": {"super_user": False, DB: {"tables": {table: table_perm(insert=True)}}}})
        n.ok({"operation": "add_user", "username": "sql_ins", "password": "pw-123", "role": "sql_inserter",
              "active": True})
        user = ("sql_ins", "pw-123")
        denied = self.sql("INSERT INTO dev.sql_own (id) SELECT 'leak:' || secret FROM dev.sql_own", 403,
                          auth=user)
        self.assertEqual(denied["unauthorized_access"][0]["required_table_permissions"], ["read"])
        self.assertEqual(self.ids("SELECT id FROM dev.sql_own"), [1])
        self.assertEqual(self.sql("INSERT INTO dev.sql_own (id, secret) VALUES (2, 's2')", auth=user)
                         ["inserted_hashes"], [2])

    def test_permissions_per_table(self):
        n = self.node
        n.ok({"operation": "add_role", "role": "sql_reader",
              "permission": {"super_user": False, DB: {"tables": {"dog": table_perm(read=True),
                                                                  "owner": table_perm(insert=True)}}}})
        n.ok({"operation": "add_user", "username": "sql_user", "password": "pw-123", "role": "sql_reader",
              "active": True})
        user = ("sql_user", "pw-123")
        self.assertEqual(len(self.sql("SELECT id FROM dev.dog", auth=user)), 5)
        denied = self.sql("SELECT d.id FROM dev.dog d JOIN dev.owner o ON d.owner_id = o.id", 403, auth=user)
        self.assertEqual(denied["error"], "This operation is not authorized due to role restrictions and/or "
                                          "invalid database items")
        self.assertEqual(denied["unauthorized_access"],
                         [{"schema": DB, "table": "owner", "required_table_permissions": ["read"],
                           "required_attribute_permissions": []}])
        # COUNT(*) reads the table too.
        self.sql("SELECT COUNT(*) FROM dev.owner", 403, auth=user)
        denied = self.sql("SELECT * FROM dev.breed", 403, auth=user)
        self.assertEqual(denied["invalid_schema_items"], ["Table 'dev.breed' does not exist"])
        # A table that does not exist looks the same to a role (it learns nothing of what exists).
        denied = self.sql("SELECT * FROM dev.nosuch", 403, auth=user)
        self.assertEqual((denied["unauthorized_access"], denied["invalid_schema_items"]),
                         ([], ["Table 'dev.nosuch' does not exist"]))
        denied = self.sql("DELETE FROM dev.dog WHERE id = 1", 403, auth=user)
        self.assertEqual(denied["unauthorized_access"][0]["required_table_permissions"], ["delete"])
        self.sql("SELECT * FROM system.hdb_user", 403, auth=user)
        # Insert permission alone is enough for an INSERT.
        got = self.sql("INSERT INTO dev.owner (id, name) VALUES (50, 'Sam')", auth=user)
        self.assertEqual(got["inserted_hashes"], [50])
        self.assertEqual(self.sql("SELECT COUNT(*) AS n FROM dev.dog"), [{"n": 5}])


class SqlReplicationTest(cluster.ClusterTestCase):

    def test_sql_insert_replicates(self):
        a, b = self.start_repl_nodes(["A", "B"])
        self.create_table(a, DB, "sqlrep")
        self.add_node(b, a)
        self.wait_table(b, DB, "sqlrep")
        got = a.ok({"operation": "sql", "sql": "INSERT INTO dev.sqlrep (id, name) VALUES (1, 'one'), (2, 'two')"})
        self.assertEqual(got["inserted_hashes"], [1, 2])
        cluster.wait_record(b, DB, "sqlrep", 2)
        harness.wait_until(lambda: b.ok({"operation": "sql", "sql": "SELECT name FROM dev.sqlrep ORDER BY id"})
                           == [{"name": "one"}, {"name": "two"}], 15, "B to answer both rows by SQL")
        a.ok({"operation": "sql", "sql": "DELETE FROM dev.sqlrep WHERE id = 1"})
        harness.wait_until(lambda: b.ok({"operation": "sql", "sql": "SELECT COUNT(*) AS n FROM dev.sqlrep"})
                           == [{"n": 1}], 15, "the SQL delete to reach B")


if __name__ == "__main__":
    harness.main()
