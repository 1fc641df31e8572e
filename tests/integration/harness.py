"""Integration-test harness: starts real `meshdb` processes on loopback addresses.

Standard library only. Each test module gets its own block of loopback addresses
(127.A.B.x, A and B derived from the module name, the block locked for the process's life)
so modules can run in parallel under `ctest -j2`, and two test runs (two worktrees) side by
side; each node gets its own temporary root directory, removed when
the tests that used it passed and kept (with its path printed) when one failed.

Typical use:

    class MyTest(harness.NodeTestCase):
        def test_something(self):
            node = self.start_node()
            harness.assert_op(self, node, {"operation": "describe_all"}, 200, {})
"""

import base64
import errno
import fcntl
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib

OPS_PORT = 9925
DEFAULT_USER = "admin"
DEFAULT_PASSWORD = "password"
LOG_TAIL_LINES = 100

# Marker for "use the node's admin credentials" in Node.op(auth=...).
ADMIN = object()


class _Any:
    """Matches any value in assert_subset / assert_op (ANY) or any value of a type (Any(int))."""

    def __init__(self, *types):
        self.types = types

    def matches(self, value):
        return not self.types or isinstance(value, self.types)

    def __repr__(self):
        if not self.types:
            return "ANY"
        return "Any(%s)" % ", ".join(t.__name__ for t in self.types)


ANY = _Any()


def Any(*types):  # noqa: N802 (reads like a type in expectations)
    return _Any(*types)


def binary_path():
    """The meshdb binary: $MESHDB_BINARY (set by ctest), else ../../build/meshdb."""
    path = os.environ.get("MESHDB_BINARY")
    if path:
        # Set explicitly (ctest does): a missing binary is an error, never a silent skip.
        if not os.access(path, os.X_OK):
            raise RuntimeError("MESHDB_BINARY=%s is not an executable file (build the meshdb target)" % path)
        return path
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.normpath(os.path.join(here, "..", "..", "build", "meshdb"))
    if not os.access(path, os.X_OK):
        raise unittest.SkipTest("meshdb binary not found at %s (set MESHDB_BINARY)" % path)
    return path


def shim_library_path(env_var, file_name):
    """A library the build puts next to meshdb_certgen (an LD_PRELOAD shim of tests/integration):
    $<env_var> (set by ctest), else file_name in $MESHDB_CERTGEN's directory, else in
    ../../build/tests/integration."""
    path = os.environ.get(env_var)
    if not path:
        certgen = os.environ.get("MESHDB_CERTGEN") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "tests", "integration",
            "meshdb_certgen")
        path = os.path.join(os.path.dirname(certgen), file_name)
    return os.path.normpath(path)


def wait_until(pred, timeout_s, what, interval_s=0.05):
    """Polls pred() until it returns a truthy value, which is returned.

    Fails with an AssertionError naming `what` (and the last exception pred raised, if
    any) when timeout_s passes first. Tests use this instead of bare sleeps.
    """
    deadline = time.monotonic() + timeout_s
    last_error = None
    while True:
        try:
            value = pred()
            if value:
                return value
            last_error = None
        except Exception as e:  # noqa: BLE001 (pred may fail while a node starts)
            last_error = e
        if time.monotonic() >= deadline:
            detail = " (last error: %r)" % (last_error,) if last_error else ""
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (timeout_s, what, detail))
        time.sleep(interval_s)


# ---------------------------------------------------------------------------------------------
# Loopback address allocation


_alloc_lock = threading.Lock()
_module_blocks = {}


