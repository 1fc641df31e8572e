"""The Consul stand-in (consul_standin.py) against Consul's documented behaviour.

meshdb's consul-kv discovery is tested against the stand-in only (no Consul binary can be had
here, reference/discovery.md §3.4), so the stand-in must answer as Consul does. Each test names
the section of reference/discovery.md (which quotes Consul's docs and source) that it checks. No
meshdb binary is needed.
"""

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

from consul_standin import ConsulStandin
from harness import wait_until

TTL_S = 1.0  # session_ttl_min here, and the TTL the expiry tests use (multiplier 1)


class Client:
    """HTTP requests to a stand-in at host:port, one connection each."""

    def __init__(self, host, port, token=None):
        self.host, self.port, self.token = host, port, token

    def call(self, method, path, body=None, timeout=20):
        """(status, headers with lower-case names, body bytes)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            headers = {"X-Consul-Token": self.token} if self.token else {}
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, method, path, body=None, status=200):
        got_status, _, data = self.call(method, path, body)
        if got_status != status:
            raise AssertionError("%s %s: expected %d, got %d %r" % (method, path, status, got_status, data))
        return json.loads(data)

    def status_body(self, method, path, body=None):
        status, _, data = self.call(method, path, body)
        return status, data

    def put(self, key, value=b"", query=""):
        return self.json("PUT", "/v1/kv/%s%s" % (key, query), value)

    def list(self, key, query):
        """The JSON answer of a GET (a list), None on 404."""
        status, data = self.status_body("GET", "/v1/kv/%s%s" % (key, query))
        if status == 404:
            return None
        if status != 200:
            raise AssertionError("GET %s%s: %d %r" % (key, query, status, data))
        return json.loads(data)

    def get(self, key):
        """A key's entry, None on 404."""
        entries = self.list(key, "")
        return entries[0] if entries else None

    def index(self, key, query=""):
        return int(self.call("GET", "/v1/kv/%s%s" % (key, query))[1]["x-consul-index"])

    def session(self, **fields):
        return self.json("PUT", "/v1/session/create", json.dumps(fields).encode())["ID"]


def b64(text):
    return base64.b64encode(text.encode()).decode()


class StandinTestCase(unittest.TestCase):
    """One stand-in for the class (session_ttl_min 1 s, multiplier 1); each test its own keys."""

    @classmethod
    def setUpClass(cls):
        cls.standin = ConsulStandin(session_ttl_min=TTL_S, ttl_multiplier=1).start()
        cls.c = Client(cls.standin.host, cls.standin.port)

    @classmethod
    def tearDownClass(cls):
        cls.standin.close()

    def setUp(self):
        self.k = "t/%s" % self.id().rsplit(".", 1)[1]  # a key prefix of this test


