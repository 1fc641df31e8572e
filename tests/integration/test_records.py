"""Records: insert, update, upsert, delete and the searches (as HarperDB answers them), system tables.

Where HarperDB answers 500 for a client error (search validation), meshdb answers 400 with the
same text.
"""

import json
import threading
import time
import unittest

import harness
from harness import ANY, Any, assert_op

ADMIN_PASSWORD = "Pl41n-T3xt-Secret"
DB = "dev"


def err(text):
    return {"error": text}


# Search data set: ids 1..7 and "abc" (numbers sort before strings).
SEARCH_RECORDS = [
    {"id": 1, "name": "Penny", "age": 5, "breed": "Mutt"},
    {"id": 2, "name": "Peter", "age": 12},
    {"id": 3, "name": "Harper", "age": 7},
    {"id": 4, "name": "Oscar", "age": 5},
    {"id": 5, "name": "Carla", "age": 30},
    {"id": 6, "age": 1},
    {"id": 7, "name": None, "age": 20},
    {"id": "abc", "name": "Zed", "age": 3},
]
ALL_IDS = [1, 2, 3, 4, 5, 6, 7, "abc"]


def id_key(v):
    return (isinstance(v, str), v)


class RecordsTest(harness.NodeTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.node = cls.start_class_node(password=ADMIN_PASSWORD)
        n = cls.node
        n.ok({"operation": "create_table", "database": DB, "table": "search", "primary_key": "id"})
        n.ok({"operation": "insert", "database": DB, "table": "search", "records": SEARCH_RECORDS})

    def table(self, name=None, primary_key="id"):
        name = name or self._testMethodName.replace("test_", "t_")
        self.node.ok({"operation": "create_table", "database": DB, "table": name, "primary_key": primary_key})
        return name

    def get(self, table, ids, attrs=("*",)):
        return self.node.ok({"operation": "search_by_id", "database": DB, "table": table, "ids": list(ids),
                             "get_attributes": list(attrs)})

    def sbv(self, attribute, value, attrs=("id",), table="search", **extra):
        body = {"operation": "search_by_value", "database": DB, "table": table, "search_attribute": attribute,
                "search_value": value}
        if attrs is not None:
            body["get_attributes"] = list(attrs)
        body.update(extra)
        return self.node.ok(body)

    def ids_of(self, rows):
        return [r["id"] for r in rows]

    # -- insert ----------------------------------------------------------------------------------

    def test_insert_and_skip_duplicates(self):
        n, t = self.node, self.table()
        assert_op(n, {"operation": "insert", "database": DB, "table": t,
                      "records": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]},
                  200, {"message": "inserted 3 of 3 records", "inserted_hashes": [1, 2, 3], "skipped_hashes": []})
        assert_op(n, {"operation": "insert", "database": DB, "table": t,
                      "records": [{"id": 2, "name": "CHANGED"}, {"id": 4, "name": "d"}]},
                  200, {"message": "inserted 1 of 2 records", "inserted_hashes": [4], "skipped_hashes": [2]})
        self.assertEqual(self.get(t, [2], ["id", "name"]), [{"id": 2, "name": "b"}], "insert must not overwrite")
        # A duplicate inside one batch: the first wins.
        assert_op(n, {"operation": "insert", "database": DB, "table": t,
                      "records": [{"id": 5, "a": 1}, {"id": 5, "a": 2}]},
                  200, {"message": "inserted 1 of 2 records", "inserted_hashes": [5], "skipped_hashes": [5]})
        self.assertEqual(self.get(t, [5], ["id", "a"]), [{"id": 5, "a": 1}])
        assert_op(n, {"operation": "insert", "database": DB, "table": t, "records": []}, 200,
                  {"message": "inserted 0 of 0 records"})
        self.assertEqual(harness.count_records(n, DB, t), 5)

    def test_insert_auto_ids(self):
        n, t = self.node, self.table()
        assert_op(n, {"operation": "insert", "database": DB, "table": t,
                      "records": [{"name": "no id"}, {"id": None, "name": "null id"}, {"id": "", "name": "empty"}]},
                  200, {"message": "inserted 3 of 3 records", "inserted_hashes": [None, None, None],
                        "skipped_hashes": []})
        rows = self.sbv("id", "*", ["id", "name"], table=t)
        self.assertEqual(sorted(r["name"] for r in rows), ["empty", "no id", "null id"])
        ids = [r["id"] for r in rows]
        self.assertEqual(len(set(map(json.dumps, ids))), 3, "generated ids must be distinct: %r" % ids)
        for i in ids:
            self.assertNotIn(i, (None, ""), "an id must have been generated")

    def test_insert_values_and_new_attributes(self):
        n, t = self.node, self.table()
        rec = {"id": "a/b", "obj": {"x": [1, 2, {"y": None}]}, "arr": ["s", 1.5, True], "flag": False,
               "big": 12345678901234, "neg": -3.25, "uni": "h\u00e9llo \u2603"}
        n.ok({"operation": "insert", "database": DB, "table": t, "records": [rec]})
        got = self.get(t, ["a/b"], list(rec))
        self.assertEqual(got, [rec])
        attrs = [a["attribute"] for a in n.ok({"operation": "describe_table", "database": DB,
                                               "table": t})["attributes"]]
        self.assertEqual(attrs, ["id", "__createdtime__", "__updatedtime__", "obj", "arr", "flag", "big", "neg",
                                 "uni"])
        n.ok({"operation": "insert", "database": DB, "table": t, "records": [{"id": 2, "later": 1, "obj": 2}]})
        attrs = [a["attribute"] for a in n.ok({"operation": "describe_table", "database": DB,
                                               "table": t})["attributes"]]
        self.assertEqual(attrs[-1], "later")
        self.assertEqual(attrs.count("obj"), 1)

    def test_timestamps(self):
        n, t = self.node, self.table()
        before_ms = time.time() * 1000
        n.ok({"operation": "insert", "database": DB, "table": t,
              "records": [{"id": 1, "v": 1}, {"id": 2, "v": 2, "__createdtime__": 5}]})
        after_ms = time.time() * 1000
        rows = self.get(t, [1, 2])
        self.assertEqual(list(rows[0])[:3], ["id", "__createdtime__", "__updatedtime__"])
        c1, u1 = rows[0]["__createdtime__"], rows[0]["__updatedtime__"]
        self.assertIsInstance(c1, (int, float))
        self.assertGreaterEqual(c1, before_ms - 5000)
        self.assertLessEqual(c1, after_ms + 5000)
        self.assertEqual(c1, u1, "insert sets both timestamps to the same value")
        self.assertEqual(rows[1]["__createdtime__"], c1, "one request shares one timestamp; user value overwritten")
        wait_ms = c1 + 2
        harness.wait_until(lambda: time.time() * 1000 > wait_ms, 2, "the clock to pass the insert time")
        n.ok({"operation": "update", "database": DB, "table": t, "records": [{"id": 1, "v": 10}]})
        r = self.get(t, [1])[0]
        self.assertEqual(r["__createdtime__"], c1, "update keeps __createdtime__")
        self.assertGreater(r["__updatedtime__"], u1, "update bumps __updatedtime__")
        n.ok({"operation": "upsert", "database": DB, "table": t, "records": [{"id": 2, "v": 20}]})
        r2 = self.get(t, [2])[0]
        self.assertEqual(r2["__createdtime__"], c1)
        self.assertGreater(r2["__updatedtime__"], u1)

    def test_insert_errors(self):
        n, t = self.node, self.table()
        n.ok({"operation": "insert", "database": DB, "table": t, "records": [{"id": 1}]})
        cases = [
            ({"table": t}, "'records' is required"),
            ({"table": t, "records": {"id": 2}}, "'records' must be an array"),
            ({"records": [{"id": 2}]}, "'table' is required"),
            ({"table": "nosuch", "records": [{"id": 2}]}, "Table 'dev.nosuch' does not exist"),
            ({"table": 5, "records": [{"id": 2}]}, "Table 'dev.5' does not exist"),
            ({"table": t, "records": [5]}, "'records[0]' must be of type object"),
        ]
        for fields, text in cases:
            with self.subTest(fields=fields):
                assert_op(n, dict({"operation": "insert", "database": DB}, **fields), 400, err(text))
        assert_op(n, {"operation": "insert", "database": "nodb", "table": t, "records": [{"id": 2}]}, 400,
                  err("database 'nodb' does not exist"))
        self.assertEqual(harness.count_records(n, DB, t), 1)

    def test_concurrent_inserts_of_same_ids(self):
        # Eight clients insert the same 50 ids at once: each id is inserted exactly once, and
        # the stored record is the one from the request that reported inserting it.
        n, t = self.node, self.table()
        results, errors = {}, []

        def worker(k):
            try:
                results[k] = n.ok({"operation": "insert", "database": DB, "table": t,
                                   "records": [{"id": i, "writer": k} for i in range(50)]})
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 8)
        writer_of = {}
        for k, r in results.items():
            for h in r["inserted_hashes"]:
                self.assertNotIn(h, writer_of, "id %r reported inserted twice" % h)
                writer_of[h] = k
        self.assertEqual(sorted(writer_of), list(range(50)), "every id inserted exactly once")
        self.assertEqual(sum(len(r["skipped_hashes"]) for r in results.values()), 7 * 50)
        rows = self.sbv("id", "*", ["id", "writer"], table=t)
        self.assertEqual({r["id"]: r["writer"] for r in rows}, writer_of)

    def test_typed_table(self):
        n = self.node
        assert_op(n, {"operation": "create_table", "database": DB, "table": "typed", "primary_key": "id",
                      "attributes": [{"name": "id", "type": "Int"}, {"name": "name", "type": "String"}]}, 200,
                  {"message": "table 'dev.typed' successfully created."})
        d = n.ok({"operation": "describe_table", "database": DB, "table": "typed"})
        self.assertIs(d["schema_defined"], True)
        self.assertEqual(d["attributes"][0], {"attribute": "id", "type": "Int", "is_primary_key": True})
        names = [a["attribute"] for a in d["attributes"]]
        self.assertNotIn("__createdtime__", names, "typed tables get no timestamps")
        self.assertIn("name", names)
        assert_op(n, {"operation": "insert", "database": DB, "table": "typed", "records": [{"id": "notint"}]}, 400,
                  err('Value "notint" in property id must be an integer (from -2147483648 to 2147483647)'))
        assert_op(n, {"operation": "insert", "database": DB, "table": "typed", "records": [{"id": 5, "name": "x"}]},
                  200, {"message": "inserted 1 of 1 records", "inserted_hashes": [5]})
        row = self.get("typed", [5])[0]
        self.assertEqual((row["id"], row["name"]), (5, "x"))
        self.assertNotIn("__createdtime__", row)
        self.assertEqual(harness.count_records(n, DB, "typed"), 1)

    def test_large_batch(self):
        n, t = self.node, self.table()
        records = [{"id": i, "group": i % 7, "text": "row %d" % i} for i in range(3000)]
        body = assert_op(n, {"operation": "insert", "database": DB, "table": t, "records": records}, 200,
                         {"message": "inserted 3000 of 3000 records", "skipped_hashes": []})
        self.assertEqual(body["inserted_hashes"], list(range(3000)))
        self.assertEqual(harness.count_records(n, DB, t), 3000)
        self.assertEqual(sorted(self.ids_of(self.sbv("group", 3, table=t))), list(range(3, 3000, 7)))
        page = self.sbv("id", "*", ["id"], table=t, limit=10, offset=2990)
        self.assertEqual(self.ids_of(page), list(range(2990, 3000)))
        assert_op(n, {"operation": "delete", "database": DB, "table": t, "ids": list(range(0, 3000, 2))}, 200,
                  {"message": "1500 of 1500 records successfully deleted"})
        self.assertEqual(harness.count_records(n, DB, t), 1500)
        self.assertEqual(n.ok({"operation": "describe_table", "database": DB, "table": t})["record_count"], 1500)

    # -- update / upsert -------------------------------------------------------------------------

    def test_update(self):
        n, t = self.node, self.table()
        n.ok({"operation": "insert", "database": DB, "table": t,
              "records": [{"id": 1, "name": "Rex", "breed": "lab"}, {"id": 2, "name": "Ace"}]})
        assert_op(n, {"operation": "update", "database": DB, "table": t,
                      "records": [{"id": 1, "age": 5, "name": "Rexy"}, {"id": 99, "name": "ghost"}]},
                  200, {"message": "updated 1 of 2 records", "update_hashes": [1], "skipped_hashes": [99]})
        self.assertEqual(self.get(t, [1], ["id", "name", "breed", "age"]),
                         [{"id": 1, "name": "Rexy", "breed": "lab", "age": 5}])
        self.assertEqual(self.get(t, [99], ["id"]), [], "update must not create records")
        assert_op(n, {"operation": "update", "database": DB, "table": t, "records": [{"name": "no id"}]}, 400,
                  err("a valid hash attribute must be provided with update record, check log for more info"))
        assert_op(n, {"operation": "update", "database": DB, "table": "nosuch", "records": [{"id": 1}]}, 400,
                  err("Table 'dev.nosuch' does not exist"))
        assert_op(n, {"operation": "update", "database": DB, "table": t}, 400, err("'records' is required"))
        # Setting an attribute to null keeps the record.
        n.ok({"operation": "update", "database": DB, "table": t, "records": [{"id": 2, "name": None}]})
        self.assertEqual(self.get(t, [2], ["id", "name"]), [{"id": 2, "name": None}])

    def test_upsert(self):
        n, t = self.node, self.table()
        n.ok({"operation": "insert", "database": DB, "table": t,
              "records": [{"id": 2, "name": "Ace", "breed": "pug"}]})
        assert_op(n, {"operation": "upsert", "database": DB, "table": t,
                      "records": [{"id": 2, "age": 9}, {"id": 50, "name": "new"}, {"name": "auto"}]},
                  200, {"message": "upserted 3 of 3 records", "upserted_hashes": [2, 50, None]})
        self.assertEqual(self.get(t, [2], ["id", "name", "breed", "age"]),
                         [{"id": 2, "name": "Ace", "breed": "pug", "age": 9}], "upsert merges")
        self.assertEqual(self.get(t, [50], ["id", "name"]), [{"id": 50, "name": "new"}])
        self.assertEqual(harness.count_records(n, DB, t), 3)
        assert_op(n, {"operation": "upsert", "database": DB, "table": "nosuch", "records": [{"id": 1}]}, 400,
                  err("Table 'dev.nosuch' does not exist"))

    # -- delete ----------------------------------------------------------------------------------

    def test_delete(self):
        n, t = self.node, self.table()
        n.ok({"operation": "insert", "database": DB, "table": t,
              "records": [{"id": i, "v": i} for i in range(1, 6)]})
        assert_op(n, {"operation": "delete", "database": DB, "table": t, "ids": [1, 2]}, 200,
                  {"message": "2 of 2 records successfully deleted", "deleted_hashes": [1, 2], "skipped_hashes": []})
        assert_op(n, {"operation": "delete", "database": DB, "table": t, "ids": [3]}, 200,
                  {"message": "1 of 1 record successfully deleted", "deleted_hashes": [3], "skipped_hashes": []})
        # Non-existent ids are still reported as deleted (§5).
        assert_op(n, {"operation": "delete", "database": DB, "table": t, "ids": [777]}, 200,
                  {"message": "1 of 1 record successfully deleted", "deleted_hashes": [777]})
        assert_op(n, {"operation": "delete", "database": DB, "table": t, "hash_values": [4]}, 200,
                  {"message": "1 of 1 record successfully deleted", "deleted_hashes": [4]})
        self.assertEqual(self.get(t, [1, 2, 3, 4, 5], ["id"]), [{"id": 5}])
        assert_op(n, {"operation": "delete", "database": DB, "table": t}, 400, err("'hash_values' is required"))
        assert_op(n, {"operation": "delete", "database": DB, "table": t, "ids": 5}, 400,
                  err("'hash_values' must be an array. 'ids' must be an array"))
        assert_op(n, {"operation": "delete", "database": DB, "table": "nosuch", "ids": [5]}, 404)
        assert_op(n, {"operation": "delete", "database": "nodb", "table": t, "ids": [5]}, 404)
        self.assertEqual(harness.count_records(n, DB, t), 1)
        # A deleted id can be inserted again.
        assert_op(n, {"operation": "insert", "database": DB, "table": t, "records": [{"id": 1, "v": "again"}]},
                  200, {"inserted_hashes": [1]})

    # -- search_by_id ----------------------------------------------------------------------------

    def test_search_by_id(self):
        n = self.node
        rows = n.ok({"operation": "search_by_id", "database": DB, "table": "search", "ids": [3, 1, 999, 2],
                     "get_attributes": ["id", "name"]})
        self.assertEqual(rows, [{"id": 3, "name": "Harper"}, {"id": 1, "name": "Penny"}, {"id": 2, "name": "Peter"}])
        self.assertEqual(self.get("search", ["1"], ["id"]), [], "types must match: '1' does not find 1")
        self.assertEqual(self.get("search", ["abc"], ["id", "name"]), [{"id": "abc", "name": "Zed"}])
        star = self.get("search", [6, 1])
        self.assertEqual(list(star[0])[:3], ["id", "__createdtime__", "__updatedtime__"])
        self.assertEqual(set(star[0]), {"id", "__createdtime__", "__updatedtime__", "name", "age", "breed"})
        self.assertIsNone(star[0]["name"], "['*'] fills absent attributes with null")
        self.assertIsNone(star[0]["breed"])
        self.assertEqual((star[1]["id"], star[1]["name"], star[1]["breed"]), (1, "Penny", "Mutt"))
        # search_by_hash with hash_values.
        assert_op(n, {"operation": "search_by_hash", "database": DB, "table": "search", "hash_values": [4],
                      "get_attributes": ["name"]}, 200, [{"name": "Oscar"}])
        assert_op(n, {"operation": "search_by_id", "schema": DB, "table": "search", "ids": [4],
                      "get_attributes": ["id", "age"]}, 200, [{"id": 4, "age": 5}])

    def test_search_by_id_errors(self):
        n = self.node
        base = {"operation": "search_by_id", "database": DB, "table": "search"}
        assert_op(n, dict(base, ids=[1]), 400, err("'get_attributes' is required"))
        assert_op(n, dict(base, get_attributes=["id"]), 400, err("'hash_values' is required"))
        assert_op(n, dict(base, ids=1, get_attributes=["id"]), 400, err("'hash_values' must be an array"))
        assert_op(n, dict(base, table="nosuch", ids=[1], get_attributes=["id"]), 404)
        assert_op(n, dict(base, database="nodb", ids=[1], get_attributes=["id"]), 404)

    # -- search_by_value -------------------------------------------------------------------------

    def test_search_by_value_wildcards(self):
        self.assertEqual(self.ids_of(self.sbv("name", "*")), ALL_IDS,
                         "'*' matches every record (also null/missing), in primary-key order")
        self.assertEqual(sorted(self.ids_of(self.sbv("name", "Pe*"))), [1, 2])
        self.assertEqual(sorted(self.ids_of(self.sbv("name", "*er"))), [2, 3])
        self.assertEqual(sorted(self.ids_of(self.sbv("name", "*ar*"))), [3, 4, 5])
        self.assertEqual(self.ids_of(self.sbv("name", "Oscar")), [4])
        self.assertEqual(self.sbv("name", "%"), [], "'%' is not a wildcard")
        self.assertEqual(self.sbv("name", "oscar"), [], "matching is case-sensitive")
        self.assertEqual(self.ids_of(self.sbv("id", "*")), ALL_IDS)

    def test_search_by_value_numbers_and_projection(self):
        self.assertEqual(sorted(self.ids_of(self.sbv("age", 5))), [1, 4])
        self.assertEqual(self.ids_of(self.sbv("age", 30)), [5])
        self.assertEqual(sorted(r["name"] for r in self.sbv("age", 5, ["name"])), ["Oscar", "Penny"])
        rows = self.sbv("name", "Oscar", ["age", "name"])
        self.assertEqual(rows, [{"age": 5, "name": "Oscar"}])
        star = self.sbv("name", "Oscar", ["*"])
        self.assertEqual(set(star[0]), {"id", "__createdtime__", "__updatedtime__", "name", "age", "breed"})
        # Without get_attributes the stored record is returned.
        raw = self.sbv("name", "Penny", None)
        self.assertEqual(len(raw), 1)
        harness.assert_subset({"id": 1, "name": "Penny", "age": 5, "breed": "Mutt"}, raw[0])
        # attribute / value aliases.
        rows = self.node.ok({"operation": "search_by_value", "database": DB, "table": "search", "attribute": "name",
                             "value": "Carla", "get_attributes": ["id"]})
        self.assertEqual(rows, [{"id": 5}])

    def test_search_by_value_limit_offset(self):
        self.assertEqual(self.ids_of(self.sbv("id", "*", limit=2)), [1, 2])
        self.assertEqual(self.ids_of(self.sbv("id", "*", limit=2, offset=1)), [2, 3])
        self.assertEqual(self.ids_of(self.sbv("id", "*", offset=6)), [7, "abc"])
        self.assertEqual(self.sbv("id", "*", offset=100), [])

    def test_search_by_value_errors(self):
        n = self.node
        base = {"operation": "search_by_value", "database": DB, "table": "search", "get_attributes": ["id"]}
        assert_op(n, dict(base, search_value="x"), 400, err("'attribute' is required"))
        assert_op(n, dict(base, search_attribute="name"), 400, err("'value' is required"))
        assert_op(n, dict(base, search_attribute="nosuchattr", search_value="x"), 400,
                  err("unknown attribute 'nosuchattr'"))
        assert_op(n, dict(base, table="nosuch", search_attribute="id", search_value="*"), 404)
        assert_op(n, dict(base, database="nodb", search_attribute="id", search_value="*"), 404)

    # -- search_by_conditions --------------------------------------------------------------------

    def sbc(self, conditions, operator=None, attrs=("id",), **extra):
        body = {"operation": "search_by_conditions", "database": DB, "table": "search", "conditions": conditions,
                "get_attributes": list(attrs)}
        if operator:
            body["operator"] = operator
        body.update(extra)
        return self.node.ok(body)

    def cond_ids(self, conditions, operator=None, **extra):
        return sorted(self.ids_of(self.sbc(conditions, operator, **extra)), key=id_key)

    def test_search_by_conditions_comparators(self):
        def c(attr, comparator, value):
            return [{"search_attribute": attr, "search_type": comparator, "search_value": value}]

        expectations = [
            (c("name", "equals", "Oscar"), [4]),
            (c("name", "contains", "ar"), [3, 4, 5]),
            (c("name", "starts_with", "Pe"), [1, 2]),
            (c("name", "ends_with", "er"), [2, 3]),
            (c("age", "greater_than", 12), [5, 7]),
            (c("age", "greater_than_equal", 12), [2, 5, 7]),
            (c("age", "less_than", 5), [6, "abc"]),
            (c("age", "less_than_equal", 5), [1, 4, 6, "abc"]),
            (c("age", "between", [5, 12]), [1, 2, 3, 4]),
            (c("age", "not_equal", 5), [2, 3, 5, 6, 7, "abc"]),
            (c("id", "equals", "abc"), ["abc"]),
            (c("id", "greater_than", 5), [6, 7]),
        ]
        for conditions, expected in expectations:
            with self.subTest(condition=conditions[0]):
                self.assertEqual(self.cond_ids(conditions), expected)
        # The attribute / comparator / value aliases.
        self.assertEqual(self.cond_ids([{"attribute": "age", "comparator": "equals", "value": 7}]), [3])

    def test_search_by_conditions_and_or_nested(self):
        self.assertEqual(self.cond_ids([
            {"search_attribute": "age", "search_type": "greater_than", "search_value": 4},
            {"search_attribute": "name", "search_type": "starts_with", "search_value": "P"}], "and"), [1, 2])
        self.assertEqual(self.cond_ids([
            {"search_attribute": "age", "search_type": "greater_than", "search_value": 4},
            {"search_attribute": "name", "search_type": "starts_with", "search_value": "P"}]), [1, 2],
            "operator defaults to and")
        self.assertEqual(self.cond_ids([
            {"search_attribute": "name", "search_type": "equals", "search_value": "Oscar"},
            {"search_attribute": "age", "search_type": "greater_than", "search_value": 25}], "or"), [4, 5])
        self.assertEqual(self.cond_ids([
            {"search_attribute": "age", "search_type": "greater_than_equal", "search_value": 5},
            {"operator": "or", "conditions": [
                {"search_attribute": "name", "search_type": "starts_with", "search_value": "P"},
                {"search_attribute": "name", "search_type": "equals", "search_value": "Carla"}]}], "and"),
            [1, 2, 5])
        self.assertEqual(self.cond_ids([
            {"search_attribute": "name", "search_type": "equals", "search_value": "Zed"},
            {"operator": "and", "conditions": [
                {"search_attribute": "age", "search_type": "greater_than", "search_value": 6},
                {"search_attribute": "age", "search_type": "less_than", "search_value": 8}]}], "or"),
            [3, "abc"])
        self.assertEqual(self.cond_ids([
            {"search_attribute": "name", "search_type": "equals", "search_value": "Oscar"},
            {"search_attribute": "age", "search_type": "equals", "search_value": 30}], "and"), [])

    def test_search_by_conditions_sort_limit_offset(self):
        gt0 = [{"search_attribute": "age", "search_type": "greater_than", "search_value": 5}]
        rows = self.sbc(gt0, attrs=("id", "age"), sort={"attribute": "age"})
        self.assertEqual(rows, [{"id": 3, "age": 7}, {"id": 2, "age": 12}, {"id": 7, "age": 20},
                                {"id": 5, "age": 30}])
        rows = self.sbc(gt0, sort={"attribute": "age", "descending": True})
        self.assertEqual(self.ids_of(rows), [5, 7, 2, 3])
        rows = self.sbc(gt0, sort={"attribute": "age", "descending": True}, limit=2)
        self.assertEqual(self.ids_of(rows), [5, 7])
        rows = self.sbc(gt0, sort={"attribute": "age", "descending": True}, limit=2, offset=1)
        self.assertEqual(self.ids_of(rows), [7, 2])
        rows = self.sbc(gt0, sort={"attribute": "age"}, offset=3)
        self.assertEqual(self.ids_of(rows), [5])
        # Without sort, limit still bounds the count.
        self.assertEqual(len(self.sbc(gt0, limit=3)), 3)
        rows = self.sbc(gt0, attrs=("*",), sort={"attribute": "age"}, limit=1)
        self.assertEqual(rows[0]["name"], "Harper")
        self.assertEqual(list(rows[0])[:3], ["id", "__createdtime__", "__updatedtime__"])

    def test_search_by_conditions_errors(self):
        n = self.node
        base = {"operation": "search_by_conditions", "database": DB, "table": "search", "get_attributes": ["id"]}
        assert_op(n, dict(base, conditions=[{"search_attribute": "age", "search_type": "bogus",
                                             "search_value": 1}]), 400,
                  err('Unknown query comparator "bogus"'))
        status, body = n.op(base)  # missing conditions: HarperDB's 500 is a crash; a 400 with an error here
        self.assertEqual(status, 400, body)
        self.assertIsInstance(body.get("error") if isinstance(body, dict) else None, str, body)
        assert_op(n, dict(base, table="nosuch", conditions=[{"search_attribute": "id", "search_type": "equals",
                                                             "search_value": 1}]), 400,
                  err("Table nosuch not found"))

    # -- system tables ---------------------------------------------------------------------------

    def test_system_tables(self):
        n = self.node
        users = n.ok({"operation": "search_by_value", "database": "system", "table": "hdb_user",
                      "search_attribute": "username", "search_value": "*", "get_attributes": ["*"]})
        admin = [u for u in users if u.get("username") == "admin"]
        self.assertEqual(len(admin), 1, users)
        self.assertIs(admin[0].get("active"), True)
        self.assertTrue(admin[0].get("role"), "admin has a role")
        text = json.dumps(users)
        self.assertNotIn(ADMIN_PASSWORD, text, "no plaintext password in hdb_user")
        # Not even the password's hash is returned (docs/security.md "Secrets in the system database").
        for secret in ("password", "hash", "refresh_token"):
            self.assertNotIn(secret, admin[0])
        assert_op(n, {"operation": "search_by_value", "database": "system", "table": "hdb_user",
                      "search_attribute": "password", "search_value": "*"}, 400, err("unknown attribute 'password'"))
        rows = n.ok({"operation": "sql", "sql": "SELECT * FROM system.hdb_user WHERE username = 'admin'"})
        self.assertNotIn("password", rows[0])

        roles = n.ok({"operation": "search_by_value", "database": "system", "table": "hdb_role",
                      "search_attribute": "id", "search_value": "*", "get_attributes": ["*"]})
        self.assertTrue(any((r.get("permission") or {}).get("super_user") is True for r in roles), roles)
        # The admin's role row is a super_user role.
        by_id = {r["id"]: r for r in roles}
        role_ref = admin[0]["role"]
        role_id = role_ref.get("id") if isinstance(role_ref, dict) else role_ref
        self.assertIn(role_id, by_id)
        self.assertIs(by_id[role_id]["permission"].get("super_user"), True)

        # A lone node's hdb_nodes holds only its own row (written by replication at start, as
        # HarperDB does once replication.hostname is set); hdb_certificate its generated node
        # certificate and CA (docs/security.md).
        expected_rows = {"hdb_nodes": [{"name": n.ip, "url": "wss://%s:9933" % n.ip, "replicates": True}],
                         "hdb_certificate": [{"name": n.ip}, {"name": "meshdb-Certificate-Authority-" + n.ip}]}
        for table, rows in expected_rows.items():
            with self.subTest(table=table):
                assert_op(n, {"operation": "search_by_value", "database": "system", "table": table,
                              "search_attribute": "name", "search_value": "*",
                              "get_attributes": ["name", "url", "replicates"]}, 200, rows)
                desc = n.ok({"operation": "describe_table", "database": "system", "table": table})
                self.assertEqual(desc["hash_attribute"], "name")


if __name__ == "__main__":
    harness.main()
