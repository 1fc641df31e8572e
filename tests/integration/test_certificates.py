"""system.hdb_certificate and add_certificate / list_certificates / remove_certificate
(HARPERDB-OPS.md §3), on real meshdb processes.

Node A is the node under test; node B only lends its generated certificates and keys (a
certificate whose key A does not hold, and a foreign CA). Every response, and A's log, is
checked for private key material.
"""

import json
import os
import re
import stat
import unittest

import harness
from harness import Any, assert_op

MISSING_ALL = "'name' is required. 'certificate' is required. 'is_authority' is required"
NO_KEY = "A suitable private key was not found for this certificate"
NO_START_LINE = "error:0480006C:PEM routines::no start line"
NOT_AUTHORIZED = "This operation is not authorized due to role restrictions and/or invalid database items"
# node's X509Certificate validity text: "Dec  3 13:52:34 2026 GMT".
TIME_TEXT = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT$")


def read(path):
    with open(path) as f:
        return f.read()


def key_body_lines(pem):
    """The base64 lines of a PEM key: any of them in a response or log is a leak."""
    return [l for l in pem.splitlines() if l and not l.startswith("-----")]


class CertificatesTest(harness.NodeTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a = cls.start_class_node()
        cls.b = cls.start_class_node()
        cls.a_keys = os.path.join(cls.a.root, "keys")
        cls.b_keys = os.path.join(cls.b.root, "keys")
        cls.b_cert = read(os.path.join(cls.b_keys, "nodeCertificate.pem"))
        cls.b_key = read(os.path.join(cls.b_keys, "privateKey.pem"))
        cls.b_ca = read(os.path.join(cls.b_keys, "certificateAuthority.pem"))
        cls.ca_name = "meshdb-Certificate-Authority-" + cls.a.ip
        cls.a.ok({"operation": "add_user", "username": "plain", "password": "pw-123",
                  "role": "cluster_user", "active": True})

    def secrets(self):
        """Every private key this test knows of: A's own, B's, and any added to A."""
        out = []
        for d in (self.a_keys, self.b_keys):
            for f in os.listdir(d):
                if f.endswith(".pem") and "PRIVATE KEY" in read(os.path.join(d, f)):
                    out.append(read(os.path.join(d, f)))
        return out

    def assert_no_secrets(self, text, where):
        self.assertNotIn("PRIVATE KEY", text, where)
        for pem in self.secrets():
            for line in key_body_lines(pem):
                self.assertNotIn(line, text, "%s holds private key material" % where)

    def op(self, body, status, expected=None, auth=harness.ADMIN):
        got = assert_op(self.a, body, status, expected, auth=auth)
        self.assert_no_secrets(json.dumps(got), "the response to %s" % body.get("operation"))
        self.assert_no_secrets(self.a.log_text(), "hdb.log")
        return got

    def rows(self):
        return {r["name"]: r for r in self.op({"operation": "list_certificates"}, 200)}

    def tearDown(self):
        # Whatever a test added is gone for the next one.
        for name in list(self.rows()):
            if name not in (self.a.ip, self.ca_name):
                self.op({"operation": "remove_certificate", "name": name}, 200)
        super().tearDown()

    # -- list ---------------------------------------------------------------------------

    def test_fresh_node_lists_its_ca_and_node_certificate(self):
        rows = self.op({"operation": "list_certificates"}, 200)
        self.assertEqual([r["name"] for r in rows], [self.a.ip, self.ca_name])
        node, ca = rows
        assert_subset = harness.assert_subset
        assert_subset({"name": self.ca_name, "private_key_name": "caPrivateKey.pem", "is_authority": True,
                       "is_self_signed": True, "uses": [], "__updatedtime__": Any(int, float),
                       "details": {"issuer": "CN=" + self.ca_name, "subject": "CN=" + self.ca_name,
                                   "serial_number": Any(str), "valid_from": Any(str), "valid_to": Any(str)}},
                      ca)
        self.assertNotIn("subject_alt_name", ca["details"], "fields are omitted when absent")
        assert_subset({"name": self.a.ip, "private_key_name": "privateKey.pem", "is_authority": False,
                       "is_self_signed": True, "uses": ["replication"],
                       "details": {"issuer": "CN=" + self.ca_name, "subject": "CN=" + self.a.ip,
                                   "subject_alt_name": "DNS:localhost, IP Address:%s, IP Address:127.0.0.1, "
                                                       "IP Address:::1" % self.a.ip}},
                      node)
        for row in rows:
            self.assertNotIn("__createdtime__", row)
            self.assertRegex(row["details"]["valid_from"], TIME_TEXT)
            self.assertRegex(row["details"]["valid_to"], TIME_TEXT)
            self.assertRegex(row["details"]["serial_number"], r"^[0-9A-F]+$")
            # PEM with CRLF line endings, as HarperDB stores it.
            self.assertTrue(row["certificate"].startswith("-----BEGIN CERTIFICATE-----\r\n"), row["certificate"])
            self.assertNotRegex(row["certificate"], r"[^\r]\n")
        self.assertEqual(ca["certificate"].replace("\r\n", "\n"),
                         read(os.path.join(self.a_keys, "certificateAuthority.pem")))
        self.assertEqual(node["certificate"].replace("\r\n", "\n"),
                         read(os.path.join(self.a_keys, "nodeCertificate.pem")))
        # The same rows through search_by_value on the system table, without key material.
        found = self.op({"operation": "search_by_value", "database": "system", "table": "hdb_certificate",
                         "search_attribute": "name", "search_value": "*", "get_attributes": ["*"]}, 200)
        self.assertEqual(sorted(r["name"] for r in found), [self.a.ip, self.ca_name])

    # -- add: errors --------------------------------------------------------------------

    def assert_unchanged(self, before, files_before):
        self.assertEqual(self.rows(), before)
        self.assertEqual(sorted(os.listdir(self.a_keys)), files_before)

    def test_add_missing_fields_in_order(self):
        before, files = self.rows(), sorted(os.listdir(self.a_keys))
        self.op({"operation": "add_certificate"}, 400, {"error": MISSING_ALL})
        self.op({"operation": "add_certificate", "name": "x"}, 400,
                {"error": "'certificate' is required. 'is_authority' is required"})
        self.op({"operation": "add_certificate", "certificate": self.b_cert}, 400,
                {"error": "'name' is required. 'is_authority' is required"})
        self.op({"operation": "add_certificate", "name": "x", "certificate": self.b_cert}, 400,
                {"error": "'is_authority' is required"})
        self.op({"operation": "add_certificate", "name": "x", "certificate": self.b_cert, "is_authority": "yes"},
                400, {"error": "'is_authority' must be a boolean"})
        self.op({"operation": "add_certificate", "name": "x", "certificate": self.b_cert, "is_authority": False,
                 "uses": "replication"}, 400, {"error": "'uses' must be an array"})
        self.assert_unchanged(before, files)

    def test_add_invalid_pem_is_500_with_openssl_text(self):
        before, files = self.rows(), sorted(os.listdir(self.a_keys))
        self.op({"operation": "add_certificate", "name": "bad", "certificate": "not a certificate",
                 "is_authority": True}, 500, {"error": NO_START_LINE})
        got = self.op({"operation": "add_certificate", "name": "bad", "certificate": self.b_cert,
                       "is_authority": False, "private_key": "not a key"}, 500)
        self.assertTrue(got["error"].startswith("error:"), got)
        self.assert_unchanged(before, files)

    def test_add_without_a_suitable_key(self):
        before, files = self.rows(), sorted(os.listdir(self.a_keys))
        # B's certificate: A holds no key for it.
        self.op({"operation": "add_certificate", "name": "b", "certificate": self.b_cert, "is_authority": False},
                400, {"error": NO_KEY})
        # A key that is not the certificate's is not suitable either.
        a_key = read(os.path.join(self.a_keys, "privateKey.pem"))
        self.op({"operation": "add_certificate", "name": "b", "certificate": self.b_cert, "is_authority": False,
                 "private_key": a_key}, 400, {"error": NO_KEY})
        self.assert_unchanged(before, files)

    def test_non_super_user_is_refused(self):
        for op, internal in (("add_certificate", "addCertificate"), ("list_certificates", "listCertificates"),
                             ("remove_certificate", "removeCertificate")):
            with self.subTest(op=op):
                self.op({"operation": op, "name": "x", "certificate": self.b_cert, "is_authority": True}, 403,
                        {"error": NOT_AUTHORIZED,
                         "unauthorized_access": ["Operation '%s' is restricted to 'super_user' roles" % internal]},
                        auth=("plain", "pw-123"))
        self.assertNotIn("x", self.rows())

    # -- add / overwrite / remove -------------------------------------------------------

    def test_add_with_key_overwrite_share_and_remove(self):
        got = self.op({"operation": "add_certificate", "name": "leaf cert", "certificate": self.b_cert,
                       "is_authority": False, "private_key": self.b_key}, 200)
        self.assertEqual(got, {"message": "Successfully added certificate: leaf-cert"})
        key_path = os.path.join(self.a_keys, "leaf-cert.pem")
        self.assertEqual(read(key_path), self.b_key)
        self.assertEqual(stat.S_IMODE(os.stat(key_path).st_mode), 0o600)
        row = self.rows()["leaf cert"]
        harness.assert_subset({"name": "leaf cert", "private_key_name": "leaf-cert.pem", "is_authority": False,
                               "is_self_signed": False, "uses": [],
                               "details": {"subject": "CN=" + self.b.ip, "issuer": "CN=meshdb-Certificate-"
                                                                                  "Authority-" + self.b.ip}},
                              row)
        self.assertEqual(row["certificate"], self.b_cert.replace("\n", "\r\n"))

        # The same name again overwrites the row (200), keeping nothing of the old one.
        self.op({"operation": "add_certificate", "name": "leaf cert", "certificate": self.b_cert,
                 "is_authority": False, "uses": ["https"]}, 200,
                {"message": "Successfully added certificate: leaf-cert"})
        row = self.rows()["leaf cert"]
        self.assertEqual(row["uses"], ["https"])
        self.assertEqual(row["private_key_name"], "leaf-cert.pem", "the stored key is found again")

        # Another certificate with the same key shares the file.
        self.op({"operation": "add_certificate", "name": "Other", "certificate": self.b_cert,
                 "is_authority": False}, 200, {"message": "Successfully added certificate: -ther"})
        self.assertEqual(self.rows()["Other"]["private_key_name"], "leaf-cert.pem")

        # Removing one keeps the key file while the other still uses it.
        self.op({"operation": "remove_certificate", "name": "leaf cert"}, 200,
                {"message": "Successfully removed leaf cert"})
        self.assertTrue(os.path.exists(key_path))
        self.op({"operation": "remove_certificate", "name": "Other"}, 200, {"message": "Successfully removed Other"})
        self.assertFalse(os.path.exists(key_path), "the last certificate using the key takes its file along")
        self.assertEqual(sorted(self.rows()), [self.a.ip, self.ca_name])

    def test_add_authority_without_key(self):
        self.op({"operation": "add_certificate", "name": "B's CA", "certificate": self.b_ca, "is_authority": True,
                 "hosts": [self.b.ip]}, 200, {"message": "Successfully added certificate: --s---"})
        row = self.rows()["B's CA"]
        self.assertNotIn("private_key_name", row)
        harness.assert_subset({"is_authority": True, "is_self_signed": True, "hosts": [self.b.ip],
                               "details": {"subject": "CN=meshdb-Certificate-Authority-" + self.b.ip}}, row)
        self.assertFalse(os.path.exists(os.path.join(self.a_keys, "--s---.pem")))

    def test_colliding_key_file_names_are_refused(self):
        self.op({"operation": "add_certificate", "name": "a b", "certificate": self.b_cert, "is_authority": False,
                 "private_key": self.b_key}, 200, {"message": "Successfully added certificate: a-b"})
        # The same key again under the colliding name is harmless (the file stays the same).
        self.op({"operation": "add_certificate", "name": "a_b", "certificate": self.b_cert, "is_authority": False,
                 "private_key": self.b_key}, 200, {"message": "Successfully added certificate: a-b"})
        before, files = self.rows(), sorted(os.listdir(self.a_keys))
        # Another key would replace the key "a b" and "a_b" rely on: refused.
        got = self.op({"operation": "add_certificate", "name": "a-b",
                       "certificate": read(os.path.join(self.a_keys, "nodeCertificate.pem")),
                       "is_authority": False, "private_key": read(os.path.join(self.a_keys, "privateKey.pem"))}, 409)
        self.assertEqual(got["error"], "the private key file 'a-b.pem' belongs to certificate 'a b'; "
                                       "choose another name")
        self.assertEqual(read(os.path.join(self.a_keys, "a-b.pem")), self.b_key)
        self.assert_unchanged(before, files)

    def test_remove_errors(self):
        self.op({"operation": "remove_certificate"}, 400, {"error": "'name' is required"})
        self.op({"operation": "remove_certificate", "name": "nope"}, 400, {"error": "nope not found"})

    def test_removing_own_certificate_keeps_its_key(self):
        # The node's own key files are never deleted by remove_certificate; a restart puts the
        # rows back.
        self.op({"operation": "remove_certificate", "name": self.a.ip}, 200)
        self.assertTrue(os.path.exists(os.path.join(self.a_keys, "privateKey.pem")))
        self.assertNotIn(self.a.ip, self.rows())
        self.a.restart()
        self.assertIn(self.a.ip, self.rows())


if __name__ == "__main__":
    harness.main()
