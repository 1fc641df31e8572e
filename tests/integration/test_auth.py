"""Roles, users, tokens and permission checks (HarperDB's authentication, permission errors, users and roles).

Where HarperDB answers 500 for a client error (alter_user validation), meshdb answers 400
with the same text.
"""

import json
import unittest

import harness
from harness import ANY, Any, assert_op, table_perm

NOT_AUTHORIZED = "This operation is not authorized due to role restrictions and/or invalid database items"


def err(text):
    return {"error": text}


def restricted(internal_name):
    return {"error": NOT_AUTHORIZED,
            "unauthorized_access": ["Operation '%s' is restricted to 'super_user' roles" % internal_name],
            "invalid_schema_items": []}


def table_denied(table, perms, schema="dev"):
    return {"error": NOT_AUTHORIZED,
            "unauthorized_access": [{"schema": schema, "table": table, "required_table_permissions": perms,
                                     "required_attribute_permissions": []}],
            "invalid_schema_items": []}


DOGS = [{"id": 1, "name": "Rex"}, {"id": 2, "name": "Ace"}]


class AuthTest(harness.NodeTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.node = cls.start_class_node()
        n = cls.node
        for t in ("dog", "cat", "victim"):
            n.ok({"operation": "create_table", "database": "dev", "table": t, "primary_key": "id"})
        n.ok({"operation": "insert", "database": "dev", "table": "dog", "records": DOGS})
        n.ok({"operation": "insert", "database": "dev", "table": "cat", "records": [{"id": 1, "name": "Tom"}]})

    def add_user(self, username, role, password="pw-123", active=True):
        assert_op(self.node, {"operation": "add_user", "username": username, "password": password, "role": role,
                              "active": active}, 200, {"message": "%s successfully added" % username})
        return (username, password)

    def add_role(self, role, permission):
        return assert_op(self.node, {"operation": "add_role", "role": role, "permission": permission}, 200,
                         {"role": role, "id": role, "permission": permission})

    def dogs(self):
        return self.node.ok({"operation": "search_by_value", "database": "dev", "table": "dog",
                             "search_attribute": "id", "search_value": "*", "get_attributes": ["id", "name"]})

    # -- roles -----------------------------------------------------------------------------------

    def test_roles(self):
        n = self.node
        roles = {r["role"]: r for r in n.ok({"operation": "list_roles"})}
        self.assertEqual(roles["super_user"]["permission"], {"super_user": True})
        self.assertEqual(roles["cluster_user"]["permission"], {"cluster_user": True})

        perm = {"super_user": False, "dev": {"tables": {"dog": table_perm(read=True)}}}
        r = self.add_role("developer", perm)
        harness.assert_subset({"__createdtime__": Any(int, float), "__updatedtime__": Any(int, float)}, r)
        assert_op(n, {"operation": "add_role", "role": "developer", "permission": perm}, 409,
                  err("A role with name 'developer' already exists"))
        self.assertIn("developer", [x["role"] for x in n.ok({"operation": "list_roles"})])

        invalid = [
            ({"permission": perm}, "Role can't be blank"),
            ({"role": "r1"}, "Permission can't be blank"),
            ({"role": "r2", "permission": {"super_user": True, "dev": {"tables": {"dog": table_perm(read=True)}}}},
             "Roles with 'super_user' set to true cannot have other permissions set."),
            ({"role": "r3", "permission": {"dev": {"tables": {"nosuch": table_perm(read=True)}}}},
             "Table 'dev.nosuch' does not exist"),
            ({"role": "r4", "permission": {"super_user": "yes"}}, "Value for 'super_user' permission must be a boolean"),
        ]
        for fields, message in invalid:
            with self.subTest(fields=fields):
                body = assert_op(n, dict({"operation": "add_role"}, **fields), 400,
                                 {"error": "Errors in the role permissions JSON provided",
                                  "main_permissions": ANY})
                self.assertIn(message, body["main_permissions"])
        names = [x["role"] for x in n.ok({"operation": "list_roles"})]
        for bad in ("r1", "r2", "r3", "r4"):
            self.assertNotIn(bad, names)

        # alter_role replaces the permission; list_roles shows it.
        new_perm = {"super_user": False, "dev": {"tables": {"dog": table_perm(read=True, insert=True)}}}
        assert_op(n, {"operation": "alter_role", "id": "developer", "role": "developer", "permission": new_perm}, 200)
        roles = {x["role"]: x for x in n.ok({"operation": "list_roles"})}
        self.assertEqual(roles["developer"]["permission"], new_perm)

        # drop_role removes it.
        self.add_role("temporary", {"super_user": False})
        assert_op(n, {"operation": "drop_role", "id": "temporary"}, 200)
        self.assertNotIn("temporary", [x["role"] for x in n.ok({"operation": "list_roles"})])

    # -- users -----------------------------------------------------------------------------------

    def test_add_user(self):
        n = self.node
        self.add_role("u_role", {"super_user": False, "dev": {"tables": {"dog": table_perm(read=True)}}})
        self.add_user("testuser", "u_role")
        assert_op(n, {"operation": "add_user", "username": "testuser", "password": "x", "role": "u_role",
                      "active": True}, 409, err("User testuser already exists"))
        full = {"operation": "add_user", "username": "other", "password": "x", "role": "u_role", "active": True}
        cases = [
            ("username", "Username can't be blank"),
            ("password", "Password can't be blank"),
            ("role", "Role can't be blank"),
            ("active", "Active can't be blank"),
        ]
        for missing, message in cases:
            with self.subTest(missing=missing):
                body = {k: v for k, v in full.items() if k != missing}
                assert_op(n, body, 400, err(message))
        assert_op(n, dict(full, active="yes"), 400, err("Active must be a boolean"))
        assert_op(n, dict(full, role="nosuchrole"), 404, err("nosuchrole role not found"))
        names = [u["username"] for u in n.ok({"operation": "list_users"})]
        self.assertIn("testuser", names)
        self.assertNotIn("other", names)
        # The new user can log in; the wrong password cannot.
        assert_op(n, {"operation": "user_info"}, 200, {"username": "testuser", "active": True},
                  auth=("testuser", "pw-123"))
        assert_op(n, {"operation": "user_info"}, 401, err("Login failed"), auth=("testuser", "pw-1234"))

    def test_list_users_and_user_info(self):
        n = self.node
        users = n.ok({"operation": "list_users"})
        admin = [u for u in users if u["username"] == "admin"]
        self.assertEqual(len(admin), 1)
        for u in users:
            # Secrets, and (as HarperDB) not the hash function or the row's timestamps.
            for field in ("password", "hash", "refresh_token", "hash_function", "__createdtime__",
                          "__updatedtime__"):
                self.assertNotIn(field, u, "list_users must not return %s" % field)
        self.assertIsInstance(admin[0]["role"], dict, "role is expanded to the role object")
        self.assertEqual(admin[0]["role"]["permission"].get("super_user"), True)
        self.assertEqual(admin[0]["role"]["role"], "super_user")
        info = assert_op(n, {"operation": "user_info"}, 200,
                         {"username": "admin", "active": True,
                          "role": {"permission": {"super_user": True}, "role": "super_user", "id": ANY}})
        for field in ("password", "hash", "refresh_token", "hash_function", "__createdtime__",
                      "__updatedtime__"):
            self.assertNotIn(field, info)

    def test_alter_and_drop_user(self):
        n = self.node
        self.add_role("a_role", {"super_user": False, "dev": {"tables": {"dog": table_perm(read=True)}}})
        self.add_user("alterme", "a_role", password="first")
        assert_op(n, {"operation": "alter_user", "username": "alterme", "password": "second"}, 200,
                  {"message": "updated 1 of 1 records", "update_hashes": ["alterme"], "skipped_hashes": []})
        assert_op(n, {"operation": "user_info"}, 401, err("Login failed"), auth=("alterme", "first"))
        assert_op(n, {"operation": "user_info"}, 200, {"username": "alterme"}, auth=("alterme", "second"))
        assert_op(n, {"operation": "alter_user", "username": "nosuchuser", "password": "x"}, 200,
                  {"message": "updated 0 of 1 records", "update_hashes": [], "skipped_hashes": ["nosuchuser"]})
        cases = [
            ({"username": "alterme"}, 400, "nothing to update, must supply active, role or password to update"),
            ({"password": "x"}, 400, "username is required"),
            ({"username": "alterme", "active": "no"}, 400, "active must be true or false"),
            ({"username": "alterme", "password": ""}, 400, "password cannot be an empty string"),
            ({"username": "alterme", "role": "nosuchrole"}, 404, "Update failed.  Requested 'nosuchrole' role not found."),
        ]
        for fields, status, message in cases:
            with self.subTest(fields=fields):
                assert_op(n, dict({"operation": "alter_user"}, **fields), status, err(message))
        # Still the second password after the failed changes.
        assert_op(n, {"operation": "user_info"}, 200, {"username": "alterme"}, auth=("alterme", "second"))
        # Role change to super_user takes effect.
        assert_op(n, {"operation": "alter_user", "username": "alterme", "role": "super_user"}, 200,
                  {"update_hashes": ["alterme"]})
        assert_op(n, {"operation": "list_roles"}, 200, auth=("alterme", "second"))
        # An inactive user cannot log in.
        assert_op(n, {"operation": "alter_user", "username": "alterme", "active": False}, 200)
        assert_op(n, {"operation": "user_info"}, 401, err("Cannot complete request: User is inactive"),
                  auth=("alterme", "second"))
        assert_op(n, {"operation": "alter_user", "username": "alterme", "active": True}, 200)
        assert_op(n, {"operation": "user_info"}, 200, auth=("alterme", "second"))

        assert_op(n, {"operation": "drop_user", "username": "alterme"}, 200,
                  {"message": "alterme successfully deleted"})
        assert_op(n, {"operation": "user_info"}, 401, err("Login failed"), auth=("alterme", "second"))
        assert_op(n, {"operation": "drop_user", "username": "nosuchuser"}, 404, err("User nosuchuser does not exist"))
        assert_op(n, {"operation": "drop_user"}, 400, err("Username can't be blank"))
        self.assertNotIn("alterme", [u["username"] for u in n.ok({"operation": "list_users"})])

    # -- tokens ----------------------------------------------------------------------------------

    def test_tokens(self):
        n = self.node
        self.add_role("t_role", {"super_user": False, "dev": {"tables": {"dog": table_perm(read=True)}}})
        self.add_user("tokenuser", "t_role", password="tokpw")
        tokens = assert_op(n, {"operation": "create_authentication_tokens", "username": "tokenuser",
                               "password": "tokpw"}, 200, {"operation_token": Any(str), "refresh_token": Any(str)},
                           auth=None)
        op_token, refresh = tokens["operation_token"], tokens["refresh_token"]
        self.assertEqual(op_token.count("."), 2, "a JWT")
        assert_op(n, {"operation": "user_info"}, 200, {"username": "tokenuser"}, auth=op_token)
        self.assertEqual(len(assert_op(n, {"operation": "search_by_id", "database": "dev", "table": "dog",
                                           "ids": [1], "get_attributes": ["id"]}, 200, auth=op_token)), 1)

        refreshed = assert_op(n, {"operation": "refresh_operation_token"}, 200, {"operation_token": Any(str)},
                              auth=refresh)
        assert_op(n, {"operation": "user_info"}, 200, {"username": "tokenuser"}, auth=refreshed["operation_token"])

        assert_op(n, {"operation": "user_info"}, 401, err("invalid token"), auth="garbage")
        assert_op(n, {"operation": "user_info"}, 401, err("invalid token"), auth=op_token[:-4] + "AAAA")
        assert_op(n, {"operation": "user_info"}, 401, err("invalid token"), auth=refresh)  # refresh != operation
        assert_op(n, {"operation": "refresh_operation_token"}, 400, err("'refresh_token' is required"),
                  auth=op_token)
        assert_op(n, {"operation": "refresh_operation_token"}, 401, err("invalid token"), auth="garbage.x.y")

        for body in ({"username": "tokenuser", "password": "wrong"}, {"username": "nobody", "password": "x"},
                     {"username": "tokenuser"}):
            with self.subTest(body=body):
                assert_op(n, dict({"operation": "create_authentication_tokens"}, **body), 401,
                          err("invalid credentials"), auth=None)
        assert_op(n, {"operation": "create_authentication_tokens"}, 401, err("Must login"), auth=None)

        # Tokens for the Basic-auth caller when no body credentials are given.
        admin_tokens = assert_op(n, {"operation": "create_authentication_tokens"}, 200,
                                 {"operation_token": Any(str), "refresh_token": Any(str)})
        assert_op(n, {"operation": "user_info"}, 200, {"username": "admin"}, auth=admin_tokens["operation_token"])
        # A refresh_token field in the body, with any valid auth.
        assert_op(n, {"operation": "refresh_operation_token", "refresh_token": admin_tokens["refresh_token"]}, 200,
                  {"operation_token": Any(str)})

        # A new call invalidates the previous refresh token.
        second = n.ok({"operation": "create_authentication_tokens", "username": "tokenuser", "password": "tokpw"})
        assert_op(n, {"operation": "refresh_operation_token"}, 401, err("invalid token"), auth=refresh)
        assert_op(n, {"operation": "refresh_operation_token"}, 200, {"operation_token": Any(str)},
                  auth=second["refresh_token"])

    # -- permissions of a non-super user -------------------------------------------------------

    def test_super_user_operations_forbidden(self):
        n = self.node
        self.add_role("reader_role", {"super_user": False, "dev": {"tables": {"dog": table_perm(read=True)}}})
        reader = self.add_user("reader", "reader_role")
        assert_op(n, {"operation": "create_database", "database": "readerdb"}, 403, restricted("createSchema"),
                  auth=reader)
        status, body = n.op({"operation": "create_database", "database": "readerdb"}, auth=reader)
        self.assertEqual(body, restricted("createSchema"), "exact 403 body")
        cases = [
            ({"operation": "create_schema", "schema": "readerdb"}, "createSchema"),
            ({"operation": "create_table", "database": "dev", "table": "rt", "primary_key": "id"}, "createTable"),
            ({"operation": "drop_table", "database": "dev", "table": "victim"}, "dropTable"),
            ({"operation": "drop_database", "database": "dev"}, "dropSchema"),
            ({"operation": "add_user", "username": "x", "password": "x", "role": "super_user", "active": True},
             "addUser"),
            ({"operation": "alter_user", "username": "admin", "password": "hacked"}, "alterUser"),
            ({"operation": "drop_user", "username": "nobody"}, "dropUser"),
            ({"operation": "list_users"}, "listUsersExternal"),
            ({"operation": "add_role", "role": "x", "permission": {"super_user": True}}, "addRole"),
            ({"operation": "list_roles"}, "listRoles"),
            ({"operation": "get_configuration"}, "getConfiguration"),
            ({"operation": "set_configuration", "logging_level": "trace"}, "setConfiguration"),
            ({"operation": "system_information"}, "systemInformation"),
            ({"operation": "read_log"}, "readLog"),
        ]
        for body, name in cases:
            with self.subTest(operation=body["operation"]):
                assert_op(n, body, 403, restricted(name), auth=reader)
        # Nothing changed.
        self.assertNotIn("readerdb", n.ok({"operation": "describe_all"}))
        self.assertIn("victim", n.ok({"operation": "describe_database", "database": "dev"}))
        assert_op(n, {"operation": "user_info"}, 200, {"username": "admin"})
        self.assertEqual(n.ok({"operation": "get_configuration"})["logging"]["level"], "info")

    def test_table_permissions(self):
        n = self.node
        self.add_role("dogreader", {"super_user": False, "dev": {"tables": {"dog": table_perm(read=True)}}})
        reader = self.add_user("dogreader_user", "dogreader")
        before = self.dogs()
        # Allowed read.
        assert_op(n, {"operation": "search_by_id", "database": "dev", "table": "dog", "ids": [1, 2],
                      "get_attributes": ["id", "name"]}, 200, DOGS, auth=reader)
        assert_op(n, {"operation": "search_by_value", "database": "dev", "table": "dog", "search_attribute": "name",
                      "search_value": "Rex", "get_attributes": ["id"]}, 200, [{"id": 1}], auth=reader)
        assert_op(n, {"operation": "search_by_conditions", "database": "dev", "table": "dog", "get_attributes": ["id"],
                      "conditions": [{"search_attribute": "name", "search_type": "equals", "search_value": "Ace"}]},
                  200, [{"id": 2}], auth=reader)
        # Denied writes: the object form.
        assert_op(n, {"operation": "insert", "database": "dev", "table": "dog", "records": [{"id": 3}]}, 403,
                  table_denied("dog", ["insert"]), auth=reader)
        assert_op(n, {"operation": "update", "database": "dev", "table": "dog",
                      "records": [{"id": 1, "name": "X"}]}, 403, table_denied("dog", ["update"]), auth=reader)
        assert_op(n, {"operation": "delete", "database": "dev", "table": "dog", "ids": [1]}, 403,
                  table_denied("dog", ["delete"]), auth=reader)
        # A table that is not in the role.
        assert_op(n, {"operation": "search_by_id", "database": "dev", "table": "cat", "ids": [1],
                      "get_attributes": ["id"]}, 403,
                  {"error": NOT_AUTHORIZED, "unauthorized_access": [],
                   "invalid_schema_items": ["Table 'dev.cat' does not exist"]}, auth=reader)
        # describe_database system is not for non-super users.
        assert_op(n, {"operation": "describe_database", "database": "system"}, 403,
                  {"error": NOT_AUTHORIZED,
                   "unauthorized_access": ["Your role does not have permission to view database metadata for 'system'"]},
                  auth=reader)
        # describe_all is filtered to what the role can see.
        visible = assert_op(n, {"operation": "describe_all"}, 200, auth=reader)
        self.assertIn("dog", visible.get("dev", {}))
        self.assertNotIn("cat", visible.get("dev", {}))
        # user_info and tokens work for a non-super user.
        assert_op(n, {"operation": "user_info"}, 200, {"username": "dogreader_user"}, auth=reader)
        assert_op(n, {"operation": "create_authentication_tokens", "username": "dogreader_user",
                      "password": "pw-123"}, 200, {"operation_token": Any(str)}, auth=None)
        self.assertEqual(self.dogs(), before, "denied writes must not change data")

    def test_upsert_needs_insert_and_update(self):
        n = self.node
        self.add_role("dogwriter", {"super_user": False,
                                    "dev": {"tables": {"dog": table_perm(read=True, insert=True)}}})
        writer = self.add_user("dogwriter_user", "dogwriter")
        before = self.dogs()
        assert_op(n, {"operation": "upsert", "database": "dev", "table": "dog", "records": [{"id": 1, "name": "Z"}]},
                  403, table_denied("dog", ["update"]), auth=writer)
        assert_op(n, {"operation": "update", "database": "dev", "table": "dog", "records": [{"id": 1, "name": "Z"}]},
                  403, table_denied("dog", ["update"]), auth=writer)
        self.assertEqual(self.dogs(), before)
        # create_attribute needs only insert permission.
        assert_op(n, {"operation": "create_attribute", "database": "dev", "table": "dog", "attribute": "collar"},
                  200, {"message": "attribute 'dev.dog.collar' successfully created."}, auth=writer)
        assert_op(n, {"operation": "insert", "database": "dev", "table": "dog", "records": [{"id": 100}]}, 200,
                  {"inserted_hashes": [100]}, auth=writer)
        n.ok({"operation": "delete", "database": "dev", "table": "dog", "ids": [100]})


    def test_attribute_permissions_hide_and_refuse_what_the_role_does_not_grant(self):
        n = self.node
        n.ok({"operation": "create_table", "database": "dev", "table": "pet", "primary_key": "id"})
        n.ok({"operation": "insert", "database": "dev", "table": "pet",
              "records": [{"id": 1, "name": "Rex", "age": 4, "city": "Boston"}]})
        # name: everything; age: listed with nothing; city: not listed, so nothing either.
        self.add_role("petattrs", {"super_user": False, "dev": {"tables": {"pet": {
            "read": True, "insert": True, "update": True, "delete": False, "attribute_permissions": [
                {"attribute_name": "name", "read": True, "insert": True, "update": True},
                {"attribute_name": "age", "read": False, "insert": False, "update": False}]}}}})
        user = self.add_user("petattrs_user", "petattrs")

        def denied(attribute, permission):
            return {"error": NOT_AUTHORIZED, "invalid_schema_items": [],
                    "unauthorized_access": [{"schema": "dev", "table": "pet", "required_table_permissions": [],
                                             "required_attribute_permissions": [
                                                 {"attribute_name": attribute,
                                                  "required_permissions": [permission]}]}]}

        def stored():
            return n.ok({"operation": "search_by_value", "database": "dev", "table": "pet",
                         "search_attribute": "id", "search_value": "*", "get_attributes": ["*"]})

        before = stored()
        # Reads: "*" leaves out what cannot be read; naming it is refused.
        rows = assert_op(n, {"operation": "search_by_id", "database": "dev", "table": "pet", "ids": [1],
                             "get_attributes": ["*"]}, 200, auth=user)
        self.assertEqual(sorted(rows[0]), ["__createdtime__", "__updatedtime__", "id", "name"])
        assert_op(n, {"operation": "search_by_id", "database": "dev", "table": "pet", "ids": [1],
                      "get_attributes": ["id", "age"]}, 403, denied("age", "read"), auth=user)
        assert_op(n, {"operation": "search_by_value", "database": "dev", "table": "pet", "search_attribute": "city",
                      "search_value": "Boston", "get_attributes": ["id"]}, 403, denied("city", "read"), auth=user)
        assert_op(n, {"operation": "search_by_conditions", "database": "dev", "table": "pet", "get_attributes": ["id"],
                      "conditions": [{"operator": "or", "conditions": [
                          {"search_attribute": "age", "search_type": "greater_than", "search_value": 1}]}]},
                  403, denied("age", "read"), auth=user)
        assert_op(n, {"operation": "search_by_conditions", "database": "dev", "table": "pet", "get_attributes": ["id"],
                      "sort": {"attribute": "name", "next": {"attribute": "city"}},
                      "conditions": [{"search_attribute": "name", "search_type": "equals", "search_value": "Rex"}]},
                  403, denied("city", "read"), auth=user)
        # Writes of an attribute without the permission change nothing.
        assert_op(n, {"operation": "update", "database": "dev", "table": "pet", "records": [{"id": 1, "age": 99}]},
                  403, denied("age", "update"), auth=user)
        assert_op(n, {"operation": "insert", "database": "dev", "table": "pet",
                      "records": [{"id": 2, "name": "Pet", "city": "Oslo"}]}, 403, denied("city", "insert"), auth=user)
        self.assertEqual(stored(), before)
        assert_op(n, {"operation": "update", "database": "dev", "table": "pet", "records": [{"id": 1, "name": "Max"}]},
                  200, {"update_hashes": [1]}, auth=user)
        # SQL: the same rules.
        status, rows = n.op({"operation": "sql", "sql": "SELECT * FROM dev.pet"}, auth=user)
        self.assertEqual((status, sorted(rows[0])), (200, ["__createdtime__", "__updatedtime__", "id", "name"]))
        for statement in ("SELECT age FROM dev.pet", "SELECT id FROM dev.pet WHERE city = 'Boston'",
                          "UPDATE dev.pet SET city = 'X' WHERE id = 1",
                          "INSERT INTO dev.pet (id, age) VALUES (3, 1)"):
            status, body = n.op({"operation": "sql", "sql": statement}, auth=user)
            self.assertIn(status, (400, 403, 500), (statement, body))
        # A bulk load checks each batch.
        job_id = assert_op(n, {"operation": "csv_data_load", "database": "dev", "table": "pet",
                               "data": "id,name,age\n4,Bo,2\n"}, 200, auth=user)["job_id"]
        job = harness.wait_until(
            lambda: next((j for j in n.ok({"operation": "get_job", "id": job_id}) if j["status"] != "IN_PROGRESS"),
                         None), 30, "the load to end")
        self.assertEqual(job["status"], "ERROR", job)
        self.assertIn('"attribute_name":"age"', job["message"])
        after = stored()
        self.assertEqual([(r["id"], r["name"], r["age"], r["city"]) for r in after], [(1, "Max", 4, "Boston")])
        # The super user still sees every attribute.
        self.assertEqual(sorted(after[0]), ["__createdtime__", "__updatedtime__", "age", "city", "id", "name"])


class TokenExpiryTest(harness.NodeTestCase):

    def test_operation_token_expires(self):
        node = self.start_node(["--AUTHENTICATION_OPERATIONTOKENTIMEOUT", "3s"])
        tokens = node.ok({"operation": "create_authentication_tokens", "username": "admin", "password": "password"})
        assert_op(node, {"operation": "user_info"}, 200, {"username": "admin"}, auth=tokens["operation_token"])

        def expired():
            return node.op({"operation": "user_info"}, auth=tokens["operation_token"]) == (401, err("invalid token"))

        harness.wait_until(expired, 10, "the 3s operation token to expire")
        # The refresh token (30d) still gives a fresh operation token.
        fresh = assert_op(node, {"operation": "refresh_operation_token"}, 200, {"operation_token": Any(str)},
                          auth=tokens["refresh_token"])
        assert_op(node, {"operation": "user_info"}, 200, {"username": "admin"}, auth=fresh["operation_token"])


class HashFunctionTest(harness.NodeTestCase):
    """authentication.hashFunction: md5, sha256 and argon2id each hash new passwords, and a row
    keeps verifying with the function that made it after the setting changes."""

    def login(self, node, username, password):
        return node.op({"operation": "user_info"}, auth=(username, password))[0]

    def test_each_hash_function_and_switching_locks_nobody_out(self):
        node = self.start_node(["--AUTHENTICATION_HASHFUNCTION", "argon2id"])
        # The admin created at first start was hashed with argon2id and logs in.
        self.assertEqual(self.login(node, "admin", "password"), 200)
        node.ok({"operation": "add_user", "role": "super_user", "username": "argon",
                 "password": "argon-pw", "active": True})
        self.assertEqual(self.login(node, "argon", "argon-pw"), 200)
        self.assertEqual(self.login(node, "argon", "argon-pX"), 401)

        node.stop()
        node.start(["--AUTHENTICATION_HASHFUNCTION", "md5"])
        self.assertEqual(self.login(node, "argon", "argon-pw"), 200)  # still argon2id
        node.ok({"operation": "add_user", "role": "super_user", "username": "md", "password": "md-pw",
                 "active": True})
        node.ok({"operation": "alter_user", "username": "argon", "password": "now-md5"})
        self.assertEqual(self.login(node, "md", "md-pw"), 200)
        self.assertEqual(self.login(node, "argon", "now-md5"), 200)
        self.assertEqual(self.login(node, "argon", "argon-pw"), 401)

        node.stop()
        node.start()  # the default, sha256
        for username, password in (("admin", "password"), ("argon", "now-md5"), ("md", "md-pw")):
            self.assertEqual(self.login(node, username, password), 200, username)
        node.ok({"operation": "add_user", "role": "super_user", "username": "sha", "password": "sha-pw",
                 "active": True})
        self.assertEqual(self.login(node, "sha", "sha-pw"), 200)
        self.assertEqual(self.login(node, "sha", "md-pw"), 401)
        # No response carries a password or its hash.
        users = node.ok({"operation": "list_users"})
        self.assertNotIn("$argon2id$", json.dumps(users))
        for user in users:
            self.assertNotIn("password", user)

    def test_an_unknown_hash_function_stops_the_node(self):
        node = self.start_node(["--AUTHENTICATION_HASHFUNCTION", "bcrypt"], wait=False)
        harness.wait_until(lambda: not node.running(), 20, "the node to refuse bcrypt")
        self.assertNotEqual(node.proc.returncode, 0)
        self.assertIn("authentication.hashFunction", node.output_text())


if __name__ == "__main__":
    harness.main()