class KvTest(StandinTestCase):
    def test_missing_key_is_404_with_an_empty_body_and_the_meta_headers(self):
        # §3.1 GET: "A missing key returns 404 with an empty body. X-Consul-Index is still set";
        # §3.5.1: always X-Consul-Index, X-Consul-KnownLeader: true, X-Consul-LastContact: 0.
        status, headers, body = self.c.call("GET", "/v1/kv/%s/none" % self.k)
        self.assertEqual((status, body), (404, b""))
        self.assertGreaterEqual(int(headers["x-consul-index"]), 1)
        self.assertEqual(headers["x-consul-knownleader"], "true")
        self.assertEqual(headers["x-consul-lastcontact"], "0")

    def test_put_returns_true_and_get_an_array_with_a_base64_value(self):
        # §3.1 PUT: "The response body is the literal true or false"; GET: "200 returns a JSON
        # array (even for a single key)", Value base64; §3.5.1: Value null for an empty value.
        status, headers, body = self.c.call("PUT", "/v1/kv/%s/a?flags=42" % self.k, b"hello")
        self.assertEqual((status, body), (200, b"true"))
        self.assertEqual(headers["content-type"], "application/json")
        status, _, body = self.c.call("GET", "/v1/kv/%s/a" % self.k)
        entries = json.loads(body)
        self.assertEqual(len(entries), 1)
        e = entries[0]
        self.assertEqual(sorted(e), ["CreateIndex", "Flags", "Key", "LockIndex", "ModifyIndex", "Value"])
        self.assertEqual((e["Key"], e["Value"], e["Flags"], e["LockIndex"]), ("%s/a" % self.k, b64("hello"), 42, 0))
        self.assertEqual(e["CreateIndex"], e["ModifyIndex"])
        self.c.put(self.k + "/empty")
        self.assertIsNone(self.c.get(self.k + "/empty")["Value"])
        # ?raw: the bare value.
        self.assertEqual(self.c.call("GET", "/v1/kv/%s/a?raw" % self.k)[2], b"hello")

    def test_one_global_index_strictly_increasing_and_the_table_index_on_a_single_key_get(self):
        # §3.5: "one global, strictly increasing index (bumped by every KV or session write)";
        # §3.1: "For a single-key GET, X-Consul-Index is the KV table's max index, not the key's own".
        self.c.put(self.k + "/a", b"1")
        a = self.c.get(self.k + "/a")["ModifyIndex"]
        self.c.session()
        self.c.put(self.k + "/b", b"1")
        b = self.c.get(self.k + "/b")["ModifyIndex"]
        self.assertGreater(b, a + 1)  # the session took an index in between
        self.assertEqual(self.c.index(self.k + "/a"), b)
        self.c.put(self.k + "/a", b"2")
        a2 = self.c.get(self.k + "/a")
        self.assertEqual((a2["ModifyIndex"] > b, a2["CreateIndex"]), (True, a))

    def test_an_identical_rewrite_does_not_bump_the_modify_index(self):
        # §3.1: "a PUT whose value and flags are identical to the stored entry is a no-op that
        # does not bump ModifyIndex".
        self.c.put(self.k, b"same")
        before = self.c.get(self.k)["ModifyIndex"]
        self.assertTrue(self.c.put(self.k, b"same"))
        self.assertEqual(self.c.get(self.k)["ModifyIndex"], before)
        self.c.put(self.k, b"same", "?flags=1")
        self.assertGreater(self.c.get(self.k)["ModifyIndex"], before)

    def test_cas_zero_writes_only_when_the_key_does_not_exist(self):
        # §3.1: "cas=0: write only if the key does not exist"; a failed check answers false (200).
        self.assertIs(self.c.put(self.k, b"first", "?cas=0"), True)
        self.assertIs(self.c.put(self.k, b"second", "?cas=0"), False)
        self.assertEqual(self.c.get(self.k)["Value"], b64("first"))

    def test_cas_n_writes_only_when_the_modify_index_matches(self):
        # §3.1: "cas=N>0: write only if the key exists and its ModifyIndex == N".
        self.assertIs(self.c.put(self.k + "/missing", b"x", "?cas=5"), False)
        self.assertIsNone(self.c.get(self.k + "/missing"))
        self.c.put(self.k, b"v1")
        index = self.c.get(self.k)["ModifyIndex"]
        self.assertIs(self.c.put(self.k, b"v2", "?cas=%d" % (index + 100)), False)
        self.assertIs(self.c.put(self.k, b"v2", "?cas=%d" % index), True)
        self.assertIs(self.c.put(self.k, b"v3", "?cas=%d" % index), False)  # stale now
        self.assertEqual(self.c.get(self.k)["Value"], b64("v2"))

    def test_delete_plain_recursive_and_cas(self):
        # §3.1 DELETE: ?recurse; "?cas=N deletes only if ModifyIndex == N. cas=0 never deletes";
        # "a delete-CAS on a key that doesn't exist returns true".
        for name in ("a", "b", "sub/c", "sub/d"):
            self.c.put("%s/%s" % (self.k, name), b"x")
        self.assertIs(self.c.json("DELETE", "/v1/kv/%s/a" % self.k), True)
        self.assertIsNone(self.c.get(self.k + "/a"))
        self.assertIs(self.c.json("DELETE", "/v1/kv/%s/a" % self.k), True)  # already gone
        b = self.c.get(self.k + "/b")["ModifyIndex"]
        self.assertIs(self.c.json("DELETE", "/v1/kv/%s/b?cas=0" % self.k), False)
        self.assertIs(self.c.json("DELETE", "/v1/kv/%s/b?cas=%d" % (self.k, b + 1)), False)
        self.assertIsNotNone(self.c.get(self.k + "/b"))
        self.assertIs(self.c.json("DELETE", "/v1/kv/%s/b?cas=%d" % (self.k, b)), True)
        self.assertIs(self.c.json("DELETE", "/v1/kv/%s/gone?cas=7" % self.k), True)
        self.assertIs(self.c.json("DELETE", "/v1/kv/%s/sub?recurse" % self.k), True)
        self.assertIsNone(self.c.list(self.k, "?recurse"))

    def test_recurse_and_keys_list_a_prefix_and_an_empty_prefix_is_404(self):
        # §3.1: "?recurse treats the key as a prefix", "?keys (with optional &separator=/)
        # returns a JSON array of key names"; §3.5.1: "404 for an empty prefix result".
        for name in ("b", "a", "dir/x", "dir/y"):
            self.c.put("%s/%s" % (self.k, name), name.encode())
        listed = self.c.list(self.k + "/", "?recurse")
        self.assertEqual([e["Key"] for e in listed], ["%s/%s" % (self.k, n) for n in ("a", "b", "dir/x", "dir/y")])
        self.assertEqual(listed[0]["Value"], b64("a"))
        self.assertEqual(self.c.list(self.k + "/", "?keys"), ["%s/%s" % (self.k, n) for n in ("a", "b", "dir/x", "dir/y")])
        self.assertEqual(self.c.list(self.k + "/", "?keys&separator=/"), ["%s/%s" % (self.k, n) for n in ("a", "b", "dir/")])
        self.assertIsNone(self.c.list(self.k + "/nothing/", "?recurse"))
        self.assertIsNone(self.c.list(self.k + "/nothing/", "?keys"))

    def test_conflicting_flags_are_400(self):
        # §3.1: "Combining more than one of cas, acquire and release → 400 Conflicting flags".
        sid = self.c.session(TTL="10s")
        status, _, body = self.c.call("PUT", "/v1/kv/%s?cas=0&acquire=%s" % (self.k, sid), b"x")
        self.assertEqual(status, 400)
        self.assertTrue(body.startswith(b"Conflicting flags: "), body)
        self.assertIsNone(self.c.get(self.k))

    def test_key_names_are_validated_as_consul_1_21_5_does(self):
        # §3.1 Key names: "No leading /", 1.21.5 rejects keys outside ^[a-zA-Z0-9,_./\-?&=]+$.
        for bad in ("/%s" % self.k, "%s/host:9925" % self.k, "%s/sp%%20ace" % self.k, "%s/caf%%C3%%A9" % self.k):
            for method in ("PUT", "GET", "DELETE"):
                status, _, body = self.c.call(method, "/v1/kv/" + bad, b"x" if method == "PUT" else None)
                self.assertEqual(status, 400, "%s %s: %r" % (method, bad, body))
                self.assertTrue(body.startswith((b"key must not begin", b"invalid key name")), body)
        self.assertTrue(self.c.put("%s/ok,_.-=&%%3F/node-1" % self.k, b"x"))
        self.assertEqual(self.c.status_body("PUT", "/v1/kv/", b"x"), (400, b"Missing key name"))


