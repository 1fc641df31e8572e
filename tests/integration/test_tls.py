"""TLS between nodes and on the operations API (docs/security.md).

Nodes run with certificates made by the test (meshdb_certgen, OpenSSL through security/x509.h):
a shared test CA signs each node's certificate (CN and SAN = the node's address, its name), given
as tls.certificate / tls.privateKey / tls.certificateAuthority. Each node serves replication on
replication.securePort (wss://, its own URL) and the operations API on HTTPS beside plain HTTP.

Refused, each with an error that says why and nothing replicated: a target whose certificate
chains to a CA we do not trust, and one whose certificate is for another name.
"""

import json
import os
import ssl

import cluster
import harness
from cluster import database_socket, wait_linked, wait_record

SECURE_PORT = cluster.REPLICATION_SECURE_PORT
HTTPS_PORT = 9926


class TlsTestCase(cluster.ClusterTestCase):
    SHARED_CA = False  # tls_node gives each node the certificate its test needs

    def setUp(self):
        super().setUp()
        cluster.certgen("ca", self.certificates_dir(), "foreign-ca")

    def tls_node(self, label, ca=cluster.CLUSTER_CA, cn=None, sans=None, extra=(), start=True,
                 chain=()):
        """A node whose certificate (CN cn, default its address) is issued by `ca`, trusting the
        cluster CA, serving wss on SECURE_PORT and HTTPS on HTTPS_PORT. `chain`: the
        intermediate CAs its certificate file holds after its own certificate."""
        node = self.new_repl_node(label)
        certificate, key = self.node_certificate(label, ca, cn or node.ip,
                                                 sans if sans is not None else [node.ip])
        if chain:
            with open(certificate, "a") as out:
                for intermediate in chain:
                    with open(self.ca_path(intermediate)) as f:
                        out.write(f.read())
        args = ["--TLS_CERTIFICATE", certificate,
                "--TLS_PRIVATEKEY", key,
                "--TLS_CERTIFICATEAUTHORITY", self.ca_path(),
                "--REPLICATION_SECUREPORT", SECURE_PORT,
                "--OPERATIONSAPI_NETWORK_SECUREPORT", HTTPS_PORT,
                "--REPLICATION_ENABLEROOTCAS", "false"] + list(extra)
        if start:
            self.start_repl_node(label, node=node, extra=args)
        return node

    def https_op(self, node, body, context):
        return node.op(body, timeout=10, port=HTTPS_PORT, tls=context)

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
        self.check_replicates_both_ways(a, b)

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


