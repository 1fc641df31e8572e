"""Start-up, configuration, authentication basics, shutdown and restart (as HarperDB behaves)."""

import ctypes
import ctypes.util
import json
import os
import re
import socket
import ssl
import stat
import subprocess
import time
import unittest

import harness
from harness import ANY, Any, assert_op, wait_until


class _MdbVal(ctypes.Structure):
    _fields_ = [("mv_size", ctypes.c_size_t), ("mv_data", ctypes.c_void_p)]


def set_data_format(path, value):
    """Writes `value` as the "data_format" entry of the meta sub-db of the stopped node's LMDB
    file `path` (docs/storage.md "Data format"), through liblmdb itself."""
    lmdb = ctypes.CDLL(ctypes.util.find_library("lmdb") or "liblmdb.so.0")
    env, txn, dbi = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_uint()

    def check(rc, what):
        if rc != 0:
            raise AssertionError("%s on %s: LMDB error %d" % (what, path, rc))

    check(lmdb.mdb_env_create(ctypes.byref(env)), "mdb_env_create")
    try:
        check(lmdb.mdb_env_set_maxdbs(env, 64), "mdb_env_set_maxdbs")
        check(lmdb.mdb_env_open(env, path.encode(), 0x4000, 0o644), "mdb_env_open")  # MDB_NOSUBDIR
        check(lmdb.mdb_txn_begin(env, None, 0, ctypes.byref(txn)), "mdb_txn_begin")
        check(lmdb.mdb_dbi_open(txn, b"meta", 0, ctypes.byref(dbi)), "mdb_dbi_open meta")
        key, data = b"data_format", value.to_bytes(8, "big")
        k = _MdbVal(len(key), ctypes.cast(ctypes.c_char_p(key), ctypes.c_void_p))
        d = _MdbVal(len(data), ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p))
        check(lmdb.mdb_put(txn, dbi, ctypes.byref(k), ctypes.byref(d), 0), "mdb_put")
        check(lmdb.mdb_txn_commit(txn), "mdb_txn_commit")
    finally:
        lmdb.mdb_env_close(env)


def get_config(node):
    return node.ok({"operation": "get_configuration"})


def logging_level(node):
    return get_config(node)["logging"]["level"]