class SessionTest(StandinTestCase):
    def info(self, sid):
        return self.c.json("GET", "/v1/session/info/" + sid)

    def test_create_returns_an_id_and_info_shows_the_defaults(self):
        # §3.2: create returns {"ID":"<uuid>"}; defaults LockDelay 15 s, Behavior release, no
        # TTL; "GET /v1/session/info/<id> returns [] when the session doesn't exist".
        sid = self.c.session(Name="n")
        [s] = self.info(sid)
        self.assertEqual((s["ID"], s["Name"], s["Behavior"], s["LockDelay"], s["TTL"]), (sid, "n", "release", 15 * 10 ** 9, ""))
        [s] = self.info(self.c.session(TTL="3s", Behavior="delete", LockDelay="2s", NodeChecks=[]))
        self.assertEqual((s["Behavior"], s["LockDelay"], s["TTL"], s["NodeChecks"]), ("delete", 2 * 10 ** 9, "3s", []))
        # "A bare number below 1000 is read as seconds."
        self.assertEqual(self.info(self.c.session(LockDelay=5))[0]["LockDelay"], 5 * 10 ** 9)
        self.assertEqual(self.info("00000000-0000-0000-0000-000000000000"), [])

    def test_a_ttl_outside_the_bounds_or_a_bad_behavior_is_refused(self):
        # §3.2: "The TTL must be between session_ttl_min ... and 24 h". Consul answers these with
        # the RPC error's text and status 500 (hashicorp/consul#1670 shows the same message).
        status, _, body = self.c.call("PUT", "/v1/session/create", b'{"TTL":"500ms"}')
        self.assertEqual((status, body), (500, b"Invalid Session TTL '500000000', must be between [1s=24h0m0s]"))
        status, _, body = self.c.call("PUT", "/v1/session/create", b'{"TTL":"25h"}')
        self.assertEqual(status, 500, body)
        status, _, body = self.c.call("PUT", "/v1/session/create", b'{"TTL":"10s","Behavior":"keep"}')
        self.assertEqual((status, body), (500, b"Invalid Behavior setting 'keep'"))
        self.assertEqual(self.c.call("PUT", "/v1/session/create", b"{not json")[0], 400)

    def test_renew_returns_the_session_and_404_once_it_is_destroyed(self):
        # §3.2: renew "returns a one-element array with the session. If the session is unknown or
        # already invalidated it returns 404 Session id '<id>' not found"; destroy returns true and
        # is idempotent.
        sid = self.c.session(TTL="10s")
        [s] = self.c.json("PUT", "/v1/session/renew/" + sid)
        self.assertEqual((s["ID"], s["TTL"]), (sid, "10s"))
        self.assertIs(self.c.json("PUT", "/v1/session/destroy/" + sid), True)
        self.assertIs(self.c.json("PUT", "/v1/session/destroy/" + sid), True)
        status, _, body = self.c.call("PUT", "/v1/session/renew/" + sid)
        self.assertEqual((status, body.decode()), (404, "Session id '%s' not found" % sid))
        self.assertEqual(self.info(sid), [])

    def test_acquire_and_release_hold_a_lock_that_plain_writes_ignore(self):
        # §3.1 ?acquire: held by another session → false; same session → value updated, LockIndex
        # unchanged; free or absent → LockIndex+1, Session set; a write without acquire still
        # succeeds (locks are advisory). ?release: clears Session if this session holds the key.
        s1, s2 = self.c.session(TTL="30s"), self.c.session(TTL="30s")
        self.assertIs(self.c.put(self.k, b"one", "?acquire=" + s1), True)
        e = self.c.get(self.k)
        self.assertEqual((e["LockIndex"], e["Session"], e["Value"]), (1, s1, b64("one")))
        self.assertIs(self.c.put(self.k, b"two", "?acquire=" + s2), False)
        self.assertIs(self.c.put(self.k, b"again", "?acquire=" + s1), True)
        e = self.c.get(self.k)
        self.assertEqual((e["LockIndex"], e["Session"], e["Value"]), (1, s1, b64("again")))
        self.assertIs(self.c.put(self.k, b"plain"), True)
        self.assertEqual((self.c.get(self.k)["Session"], self.c.get(self.k)["Value"]), (s1, b64("plain")))
        self.assertIs(self.c.put(self.k, b"", "?release=" + s2), False)
        self.assertIs(self.c.put(self.k, b"free", "?release=" + s1), True)
        e = self.c.get(self.k)
        self.assertNotIn("Session", e)
        self.assertEqual((e["LockIndex"], e["Value"]), (1, b64("free")))
        # Release starts no lock-delay: s2 takes it at once.
        self.assertIs(self.c.put(self.k, b"s2", "?acquire=" + s2), True)
        self.assertEqual(self.c.get(self.k)["LockIndex"], 2)
        self.assertIs(self.c.put(self.k + "/absent", b"", "?release=" + s1), False)

    def test_acquire_with_an_unknown_session_is_a_500_error(self):
        # §3.1: "The session must exist, otherwise an RPC error (invalid session ...), surfaced as
        # an HTTP error; expected 500" (agent/consul/state/kvs.go kvsLockTxn).
        status, _, body = self.c.call("PUT", "/v1/kv/%s?acquire=nope" % self.k, b"x")
        self.assertEqual((status, body), (500, b'invalid session "nope"'))
        self.assertIsNone(self.c.get(self.k))

    def test_ttl_expiry_with_behavior_delete_deletes_the_held_keys(self):
        # §3.2 Invalidation after TTL x multiplier (1 here): "delete: delete the key"; keys the
        # session did not hold stay; renew then answers 404.
        sid = self.c.session(TTL="1s", Behavior="delete", LockDelay="1ms")
        start = time.monotonic()
        self.c.put(self.k + "/held", b"x", "?acquire=" + sid)
        self.c.put(self.k + "/other", b"y")
        wait_until(lambda: self.c.get(self.k + "/held") is None, 5, "the held key to be deleted")
        self.assertGreaterEqual(time.monotonic() - start, TTL_S * 0.9)
        self.assertIsNotNone(self.c.get(self.k + "/other"))
        self.assertEqual(self.c.call("PUT", "/v1/session/renew/" + sid)[0], 404)

    def test_ttl_expiry_with_behavior_release_keeps_the_key_and_bumps_its_index(self):
        # §3.2: "release: clear Session. The key and value stay, and ModifyIndex is bumped."
        sid = self.c.session(TTL="1s", LockDelay="1ms")
        self.c.put(self.k, b"x", "?acquire=" + sid)
        before = self.c.get(self.k)
        wait_until(lambda: "Session" not in self.c.get(self.k), 5, "the lock to be released")
        after = self.c.get(self.k)
        self.assertEqual((after["Value"], after["LockIndex"]), (b64("x"), 1))
        self.assertGreater(after["ModifyIndex"], before["ModifyIndex"])

    def test_renewals_keep_a_session_alive_past_its_ttl(self):
        # §3.2: invalidation comes only TTL x multiplier "after its last renewal" (§3.5.5).
        sid = self.c.session(TTL="1s", Behavior="delete")
        self.c.put(self.k, b"x", "?acquire=" + sid)
        end = time.monotonic() + 3 * TTL_S
        while time.monotonic() < end:  # renewing at a third of the TTL, as meshdb does
            self.c.json("PUT", "/v1/session/renew/" + sid)
            self.assertIsNotNone(self.c.get(self.k))
            time.sleep(TTL_S / 3)
        wait_until(lambda: self.c.get(self.k) is None, 5, "the key to go once renewals stop")

    def test_lock_delay_refuses_acquire_after_invalidation_but_not_cas(self):
        # §3.2: on invalidation "start a lock-delay on that key ... During it, ?acquire returns
        # false. Lock-delay does not affect ?cas."
        s1, s2 = self.c.session(LockDelay="1s"), self.c.session()
        self.c.put(self.k, b"one", "?acquire=" + s1)
        self.c.json("PUT", "/v1/session/destroy/" + s1)
        destroyed = time.monotonic()
        self.assertIs(self.c.put(self.k, b"two", "?acquire=" + s2), False)
        index = self.c.get(self.k)["ModifyIndex"]
        self.assertIs(self.c.put(self.k, b"cas", "?cas=%d" % index), True)
        wait_until(lambda: self.c.put(self.k, b"two", "?acquire=" + s2), 5, "the lock-delay to pass")
        self.assertGreaterEqual(time.monotonic() - destroyed, 0.9)
        self.assertEqual(self.c.get(self.k)["Session"], s2)


