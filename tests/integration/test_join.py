"""The cross-signed join (docs/security.md "Joining a cluster"): nodes with the certificates they
made themselves (no tls.* configured: each node has its own CA under <root>/keys) join over wss://
with add_node and a super_user's credentials.

The joiner sends a certificate signing request; the target signs it with its CA when it names only
the joiner, both trust each other's CA, and every link between members is then mutual TLS. CAs
spread in hdb_nodes rows, so a node that joined through A links to B.

Refused, each with an error that says why and nothing written on either side: an unknown
self-signed target while verify_tls is true (the default), a non-super_user's credentials, and a
joiner that claims the name of another member.
"""

import json
import os
import socket
import ssl
import sys
import time

import cluster
import harness
from cluster import wait_linked, wait_record

SECURE_PORT = cluster.REPLICATION_SECURE_PORT
HTTPS_PORT = 9926


class JoinTest(cluster.ClusterTestCase):
    SHARED_CA = False  # each node keeps the CA it generated

    def wss_node(self, label, name=None, extra=()):
        """A node with generated certificates serving replication on wss:// (the default
        replication.securePort: no port is given)."""
        node = self.new_repl_node(label)
        if name:
            node.repl_name = name
        return self.start_repl_node(label, node=node, extra=extra)

    def join(self, node, peer, **fields):
        return self.add_node(node, peer, verify_tls=False, **fields)

    def three_joined_through_a(self, c_dials_b=False):
        """a joins b, then c joins a; returns (a, b, c) once c and b are linked both ways.
        Of two members the lower name dials, names compared as text ("127.0.0.10" is lower than
        "127.0.0.9"): `c_dials_b` gives c the lower one, else b has it."""
        a = self.wss_node("a")
        low, high = sorted((self.new_repl_node("b"), self.new_repl_node("c")), key=lambda n: n.repl_name)
        c, b = (low, high) if c_dials_b else (high, low)
        b.name, c.name = "b", "c"
        for node in (low, high):
            self.start_repl_node(node.name, node=node)
        self.join(a, b)
        wait_linked(a, b, "system")
        self.join(c, a)
        # b trusts a's CA (a's row), which signed c's certificate; c learned b's CA the same way.
        wait_linked(c, b, "system", timeout_s=30)
        wait_linked(b, c, "system", timeout_s=30)
        return a, b, c

    def add_node_refused(self, node, peer, words, **fields):
        body = {"operation": "add_node", "hostname": peer.repl_name,
                "authorization": {"username": peer.username, "password": peer.password}}
        body.update(fields)
        status, got = node.op(body)
        text = json.dumps(got)
        self.assertEqual(status, 400, text)
        for word in words:
            self.assertIn(word, text)
        self.assertNotIn(peer.repl_name, cluster.node_rows(node))
        return got

    @staticmethod
    def ca_file(node):
        return os.path.join(node.root, "keys", "certificateAuthority.pem")

    def replication_certificate_verifies_with(self, node, ca_node):
        """Whether node's wss listener presents a certificate for its name that ca_node's CA
        signed (a TLS handshake from this test, trusting only that CA)."""
        context = ssl.create_default_context(cafile=self.ca_file(ca_node))
        try:
            with socket.create_connection((node.ip, SECURE_PORT), timeout=5) as raw:
                with context.wrap_socket(raw, server_hostname=node.repl_name):
                    return True
        except ssl.SSLCertVerificationError:
            return False

    def test_an_unknown_target_is_refused_until_verify_tls_false_then_both_replicate(self):
        a = self.wss_node("a")
        b = self.wss_node("b")
        self.add_node_refused(a, b, ["cannot add", "not trusted"])
        self.assertNotIn(a.repl_name, cluster.node_rows(b))
        self.assertFalse(self.replication_certificate_verifies_with(a, b))

        self.join(a, b)
        wait_linked(a, b, "system")
        wait_linked(b, a, "system")
        # a now presents the certificate b's CA signed for it; b still its own.
        self.assertTrue(self.replication_certificate_verifies_with(a, b))
        self.assertTrue(self.replication_certificate_verifies_with(b, b))
        self.check_replicates_both_ways(a, b)
        # Each row carries its node's CA, never a private key.
        rows = cluster.node_rows(b)
        self.assertIn("BEGIN CERTIFICATE", rows[a.repl_name].get("ca", ""))
        self.assertNotIn("PRIVATE KEY", json.dumps(rows))

        # The signed certificate survives a restart: the link comes back over mutual TLS.
        a.restart()
        wait_linked(a, b, "system")
        wait_linked(b, a, "system")
        self.assertTrue(self.replication_certificate_verifies_with(a, b))
        self.insert(b, "dev", "dog", [{"id": 3, "name": "Rex"}])
        wait_record(a, "dev", "dog", 3, expect={"name": "Rex"})

    def test_a_third_node_that_joined_through_a_links_to_b(self):
        _, b, c = self.three_joined_through_a()
        self.create_table(b, "dev", "cat")
        self.wait_table(c, "dev", "cat")
        self.insert(b, "dev", "cat", [{"id": 7}])
        wait_record(c, "dev", "cat", 7)
        self.insert(c, "dev", "cat", [{"id": 8}])
        wait_record(b, "dev", "cat", 8)

    def test_a_non_super_user_cannot_join(self):
        a = self.wss_node("a")
        b = self.wss_node("b")
        b.ok({"operation": "add_user", "username": "clusterer", "password": "pw-123",
              "role": "cluster_user", "active": True})
        self.add_node_refused(a, b, ["cannot add", "not a super_user"], verify_tls=False,
                              authorization={"username": "clusterer", "password": "pw-123"})
        self.assertNotIn(a.repl_name, cluster.node_rows(b))
        self.assertFalse(self.replication_certificate_verifies_with(a, b))

    def test_a_joiner_claiming_a_members_name_is_refused(self):
        a = self.wss_node("a")
        b = self.wss_node("b")
        self.join(a, b)
        wait_linked(a, b, "system")
        # Another node calls itself b (its URL names b's address too): a refuses to sign it a
        # certificate for b's name.
        impostor = self.wss_node("impostor", name=b.repl_name)
        body = {"operation": "add_node", "hostname": a.repl_name, "verify_tls": False,
                "authorization": {"username": a.username, "password": a.password}}
        status, got = impostor.op(body)
        self.assertEqual(status, 400, got)
        self.assertIn("is a member with another certificate authority", json.dumps(got))
        self.create_table(a, "dev", "dog")
        self.insert(a, "dev", "dog", [{"id": 1}])
        wait_record(b, "dev", "dog", 1)
        cluster.assert_stays_absent(self, impostor, "dev", "dog", 1)

    def test_a_target_claiming_a_members_name_is_refused_and_nothing_of_it_is_trusted(self):
        a = self.wss_node("a")
        b = self.wss_node("b")
        self.join(a, b)
        wait_linked(a, b, "system")
        rows_before = cluster.node_rows(a)
        # a is asked to add a node that answers as b, with a CA of its own.
        impostor = self.wss_node("impostor", name=b.repl_name)
        status, got = a.op({"operation": "add_node", "url": "wss://%s:%d" % (impostor.ip, SECURE_PORT),
                            "verify_tls": False,
                            "authorization": {"username": impostor.username, "password": impostor.password}})
        self.assertEqual(status, 400, got)
        self.assertIn("calls itself '%s', a member with another certificate authority" % b.repl_name,
                      json.dumps(got))
        # a still presents the certificate b signed, trusts nothing of the impostor's, wrote no row.
        self.assertTrue(self.replication_certificate_verifies_with(a, b))
        self.assertFalse(self.replication_certificate_verifies_with(a, impostor))
        self.assertEqual(cluster.node_rows(a), rows_before)
        self.create_table(a, "dev", "dog")
        self.insert(a, "dev", "dog", [{"id": 1}])
        wait_record(b, "dev", "dog", 1)

    def test_a_member_is_not_moved_to_a_url_where_nothing_answers(self):
        a = self.wss_node("a")
        b = self.wss_node("b")
        self.join(a, b)
        wait_linked(a, b, "system")
        url = cluster.node_rows(a)[b.repl_name]["url"]
        with socket.socket() as unused:  # a port nobody listens on
            unused.bind((b.ip, 0))
            nowhere = "wss://%s:%d" % (b.ip, unused.getsockname()[1])
        status, got = a.op({"operation": "add_node", "url": nowhere, "verify_tls": False,
                            "authorization": {"username": b.username, "password": b.password}})
        self.assertEqual(status, 400, got)
        self.assertIn("'%s' is a member at %s, and no link could be made to %s" % (b.repl_name, url, nowhere),
                      got["error"])
        for node in (a, b):
            self.assertEqual(cluster.node_rows(node)[b.repl_name]["url"], url)
        self.create_table(a, "dev", "dog")
        self.insert(a, "dev", "dog", [{"id": 1}])
        wait_record(b, "dev", "dog", 1)

    def test_a_removed_nodes_certificate_is_revoked_everywhere_until_it_joins_again(self):
        a, b, c = self.three_joined_through_a()
        old_serial = cluster.node_rows(a)[c.repl_name].get("certificate_serial")
        self.assertTrue(old_serial)
        harness.assert_op(a, {"operation": "remove_node", "hostname": c.repl_name}, 200)

        def revoked_in_own_row(node):
            return old_serial in cluster.node_rows(node)[node.repl_name].get("revoked_certificates", [])

        # Gossiped, and kept by every member in its own row.
        harness.wait_until(lambda: revoked_in_own_row(a) and revoked_in_own_row(b), 15,
                           "a and b to keep c's serial in revoked_certificates")
        # c's CA is no longer trusted either (no restart): its row went on every member.
        distrusted = "no longer trusting the certificate authority of node '%s'" % c.repl_name
        harness.wait_until(lambda: distrusted in a.log_text() and distrusted in b.log_text(), 15,
                           "a and b to stop trusting c's CA")
        # Adding c back from the cluster's side meets its revoked certificate: refused.
        got = self.add_node_refused(b, c, ["cannot add", "was revoked", old_serial],
                                    verify_tls=False)
        self.assertNotIn("error updating", json.dumps(got))
        # c joins again with a super_user's credentials: a new certificate, a new serial.
        self.join(c, a)
        wait_linked(c, a, "system", timeout_s=30)
        wait_linked(b, c, "system", timeout_s=30)
        harness.wait_until(
            lambda: cluster.node_rows(b).get(c.repl_name, {}).get("certificate_serial") not in
            (None, old_serial), 15, "c's new serial to reach b")
        self.assertTrue(revoked_in_own_row(b))
        self.create_table(b, "dev", "dog")
        self.insert(b, "dev", "dog", [{"id": 5}])
        wait_record(c, "dev", "dog", 5)

    def relinks_with_its_own_ca(self, a, b, c, serials, since, since_what):
        """c (which joined through a, removed) links to b again by itself, presenting a
        certificate from its own CA; nothing written meanwhile (ids 1, 2) is lost; a stays out."""
        def relinked():
            return cluster.node_rows(b).get(c.repl_name, {}).get("certificate_serial") not in (None, serials[c]) \
                and all(cluster.connected(b, c, db) and cluster.connected(c, b, db) for db in ("system", "dev"))

        harness.wait_until(relinked, 20, "c to link to b again with a certificate b trusts")
        sys.stderr.write("c linked to b again %.1f s after %s\n" % (time.monotonic() - since, since_what))
        self.assertTrue(self.replication_certificate_verifies_with(c, c))
        self.assertIn("renewed the replication certificate locally", c.log_text())
        wait_record(b, "dev", "dog", 1)
        wait_record(c, "dev", "dog", 2)
        self.insert(c, "dev", "dog", [{"id": 3}])
        wait_record(b, "dev", "dog", 3)
        # a's own certificate stays refused everywhere.
        harness.wait_until(
            lambda: all(serials[a] in cluster.node_rows(n)[n.repl_name].get("revoked_certificates", [])
                        for n in (b, c)), 15, "b and c to keep a's serial revoked")
        for node in (b, c):
            self.assertFalse(cluster.connected(node, a, "system"))
            self.assertNotIn("PRIVATE KEY", node.log_text())

    def joined_through_a_with_a_table(self, c_dials_b=False):
        a, b, c = self.three_joined_through_a(c_dials_b)
        self.create_table(b, "dev", "dog")
        self.wait_table(c, "dev", "dog")
        for db in ("system", "dev"):
            wait_linked(c, b, db, timeout_s=30)
        self.assertTrue(self.replication_certificate_verifies_with(c, a))  # a's CA signed c's
        rows = cluster.node_rows(b)
        return a, b, c, {n: rows[n.repl_name]["certificate_serial"] for n in (a, c)}

    def test_a_node_that_joined_through_a_removed_member_links_again_by_itself(self):
        # c is linked when a is removed: the removal reaches c by gossip as b cuts c's links.
        a, b, c, serials = self.joined_through_a_with_a_table()
        removed_at = time.monotonic()
        harness.assert_op(b, {"operation": "remove_node", "hostname": a.repl_name}, 200)
        self.insert(c, "dev", "dog", [{"id": 1}])
        self.insert(b, "dev", "dog", [{"id": 2}])
        self.relinks_with_its_own_ca(a, b, c, serials, removed_at, "remove_node")

    def test_a_node_down_while_its_signer_was_removed_links_again_by_itself(self):
        # c and a are down when a is removed (a decommissioned node): no gossip can reach c
        # when it comes back, and b refuses its certificate when c dials it. (When b is the
        # dialer, c is not told: docs/security.md says what is still open.)
        a, b, c, serials = self.joined_through_a_with_a_table(c_dials_b=True)
        c.stop()
        a.stop()
        harness.assert_op(b, {"operation": "remove_node", "hostname": a.repl_name}, 200)
        self.insert(b, "dev", "dog", [{"id": 2}])
        restarted_at = time.monotonic()
        c.start()
        self.insert(c, "dev", "dog", [{"id": 1}])
        self.relinks_with_its_own_ca(a, b, c, serials, restarted_at, "c's restart began")
        self.assertIn("refused the certificate another member's CA issued", c.log_text())

    def test_certificates_renew_before_they_expire_without_a_restart(self):
        # 0.0002 days = 17.28 s: each node renews once less than a third is left (~11.5 s).
        short = ["--REPLICATION_CERTIFICATEVALIDITYDAYS", "0.0002"]
        a = self.wss_node("a", extra=short)
        b = self.wss_node("b", extra=short)
        self.join(a, b)
        wait_linked(a, b, "system")
        wait_linked(b, a, "system")
        serials = []  # a's serials as b sees them in a's row, in order

        def renewed():
            now = cluster.node_rows(b).get(a.repl_name, {}).get("certificate_serial")
            if now and (not serials or now != serials[-1]):
                serials.append(now)
            return len(serials) >= 3

        # Two renewals after the first serial b saw, each gossiped: by the second, the
        # certificate b signed has expired.
        harness.wait_until(renewed, 40, "a's certificate to be renewed twice")
        self.assertTrue(cluster.connected(a, b, "system"))
        self.insert_and_see(a, b, 1)
        # New connections verify the renewed certificates both ways.
        b.restart()
        wait_linked(a, b, "system", timeout_s=30)
        wait_linked(b, a, "system", timeout_s=30)
        self.insert_and_see(b, a, 2)

    def https_serial(self, node):
        """The serial of the certificate node's HTTPS listener presents to a new connection,
        verified against node's own CA."""
        context = ssl.create_default_context(cafile=self.ca_file(node))
        with socket.create_connection((node.ip, HTTPS_PORT), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=node.ip) as tls:
                return tls.getpeercert()["serialNumber"]

    def test_a_joined_node_renews_through_its_signer_over_the_link_and_https_renews_too(self):
        # 0.0002 days = 17.28 s: renewal once less than a third is left (~11.5 s).
        short = ["--REPLICATION_CERTIFICATEVALIDITYDAYS", "0.0002"]
        a = self.wss_node("a", extra=short + ["--OPERATIONSAPI_NETWORK_SECUREPORT", HTTPS_PORT])
        b = self.wss_node("b", extra=short)
        first_https = self.https_serial(a)
        self.join(a, b)
        wait_linked(a, b, "system")
        wait_linked(b, a, "system")
        joined = cluster.node_rows(b)[a.repl_name]["certificate_serial"]
        signed_by_b = "over the replication link: '%s' signed it" % b.repl_name
        harness.wait_until(lambda: signed_by_b in a.log_text(), 40,
                           "a to renew its certificate through b")
        harness.wait_until(
            lambda: cluster.node_rows(b)[a.repl_name].get("certificate_serial") != joined, 15,
            "a's renewed serial to reach b")
        # The renewed certificate is again b's CA's, and the link it renewed over stayed up.
        self.assertTrue(self.replication_certificate_verifies_with(a, b))
        self.assertFalse(self.replication_certificate_verifies_with(a, a))
        self.assertTrue(cluster.connected(a, b, "system"))
        self.assertIn("signed a renewed replication certificate for member '%s'" % a.repl_name,
                      b.log_text())
        self.insert_and_see(b, a, 1)
        # HTTPS presents the renewed node certificate to new connections, no restart.
        harness.wait_until(lambda: self.https_serial(a) != first_https, 30,
                           "a's HTTPS listener to present a renewed certificate")

        # With its signer gone, a renews from its own CA and says why.
        b.stop()
        harness.wait_until(lambda: "renewed the replication certificate locally" in a.log_text(), 40,
                           "a to renew locally while b is down")
        self.assertIn("did not renew it", a.log_text())
        harness.wait_until(lambda: self.replication_certificate_verifies_with(a, a), 15,
                           "a to present the certificate its own CA renewed")
        for node in (a, b):
            self.assertNotIn("PRIVATE KEY", node.log_text())

    def insert_and_see(self, writer, reader, pk):
        if "dog" not in cluster.describe_database(writer, "dev"):
            self.create_table(writer, "dev", "dog")
        self.insert(writer, "dev", "dog", [{"id": pk}])
        wait_record(reader, "dev", "dog", pk)


if __name__ == "__main__":
    harness.main()
