"""Malformed requests (HarperDB's request envelope, body validation and authentication): each is refused and changes nothing.

The node runs with operationsApi.network.maxBodySize 1000 so the 413 path is cheap to hit.
"""

import base64
import http.client
import json
import socket
import unittest

import harness
from harness import ANY, Any, assert_op

DB, TABLE = "dev", "dog"
RECORDS = [{"id": i, "name": "dog%d" % i} for i in range(1, 6)]
MISSING_OPERATION = "Request body must include an 'operation' property."


def err(text):
    return {"error": text}


class BadInputTest(harness.NodeTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.node = cls.start_class_node(["--OPERATIONSAPI_NETWORK_MAXBODYSIZE", "1000"])
        cls.node.ok({"operation": "create_table", "database": DB, "table": TABLE, "primary_key": "id"})
        cls.node.ok({"operation": "insert", "database": DB, "table": TABLE, "records": RECORDS})

    def snapshot(self):
        rows = self.node.ok({"operation": "search_by_value", "database": DB, "table": TABLE,
                             "search_attribute": "id", "search_value": "*", "get_attributes": ["id", "name"]})
        tables = sorted(self.node.ok({"operation": "describe_database", "database": DB}))
        return rows, tables

    def setUp(self):
        super().setUp()
        self.before = self.snapshot()
        self.assertEqual(len(self.before[0]), len(RECORDS))

    def tearDown(self):
        self.assertTrue(self.node.running(), "the node must survive bad input")
        self.assertEqual(self.snapshot(), self.before, "bad input must not change data")
        super().tearDown()

    def post(self, data, headers):
        status, hdrs, body = self.node.request("POST", "/", data, headers)
        text = body.decode("utf-8", "replace")
        try:
            return status, hdrs, json.loads(text)
        except ValueError:
            return status, hdrs, text

    def admin_headers(self, content_type="application/json"):
        h = {"Authorization": self.node.auth_header()}
        if content_type:
            h["Content-Type"] = content_type
        return h

    # -- JSON and envelope -----------------------------------------------------------------------

    def test_malformed_json(self):
        for data in (b'{"operation": "insert", "table": "dog", ', b'{"operation": insert}', b"{,}", b"nul",
                     b'{"operation":"insert","database":"dev","table":"dog","records":[{"id":9}]}}',
                     b'\xff\xfe{"operation":"describe_all"}'):
            with self.subTest(data=data):
                status, _, body = self.post(data, self.admin_headers())
                self.assertEqual(status, 400, body)
                self.assertIsInstance(body, dict, body)
                self.assertIsInstance(body.get("error"), str, body)
        # JSON is parsed before authentication: 400 even without credentials.
        status, _, body = self.post(b'{"operation": ', {"Content-Type": "application/json"})
        self.assertEqual(status, 400, body)
        self.assertIn("error", body)

    def test_numbers_a_double_cannot_hold_are_refused(self):
        # Issue 8 item 1: 1e400 used to answer 200, and then every full scan of the table
        # answered 500 and every peer failed to apply the transaction.
        node = self.node
        node.ok({"operation": "add_role", "role": "inserter", "permission": {
            "super_user": False, "dev": {"tables": {"dog": {"read": True, "insert": True, "update": False,
                                                            "delete": False, "attribute_permissions": []}}}}})
        node.ok({"operation": "add_user", "username": "inserter", "password": "pw-9876", "role": "inserter",
                 "active": True})
        self.addCleanup(node.ok, {"operation": "drop_role", "id": "inserter"})
        self.addCleanup(node.ok, {"operation": "drop_user", "username": "inserter"})
        inserter = {"Content-Type": "application/json",
                    "Authorization": "Basic " + base64.b64encode(b"inserter:pw-9876").decode()}
        cases = [
            ("insert", b'[{"id":"x","v":1e400}]', "'records[0].v'"),
            ("insert", b'[{"id":"x","v":-1e400}]', "'records[0].v'"),
            ("insert", b'[{"id":"x","deep":{"a":[1,2,{"b":1E999}]}}]', "'records[0].deep.a[2].b'"),
            ("insert", b'[{"id":"x","v":1' + b"0" * 400 + b'}]', "'records[0].v'"),
            ("update", b'[{"id":1,"v":-2e308}]', "'records[0].v'"),
            ("upsert", b'[{"id":"y","ok":1},{"id":"z","v":[1.8e308]}]', "'records[1].v[0]'"),
        ]
        for op, records, field in cases:
            data = b'{"operation":"%s","database":"dev","table":"dog","records":%s}' % (op.encode(), records)
            for headers in (self.admin_headers(), inserter):
                with self.subTest(op=op, records=records[:40], user=headers["Authorization"][:12]):
                    status, _, body = self.post(data, headers)
                    self.assertEqual(status, 400, body)
                    self.assertIn(field, body.get("error", ""), body)
                    self.assertIn("out of range", body["error"], body)
        # Nothing was written (tearDown compares every row) and a full scan still answers.
        rows = node.ok({"operation": "search_by_value", "database": DB, "table": TABLE,
                        "search_attribute": "id", "search_value": "*", "get_attributes": ["*"]})
        self.assertEqual(sorted(r["id"] for r in rows), [r["id"] for r in RECORDS])
        # The largest finite doubles and numbers that underflow to zero are fine, and come back.
        big = b'{"operation":"upsert","database":"dev","table":"dog","records":[{"id":1,"name":"dog1",' \
              b'"max":1.7976931348623157e308,"tiny":5e-324,"under":1e-400,"r":0.8736451234567891}]}'
        status, _, body = self.post(big, self.admin_headers())
        self.assertEqual(status, 200, body)
        got = node.ok({"operation": "search_by_id", "database": DB, "table": TABLE, "ids": [1],
                       "get_attributes": ["max", "tiny", "under", "r"]})
        self.assertEqual(got, [{"max": 1.7976931348623157e308, "tiny": 5e-324, "under": 0, "r": 0.8736451234567891}])
        node.ok({"operation": "upsert", "database": DB, "table": TABLE, "records": [RECORDS[0]]})

    def test_empty_body(self):
        status, _, body = self.post(b"", self.admin_headers())
        self.assertEqual((status, body),
                         (400, err("Body cannot be empty when content-type is set to 'application/json'")))

    def test_missing_operation(self):
        assert_op(self.node, {"database": "dev"}, 400, err(MISSING_OPERATION))
        assert_op(self.node, [{"operation": "describe_all"}], 400, err(MISSING_OPERATION))
        status, body = self.node.op({})
        self.assertEqual(status, 400, body)
        self.assertEqual(body, {"statusCode": 400, "error": "Bad Request", "message": MISSING_OPERATION})

    def test_unknown_operation(self):
        assert_op(self.node, {"operation": "foo_bar"}, 400, err("Operation 'foo_bar' not found"))
        assert_op(self.node, {"operation": ""}, 400, err("Operation '' not found"))
        assert_op(self.node, {"operation": "CLUSTER_STATUS"}, 400, err("Operation 'CLUSTER_STATUS' not found"))
        # set_node is missing from HarperDB 4.7 but is an alias of add_node here (replication issue).
        assert_op(self.node, {"operation": "set_nodes"}, 400, err("Operation 'set_nodes' not found"))
        # Authentication is checked before the operation lookup.
        assert_op(self.node, {"operation": "foo_bar"}, 401, err("Must login"), auth=None)
        # A non-string operation is a client error, not a crash.
        for op in (5, None, ["insert"], {"a": 1}):
            with self.subTest(operation=op):
                status, body = self.node.op({"operation": op})
                self.assertEqual(status, 400, body)
                self.assertIn("error", body)

    def test_unknown_extra_fields_ignored(self):
        assert_op(self.node, {"operation": "describe_table", "database": DB, "table": TABLE, "colour": "red",
                              "nested": {"x": [1]}}, 200, {"name": TABLE})

    # -- content types ---------------------------------------------------------------------------

    def test_no_content_type(self):
        data = json.dumps({"operation": "insert", "database": DB, "table": TABLE, "records": [{"id": 99}]}).encode()
        status, _, body = self.post(data, self.admin_headers(None))
        self.assertEqual((status, body), (415, err("Unsupported Media Type: undefined")))

    def test_text_plain_not_parsed(self):
        data = json.dumps({"operation": "insert", "database": DB, "table": TABLE, "records": [{"id": 99}]}).encode()
        status, _, body = self.post(data, self.admin_headers("text/plain"))
        self.assertEqual(status, 400, body)
        self.assertEqual(body, {"statusCode": 400, "error": "Bad Request", "message": MISSING_OPERATION})

    def test_json_with_charset_accepted(self):
        status, body = self.node.op({"operation": "describe_table", "database": DB, "table": TABLE},
                                    content_type="application/json; charset=utf-8")
        self.assertEqual(status, 200, body)

    # -- size ------------------------------------------------------------------------------------

    def test_oversized_body(self):
        big = {"operation": "insert", "database": DB, "table": TABLE,
               "records": [{"id": 1000 + i, "pad": "x" * 50} for i in range(40)]}
        data = json.dumps(big).encode()
        self.assertGreater(len(data), 1000)
        status, _, body = self.post(data, self.admin_headers())
        self.assertEqual(status, 413, body)
        # A body just under the limit is fine.
        small = {"operation": "describe_table", "database": DB, "table": TABLE, "pad": ""}
        small["pad"] = "y" * (990 - len(json.dumps(small)))
        self.assertLessEqual(len(json.dumps(small)), 1000)
        assert_op(self.node, small, 200, {"name": TABLE})

    def test_oversized_chunked_body(self):
        # No Content-Length: the limit must still apply to a chunked body.
        sock = socket.create_connection((self.node.ip, self.node.port), timeout=10)
        try:
            head = ("POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                    "Authorization: %s\r\nTransfer-Encoding: chunked\r\n\r\n" % (self.node.ip, self.node.auth_header()))
            payload = json.dumps({"operation": "insert", "database": DB, "table": TABLE,
                                  "records": [{"id": 2000 + i, "pad": "z" * 60} for i in range(30)]}).encode()
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + 200]), payload[i:i + 200])
                              for i in range(0, len(payload), 200)) + b"0\r\n\r\n"
            sock.sendall(head.encode())
            try:
                sock.sendall(chunks)
            except OSError:
                pass  # the server may close early
            response = b""
            while b"\r\n" not in response:
                data = sock.recv(4096)
                if not data:
                    break
                response += data
        finally:
            sock.close()
        self.assertTrue(response.startswith(b"HTTP/1.1 413"), response[:200])

    # -- wrong field types -----------------------------------------------------------------------

    def test_wrong_field_types(self):
        n = self.node
        cases = [
            ({"operation": "insert", "database": DB, "table": TABLE, "records": "notarray"},
             "'records' must be an array"),
            ({"operation": "insert", "database": DB, "table": TABLE, "records": {"id": 50}},
             "'records' must be an array"),
            ({"operation": "insert", "database": DB, "table": TABLE, "records": [7]},
             "'records[0]' must be of type object"),
            ({"operation": "insert", "database": DB, "table": 5, "records": [{"id": 50}]},
             "Table 'dev.5' does not exist"),
            ({"operation": "update", "database": DB, "table": TABLE, "records": "x"}, "'records' must be an array"),
            ({"operation": "upsert", "database": DB, "table": TABLE, "records": 3}, "'records' must be an array"),
            ({"operation": "create_table", "database": DB, "table": 5, "primary_key": "id"},
             "'table' must be a string"),
            ({"operation": "create_database", "database": 5}, "'database' must be a string"),
            ({"operation": "delete", "database": DB, "table": TABLE, "ids": 1},
             "'hash_values' must be an array. 'ids' must be an array"),
            ({"operation": "search_by_id", "database": DB, "table": TABLE, "ids": 1, "get_attributes": ["id"]},
             "'hash_values' must be an array"),
        ]
        for body, message in cases:
            with self.subTest(body=body):
                assert_op(n, body, 400, err(message))
        # Type errors without a documented text: still 400 with an error.
        for body in ({"operation": "search_by_value", "database": DB, "table": TABLE, "search_attribute": "id",
                      "search_value": "*", "get_attributes": "id"},
                     {"operation": "search_by_value", "database": DB, "table": TABLE, "search_attribute": "id",
                      "search_value": "*", "get_attributes": ["id"], "limit": "ten"},
                     {"operation": "search_by_conditions", "database": DB, "table": TABLE, "get_attributes": ["id"],
                      "conditions": "name=1"},
                     {"operation": "search_by_id", "database": DB, "table": TABLE, "ids": [1],
                      "get_attributes": "name"},
                     {"operation": "add_user", "username": ["u"], "password": "x", "role": "super_user",
                      "active": True}):
            with self.subTest(body=body):
                status, got = n.op(body)
                self.assertEqual(status, 400, got)
                self.assertIsInstance(got, dict)
                self.assertIsInstance(got.get("error"), str, got)

    # -- credentials -----------------------------------------------------------------------------

    def test_bad_authorization_headers(self):
        body = json.dumps({"operation": "insert", "database": DB, "table": TABLE, "records": [{"id": 77}]}).encode()
        no_colon = "Basic " + base64.b64encode(b"adminpassword").decode()
        cases = [
            ("Basic", "Must login"),
            ("Basic ", "Must login"),
            ("Digest abc", "Must login"),
            (no_colon, "Login failed"),
            ("Basic " + base64.b64encode(b"admin:wrong").decode(), "Login failed"),
            ("Basic " + base64.b64encode(b"nosuchuser:password").decode(), "Login failed"),
            ("Basic !!!not-base64!!!", "Invalid character"),
            ("Bearer nonsense", "invalid token"),
        ]
        for header, message in cases:
            with self.subTest(header=header):
                status, _, got = self.post(body, {"Content-Type": "application/json", "Authorization": header})
                self.assertEqual((status, got), (401, err(message)))

    def test_keep_alive_after_errors(self):
        # Several requests, some refused, on one persistent connection.
        conn = http.client.HTTPConnection(self.node.ip, self.node.port, timeout=10)
        try:
            h = self.admin_headers()
            for body, status in ((b'{"operation":"describe_all"}', 200), (b'{"operation": ', 400),
                                 (b'{"operation":"foo_bar"}', 400), (b'{"operation":"describe_all"}', 200),
                                 (b"", 400), (b'{"operation":"user_info"}', 200)):
                conn.request("POST", "/", body, h)
                resp = conn.getresponse()
                data = resp.read()
                self.assertEqual(resp.status, status, (body, data))
                self.assertIsInstance(json.loads(data), (dict, list))
        finally:
            conn.close()

    def test_garbage_and_truncated_requests(self):
        def raw(data, read=True):
            sock = socket.create_connection((self.node.ip, self.node.port), timeout=10)
            try:
                sock.sendall(data)
                if not read:
                    return b""
                out = b""
                while True:
                    try:
                        chunk = sock.recv(4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    out += chunk
                    if b"\r\n\r\n" in out:
                        break
                return out
            finally:
                sock.close()

        out = raw(b"GARBAGE\r\n\r\n")
        self.assertTrue(out == b"" or out.startswith(b"HTTP/1.1 400"), out[:200])
        # A body shorter than its Content-Length, then the client goes away.
        raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n"
            b"Authorization: " + self.node.auth_header().encode() + b"\r\n\r\n{\"operation\":\"insert\"",
            read=False)
        # A Content-Length above the limit is refused before the body arrives.
        out = raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000\r\n"
                  b"Authorization: " + self.node.auth_header().encode() + b"\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:200])
        # The node still answers.
        harness.wait_until(lambda: self.node.request("GET", "/health")[0] == 200, 5, "health after bad requests")

    def test_bodies_however_they_arrive(self):
        # The server parses a body that came with its header from the buffer and reads the rest
        # from the socket otherwise: the same answers whichever way the bytes arrive, pipelined
        # requests answered in order, and the body limit still applies to a body that came
        # with its header.
        body = json.dumps({"operation": "search_by_id", "database": DB, "table": TABLE, "ids": [2],
                           "get_attributes": ["id", "name"]}).encode()
        auth = self.node.auth_header()

        def head(length, extra=""):
            return ("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: %s\r\n"
                    "Content-Length: %d\r\n%s\r\n" % (auth, length, extra)).encode()

        def read_response(sock, buf):
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                self.assertTrue(chunk, "connection closed before a response: %r" % buf)
                buf += chunk
            header, buf = buf.split(b"\r\n\r\n", 1)
            lines = header.decode().split("\r\n")
            status = int(lines[0].split()[1])
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            while len(buf) < length:
                chunk = sock.recv(65536)
                self.assertTrue(chunk, "connection closed inside a body")
                buf += chunk
            return status, buf[:length], buf[length:]

        expected = [{"id": 2, "name": "dog2"}]
        for name, parts, answers in (
                ("with the header", [head(len(body)) + body], 1),
                ("split inside the body", [head(len(body)) + body[:9], body[9:]], 1),
                ("two pipelined", [head(len(body)) + body + head(len(body)) + body], 2)):
            with self.subTest(name):
                with socket.create_connection((self.node.ip, self.node.port), timeout=10) as sock:
                    for part in parts:
                        sock.sendall(part)
                    rest = b""
                    for _ in range(answers):
                        status, got, rest = read_response(sock, rest)
                        self.assertEqual((status, json.loads(got)), (200, expected))
                    self.assertEqual(rest, b"")
        with self.subTest("after 100 Continue"):
            # The client waits for the interim answer, so the body surely comes after the header.
            with socket.create_connection((self.node.ip, self.node.port), timeout=10) as sock:
                sock.sendall(head(len(body), "Expect: 100-continue\r\n"))
                status, _, rest = read_response(sock, b"")
                self.assertEqual((status, rest), (100, b""))
                sock.sendall(body)
                status, got, rest = read_response(sock, b"")
                self.assertEqual((status, json.loads(got), rest), (200, expected, b""))
        with self.subTest("chunked, over the limit, with the header"):
            chunk = b'{"operation":"describe_all","pad":"' + b"x" * 1200 + b'"}'
            data = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: " +
                    auth.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n" +
                    b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n")
            with socket.create_connection((self.node.ip, self.node.port), timeout=10) as sock:
                sock.sendall(data)
                status, _, _ = read_response(sock, b"")
                self.assertEqual(status, 413)

    def test_other_methods(self):
        status, hdrs, body = self.node.request("PUT", "/", b'{"operation":"describe_all"}',
                                               {"Content-Type": "application/json",
                                                "Authorization": self.node.auth_header()})
        self.assertEqual((status, body), (404, b"Not found\n"))


if __name__ == "__main__":
    harness.main()