class CertificateTrustTest(TlsTestCase):
    """add_certificate / remove_certificate of an authority act on new handshakes at once, and
    `replicated: true` fans them out to every member over the replication links."""

    def certificate_names(self, node):
        return [row["name"] for row in node.ok({"operation": "list_certificates"})]

    def test_a_ca_added_then_removed_everywhere_stops_being_trusted_without_a_restart(self):
        a = self.tls_node("a")
        b = self.tls_node("b")
        self.add_node(a, b)
        wait_linked(a, b, "system")
        wait_linked(b, a, "system")
        with open(self.ca_path("foreign-ca")) as f:
            foreign = f.read()
        # A private key is never sent to another node.
        status, body = a.op({"operation": "add_certificate", "name": "foreign", "certificate": foreign,
                             "is_authority": True, "private_key": "x", "replicated": True})
        self.assertEqual(status, 400, body)
        self.assertIn("private key is never sent", json.dumps(body))
        status, body = a.op({"operation": "add_certificate", "name": "foreign", "certificate": foreign,
                             "is_authority": True, "replicated": "yes"})
        self.assertEqual((status, body.get("error")), (400, "'replicated' must be a boolean"), body)

        added = a.ok({"operation": "add_certificate", "name": "foreign", "certificate": foreign,
                      "is_authority": True, "replicated": True})
        self.assertEqual(added, {"message": "Successfully added certificate: foreign",
                                 "replicated": [{"message": "Successfully added certificate: foreign",
                                                 "node": b.repl_name}]})
        self.assertIn("foreign", self.certificate_names(b))

        # A node whose certificate chains to that CA now links to both.
        stranger = self.tls_node("stranger", ca="foreign-ca")
        self.add_node(stranger, a)
        wait_linked(a, stranger, "system", timeout_s=30)
        wait_linked(b, stranger, "system", timeout_s=30)
        self.create_table(a, "dev", "dog")
        self.insert(a, "dev", "dog", [{"id": 1}])
        wait_record(stranger, "dev", "dog", 1)

        for node in (a, b):
            for db in ("system", "dev"):
                wait_linked(node, stranger, db, timeout_s=30)
        # The stranger trusts that CA too (its own certificate's issuer): the removal must
        # reach it although a and b stop trusting the stranger's certificate with it.
        stranger.ok({"operation": "add_certificate", "name": "foreign", "certificate": foreign,
                     "is_authority": True})
        # The stranger itself removes its issuer everywhere. Every member reachable when it was
        # issued is asked, in name order, before the stranger removes the CA itself: each answer
        # is that member's own, and reaches the stranger although the member, having removed the
        # CA, cuts its link to the stranger right after answering.
        removed = stranger.ok({"operation": "remove_certificate", "name": "foreign",
                               "replicated": True})
        self.maxDiff = None
        self.assertEqual(removed, {"message": "Successfully removed foreign", "replicated": [
            {"message": "Successfully removed foreign", "node": node.repl_name}
            for node in sorted((a, b), key=lambda n: n.repl_name)]})
        for node in (a, b, stranger):
            self.assertNotIn("foreign", self.certificate_names(node))
        # No restart of anyone: the live links to the stranger are cut at once, in both
        # directions and for every database, and its next connections are refused both ways.

        def refused(node):
            status = cluster.cluster_status(node)
            system = database_socket(status, stranger.repl_name, "system")
            dev = database_socket(status, stranger.repl_name, "dev")
            return system is not None and not system.get("connected") and \
                "not trusted" in (system.get("last_dial_error") or "") and \
                not (dev or {}).get("connected")

        harness.wait_until(lambda: refused(a) and refused(b), 20,
                           "a and b to cut their links to the stranger and refuse its certificate")
        self.insert(a, "dev", "dog", [{"id": 2}])
        cluster.assert_stays_absent(self, stranger, "dev", "dog", 2)
        for node in (a, b):
            self.assertFalse(cluster.connected(node, stranger, "system"))
            # The log says which link was cut and why (cluster_status keeps only the latest
            # link error, which the stranger's refused reconnections overwrite).
            self.assertIn("closing the link to %s db system: its certificate" % stranger.repl_name,
                          node.log_text())
            self.assertIn("is no longer trusted: unable to get local issuer certificate",
                          node.log_text())
            self.assertNotIn("PRIVATE KEY", node.log_text())
        # A member that does not hold the certificate answers with its own error.
        a.ok({"operation": "add_certificate", "name": "foreign", "certificate": foreign,
              "is_authority": True})
        removed = a.ok({"operation": "remove_certificate", "name": "foreign", "replicated": True})
        self.assertEqual(removed["replicated"][0],
                         {"status": "failed", "reason": "'%s': foreign not found" % b.repl_name,
                          "node": b.repl_name}, removed)


def tls_resumed(node, peer):
    """{database: tls_resumed} of node's connected sockets to peer."""
    return {s.get("database"): s.get("tls_resumed")
            for name, s in cluster.db_sockets(node) if name == peer.repl_name and s.get("connected")}


def relink_resumed(a, b, route):
    """Drops a's route to b and sets it again: every a-b link closes, comes back and, at both
    ends, resumed its TLS session."""
    a.ok({"operation": "cluster_delete_routes", "routes": [route]})
    harness.wait_until(lambda: not tls_resumed(a, b) and not tls_resumed(b, a), 10,
                       "the a-b links to close")
    a.ok({"operation": "cluster_set_routes", "routes": [route]})
    # Both ends of every link see the abbreviated handshake.
    want = {"system": True, "dev": True}
    harness.wait_until(lambda: tls_resumed(a, b) == want and tls_resumed(b, a) == want,
                       20, "the a-b links to come back, resumed")


class ResumptionTest(cluster.ClusterTestCase):
    """A wss link that drops and comes back resumes the TLS session of the last one (the dialer
    keeps each peer's session; the listener accepts its ticket), and cluster_status says so."""

    def test_a_link_that_drops_and_reconnects_resumes_its_tls_session(self):
        key = cluster.new_cluster_key()
        a = self.start_repl_node("a", cluster_key=key)
        b = self.start_repl_node("b", cluster_key=key)
        self.create_table(a, "dev", "dog")
        self.create_table(b, "dev", "dog")
        route = {"hostname": b.ip, "port": self.repl_port()}
        a.ok({"operation": "cluster_set_routes", "routes": [route]})
        for db in ("system", "dev"):
            wait_linked(a, b, db)
            wait_linked(b, a, db)
        # The first links: nothing to resume yet (a dial that started after another went live
        # may already resume, so only the first one is certain), and TLS links say so.
        first = tls_resumed(a, b)
        self.assertIn(False, first.values(), first)
        self.assertTrue(all(isinstance(v, bool) for v in first.values()), first)
        self.assertIn(False, tls_resumed(b, a).values())

        # Each relink races the route's return: a dial that starts before the node lifts its
        # refusal of b is refused and must neither stay refused nor cost the session.
        for _ in range(3):
            relink_resumed(a, b, route)
        self.insert(a, "dev", "dog", [{"id": 1}])
        wait_record(b, "dev", "dog", 1)


