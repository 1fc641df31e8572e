"""Self-forming clusters through Consul (issue 10; reference/discovery.md §3, §4).

Tested against the Consul stand-in (consul_standin.py), not a real Consul: none can be had on
this machine (§3.4). The stand-in runs in-process with session_ttl_min 1 s and TTL multiplier 1
so sessions lapse in seconds; a random --disco-key per test. The scenarios are shared with the
etcd backend (discovery_scenarios.py); this module adds Consul's own: the ACL token.
"""

import json
import secrets

import cluster
import discovery_scenarios
import harness
from consul_standin import ConsulStandin
from discovery_scenarios import TTL_S, discovery
from harness import wait_until


class ConsulStore:
    """The store hooks of discovery_scenarios.Scenarios for one stand-in per test class."""

    MODE = "consul-kv"
    # The session lapses at TTL x 1 here; then the key's lock-delay (the node's LockDelay,
    # about 1 s per §4.3) and the node's 0-1 s wait (§4.6).
    FAILOVER_SLACK_S = 3.0
    TOKEN = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.consul = ConsulStandin(session_ttl_min=1, ttl_multiplier=1, token=cls.TOKEN).start()

    @classmethod
    def tearDownClass(cls):
        cls.consul.close()
        super().tearDownClass()

    def start_store(self):
        self.consul.start()

    def stop_store(self):
        self.consul.stop()

    def store_running(self):
        return self.consul.running()

    def store_config(self):
        config = {"address": self.consul.address}
        if self.TOKEN:
            config["token"] = self.TOKEN
        return config

    def store_endpoint(self):
        return "http://" + self.consul.address

    def store_keys(self, prefix):
        return self.consul.list_prefix(prefix)

    def key_path(self, key, *parts):
        return "/".join([key or self.disco_key] + list(parts))


class ConsulDiscoveryTest(ConsulStore, discovery_scenarios.Scenarios, cluster.ClusterTestCase):
    def test_the_seed_and_registration_hold_a_session_lock(self):
        # §4.3: claim the seed with ?acquire, so the key goes when the holder's session does.
        a = self.start_disco_node("a")
        self.wait_one_seed([a])
        entries = self.consul.entries(self.key_path(None, ""))
        self.assertEqual(len(entries), 2, entries)
        sessions = {e.get("Session") for e in entries.values()}
        self.assertEqual(len(sessions), 1, entries)
        self.assertNotIn(None, sessions, entries)
        a.kill9()
        wait_until(lambda: not self.consul.list_prefix(self.key_path(None, "")), 3 * TTL_S,
                   "the dead node's keys to go with its session")


class ConsulTokenTest(ConsulStore, discovery_scenarios.DiscoveryCase, cluster.ClusterTestCase):
    """The stand-in requires an ACL token: disco-config's "token" is sent as X-Consul-Token."""

    TOKEN = "tok-" + secrets.token_hex(6)

    def test_nodes_with_the_token_form_a_mesh_and_one_without_reports_the_refusal(self):
        nodes = self.meshed_cluster(("a", "b"))
        self.assert_registered(nodes)
        self.assertNotIn(self.TOKEN, json.dumps(self.consul.list_prefix(self.key_path(None, ""))))
        # Without the token the node still starts and serves, and says why it is not registered.
        no_token = json.dumps({"address": self.consul.address, "ttl": TTL_S})
        c = self.start_repl_node("c", extra=self.disco_args_with("--disco-config", no_token))

        def refusal():
            error = discovery(c)["last_error"] or ""
            return "403" in error or "Permission denied" in error
        wait_until(refusal, 15, "the token-less node to report Consul's 403")
        self.assertIs(discovery(c)["registered"], False)
        harness.assert_op(c, {"operation": "describe_all"}, 200)


if __name__ == "__main__":
    harness.main()
