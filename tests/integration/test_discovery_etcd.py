"""Self-forming clusters through a real etcd (issue 10; docs: reference/discovery.md §2, §4).

One etcd for the module (etcd_fixture.py: Debian's etcd 3.4 on free loopback ports, a temp data
dir, stopped by PID), a random --disco-key per test. The scenarios are shared with the Consul
backend (discovery_scenarios.py); this module adds what is etcd's own: the fixture itself, the
keys' leases and a config without endpoints. Skipped when no etcd is on PATH.
"""

import json
import os
import secrets
import shutil
import sys
import tempfile
import unittest

import cluster
import discovery_scenarios
import harness
from discovery_scenarios import TTL_S
from etcd_fixture import EtcdFixture
from cluster import certgen


class EtcdStore:
    """The store hooks of discovery_scenarios.Scenarios for one etcd per test class."""

    MODE = "etcd-kv"
    # etcd deletes an expired lease's keys on a ~0.5 s grain (§2.4); a node waits 0-1 s before
    # claiming (§4.6).
    FAILOVER_SLACK_S = 2.0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.etcd = EtcdFixture().start()

    @classmethod
    def tearDownClass(cls):
        cls.etcd.cleanup(keep=cls._class_failed)
        super().tearDownClass()

    def run(self, result=None):
        result = result or self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        outcome = super().run(result)  # marks the class failed, so tearDownClass keeps etcd's dir
        if len(result.failures) + len(result.errors) > before:
            sys.stderr.write("----- etcd log tail -----\n%s\n" % self.etcd.log_tail())
        return outcome

    def start_store(self):
        self.etcd.start()

    def stop_store(self):
        self.etcd.stop()

    def store_running(self):
        return self.etcd.running()

    def store_config(self):
        return {"endpoints": [self.etcd.url]}

    def store_endpoint(self):
        return self.etcd.url

    def store_keys(self, prefix):
        return self.etcd.list_prefix(prefix)

    def key_path(self, key, *parts):
        return "/".join(["", key or self.disco_key] + list(parts))


class EtcdDiscoveryTest(EtcdStore, discovery_scenarios.Scenarios, cluster.ClusterTestCase):
    def test_both_keys_of_a_node_are_bound_to_a_lease_of_the_configured_ttl(self):
        # §4.2: "One lease (etcd) ... per node process covers both of its keys."
        a = self.start_disco_node("a")
        self.wait_one_seed([a])
        seed = self.etcd.range(self.key_path(None, "seed"))[0]
        node = self.etcd.range(self.key_path(None, "nodes", discovery_scenarios.node_id(a.repl_name)))[0]
        self.assertEqual(seed.get("lease"), node.get("lease"))
        ttl = self.etcd.call("lease/timetolive", {"ID": seed["lease"]})
        self.assertEqual(int(ttl["grantedTTL"]), TTL_S, ttl)
        # Stopped gracefully, the node gives its lease back: both keys go at once.
        a.stop()
        self.assertEqual(self.etcd.list_prefix(self.key_path(None, "")), {})

    def test_an_etcd_config_without_endpoints_is_refused_at_start(self):
        args = self.disco_args_with("--disco-config", json.dumps({"ttl": TTL_S}))
        self.assert_refused_at_start(args, "disco-config", "endpoints")


class EtcdSecuredStore(EtcdStore):
    """etcd serving clients over https only, with authentication on (a root user)."""

    ROOT_PASSWORD = "etcd-" + secrets.token_hex(8)

    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.mkdtemp(prefix="meshdb-it-etcd-certs-")
        certgen("ca", cls.certs, "etcd-ca")
        certgen("node", cls.certs, "etcd-ca", "etcd", "etcd", "127.0.0.1")
        cert = os.path.join(cls.certs, "etcd")
        cls.ca_file = os.path.join(cls.certs, "etcd-ca.pem")
        cls.etcd = EtcdFixture(tls=(cert + ".pem", cert + ".key", cls.ca_file)).start()
        cls.etcd.enable_auth(cls.ROOT_PASSWORD)
        super(EtcdStore, cls).setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.certs, ignore_errors=True)

    def store_config(self):
        return {"endpoints": [self.etcd.url], "ca": self.ca_file, "username": "root",
                "password": self.ROOT_PASSWORD}


class EtcdOverTlsWithAuthTest(EtcdSecuredStore, discovery_scenarios.DiscoveryCase, cluster.ClusterTestCase):
    def test_nodes_reach_etcd_over_tls_with_a_password_that_stays_secret(self):
        nodes = self.meshed_cluster(("a", "b"))
        self.wait_one_seed(nodes)
        for n in nodes:
            self.assert_discovery_section(n)
            shown = n.ok({"operation": "get_configuration"})["discovery"]
            self.assertEqual(shown["config"]["password"], "[redacted]")
            self.assertEqual(shown["authorization"], "[redacted]")
            # What the node wrote (the harness records the command line in the output too).
            written = [line for line in (n.log_text() + n.output_text()).splitlines()
                       if not line.startswith("=== start")]
            self.assertNotIn(self.ROOT_PASSWORD, "\n".join(written))
        self.assert_registered(nodes)
        self.assert_nothing_secret()
        values = json.dumps(self.store_keys(self.key_path(None, "")))
        self.assertNotIn(self.ROOT_PASSWORD, values)

    def test_a_wrong_password_or_an_untrusted_etcd_is_reported_and_the_node_keeps_serving(self):
        wrong = dict(self.store_config(), password="not-" + self.ROOT_PASSWORD, ttl=TTL_S)
        untrusted = dict(self.store_config(), ttl=TTL_S)
        del untrusted["ca"]  # the system's CAs do not know the test CA
        for label, config, words in (("w", wrong, "refused user 'root'"), ("u", untrusted, "certificate")):
            node = self.start_repl_node(label, extra=self.disco_args_with("--disco-config", json.dumps(config)))
            harness.wait_until(lambda: discovery_scenarios.discovery(node)["last_error"], 15,
                               "%s to report the store's refusal" % label)
            status = discovery_scenarios.discovery(node)
            self.assertIn(words, status["last_error"], status)
            self.assertFalse(status["registered"], status)
            self.assertEqual(node.ok({"operation": "describe_all"}), {})  # it still serves


class EtcdFixtureTest(unittest.TestCase):
    """The fixture the tests above rely on (needs no meshdb binary)."""

    def test_starts_restarts_on_the_same_data_and_ports_and_stops(self):
        with EtcdFixture() as etcd:
            url = etcd.url
            lease = etcd.grant(2)
            etcd.put("/f/a", "1")
            etcd.put("/f/b", "2", lease=lease)
            etcd.put("/f0", "outside the prefix")
            self.assertEqual(etcd.list_prefix("/f/"), {"/f/a": "1", "/f/b": "2"})
            self.assertEqual(etcd.range("/f/b")[0]["lease"], lease)
            etcd.stop()
            self.assertFalse(etcd.running())
            self.assertFalse(etcd.healthy())
            etcd.start()
            self.assertEqual(etcd.url, url)
            self.assertEqual(etcd.list_prefix("/f/"), {"/f/a": "1", "/f/b": "2"})
            # The lease survived the restart with its TTL reset (§2.4), then lapses.
            harness.wait_until(lambda: etcd.get("/f/b") is None, 10, "the leased key to expire")
            self.assertEqual(etcd.get("/f/a"), "1")
            pid = etcd.proc.pid
        self.assertFalse(etcd.running())
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)


if __name__ == "__main__":
    harness.main()