class IntermediateChainTest(TlsTestCase):
    """Bring-your-own certificates issued by an intermediate CA (root -> intermediate -> node;
    each node's certificate file holds the intermediate, the nodes trust only the root): a link
    that drops resumes its session at both ends, and the listener's resumed session still
    verifies the whole chain, so the link registers at the first try."""

    def test_a_chain_through_an_intermediate_resumes_and_verifies_again(self):
        cluster.certgen("intermediate", self.certificates_dir(), cluster.CLUSTER_CA, "intermediate-ca")
        key = cluster.new_cluster_key()
        nodes = [self.tls_node(label, ca="intermediate-ca", chain=["intermediate-ca"],
                               extra=["--REPLICATION_CLUSTERKEY", key]) for label in ("a", "b")]
        a, b = nodes
        self.create_table(a, "dev", "dog")
        self.create_table(b, "dev", "dog")
        route = {"hostname": b.ip, "port": SECURE_PORT}
        a.ok({"operation": "cluster_set_routes", "routes": [route]})
        for db in ("system", "dev"):
            wait_linked(a, b, db)
            wait_linked(b, a, db)
        for _ in range(2):  # the ticket renewed on a resumed handshake keeps the chain too
            relink_resumed(a, b, route)
        for node in (a, b):
            self.assertNotIn("no longer trusted", node.log_text())
            self.assertNotIn("untrusted-certificate", node.log_text())
        self.insert(a, "dev", "dog", [{"id": 1}])
        wait_record(b, "dev", "dog", 1)


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


class SecretsTest(cluster.ClusterTestCase):
    """Retained add_node credentials are sealed at rest and, like cluster keys, never read back."""

    def test_retained_credentials_and_cluster_keys_never_leave_the_node(self):
        a = self.start_repl_node("a")
        b = self.new_repl_node("b")
        b.password = "not-the-default-%d" % os.getpid()  # so a log line naming it would stand out
        self.start_repl_node("b", node=b)
        self.add_node(a, b, retain_authorization=True)
        wait_linked(a, b, "system")
        creds = cluster.basic(b.username, b.password).split(" ", 1)[1]
        auth_rows = a.ok({"operation": "search_by_value", "database": "system", "table": "hdb_node_auth",
                          "search_attribute": "name", "search_value": "*", "get_attributes": ["*"]})
        self.assertTrue(auth_rows)
        key_rows = a.ok({"operation": "search_by_value", "database": "system", "table": "hdb_cluster_keys",
                         "search_attribute": "id", "search_value": "*", "get_attributes": ["*"]})
        self.assertTrue(key_rows)
        for row in auth_rows:
            self.assertNotIn("authorization", row)
        for row in key_rows:
            self.assertNotIn("key", row)
        # Neither can be searched or sorted by (a wildcard search would guess them).
        for table, attribute in (("hdb_cluster_keys", "key"), ("hdb_node_auth", "authorization")):
            harness.assert_op(a, {"operation": "search_by_value", "database": "system", "table": table,
                                  "search_attribute": attribute, "search_value": "*"}, 400,
                              {"error": "unknown attribute '%s'" % attribute})
            harness.assert_op(a, {"operation": "search_by_conditions", "database": "system", "table": table,
                                  "conditions": [{"search_attribute": attribute, "search_type": "starts_with",
                                                  "search_value": "a"}]}, 400)
        by_id = a.ok({"operation": "search_by_id", "database": "system", "table": "hdb_node_auth",
                      "ids": [b.repl_name], "get_attributes": ["authorization", "name"]})
        self.assertEqual(by_id, [{"name": b.repl_name}])
        # Not in clear anywhere on disk or in the logs of either node.
        for node in (a, b):
            self.assertNotIn(creds, node.log_text())
            self.assertNotIn(b.password, node.log_text())
        for dirpath, _, files in os.walk(a.root):
            for f in files:
                with open(os.path.join(dirpath, f), "rb") as fh:
                    self.assertNotIn(creds.encode(), fh.read(), os.path.join(dirpath, f))


if __name__ == "__main__":
    harness.main()