class BlockingTest(StandinTestCase):
    def blocking_get(self, path):
        """Starts a GET in a thread; returns a dict that gets status, headers, body, seconds."""
        out = {}

        def run():
            start = time.monotonic()
            out["status"], out["headers"], out["body"] = self.c.call("GET", path)
            out["seconds"] = time.monotonic() - start

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        out["thread"] = thread
        return out

    def test_a_blocking_get_returns_when_the_key_changes_not_for_other_keys(self):
        # §3.3: "Repeat the GET with ?index=<that>&wait=<dur> and it hangs until the watched key or
        # prefix changes, or until the wait expires" (§3.5.2: a write touching the watched key).
        self.c.put(self.k, b"v1")
        index = self.c.index(self.k)
        got = self.blocking_get("/v1/kv/%s?index=%d&wait=20s" % (self.k, index))
        wait_until(lambda: self.standin.blocked_queries() == 1, 5, "the GET to block")
        self.c.put(self.k + "-other", b"x")  # another key: the watch does not fire
        time.sleep(0.3)  # a bounded negative check: the request must still be waiting
        self.assertTrue(got["thread"].is_alive(), got)
        changed_at = time.monotonic()
        self.c.put(self.k, b"v2")
        wait_until(lambda: not got["thread"].is_alive(), 5, "the blocking GET to answer")
        self.assertLess(time.monotonic() - changed_at, 2)
        self.assertEqual(got["status"], 200)
        self.assertGreater(int(got["headers"]["x-consul-index"]), index)
        self.assertEqual(json.loads(got["body"])[0]["Value"], b64("v2"))

    def test_a_blocking_get_answers_at_the_end_of_the_wait_with_the_same_index(self):
        # §3.3: "A return does not guarantee a change"; the wait plus up to wait/16 of jitter.
        self.c.put(self.k, b"v")
        index = self.c.index(self.k)
        got = self.blocking_get("/v1/kv/%s?index=%d&wait=1s" % (self.k, index))
        wait_until(lambda: not got["thread"].is_alive(), 5, "the blocking GET to time out")
        self.assertGreaterEqual(got["seconds"], 0.95)
        self.assertLess(got["seconds"], 1 + 1 / 16 + 1)
        self.assertEqual((got["status"], int(got["headers"]["x-consul-index"])), (200, index))

    def test_a_blocking_recurse_wakes_on_a_delete_under_the_prefix(self):
        # §3.5.2: hold "until a write touches the watched key or prefix"; deletes are writes.
        self.c.put(self.k + "/nodes/a", b"a")
        index = self.c.index(self.k + "/", "?recurse")
        got = self.blocking_get("/v1/kv/%s/?recurse&index=%d&wait=20s" % (self.k, index))
        self.c.json("DELETE", "/v1/kv/%s/nodes/a" % self.k)
        wait_until(lambda: not got["thread"].is_alive(), 5, "the blocking list to answer")
        self.assertEqual(got["status"], 404)
        self.assertGreater(int(got["headers"]["x-consul-index"]), index)

    def test_an_index_below_the_current_one_answers_at_once(self):
        # §3.3: it hangs only while the index has not moved past the one given.
        self.c.put(self.k, b"v1")
        index = self.c.index(self.k)
        self.c.put(self.k, b"v2")
        start = time.monotonic()
        status, _, _ = self.c.call("GET", "/v1/kv/%s?index=%d&wait=20s" % (self.k, index))
        self.assertEqual(status, 200)
        self.assertLess(time.monotonic() - start, 2)

    def test_a_bad_wait_or_index_is_400(self):
        self.assertEqual(self.c.status_body("GET", "/v1/kv/%s?index=1&wait=soon" % self.k), (400, b"Invalid wait time"))
        self.assertEqual(self.c.status_body("GET", "/v1/kv/%s?index=x" % self.k), (400, b"Invalid index"))