def _can_bind(ip, port=OPS_PORT):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _claim_block(prefix):
    """An exclusive lock on the block `prefix` held while the returned file stays open, or None
    when another process (a test run beside this one) holds it. A free first address is not
    enough: that run may have stopped a node it is about to restart on its address."""
    lock_dir = os.path.join(tempfile.gettempdir(), "meshdb-test-blocks")
    os.makedirs(lock_dir, exist_ok=True)
    f = open(os.path.join(lock_dir, prefix + "lock"), "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return f
    except OSError:
        f.close()
        return None


class AddressBlock:
    """Loopback addresses 127.A.B.1, 127.A.B.2, ... handed out in order for one test module."""

    def __init__(self, module_name):
        h = zlib.crc32(module_name.encode())
        a = 10 + h % 241  # 10..250
        b = 1 + (h // 241) % 250  # 1..250
        # Skip blocks another process holds or whose first address is taken (a stale node).
        for _ in range(250):
            prefix = "127.%d.%d." % (a, b)
            if _can_bind(prefix + "1"):
                self._lock = _claim_block(prefix)
                if self._lock is not None:
                    break
            b = b % 250 + 1
        else:
            raise RuntimeError("no free loopback block for %s" % module_name)
        self.prefix = prefix
        self.next_host = 1

    def next_ip(self):
        with _alloc_lock:
            for _ in range(250):
                host = self.next_host
                self.next_host = self.next_host % 250 + 1
                ip = self.prefix + str(host)
                if _can_bind(ip):
                    return ip
        raise RuntimeError("no free address in %s0/24" % self.prefix)


def address_block(module_name):
    with _alloc_lock:
        if module_name not in _module_blocks:
            _module_blocks[module_name] = AddressBlock(module_name)
        return _module_blocks[module_name]


# ---------------------------------------------------------------------------------------------
# Node


class NodeError(AssertionError):
    pass


class Node:
    """One meshdb process with its own root directory and loopback address.

    start() launches `meshdb run --root <root> --OPERATIONSAPI_NETWORK_HOST <ip>
    --OPERATIONSAPI_NETWORK_PORT 9925 [extra args]`; stderr and stdout go to
    <tmpdir>/output.txt; the server's own log is <root>/log/hdb.log.
    """

    def __init__(self, ip, name="node", username=DEFAULT_USER, password=DEFAULT_PASSWORD, port=OPS_PORT):
        self.ip = ip
        self.port = port
        self.name = name
        self.username = username
        self.password = password
        self.tmpdir = tempfile.mkdtemp(prefix="meshdb-it-%s-" % name)
        self.root = os.path.join(self.tmpdir, "root")
        self.output_path = os.path.join(self.tmpdir, "output.txt")
        self.proc = None
        self.extra_args = []
        self.env_overrides = {}
        self._output = None

    # -- process control ------------------------------------------------------------------

    def command(self, extra_args=()):
        """The command line; extra_args that set the host or port replace the harness's."""
        extra = [str(a) for a in extra_args]
        given = {a.lstrip("-").split("=", 1)[0].upper() for a in extra if a.startswith("--")}
        cmd = [binary_path(), "run", "--root", self.root]
        if "OPERATIONSAPI_NETWORK_HOST" not in given:
            cmd += ["--OPERATIONSAPI_NETWORK_HOST", self.ip]
        if "OPERATIONSAPI_NETWORK_PORT" not in given:
            cmd += ["--OPERATIONSAPI_NETWORK_PORT", str(self.port)]
        return cmd + extra

    def environment(self, env=None):
        e = dict(os.environ)
        # Settings in the runner's environment must not leak into the node.
        for k in list(e):
            ku = k.upper()
            if ku in ("HDB_ROOT", "ROOTPATH", "LOG_LEVEL", "SERVER_PORT", "MAX_HDB_PROCESSES",
                      "HARPER_SET_CONFIG", "HARPER_DEFAULT_CONFIG") or ku.startswith(
                          ("LOGGING_", "OPERATIONSAPI_", "AUTHENTICATION_", "REPLICATION_", "STORAGE_",
                           "THREADS_", "TLS_", "CLUSTERING_")):
                del e[k]
        e["HDB_ADMIN_USERNAME"] = self.username
        e["HDB_ADMIN_PASSWORD"] = self.password
        if env:
            e.update({k: str(v) for k, v in env.items()})
        return e

    def launch(self, extra_args=None, env=None):
        """Starts the process without waiting for it to become ready."""
        if self.proc is not None and self.proc.poll() is None:
            raise NodeError("%s is already running" % self.name)
        if extra_args is not None:
            self.extra_args = list(extra_args)
        if env is not None:
            self.env_overrides = dict(env)
        os.makedirs(self.tmpdir, exist_ok=True)
        self._close_output()
        self._output = open(self.output_path, "ab")
        self._output.write(("\n=== start %s: %s\n" % (time.strftime("%H:%M:%S"),
                                                      " ".join(self.command(self.extra_args)))).encode())
        self._output.flush()
        self.proc = subprocess.Popen(self.command(self.extra_args), env=self.environment(self.env_overrides),
                                     stdin=subprocess.DEVNULL, stdout=self._output, stderr=subprocess.STDOUT)
        return self.proc

    def start(self, extra_args=None, env=None, deadline_s=30):
        """Starts the node and waits until GET /health answers 200."""
        self.launch(extra_args, env)
        self.wait_ready(deadline_s)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, deadline_s=30):
        def ready_or_exited():
            if not self.running():
                return "exited"  # returned, not raised: wait_until would retry on an exception
            try:
                status, _, body = self.request("GET", "/health", timeout=2)
                return status == 200
            except OSError:
                return False

        try:
            outcome = wait_until(ready_or_exited, deadline_s, "%s (%s) to answer GET /health" % (self.name, self.ip))
        except AssertionError:
            raise NodeError("%s did not become ready within %ss; output:\n%s"
                            % (self.name, deadline_s, self.tail(self.output_text(), 40)))
        if outcome == "exited":
            raise NodeError("%s exited with code %s before becoming ready; output:\n%s"
                            % (self.name, self.proc.returncode, self.tail(self.output_text(), 40)))

    def stop(self, deadline_s=15):
        """SIGTERM, then waits; returns the exit code. Fails (after a kill -9) if it hangs."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(deadline_s)
            except subprocess.TimeoutExpired:
                self.kill9()
                raise NodeError("%s did not exit within %ss of SIGTERM" % (self.name, deadline_s))
        self._close_output()
        return self.proc.returncode

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close_output()

    def restart(self, extra_args=None, env=None, deadline_s=30):
        """Stops (SIGTERM) and starts again on the same root with the same arguments."""
        self.stop()
        return self.start(extra_args, env, deadline_s)

    def _close_output(self):
        if self._output is not None:
            self._output.close()
            self._output = None

    def cleanup(self):
        self.kill9()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    # -- logs -----------------------------------------------------------------------------

    def log_path(self):
        return os.path.join(self.root, "log", "hdb.log")

    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_text(self):
        """The server's log file <root>/log/hdb.log."""
        return self._read(self.log_path())

    def output_text(self):
        """Everything the process wrote to stdout/stderr (all starts)."""
        return self._read(self.output_path)

    @staticmethod
    def tail(text, lines=LOG_TAIL_LINES):
        return "\n".join(text.splitlines()[-lines:])

    def dump_logs(self, stream=None):
        stream = stream or sys.stderr
        stream.write("\n----- %s (%s) root %s: last %d lines of hdb.log -----\n%s\n"
                     % (self.name, self.ip, self.root, LOG_TAIL_LINES, self.tail(self.log_text())))
        stream.write("----- %s: last 40 lines of stdout/stderr -----\n%s\n-----\n"
                     % (self.name, self.tail(self.output_text(), 40)))
        stream.flush()

    # -- HTTP -----------------------------------------------------------------------------

    def auth_header(self, auth=ADMIN):
        if auth is ADMIN:
            auth = (self.username, self.password)
        if auth is None:
            return None
        if isinstance(auth, tuple):
            raw = ("%s:%s" % auth).encode()
            return "Basic " + base64.b64encode(raw).decode()
        if isinstance(auth, str):
            return "Bearer " + auth
        raise TypeError("auth must be ADMIN, None, (user, password) or a bearer token")

    def request(self, method, path, body=None, headers=None, timeout=30, source_ip=None, port=None,
                tls=None):
        """One raw HTTP request on a fresh connection: returns (status, headers dict, body bytes).

        Header names in the returned dict are lower-case. source_ip binds the client side.
        port: another port than the operations API's (default self.port).
        tls: an ssl.SSLContext to speak HTTPS with (to a securePort), else plain HTTP.
        """
        source = (source_ip, 0) if source_ip else None
        if tls is not None:
            conn = http.client.HTTPSConnection(self.ip, port or self.port, timeout=timeout,
                                               source_address=source, context=tls)
        else:
            conn = http.client.HTTPConnection(self.ip, port or self.port, timeout=timeout,
                                              source_address=source)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            if body is not None:
                conn.send(body)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def op(self, body, auth=ADMIN, raw=False, content_type="application/json", headers=None, timeout=30,
           source_ip=None, port=None, tls=None):
        """POST / with an operation body; returns (status, parsed JSON or text).

        body: a dict/list (sent as JSON), or str/bytes sent as they are.
        auth: ADMIN (the node's admin user, default), (user, password) for Basic,
              a string for Bearer, or None for no Authorization header.
        raw:  return the response body as text without parsing it.
        content_type: None sends no Content-Type header.
        port, tls: as for request(), e.g. HTTPS on a securePort.
        """
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
        h = {}
        if content_type is not None:
            h["Content-Type"] = content_type
        a = self.auth_header(auth)
        if a is not None:
            h["Authorization"] = a
        h.update(headers or {})
        try:
            status, _, payload = self.request("POST", "/", data, h, timeout, source_ip, port, tls)
        except OSError as e:
            if not self.running():
                raise NodeError("%s is not running (exit code %s); request failed: %r"
                                % (self.name, self.proc.returncode if self.proc else None, e))
            raise
        text = payload.decode("utf-8", "replace")
        if raw:
            return status, text
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def ok(self, body, auth=ADMIN):
        """op() that must answer 200; returns the parsed body."""
        status, result = self.op(body, auth)
        if status != 200:
            raise AssertionError("%s: expected 200 for %s, got %s %s"
                                 % (self.name, json.dumps(body)[:300], status, json.dumps(result)[:500]))
        return result


# ---------------------------------------------------------------------------------------------
# Assertions


def subset_mismatch(expected, actual, path="$"):
    """None if `actual` contains `expected`, else a description of the first difference.

    dicts: every expected key must be present with a matching value (extra keys allowed).
    lists: same length, element-wise match. ANY / Any(type) match anything / a type.
    Other values: equality, with bool never equal to int.
    """
    if isinstance(expected, _Any):
        return None if expected.matches(actual) else "%s: expected %r, got %r" % (path, expected, actual)
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return "%s: expected an object, got %r" % (path, actual)
        for k, v in expected.items():
            if k not in actual:
                return "%s: missing key %r (have %s)" % (path, k, sorted(actual))
            m = subset_mismatch(v, actual[k], "%s.%s" % (path, k))
            if m:
                return m
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return "%s: expected an array, got %r" % (path, actual)
        if len(expected) != len(actual):
            return "%s: expected %d items, got %d: %r" % (path, len(expected), len(actual), actual)
        for i, (e, a) in enumerate(zip(expected, actual)):
            m = subset_mismatch(e, a, "%s[%d]" % (path, i))
            if m:
                return m
        return None
    if isinstance(expected, bool) or isinstance(actual, bool):
        ok = type(expected) is type(actual) and expected == actual
    else:
        ok = expected == actual
    return None if ok else "%s: expected %r, got %r" % (path, expected, actual)


def assert_subset(expected, actual, context=""):
    m = subset_mismatch(expected, actual)
    if m:
        raise AssertionError("%s%s\nfull value: %s" % (context + ": " if context else "", m,
                                                       json.dumps(actual)[:2000]))


def assert_op(node, body, status, expected_subset=None, auth=ADMIN, **kwargs):
    """Runs one operation and asserts its status and (optionally) a subset of its body.

    Returns the parsed body. The failure message shows the request and the whole response.
    """
    got_status, got = node.op(body, auth=auth, **kwargs)
    request = json.dumps(body)[:500] if isinstance(body, (dict, list)) else repr(body)[:500]
    if got_status != status:
        raise AssertionError("%s: request %s\n  expected status %s, got %s with body %s"
                             % (node.name, request, status, got_status, json.dumps(got)[:2000]))
    if expected_subset is not None:
        m = subset_mismatch(expected_subset, got)
        if m:
            raise AssertionError("%s: request %s\n  status %s ok but body differs: %s\n  body: %s"
                                 % (node.name, request, status, m, json.dumps(got)[:2000]))
    return got


def error_body(text):
    """The usual HarperDB error object."""
    return {"error": text}


# ---------------------------------------------------------------------------------------------
# Test case base class


class NodeTestCase(unittest.TestCase):
    """Base class: start_node() / start_class_node(); logs printed and dirs kept on failure.

    Nodes started in a test are stopped after it; nodes started in setUpClass (with
    start_class_node) live for the class. The temporary directories are removed only
    when every test that used them passed.
    """

    _class_nodes = None
    _class_failed = False

    @classmethod
    def block(cls):
        return address_block(cls.__module__ if cls.__module__ != "__main__" else
                             os.path.basename(sys.argv[0] or "main"))

    @classmethod
    def new_node(cls, name=None, **kwargs):
        ip = cls.block().next_ip()
        return Node(ip, name=name or "node-" + ip.rsplit(".", 1)[1], **kwargs)

    @classmethod
    def start_class_node(cls, extra_args=(), env=None, **kwargs):
        if cls._class_nodes is None:
            cls._class_nodes = []
        node = cls.new_node(**kwargs)
        cls._class_nodes.append(node)
        node.start(extra_args, env)
        return node

    @classmethod
    def tearDownClass(cls):
        for node in cls._class_nodes or []:
            try:
                node.stop()
            except Exception as e:  # noqa: BLE001
                sys.stderr.write("stopping %s: %r\n" % (node.name, e))
                cls._class_failed = True
            if cls._class_failed:
                sys.stderr.write("kept %s\n" % node.tmpdir)
                node.kill9()
            else:
                node.cleanup()
        cls._class_nodes = None
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self._test_nodes = []

    def start_node(self, extra_args=(), env=None, wait=True, **kwargs):
        node = self.new_node(**kwargs)
        self._test_nodes.append(node)
        if wait:
            node.start(extra_args, env)
        else:
            node.launch(extra_args, env)
        return node

    def tearDown(self):
        for node in self._test_nodes:
            try:
                node.stop()
            except Exception as e:  # noqa: BLE001
                sys.stderr.write("stopping %s: %r\n" % (node.name, e))
        super().tearDown()

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            failed = len(result.failures) + len(result.errors) > before
            nodes = list(getattr(self, "_test_nodes", [])) + list(type(self)._class_nodes or [])
            if failed:
                type(self)._class_failed = True
                sys.stderr.write("\n===== %s failed; node logs follow =====\n" % self.id())
                for node in nodes:
                    node.dump_logs()
            for node in getattr(self, "_test_nodes", []):
                if failed:
                    node.kill9()
                    sys.stderr.write("kept %s\n" % node.tmpdir)
                else:
                    node.cleanup()

    # Convenience wrappers.

    def assert_op(self, node, body, status, expected_subset=None, **kwargs):
        return assert_op(node, body, status, expected_subset, **kwargs)


def table_perm(read=False, insert=False, update=False, delete=False):
    """A role's permission on one table (add_role / alter_role), no attribute permissions."""
    return {"read": read, "insert": insert, "update": update, "delete": delete, "attribute_permissions": []}


def count_records(node, database, table, primary_key="id"):
    """Number of records in a table, through search_by_value with "*"."""
    rows = node.ok({"operation": "search_by_value", "database": database, "table": table,
                    "search_attribute": primary_key, "search_value": "*", "get_attributes": [primary_key]})
    return len(rows)


def main():
    unittest.main(verbosity=2)
