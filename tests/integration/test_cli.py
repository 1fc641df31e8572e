"""The command line client (issue 12, docs/operations.md "CLI"): `meshdb <operation>
key=value ...` against a node (the local config's address or --target), YAML or --json output,
`meshdb status`, `meshdb --version`, `meshdb stop`; one-line errors and exit 1 for an unknown
operation or an unreachable node. Over HTTPS: the node's certificate verified against --cacert,
the local node's CA (generated under <root>/keys, or the configured tls.certificateAuthority),
else the system's CAs; a local configuration with only a securePort is reached over HTTPS.
"""

import json
import os
import subprocess

import cluster
import harness
from harness import wait_until

DB, T = "dev", "dog"
HTTPS_PORT = 9926


def cli(args, env=None, node=None, check=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("CLI_TARGET", "HDB_"))}
    if node is not None:
        e["CLI_TARGET_USERNAME"] = node.username
        e["CLI_TARGET_PASSWORD"] = node.password
    e.update(env or {})
    p = subprocess.run([harness.binary_path()] + list(args), env=e, capture_output=True, text=True,
                       timeout=60)
    if check is not None:
        assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
    return p


class CliTest(cluster.ClusterTestCase):

    def target(self, node):
        return "http://%s:%d" % (node.ip, node.port)

    def test_01_operations_with_values_parsed_as_json(self):
        node = self.start_node()
        t = ["--target", self.target(node)]
        cli(["create_table", "database=" + DB, "table=" + T, "primary_key=id"] + t, node=node, check=0)
        p = cli(["insert", "database=" + DB, "table=" + T,
                 'records=[{"id": 1, "name": "Rex"}, {"id": 2, "name": "Fido"}]'] + t, node=node, check=0)
        self.assertIn("inserted 2 of 2 records", p.stdout)  # YAML by default
        p = cli(["search_by_id", "database=" + DB, "table=" + T, "ids=[2]", 'get_attributes=["*"]', "--json"] + t,
                node=node, check=0)
        self.assertEqual("Fido", json.loads(p.stdout)[0]["name"])
        self.assertIn("\n  ", p.stdout)  # indented
        # A value that is not JSON is a string: name "1" here would be the number 1.
        p = cli(["search_by_value", "database=" + DB, "table=" + T, "search_attribute=name",
                 "search_value=Rex", "json=true"] + t, node=node, check=0)
        self.assertEqual(1, json.loads(p.stdout)[0]["id"])
        # The password is never printed.
        self.assertNotIn(node.password, p.stdout + p.stderr)

    def test_02_local_config_and_credentials(self):
        node = self.start_node()
        # No --target: the operations address from <root>/harperdb-config.yaml. The node was
        # started with its host and port on the command line only, so point the file at them.
        node.ok({"operation": "set_configuration", "operationsApi_network_host": node.ip})
        p = cli(["describe_all", "--root", node.root, "--json"], node=node, check=0)
        self.assertEqual({}, json.loads(p.stdout))
        p = cli(["describe_all", "--json"], env={"HDB_ROOT": node.root}, node=node, check=0)
        # --user/--password win over the environment; wrong ones are one line, exit 1.
        p = cli(["describe_all", "--root", node.root, "--user", node.username, "--password", "wrong"],
                node=node, check=1)
        self.assertEqual(1, len(p.stderr.strip().splitlines()), p.stderr)
        self.assertIn("error:", p.stderr)
        self.assertNotIn("wrong", p.stderr)

    def test_03_errors_are_one_line_and_exit_1(self):
        node = self.start_node()
        p = cli(["no_such_operation", "--target", self.target(node)], node=node, check=1)
        self.assertEqual(["error: Operation 'no_such_operation' not found (HTTP 400)"],
                         p.stderr.strip().splitlines())
        unused = self.new_node()  # an address nothing listens on
        p = cli(["describe_all", "--target", self.target(unused)], node=node, check=1)
        self.assertEqual(1, len(p.stderr.strip().splitlines()), p.stderr)
        self.assertIn("cannot reach http://%s:%d" % (unused.ip, unused.port), p.stderr)
        p = cli(["describe_all", "--root", "/nonexistent-meshdb-root"], check=1)
        self.assertIn("no meshdb configuration", p.stderr)
        cli(["describe_all", "--bogus"], check=2)

    def test_04_version(self):
        p = cli(["--version"], check=0)
        self.assertRegex(p.stdout, r"^meshdb \d+\.\d+\.\d+\n$")

    def test_05_status_summary_of_two_nodes(self):
        key = cluster.new_cluster_key()
        a = self.start_repl_node("A", cluster_key=key)
        b = self.start_repl_node("B", cluster_key=key, routes=[a])
        self.create_table(a, DB, T)
        self.wait_table(b, DB, T)
        cluster.wait_linked(a, b, DB)
        p = cli(["status", "--target", self.target(a)], node=a, check=0)
        lines = p.stdout.splitlines()
        self.assertLessEqual(len(lines), 25, p.stdout)
        self.assertTrue(lines[0].startswith("node %s" % a.repl_name), p.stdout)
        self.assertIn("1 peer", lines[0])
        row = [l for l in lines if l.split()[:2] == [b.repl_name, DB]]
        self.assertEqual(1, len(row), p.stdout)
        self.assertIn("yes", row[0].split())

    def test_06_stop_by_pid_file(self):
        node = self.start_node()
        p = cli(["stop", "--root", node.root], check=0)
        self.assertIn("stopped meshdb (pid %d)" % node.proc.pid, p.stdout)
        wait_until(lambda: not node.running(), 10, "the node to exit")
        self.assertEqual(0, node.proc.returncode)
        p = cli(["stop", "--root", node.root], check=1)  # the pid file is gone
        self.assertIn("error:", p.stderr)

    # -- HTTPS ----------------------------------------------------------------------------

    def https(self, node):
        return "https://%s:%d" % (node.ip, HTTPS_PORT)

    def assert_tls_refused(self, p, url):
        lines = p.stderr.strip().splitlines()
        self.assertEqual(1, len(lines), p.stderr)
        self.assertTrue(lines[0].startswith("error: cannot reach %s: " % url), p.stderr)
        self.assertIn("certificate verify failed", lines[0])
        self.assertIn("--cacert", lines[0])
        self.assertEqual("", p.stdout)

    def test_07_https_target_verified_by_the_generated_ca(self):
        node = self.start_node(["--OPERATIONSAPI_NETWORK_SECUREPORT", HTTPS_PORT])
        url = self.https(node)
        generated_ca = os.path.join(node.root, "keys", "certificateAuthority.pem")
        self.assertTrue(os.path.exists(generated_ca))
        # The local root's CA: the one the node generated under <root>/keys.
        p = cli(["describe_all", "--json", "--target", url, "--root", node.root], node=node, check=0)
        self.assertEqual({}, json.loads(p.stdout))
        cli(["status", "--target", url, "--root", node.root], node=node, check=0)
        # No local configuration: the system's CAs, which never signed it.
        p = cli(["describe_all", "--target", url, "--root", "/nonexistent-meshdb-root"], node=node, check=1)
        self.assert_tls_refused(p, url)
        self.assertIn("issued by one of the system's CAs", p.stderr)
        # --cacert: that CA, also in place of the local one.
        p = cli(["describe_all", "--json", "--target", url, "--root", "/nonexistent-meshdb-root",
                 "--cacert", generated_ca], node=node, check=0)
        self.assertEqual({}, json.loads(p.stdout))
        cluster.certgen("ca", self.certificates_dir(), "foreign-ca")
        foreign = self.ca_path("foreign-ca")
        p = cli(["describe_all", "--target", url, "--root", node.root, "--cacert", foreign], node=node, check=1)
        self.assert_tls_refused(p, url)
        self.assertIn("issued by the CA in %s (--cacert)" % foreign, p.stderr)
        p = cli(["describe_all", "--target", url, "--cacert", "/nonexistent-ca.pem"], node=node, check=1)
        self.assertEqual(["error: cannot load CA file '/nonexistent-ca.pem': No such file or directory"],
                         p.stderr.strip().splitlines())
        # Wrong credentials over HTTPS are the node's answer, as over HTTP.
        p = cli(["describe_all", "--target", url, "--root", node.root, "--password", "wrong"], node=node, check=1)
        self.assertIn("(HTTP 401)", p.stderr)

    def test_08_https_only_local_config_is_used_without_a_target(self):
        node = self.start_node(["--OPERATIONSAPI_NETWORK_SECUREPORT", HTTPS_PORT])
        # The file (not the command line the harness started the node with) says: HTTPS only
        # (no plain port: 0).
        node.ok({"operation": "set_configuration", "operationsApi_network_host": node.ip,
                 "operationsApi_network_port": 0, "operationsApi_network_securePort": HTTPS_PORT})
        p = cli(["describe_all", "--json", "--root", node.root], node=node, check=0)
        self.assertEqual({}, json.loads(p.stdout))
        # It went over HTTPS: another CA refuses it.
        cluster.certgen("ca", self.certificates_dir(), "foreign-ca")
        p = cli(["describe_all", "--root", node.root, "--cacert", self.ca_path("foreign-ca")], node=node, check=1)
        self.assert_tls_refused(p, self.https(node))

    def test_09_https_verified_by_the_configured_certificate_authority(self):
        node = self.new_node()
        self._test_nodes.append(node)
        certificate, key = self.node_certificate("cli-node", cn=node.ip, sans=[node.ip])
        node.start(["--TLS_CERTIFICATE", certificate, "--TLS_PRIVATEKEY", key,
                    "--TLS_CERTIFICATEAUTHORITY", self.ca_path(), "--OPERATIONSAPI_NETWORK_SECUREPORT", HTTPS_PORT])
        node.ok({"operation": "set_configuration", "tls_certificate": certificate, "tls_privateKey": key,
                 "tls_certificateAuthority": self.ca_path()})
        url = self.https(node)
        p = cli(["describe_all", "--json", "--target", url, "--root", node.root], node=node, check=0)
        self.assertEqual({}, json.loads(p.stdout))
        p = cli(["describe_all", "--target", url, "--root", "/nonexistent-meshdb-root"], node=node, check=1)
        self.assert_tls_refused(p, url)


if __name__ == "__main__":
    harness.main()
