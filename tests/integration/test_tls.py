"""TLS between nodes and on the operations API (docs/security.md).

Nodes run with certificates made by the test (meshdb_certgen, OpenSSL through security/x509.h):
a shared test CA signs each node's certificate (CN and SAN = the node's address, its name), given
as tls.certificate / tls.privateKey / tls.certificateAuthority. Each node serves replication on
replication.securePort (wss://, its own URL) and the operations API on HTTPS beside plain HTTP.

Refused, each with an error that says why and nothing replicated: a target whose certificate
chains to a CA we do not trust, and one whose certificate is for another name.
"""

import http.client
import json
import os
import ssl
import subprocess
import tempfile

import cluster
import harness
from cluster import wait_linked, wait_record

SECURE_PORT = 9933
HTTPS_PORT = 9926


def certgen(*args):
    path = os.environ.get("MESHDB_CERTGEN")
    if not path:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.normpath(os.path.join(here, "..", "..", "build", "tests", "integration",
                                             "meshdb_certgen"))
    subprocess.run([path] + [str(a) for a in args], check=True)


class TlsTestCase(cluster.ClusterTestCase):
    def setUp(self):
        super().setUp()
        self.certs = tempfile.mkdtemp(prefix="meshdb-it-certs-")
        certgen("ca", self.certs, "cluster-ca")
        certgen("ca", self.certs, "foreign-ca")

    def ca_path(self, name="cluster-ca"):
        return os.path.join(self.certs, name + ".pem")

    def tls_node(self, label, ca="cluster-ca", cn=None, sans=None, extra=(), start=True):
        """A node whose certificate (CN cn, default its address) is issued by `ca`, trusting the
        cluster CA, serving wss on SECURE_PORT and HTTPS on HTTPS_PORT."""
        node = self.new_repl_node(label)
        cn = cn or node.ip
        certgen("node", self.certs, ca, label, cn, *(sans if sans is not None else [node.ip]))
        args = ["--TLS_CERTIFICATE", os.path.join(self.certs, label + ".pem"),
                "--TLS_PRIVATEKEY", os.path.join(self.certs, label + ".key"),
                "--TLS_CERTIFICATEAUTHORITY", self.ca_path(),
                "--REPLICATION_SECUREPORT", SECURE_PORT,
                "--OPERATIONSAPI_NETWORK_SECUREPORT", HTTPS_PORT,
                "--REPLICATION_ENABLEROOTCAS", "false"] + list(extra)
        if start:
            self.start_repl_node(label, node=node, extra=args)
        return node

    def https_op(self, node, body, context):
        conn = http.client.HTTPSConnection(node.ip, HTTPS_PORT, timeout=10, context=context)
        try:
            conn.request("POST", "/", json.dumps(body), {
                "Content-Type": "application/json", "Authorization": node.auth_header()})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read().decode())
        finally:
            conn.close()

    def add_node_expecting_refusal(self, node, peer, words):
        status, body = node.op({"operation": "add_node", "hostname": peer.repl_name,
                                "authorization": {"username": peer.username,
                                                  "password": peer.password}})
        text = json.dumps(body)
        self.assertGreaterEqual(status, 400, text)
        for word in words:
            self.assertIn(word, text)
        return body


class WssTest(TlsTestCase):
    def test_two_nodes_join_over_wss_and_replicate_both_ways(self):
        a = self.tls_node("a")
        b = self.tls_node("b")
        self.add_node(a, b)
        wait_linked(a, b, "system")
        wait_linked(b, a, "system")
        urls = {c.get("name"): c.get("url") for c in cluster.cluster_status(a)["connections"]}
        self.assertEqual(urls.get(b.repl_name), "wss://%s:%d" % (b.ip, SECURE_PORT), urls)
        self.create_table(a, "dev", "dog")
        self.wait_table(b, "dev", "dog")
        self.insert(a, "dev", "dog", [{"id": 1, "name": "Penny"}])
        wait_record(b, "dev", "dog", 1, expect={"name": "Penny"})
        self.insert(b, "dev", "dog", [{"id": 2, "name": "Kato"}])
        wait_record(a, "dev", "dog", 2, expect={"name": "Kato"})

    def test_a_third_node_joining_through_a_links_to_b(self):
        a = self.tls_node("a")
        b = self.tls_node("b")
        c = self.tls_node("c")
        self.add_node(a, b)
        wait_linked(a, b, "system")
        self.add_node(c, a)
        wait_linked(c, b, "system", timeout_s=30)
        wait_linked(b, c, "system", timeout_s=30)
        self.create_table(b, "dev", "cat")
        self.wait_table(c, "dev", "cat")
        self.insert(b, "dev", "cat", [{"id": 7}])
        wait_record(c, "dev", "cat", 7)

    def test_a_target_whose_certificate_chains_to_a_foreign_ca_is_refused(self):
        a = self.tls_node("a")
        stranger = self.tls_node("stranger", ca="foreign-ca")
        self.add_node_expecting_refusal(a, stranger, ["not trusted"])
        self.create_table(a, "dev", "dog")
        self.insert(a, "dev", "dog", [{"id": 1}])
        cluster.assert_stays_absent(self, stranger, "dev", "dog", 1)
        self.assertNotIn(stranger.repl_name, cluster.node_rows(a))
        self.assertNotIn(a.repl_name, cluster.node_rows(stranger))

    def test_a_target_whose_certificate_is_for_another_name_is_refused(self):
        a = self.tls_node("a")
        b = self.tls_node("b")
        impostor = self.tls_node("impostor", cn=b.ip, sans=[b.ip])
        self.add_node_expecting_refusal(a, impostor, ["is not for", impostor.ip])
        self.create_table(a, "dev", "dog")
        self.insert(a, "dev", "dog", [{"id": 1}])
        cluster.assert_stays_absent(self, impostor, "dev", "dog", 1)


class HttpsTest(TlsTestCase):
    def test_operations_api_over_https_beside_plain_http(self):
        a = self.tls_node("a")
        trusting = ssl.create_default_context(cafile=self.ca_path())
        status, body = self.https_op(a, {"operation": "describe_all"}, trusting)
        self.assertEqual(status, 200, body)
        self.assertEqual(a.ok({"operation": "describe_all"}), body)  # plain HTTP still serves
        # A client that does not trust the cluster CA does not get through.
        untrusting = ssl.create_default_context(cafile=self.ca_path("foreign-ca"))
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.https_op(a, {"operation": "describe_all"}, untrusting)
        # TLS 1.1 is refused.
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(cafile=self.ca_path())
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises(ssl.SSLError):
            self.https_op(a, {"operation": "describe_all"}, old)


if __name__ == "__main__":
    harness.main()
