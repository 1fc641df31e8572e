"""A real, throwaway etcd for the discovery tests (reference/discovery.md §2.5).

Standard library only. Starts Debian's etcd 3.4 (`etcd-server`, installed by tools/setup.sh) on
free ports of a loopback address, in a temporary data directory, with short heartbeat and
election timeouts so leases can be short and restarts are quick; waits for GET /health to say
"true"; stops it by its PID (SIGTERM, then SIGKILL after a deadline). stop() and start() again
reuse the same data directory and ports: the store is away, then back with its data (leases
included, their TTLs reset to full, §2.4). Tests read and write it over the v3 JSON gateway
(POST /v3/..., keys and values base64, §2.2-§2.3).

    with EtcdFixture() as etcd:
        etcd.url                      # http://127.0.0.1:<port>, for meshdb's "endpoints"
        etcd.list_prefix("/mydb/")    # {key: value} of every key under the prefix
"""

import base64
import json
import os
import shutil
import signal
import ssl
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HEARTBEAT_MS = 50
ELECTION_MS = 500  # the minimum lease TTL follows: 1.5 x election timeout, rounded up (1 s)


def _free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _unb64(text):
    return base64.b64decode(text).decode("utf-8", "replace") if text else ""


def prefix_end(prefix):
    """The range_end that selects every key starting with prefix: its last byte plus one."""
    raw = prefix.encode()
    return raw[:-1] + bytes([raw[-1] + 1])


class EtcdFixture:
    """One etcd process; start()/stop() any number of times on the same data dir and ports."""

    def __init__(self, host="127.0.0.1", tls=None):
        """tls: None, or (certificate file, key file, CA file) to serve clients over https."""
        self.binary = shutil.which("etcd")
        if self.binary is None:
            raise unittest.SkipTest("no etcd on PATH (tools/setup.sh installs etcd-server)")
        self.host = host
        self.client_port, self.peer_port = _free_port(host), _free_port(host)
        self.tmpdir = tempfile.mkdtemp(prefix="meshdb-it-etcd-")
        self.data_dir = os.path.join(self.tmpdir, "data")
        self.log_path = os.path.join(self.tmpdir, "etcd.log")
        self.proc = None
        self.tls = tls
        self.token = None  # set by enable_auth
        self._ssl = None
        if tls:
            self._ssl = ssl.create_default_context(cafile=tls[2])

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self.tls else "http", self.host, self.client_port)

    def command(self):
        peer = "http://%s:%d" % (self.host, self.peer_port)
        return [self.binary, "--name", "t", "--data-dir", self.data_dir,
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "t=" + peer,
                "--heartbeat-interval", str(HEARTBEAT_MS), "--election-timeout", str(ELECTION_MS),
                "--logger", "zap", "--log-outputs", "stderr"] + (
                    ["--cert-file", self.tls[0], "--key-file", self.tls[1]] if self.tls else [])

    def start(self, deadline_s=15):
        """Launches etcd and waits until GET /health answers {"health":"true"}; returns self."""
        if self.running():
            raise RuntimeError("etcd is already running (pid %d)" % self.proc.pid)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        with open(self.log_path, "ab") as log:
            log.write(("\n=== start %s: %s\n" % (time.strftime("%H:%M:%S"), " ".join(self.command()))).encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + deadline_s
        while not self.healthy():
            if not self.running():
                raise RuntimeError("etcd exited with code %s; log:\n%s" % (self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                self.kill9()
                raise RuntimeError("etcd not healthy within %ss; log:\n%s" % (deadline_s, self.log_tail()))
            time.sleep(0.02)
        return self

    def healthy(self):
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2, context=self._ssl) as resp:
                return json.loads(resp.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, deadline_s=10):
        """SIGTERM to our etcd's PID, SIGKILL if it has not exited by the deadline."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(deadline_s)
            except subprocess.TimeoutExpired:
                self.kill9()

    def kill9(self):
        if self.running():
            self.proc.kill()
            self.proc.wait(10)

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self, keep=False):
        """Stops etcd and removes its directory (kept, and its path printed, when keep)."""
        self.kill9()
        if keep:
            sys.stderr.write("kept etcd dir %s\n" % self.tmpdir)
        else:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- the v3 JSON gateway ------------------------------------------------------------------

    def call(self, path, body):
        """POST /v3/<path> with a JSON body; returns the parsed answer (errors raise)."""
        req = urllib.request.Request(self.url + "/v3/" + path, data=json.dumps(body).encode(), method="POST")
        if self.token:
            req.add_header("Authorization", self.token)
        try:
            with urllib.request.urlopen(req, timeout=5, context=self._ssl) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise AssertionError("etcd %s %s: %s %s" % (path, body, e.code, e.read()[:500]))

    def enable_auth(self, password):
        """Turns on etcd's authentication with a root user; later calls authenticate as root."""
        self.call("auth/user/add", {"name": "root", "password": password})
        self.call("auth/role/add", {"name": "root"})
        self.call("auth/user/grant", {"user": "root", "role": "root"})
        self.call("auth/enable", {})
        self.token = self.call("auth/authenticate", {"name": "root", "password": password})["token"]

    def range(self, key, range_end=None):
        """The kvs of a range, each with key and value decoded to text (other fields as etcd
        sends them: revisions as strings, "lease" only on keys bound to one)."""
        body = {"key": _b64(key)}
        if range_end is not None:
            body["range_end"] = base64.b64encode(range_end).decode()
        kvs = self.call("kv/range", body).get("kvs", [])
        return [dict(kv, key=_unb64(kv["key"]), value=_unb64(kv.get("value"))) for kv in kvs]

    def get(self, key):
        """The value of key as text, None when it does not exist."""
        kvs = self.range(key)
        return kvs[0]["value"] if kvs else None

    def list_prefix(self, prefix):
        """{key: value} of every key under prefix."""
        return {kv["key"]: kv["value"] for kv in self.range(prefix, prefix_end(prefix))}

    def put(self, key, value, lease=None):
        body = {"key": _b64(key), "value": _b64(value)}
        if lease is not None:
            body["lease"] = str(lease)
        self.call("kv/put", body)

    def grant(self, ttl_s):
        """A new lease's ID (a string, as etcd sends it)."""
        return self.call("lease/grant", {"TTL": ttl_s})["ID"]

    def revoke(self, lease):
        self.call("lease/revoke", {"ID": str(lease)})