class StartupTest(harness.NodeTestCase):

    def test_first_start_writes_config_and_health(self):
        node = self.new_node()
        self._test_nodes.append(node)
        config_path = os.path.join(node.root, "harperdb-config.yaml")
        self.assertFalse(os.path.exists(config_path))
        node.start()
        self.assertTrue(os.path.isfile(config_path), "first start must write %s" % config_path)
        with open(config_path) as f:
            text = f.read()
        # The defaults are written (docs/configuration.md: every key at its default).
        for section in ("operationsApi:", "logging:", "authentication:", "replication:"):
            self.assertRegex(text, r"(?m)^%s" % re.escape(section), "config file lacks %s" % section)
        self.assertRegex(text, r"(?m)^\s+level:\s*info\b", "default logging.level info not written")
        self.assertRegex(text, r"(?m)^\s+maxBodySize:\s*104857600\b")
        self.assertRegex(text, r"(?m)^\s+securePort:\s*9933\b", "replication.securePort 9933 not written")

        status, headers, body = node.request("GET", "/health")
        self.assertEqual(status, 200)
        self.assertEqual(body.decode(), "HarperDB is running.")
        self.assertTrue(headers.get("content-type", "").startswith("text/plain"), headers)

        # Database files live under <root>/database; the log under <root>/log/hdb.log.
        self.assertTrue(os.path.isdir(os.path.join(node.root, "database")))
        wait_until(lambda: os.path.isfile(node.log_path()), 5, "log file %s" % node.log_path())

    def test_admin_from_env_and_login_errors(self):
        node = self.start_node(username="boss", password="s3cret-Pw")
        assert_op(node, {"operation": "user_info"}, 200, {"username": "boss", "active": True})
        assert_op(node, {"operation": "user_info"}, 401, {"error": "Login failed"}, auth=("boss", "wrong"))
        assert_op(node, {"operation": "user_info"}, 401, {"error": "Login failed"},
                  auth=("admin", "password"))
        assert_op(node, {"operation": "user_info"}, 401, {"error": "Must login"}, auth=None)
        # Authentication comes before the operation lookup (§1.2).
        assert_op(node, {"operation": "foo_bar"}, 401, {"error": "Must login"}, auth=None)

    def test_default_admin_credentials(self):
        node = self.start_node()  # harness passes admin/password explicitly, as the defaults
        assert_op(node, {"operation": "user_info"}, 200, {"username": "admin"})
        # Wrong password gets exactly {"error":"Login failed"}.
        status, body = node.op({"operation": "user_info"}, auth=("admin", "nope"))
        self.assertEqual((status, body), (401, {"error": "Login failed"}))
        status, body = node.op({"operation": "user_info"}, auth=None)
        self.assertEqual((status, body), (401, {"error": "Must login"}))

    def own_url(self, node):
        rows = node.ok({"operation": "search_by_value", "database": "system", "table": "hdb_nodes",
                        "search_attribute": "name", "search_value": node.ip, "get_attributes": ["url"]})
        return rows[0]["url"] if rows else None

    def test_replication_is_wss_on_9933_unless_a_plain_port_is_configured(self):
        # A new configuration: replication.securePort 9933 serves wss:// with the certificate
        # the node generated, and is the node's own URL; nothing warns of clear text.
        node = self.start_node()
        wait_until(lambda: self.own_url(node), 10, "the node's own hdb_nodes row")
        self.assertEqual(self.own_url(node), "wss://%s:9933" % node.ip)
        ca = os.path.join(node.root, "keys", "certificateAuthority.pem")
        context = ssl.create_default_context(cafile=ca)
        with socket.create_connection((node.ip, 9933), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=node.ip) as tls:
                self.assertIn(tls.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertNotIn("replication is unencrypted", node.log_text())

        # replication.port set explicitly comes first (HarperDB's order): ws://, with the warning.
        node.restart(["--REPLICATION_PORT", node.port])
        self.assertEqual(self.own_url(node), "ws://%s:%d" % (node.ip, node.port))
        self.assertIn("replication is unencrypted", node.log_text())

        # A file written before wss:// was the default (securePort: null) keeps plain ws://
        # on the operations port.
        config_path = os.path.join(node.root, "harperdb-config.yaml")
        with open(config_path) as f:
            text = f.read()
        with open(config_path, "w") as f:
            f.write(re.sub(r"(?m)^(\s+securePort:)\s*9933\b", r"\1 null", text, count=1))
        node.restart([])
        self.assertEqual(self.own_url(node), "ws://%s:%d" % (node.ip, node.port))
        with self.assertRaises(OSError):
            socket.create_connection((node.ip, 9933), timeout=2).close()

    def test_a_null_port_serves_the_operations_api_on_https_only(self):
        # HarperDB's production file: operationsApi.network.port null, securePort 9925. The
        # operations API is then HTTPS alone, with the certificate the node generated.
        https_port = 9926
        node = self.start_node(["--OPERATIONSAPI_NETWORK_PORT", "null",
                                "--OPERATIONSAPI_NETWORK_SECUREPORT", https_port], wait=False)
        ca = os.path.join(node.root, "keys", "certificateAuthority.pem")

        def https_op(body):
            return node.op(body, timeout=5, port=https_port, tls=ssl.create_default_context(cafile=ca))

        def answers():
            if node.proc.poll() is not None:
                return "exited"  # returned, not raised: wait_until retries on an exception
            try:
                return https_op({"operation": "user_info"})[0] == 200
            except (OSError, ssl.SSLError):
                return False

        outcome = wait_until(answers, 30, "the operations API on https://%s:%d" % (node.ip, https_port))
        self.assertNotEqual(outcome, "exited", node.output_text())
        status, body = https_op({"operation": "get_configuration"})
        self.assertEqual(status, 200, body)
        self.assertIsNone(body["operationsApi"]["network"]["port"])
        with self.assertRaises(OSError):
            socket.create_connection((node.ip, node.port), timeout=2).close()
        self.assertIn("serving the operations API on port %d" % https_port, node.log_text())

    def test_a_null_port_without_a_secure_port_exits_nonzero_naming_the_keys(self):
        self._expect_start_failure(["--OPERATIONSAPI_NETWORK_PORT", "null"],
                                   ["'operationsApi.network.port' is null, so "
                                    "'operationsApi.network.securePort' must be set"])

    DEFAULT_PASSWORD_WARNING = "super_user '%s' still has the default password:"

    def test_default_admin_password_is_warned_about_at_every_start(self):
        # Issue 8 item 7: the admin created with HDB_ADMIN_PASSWORD unset gets "password"
        # (the harness passes it explicitly, as the default); any super_user on it is named.
        node = self.start_node()
        admin_warning = self.DEFAULT_PASSWORD_WARNING % "admin"
        wait_until(lambda: admin_warning in node.log_text(), 10, "the default-password warning in hdb.log")
        self.assertIn(admin_warning, node.output_text(), "the warning must reach the console too")
        # The warning names the user, never the password itself.
        for text in (node.log_text(), node.output_text()):
            self.assertNotIn("'%s'" % harness.DEFAULT_PASSWORD, text)
        node.ok({"operation": "add_user", "username": "ops", "password": "password", "role": "super_user",
                 "active": True})
        node.ok({"operation": "add_user", "username": "bob", "password": "password", "role": "cluster_user",
                 "active": True})
        node.ok({"operation": "add_user", "username": "old", "password": "password", "role": "super_user",
                 "active": False})
        node.ok({"operation": "alter_user", "username": "admin", "password": "a-chosen-password"})
        node.password = "a-chosen-password"
        offset = len(node.log_text())
        node.restart()
        wait_until(lambda: self.DEFAULT_PASSWORD_WARNING % "ops" in node.log_text()[offset:], 10,
                   "the warning naming super_user 'ops' after the restart")
        after = node.log_text()[offset:]
        self.assertNotIn(admin_warning, after, "admin's password was changed")
        self.assertNotIn(self.DEFAULT_PASSWORD_WARNING % "bob", after, "bob is not a super_user")
        self.assertNotIn(self.DEFAULT_PASSWORD_WARNING % "old", after, "old is inactive")

    def test_no_default_password_warning_with_a_chosen_password(self):
        node = self.start_node(password="a-chosen-password")
        # Bootstrap logs "created admin user" and then checks the passwords, before serving.
        self.assertIn("created admin user 'admin'", node.log_text())
        self.assertNotIn("default password", node.log_text())
        self.assertNotIn("default password", node.output_text())

    def _expect_start_failure(self, extra_args, key_names, env=None):
        node = self.start_node(extra_args, env=env, wait=False)
        try:
            code = node.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.fail("node started with %s did not exit within 15s" % (extra_args,))
        self.assertNotEqual(code, 0, "invalid configuration must exit non-zero")
        self.assertEqual(code, 2, "docs/configuration.md: an invalid value stops the node with exit code 2")
        # Skip the harness's own "=== start <command>" lines, which contain the key too.
        out = "\n".join(l for l in node.output_text().splitlines() if not l.startswith("=== start")).lower()
        self.assertTrue(any(k.lower() in out for k in key_names),
                        "error output must name the key (%s); got:\n%s" % (key_names, node.output_text()))
        return node

    INERT_WARNING = "configuration keys accepted but not acted on: "

    def test_inert_keys_are_named_at_start(self):
        # logging.stdStreams is accepted but does nothing yet (the node always logs to stderr):
        # the operator is told so at start, in one warning line naming each key set (the log
        # line is the behaviour under test).
        node = self.start_node(["--LOGGING_STDSTREAMS", "false"])
        line = wait_until(lambda: next((l for l in node.log_text().splitlines() if self.INERT_WARNING in l), None),
                          10, "the inert-keys warning in hdb.log")
        named = line.split(self.INERT_WARNING, 1)[1].split(" (", 1)[0].split(", ")
        self.assertEqual(named, ["logging.stdStreams"], line)
        self.assertIn(self.INERT_WARNING, node.output_text(), "the warning must reach the console too")
        assert_op(node, {"operation": "user_info"}, 200, {"username": "admin"})

    def test_inert_harperdb_keys_are_named_at_start(self):
        # HarperDB's http.* and mqtt.* keys are accepted (CLI included) but meshdb serves
        # neither: set to anything but their defaults, they are named in the same line, in
        # table order; a key meshdb does not know at all, left in the file, gets its own line.
        node = self.new_node()
        self._test_nodes.append(node)
        os.makedirs(node.root, exist_ok=True)
        with open(os.path.join(node.root, "harperdb-config.yaml"), "w") as f:
            f.write("custom:\n  flag: true\n")
        node.start(["--HTTP_PORT", "19926", "--MQTT_NETWORK_PORT", "11883", "--LOGGING_STDSTREAMS", "false"])
        log = node.log_text()
        line = next((l for l in log.splitlines() if self.INERT_WARNING in l), None)
        self.assertIsNotNone(line, log)
        named = line.split(self.INERT_WARNING, 1)[1].split(" (", 1)[0].split(", ")
        self.assertEqual(named, ["http.port", "logging.stdStreams", "mqtt.network.port"], line)
        self.assertIn("configuration keys meshdb does not know: custom.flag (", log)
        # Nothing listens on the inert port.
        with self.assertRaises(OSError):
            socket.create_connection((node.ip, 19926), timeout=2).close()

    def test_no_inert_keys_warning_by_default(self):
        node = self.start_node()
        self.assertIn("starting meshdb", node.log_text())
        self.assertNotIn(self.INERT_WARNING, node.log_text())

    # -- the node's TLS identity (docs/security.md) ---------------------------------------

    GENERATED_FILES = ["caPrivateKey.pem", "certificateAuthority.pem", "nodeCertificate.pem", "privateKey.pem"]

    @staticmethod
    def _keys(node):
        return os.path.join(node.root, "keys")

    def _read_keys(self, node):
        out = {}
        for f in self.GENERATED_FILES:
            with open(os.path.join(self._keys(node), f)) as fh:
                out[f] = fh.read()
        return out

    def test_first_start_creates_private_keys_dir_and_later_starts_reuse_it(self):
        node = self.start_node()
        keys = self._keys(node)
        self.assertEqual(stat.S_IMODE(os.stat(keys).st_mode), 0o700)
        for f in os.listdir(keys):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(keys, f)).st_mode), 0o600, f)
        self.assertTrue(set(self.GENERATED_FILES) <= set(os.listdir(keys)), os.listdir(keys))
        first = self._read_keys(node)
        serials = {r["name"]: r["details"]["serial_number"] for r in node.ok({"operation": "list_certificates"})}
        self.assertEqual(sorted(serials), [node.ip, "meshdb-Certificate-Authority-" + node.ip])
        node.restart()
        self.assertEqual(self._read_keys(node), first, "a later start must not regenerate anything")
        again = {r["name"]: r["details"]["serial_number"] for r in node.ok({"operation": "list_certificates"})}
        self.assertEqual(again, serials)
        for text in (node.log_text(), node.output_text()):
            self.assertNotIn("PRIVATE KEY", text)

    def _generated_files_of_a_stopped_node(self):
        donor = self.start_node()
        donor.stop()
        return self._keys(donor)

    def test_missing_tls_certificate_exits_nonzero_naming_the_key(self):
        keys = self._generated_files_of_a_stopped_node()
        node = self._expect_start_failure(["--TLS_CERTIFICATE", "/no/such/cert.pem",
                                           "--TLS_PRIVATEKEY", os.path.join(keys, "privateKey.pem")],
                                          ["tls.certificate: cannot read /no/such/cert.pem: no such file"])
        self.assertFalse(os.path.exists(os.path.join(node.root, "keys", "privateKey.pem")),
                         "nothing is generated when the configured files are wrong")

    def test_tls_key_not_matching_certificate_exits_nonzero_naming_the_key(self):
        keys = self._generated_files_of_a_stopped_node()
        self._expect_start_failure(["--TLS_CERTIFICATE", os.path.join(keys, "nodeCertificate.pem"),
                                    "--TLS_PRIVATEKEY", os.path.join(keys, "caPrivateKey.pem")],
                                   ["tls.privateKey: '%s': not the private key of the certificate in "
                                    "tls.certificate" % os.path.join(keys, "caPrivateKey.pem")])

    def test_configured_tls_files_are_loaded_and_listed(self):
        keys = self._generated_files_of_a_stopped_node()
        # Another node's certificate: it does not cover this node's name, which is a warning.
        node = self.start_node(["--TLS_CERTIFICATE", os.path.join(keys, "nodeCertificate.pem"),
                                "--TLS_PRIVATEKEY", os.path.join(keys, "privateKey.pem"),
                                "--TLS_CERTIFICATEAUTHORITY", os.path.join(keys, "certificateAuthority.pem")])
        wait_until(lambda: "does not cover the node name '%s'" % node.ip in node.log_text(), 10,
                   "the name-coverage warning")
        rows = {r["name"]: r for r in node.ok({"operation": "list_certificates"})}
        self.assertEqual(len(rows), 2, rows)
        ca = next(r for r in rows.values() if r["is_authority"])
        self.assertTrue(ca["name"].startswith("meshdb-Certificate-Authority-"), ca)
        self.assertNotIn("private_key_name", rows[node.ip], "a configured key stays where it is")
        self.assertFalse(os.path.exists(os.path.join(node.root, "keys", "privateKey.pem")))
        self.assertNotIn(self.INERT_WARNING, node.log_text())

    def test_unsupported_hash_function_exits_nonzero_naming_key(self):
        # md5, sha256 and argon2id work (test_auth.py HashFunctionTest); anything else is refused.
        self._expect_start_failure(["--AUTHENTICATION_HASHFUNCTION", "bcrypt"], ["authentication.hashFunction"])
        node = self.start_node(["--AUTHENTICATION_HASHFUNCTION", "argon2id"])
        assert_op(node, {"operation": "user_info"}, 200, {"username": "admin"})

    def test_invalid_port_exits_nonzero_naming_key(self):
        self._expect_start_failure(["--OPERATIONSAPI_NETWORK_PORT", "abc"],
                                   ["operationsApi.network.port", "OPERATIONSAPI_NETWORK_PORT"])

    def test_unknown_cli_key_exits_nonzero(self):
        self._expect_start_failure(["--NO_SUCH_KEY", "1"], ["NO_SUCH_KEY"])

    def test_invalid_log_level_exits_nonzero(self):
        self._expect_start_failure(["--LOGGING_LEVEL", "loud"], ["logging.level", "LOGGING_LEVEL"])

    def test_invalid_env_value_exits_nonzero(self):
        self._expect_start_failure([], ["logging.level", "LOGGING_LEVEL"], env={"LOGGING_LEVEL": "loud"})

    def test_over_long_host_names_and_urls_exit_nonzero_naming_key(self):
        # Issue 8 item 6: host names are capped at 253 characters, URLs at 2048.
        host_254 = "h" * 254
        cases = [
            (["--REPLICATION_URL", "ws://h:1/" + "p" * 2100],
             "'replication.url' length must be less than or equal to 2048 characters long"),
            (["--REPLICATION_URL", "ws://%s:1" % host_254],
             "'replication.url' host length must be less than or equal to 253 characters long"),
            (["--REPLICATION_HOSTNAME", host_254],
             "'replication.hostname' length must be less than or equal to 253 characters long"),
            (["--REPLICATION_ROUTES", json.dumps(["127.0.0.1:9925", host_254 + ":9925"])],
             "'replication.routes[1]' host length must be less than or equal to 253 characters long"),
            (["--REPLICATION_ROUTES", json.dumps([{"hostname": host_254, "port": 9925}])],
             "'replication.routes[0].hostname' length must be less than or equal to 253 characters long"),
            (["--REPLICATION_ROUTES", json.dumps(["ws://h:1/" + "p" * 2100])],
             "'replication.routes[0]' length must be less than or equal to 2048 characters long"),
        ]
        for args, message in cases:
            with self.subTest(message=message):
                self._expect_start_failure(args, [message])

    def test_bad_allowed_ips_exit_naming_key_and_entry(self):
        # Issue 9, insecure mode: replication.allowedIps entries are checked at start.
        cases = [
            (["--REPLICATION_ALLOWEDIPS", json.dumps(["127.0.0.9", "10.0.0.0/33"])],
             "'replication.allowedIps': '10.0.0.0/33': the prefix length must be 0-32"),
            (["--REPLICATION_ALLOWEDIPS", "node2.example"],
             "'replication.allowedIps': 'node2.example' is not an IP address or a CIDR block"),
        ]
        for args, message in cases:
            with self.subTest(message=message):
                self._expect_start_failure(args, [message])

    def test_env_override_and_cli_wins(self):
        node = self.start_node(env={"LOGGING_LEVEL": "debug"})
        self.assertEqual(logging_level(node), "debug", "env LOGGING_LEVEL must override the file default")
        node.stop()
        node.start(["--LOGGING_LEVEL", "warn"], env={"LOGGING_LEVEL": "debug"})
        self.assertEqual(logging_level(node), "warn", "CLI --LOGGING_LEVEL must win over env")
        node.stop()
        # The legacy alias LOG_LEVEL works too.
        node.start([], env={"LOG_LEVEL": "error"})
        self.assertEqual(logging_level(node), "error")

    def test_authorize_local(self):
        # Off by default (docs/configuration.md): no credentials from 127.0.0.1 is still refused.
        node = self.start_node()
        assert_op(node, {"operation": "user_info"}, 401, {"error": "Must login"}, auth=None, source_ip="127.0.0.1")
        node.stop()
        # On: a request without an Authorization header from loopback runs as the super user.
        node.start(["--AUTHENTICATION_AUTHORIZELOCAL", "true"])
        assert_op(node, {"operation": "user_info"}, 200, {"username": "admin"}, auth=None, source_ip="127.0.0.1")
        # Explicit bad credentials still fail.
        assert_op(node, {"operation": "user_info"}, 401, {"error": "Login failed"}, auth=("admin", "bad"),
                  source_ip="127.0.0.1")

    def test_body_credentials(self):
        # With no Authorization header, username/password in the body authenticate (§1.3).
        node = self.start_node()
        assert_op(node, {"operation": "user_info", "username": "admin", "password": "password"}, 200,
                  {"username": "admin"}, auth=None)
        assert_op(node, {"operation": "user_info", "username": "admin", "password": "bad"}, 401,
                  {"error": "Login failed"}, auth=None)

    def test_system_information_and_headers(self):
        node = self.start_node()
        status, headers, raw = node.request("POST", "/", b'{"operation":"system_information"}',
                                            {"Content-Type": "application/json", "Authorization": node.auth_header()})
        self.assertEqual(status, 200, raw)
        self.assertTrue(headers.get("content-type", "").startswith("application/json"), headers)
        info = json.loads(raw)
        for key in ("system", "time", "cpu", "memory", "disk", "network", "harperdb_processes", "table_size",
                    "metrics", "threads"):
            self.assertIn(key, info)
        self.assertIn(node.proc.pid, [p.get("pid") for p in info["harperdb_processes"]["core"]])
        # What Linux can tell, as HarperDB's systeminformation reports it.
        uname = os.uname()
        harness.assert_subset({"platform": "linux", "kernel": uname.release, "hostname": uname.nodename,
                               "distro": Any(str), "codename": Any(str), "fqdn": Any(str)}, info["system"])
        harness.assert_subset({"timezone": Any(str), "timezoneName": Any(str)}, info["time"])
        self.assertTrue(info["time"]["timezone"].startswith("GMT"), info["time"])
        core = [p for p in info["harperdb_processes"]["core"] if p.get("pid") == node.proc.pid][0]
        self.assertIsInstance(core["cpu"], (int, float))
        self.assertGreaterEqual(core["cpu"], 0)
        only = node.ok({"operation": "system_information", "attributes": ["memory", "cpu"]})
        self.assertEqual(sorted(only), ["cpu", "memory"])
        # CORS preflight (§1.1).
        status, headers, _ = node.request("OPTIONS", "/", None, {"Origin": "http://app.example",
                                                                 "Access-Control-Request-Method": "POST"})
        self.assertLess(status, 300)
        self.assertEqual(headers.get("access-control-allow-origin"), "http://app.example")
        self.assertEqual(headers.get("access-control-allow-methods"), "POST, GET, PUT, DELETE, PATCH, OPTIONS")
        self.assertEqual(headers.get("access-control-allow-headers"), "Accept, Content-Type, Authorization")
        self.assertEqual(headers.get("access-control-allow-credentials"), "true")

    def test_sigterm_exits_zero_promptly(self):
        node = self.start_node()
        pid_file = os.path.join(node.root, "hdb.pid")
        wait_until(lambda: os.path.isfile(pid_file), 5, "hdb.pid")
        with open(pid_file) as f:
            self.assertEqual(int(f.read().strip()), node.proc.pid)
        node.ok({"operation": "create_table", "database": "dev", "table": "t", "primary_key": "id"})
        node.ok({"operation": "insert", "database": "dev", "table": "t", "records": [{"id": 1}]})
        t0 = time.monotonic()
        code = node.stop(deadline_s=10)
        elapsed = time.monotonic() - t0
        self.assertEqual(code, 0, "SIGTERM must exit 0")
        self.assertLess(elapsed, 5.0, "SIGTERM shutdown took %.1fs" % elapsed)
        self.assertFalse(os.path.exists(pid_file), "hdb.pid must be removed on a clean stop")

    def test_restart_on_same_root_keeps_data(self):
        node = self.start_node()
        node.ok({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        records = [{"id": i, "name": "dog%d" % i, "tags": ["a", i], "nested": {"k": i}} for i in range(1, 51)]
        assert_op(node, {"operation": "insert", "database": "dev", "table": "dog", "records": records}, 200,
                  {"message": "inserted 50 of 50 records"})
        node.ok({"operation": "delete", "database": "dev", "table": "dog", "ids": [50]})
        node.ok({"operation": "update", "database": "dev", "table": "dog", "records": [{"id": 1, "name": "Rex"}]})
        self.assertEqual(node.stop(), 0)
        node.start()
        rows = node.ok({"operation": "search_by_value", "database": "dev", "table": "dog",
                        "search_attribute": "id", "search_value": "*",
                        "get_attributes": ["id", "name", "tags", "nested"]})
        self.assertEqual(len(rows), 49)
        expected = {r["id"]: r for r in records[:49]}
        expected[1] = dict(expected[1], name="Rex")
        for row in rows:
            self.assertEqual(row, expected[row["id"]])
        desc = node.ok({"operation": "describe_table", "database": "dev", "table": "dog"})
        self.assertEqual(desc["hash_attribute"], "id")
        self.assertEqual(desc["record_count"], 49)
        # The admin user persisted as well.
        assert_op(node, {"operation": "user_info"}, 200, {"username": "admin"})

    # HarperDB 4.7.29's installed defaults for the keys meshdb does not act on (issue 11):
    # a new node's file and get_configuration hold them all.
    HARPERDB_INERT_DEFAULTS = {
        "http": {"compressionThreshold": 0, "cors": False, "corsAccessList": [None],
                 "keepAliveTimeout": 30000, "port": None, "securePort": 9926, "mtls": False,
                 "http2": False, "timeout": 120000},
        "analytics": {"aggregatePeriod": 60, "replicate": False},
        "localStudio": {"enabled": True},
        "mqtt": {"network": {"port": 1883, "securePort": 8883, "mtls": False}, "webSocket": True,
                 "requireAuthentication": True},
    }

    def test_get_configuration_shows_every_harperdb_section_and_redacts_secrets(self):
        node = self.start_node(["--REPLICATION_CLUSTERKEY", "a-cluster-secret"])
        config = get_config(node)
        for section, expected in self.HARPERDB_INERT_DEFAULTS.items():
            self.assertEqual(config.get(section), expected, section)
        self.assertEqual(config["componentsRoot"], os.path.join(node.root, "components"))
        self.assertEqual(config["rootPath"], node.root)
        self.assertEqual(config["threads"]["debug"], False)
        self.assertEqual(config["authentication"]["enableSessions"], True)
        self.assertEqual(config["logging"]["auditRetention"], "3d")
        self.assertEqual(config["logging"]["rotation"]["path"], os.path.join(node.root, "log"))
        self.assertEqual(config["operationsApi"]["network"]["corsAccessList"], ["*"])
        self.assertEqual(config["operationsApi"]["network"]["domainSocket"],
                         os.path.join(node.root, "operations-server"))
        self.assertEqual(config["storage"]["compression"], True)
        # Secrets stay redacted.
        self.assertEqual(config["replication"]["clusterKey"], "[redacted]")
        self.assertNotIn("a-cluster-secret", json.dumps(config))
        # The file itself holds the HarperDB sections (the defaults were written, not merged in).
        with open(os.path.join(node.root, "harperdb-config.yaml")) as f:
            text = f.read()
        for section in ("http:", "analytics:", "componentsRoot:", "localStudio:", "mqtt:"):
            self.assertRegex(text, r"(?m)^%s" % re.escape(section))

    def test_set_configuration_of_an_inert_key_says_so(self):
        node = self.start_node()
        message = "Configuration successfully set. You must restart HarperDB for new config settings to take effect."
        # HarperDB's answer, with the keys meshdb will not act on named beside it.
        self.assertEqual(node.op({"operation": "set_configuration", "http_cors": "true", "logging_level": "warn"}),
                         (200, {"message": message, "inert_keys": ["http.cors"]}))
        self.assertEqual(node.op({"operation": "set_configuration", "logging_level": "info", "no_such_key": 1}),
                         (200, {"message": message, "ignored_keys": ["no_such_key"]}))
        # Only acted-on keys: exactly HarperDB's answer.
        self.assertEqual(node.op({"operation": "set_configuration", "logging_level": "info"}),
                         (200, {"message": message}))
        # An inert key is validated as HarperDB validates it; nothing is written.
        status, body = node.op({"operation": "set_configuration", "localStudio_enabled": "yes"})
        self.assertEqual((status, body), (400, {"error": "HarperDB config file validation error: "
                                                         "'localStudio.enabled' must be a boolean, got 'yes'"}))
        with open(os.path.join(node.root, "harperdb-config.yaml")) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^  cors: true$")
        self.assertRegex(text, r"(?m)^  enabled: true$")
        self.assertIn("set_configuration wrote keys meshdb does not act on: http.cors", node.log_text())

    def test_a_database_written_by_a_newer_binary_is_refused_and_left_alone(self):
        # Without the write-ahead log: its recovery opens the file at the last checkpoint, so
        # with it the node would not see a hand edit of the LMDB file (docs/storage.md).
        node = self.start_node(["--STORAGE_WRITEASYNC", "true"])
        node.ok({"operation": "create_table", "database": "dev", "table": "kept", "primary_key": "id"})
        node.ok({"operation": "insert", "database": "dev", "table": "kept", "records": [{"id": "x", "v": 1}]})
        self.assertEqual(node.stop(), 0)
        path = os.path.join(node.root, "database", "dev.mdb")
        set_data_format(path, 99)

        node.launch()
        try:
            code = node.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.fail("a node holding a file of a newer data format did not exit within 15s")
        self.assertEqual(code, 1, "docs/storage.md: a storage that cannot open stops the node with exit code 1")
        self.assertIn("cannot open storage at '%s': database 'dev' (%s) holds data format 99, written by a "
                      "newer meshdb; this binary reads data formats up to 1" % (os.path.dirname(path), path),
                      node.output_text())

        # Nothing was changed: marked with this binary's format again, the file opens with its row.
        set_data_format(path, 1)
        node.start()
        self.assertEqual(node.ok({"operation": "search_by_id", "database": "dev", "table": "kept", "ids": ["x"],
                                  "get_attributes": ["id", "v"]}), [{"id": "x", "v": 1}])

    def test_restart_operation_applies_set_configuration(self):
        node = self.start_node()
        self.assertEqual(logging_level(node), "info")
        node.ok({"operation": "create_table", "database": "dev", "table": "kept", "primary_key": "id"})
        node.ok({"operation": "insert", "database": "dev", "table": "kept", "records": [{"id": "x", "v": 1}]})
        assert_op(node, {"operation": "set_configuration", "logging_level": "debug"}, 200,
                  {"message": "Configuration successfully set. You must restart HarperDB for new config "
                              "settings to take effect."})
        # The running node keeps its level until restarted (get_configuration shows the running
        # configuration, docs/compatibility.md), which also proves the restart below happens.
        self.assertEqual(logging_level(node), "info")
        # A backup of the previous file was made.
        backups = os.listdir(os.path.join(node.root, "backup"))
        self.assertTrue(any(b.endswith("-harperdb-config.yaml.bak") for b in backups), backups)
        # An invalid value is refused and nothing is written.
        status, body = node.op({"operation": "set_configuration", "logging_level": "loud"})
        self.assertEqual(status, 400, body)
        self.assertIn("logging.level", body.get("error", "") if isinstance(body, dict) else body)

        status, headers, raw = node.request(
            "POST", "/", json.dumps({"operation": "restart"}).encode(),
            {"Content-Type": "application/json", "Authorization": node.auth_header()})
        self.assertEqual(status, 200, raw)
        self.assertEqual(json.loads(raw),
                         {"message": "Restarting HarperDB. This may take up to 60 seconds."})
        self.assertEqual(headers.get("connection", "").lower(), "close")

        def restarted():
            try:
                return logging_level(node) == "debug"
            except (OSError, AssertionError):
                return False

        wait_until(restarted, 60, "node to come back after restart with logging.level debug")
        self.assertTrue(node.running())
        status, _, body = node.request("GET", "/health")
        self.assertEqual((status, body.decode()), (200, "HarperDB is running."))
        rows = node.ok({"operation": "search_by_id", "database": "dev", "table": "kept", "ids": ["x"],
                        "get_attributes": ["id", "v"]})
        self.assertEqual(rows, [{"id": "x", "v": 1}])
        self.assertEqual(node.stop(), 0)


if __name__ == "__main__":
    harness.main()