class TokenAndLifecycleTest(unittest.TestCase):
    def test_a_token_is_required_when_the_standin_has_one(self):
        # Consul with ACLs: no token → 403 "Permission denied"; an unknown one → 403 "ACL not
        # found" (agent/http.go maps acl errors to 403); X-Consul-Token carries it (§3).
        with ConsulStandin(token="s3cret") as standin:
            host, port = standin.host, standin.port
            self.assertEqual(Client(host, port).status_body("PUT", "/v1/kv/k", b"x"), (403, b"Permission denied"))
            self.assertEqual(Client(host, port, "wrong").status_body("GET", "/v1/kv/k"), (403, b"ACL not found"))
            self.assertIs(Client(host, port, "s3cret").put("k", b"x"), True)
            self.assertEqual(Client(host, port).call("GET", "/v1/kv/k?token=s3cret")[0], 200)

    def test_stop_refuses_connections_and_start_serves_the_same_state(self):
        # §3.5.6 fault injection: the store goes away (connection refused) and comes back.
        with ConsulStandin(session_ttl_min=TTL_S, ttl_multiplier=1) as standin:
            c = Client(standin.host, standin.port)
            sid = c.session(TTL="1s", Behavior="delete")
            c.put("k", b"x", "?acquire=" + sid)
            standin.stop()
            with self.assertRaises(ConnectionRefusedError):
                c.call("GET", "/v1/kv/k")
            time.sleep(2 * TTL_S)  # the outage under test: two TTLs with Consul away
            standin.start()
            # A stopped Consul invalidates nothing; the timer restarted in full at start().
            self.assertEqual(c.get("k")["Session"], sid)
            wait_until(lambda: c.get("k") is None, 5, "the session to expire after the restart")

    def test_runs_from_the_command_line_printing_nothing(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "consul_standin.py")
        proc = subprocess.Popen([sys.executable, script, "--host", "127.0.0.1", "--port", str(port),
                                 "--session-ttl-min", "1s", "--ttl-multiplier", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            c = Client("127.0.0.1", port)
            wait_until(lambda: c.call("GET", "/v1/kv/x")[0] == 404, 10, "the stand-in to listen")
            self.assertEqual(c.call("PUT", "/v1/session/create", b'{"TTL":"1s"}')[0], 200)
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=10)
        self.assertEqual((out, err), (b"", b""))


if __name__ == "__main__":
    unittest.main(verbosity=2)
