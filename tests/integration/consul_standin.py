"""A stand-in for Consul's HTTP API, for the discovery tests. It is NOT Consul.

No Consul binary can be had on this machine (not in Debian, not on npm, no Docker daemon:
reference/discovery.md §3.4), so meshdb's consul-kv backend is tested against this server. It
implements only the subset of the API that reference/discovery.md §3.5 lists, with the status
codes, bodies and headers documented in §3.1-§3.3 and read from Consul's source
(agent/kvs_endpoint.go, agent/session_endpoint.go, agent/consul/state/kvs.go, session TTLs):

- one global, strictly increasing index, bumped by every KV or session write;
- GET/PUT/DELETE /v1/kv/<key> with ?recurse, ?keys[&separator=], ?raw, ?flags, ?cas, ?acquire,
  ?release, blocking ?index=&wait=, lock-delay, and Consul 1.21.5's key validation;
- PUT /v1/session/create, /v1/session/renew/<id>, /v1/session/destroy/<id>, GET
  /v1/session/info/<id>; sessions with a TTL are invalidated TTL x multiplier after their last
  renewal (behaviour release or delete, then lock-delay on the keys they held);
- ACLs reduced to one token: started with a token, every request must carry it (X-Consul-Token,
  ?token= or Authorization: Bearer), else 403.

Checks, nodes, services, datacenters, namespaces and /v1/txn are not implemented (404). What it
gets right is checked by test_consul_standin.py, each test citing the documented behaviour. The
session TTL minimum (Consul's session_ttl_min, 10 s) and the TTL multiplier (2) are settable so
tests run in seconds.

In a test:   with ConsulStandin(session_ttl_min=1, ttl_multiplier=1) as consul: consul.address
Standalone:  python3 consul_standin.py --host 127.0.0.1 --port 8500 [--session-ttl-min 1s]
             [--ttl-multiplier 1] [--token T]        (prints nothing but errors)
Stop and start() again to simulate Consul being away: the KV and sessions are kept, and every
session's TTL timer restarts in full, as when a new Consul leader takes over.
"""

import argparse
import base64
import http.server
import json
import random
import re
import socket
import sys
import threading
import time
import urllib.parse
import uuid

DEFAULT_WAIT_S = 300.0  # blocking queries: default ?wait (5 min)
MAX_WAIT_S = 600.0  # and its cap (10 min)
SESSION_TTL_MAX_S = 86400.0
DEFAULT_LOCK_DELAY_S = 15.0
MAX_LOCK_DELAY_S = 60.0
NODE_NAME = "consul-standin"
# Consul 1.21.5's server-side key check (hashicorp/consul#22682), plus "no leading /".
KEY_PATTERN = r"^[a-zA-Z0-9,_./\-?&=]+$"

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text):
    """Seconds in a Go duration string ("10s", "1m30s", "250ms", "0"); ValueError otherwise."""
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m:
            raise ValueError("time: invalid duration %r" % text)
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if not text:
        raise ValueError("time: invalid duration %r" % text)
    return total


def go_duration(seconds):
    """Go's Duration.String() for whole-millisecond durations: "10s", "1.5s", "500ms", "24h0m0s"."""
    if 0 < seconds < 1:
        return "%gms" % round(seconds * 1000, 3)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    text = "%gs" % round(s, 3)
    if h:
        return "%dh%dm%s" % (h, m, text)
    return "%dm%s" % (m, text) if m else text


class HttpError(Exception):
    """An answer other than 200: status and text body, as Consul writes its errors."""

    def __init__(self, status, text=""):
        super().__init__(text)
        self.status, self.text = status, text


def validate_key(key):
    if key.startswith("/"):
        raise HttpError(400, "key must not begin with a '/'")
    if not re.match(KEY_PATTERN, key):
        raise HttpError(400, "invalid key name, keys should respect the %s format" % KEY_PATTERN)


class ConsulStandin:
    """The KV store and sessions, and the HTTP server in front of them (one thread per request).

    Thread-safe: all state is guarded by _cond, which is also what blocking queries and the
    session reaper wait on.
    """

    def __init__(self, host="127.0.0.1", port=0, session_ttl_min=10.0, ttl_multiplier=2.0, token=None):
        self.host, self.port = host, port
        self.session_ttl_min, self.ttl_multiplier, self.token = session_ttl_min, ttl_multiplier, token
        self._cond = threading.Condition()
        # Protected by _cond.
        self._index = 0  # the global raft-like index
        self._kv_index = 0  # the KV table's max index (writes and deletes)
        self._entries = {}  # key -> {"Key", "Value" (bytes), "Flags", "LockIndex", "Session", indexes}
        self._touched = {}  # key -> index of its last change, deletes included (Consul's tombstones)
        self._lock_delays = {}  # key -> monotonic time before which ?acquire answers false
        self._sessions = {}  # id -> the session as /v1/session/info shows it
        self._expiry = {}  # id -> monotonic invalidation time, for sessions with a TTL
        self._blocked = 0  # blocking queries waiting now
        self._closed = False
        self._server = None
        self._connections = set()
        self._reaper = threading.Thread(target=self._reap, name="consul-standin-reaper", daemon=True)
        self._reaper.start()

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def address(self):
        """host:port, what meshdb's disco-config "address" takes."""
        return "%s:%d" % (self.host, self.port)

    def start(self):
        """Serves on host:port (a free port the first time when port was 0); returns self."""
        server = _Server((self.host, self.port), _Handler)
        server.standin = self
        self.port = server.server_address[1]
        with self._cond:
            # A new leader restarts every session's TTL timer in full.
            now = time.monotonic()
            for sid in self._expiry:
                self._expiry[sid] = now + self._ttl_s(self._sessions[sid]) * self.ttl_multiplier
            self._server = server
            self._cond.notify_all()
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         name="consul-standin-http", daemon=True).start()
        return self

    def stop(self):
        """Stops answering: the port refuses connections and open ones are cut. State is kept."""
        with self._cond:
            server, self._server = self._server, None
            self._cond.notify_all()  # blocking queries answer now
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._cond:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.stop()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._reaper.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def running(self):
        return self._server is not None

    def entries(self, prefix):
        """{key: entry} under prefix, as GET ?recurse shows them but with Value as text; lets a
        test look at the store without going through HTTP."""
        with self._cond:
            return {k: dict(self._public(self._entries[k]), Value=self._entries[k]["Value"].decode("utf-8", "replace"))
                    for k in self._matching(prefix)}

    def list_prefix(self, prefix):
        """{key: value as text} under prefix."""
        return {k: e["Value"] for k, e in self.entries(prefix).items()}

    def blocked_queries(self):
        """How many blocking GETs are waiting now (tests wait for theirs to be parked)."""
        with self._cond:
            return self._blocked

    # -- KV -----------------------------------------------------------------------------------

    def _bump(self):
        self._index += 1
        return self._index

    def _touch(self, key, index):
        self._touched[key] = index
        self._kv_index = index

    def _matching(self, prefix):
        return sorted(k for k in self._entries if k.startswith(prefix))

    def _query_index(self, key, recurse):
        """X-Consul-Index of a KV read: the table's max index for one key; for a prefix, the
        highest index among its keys and tombstones (the table's when there are none)."""
        if recurse and key:
            idx = max((i for k, i in self._touched.items() if k.startswith(key)), default=0)
            if idx:
                return idx
        return max(self._kv_index, 1)

    def _watch_index(self, key, recurse):
        if recurse:
            return max((i for k, i in self._touched.items() if k.startswith(key)), default=0)
        return self._touched.get(key, 0)

    @staticmethod
    def _public(entry):
        out = {k: entry[k] for k in ("LockIndex", "Key", "Flags")}
        out["Value"] = base64.b64encode(entry["Value"]).decode() if entry["Value"] else None
        if entry["Session"]:
            out["Session"] = entry["Session"]
        out["CreateIndex"], out["ModifyIndex"] = entry["CreateIndex"], entry["ModifyIndex"]
        return out

    def kv_read(self, key, params, min_index=0, wait_s=0.0):
        """(index, JSON-able result or raw bytes, or None for 404) of a GET, blocking while the
        index is <= min_index and nothing under the key changed, at most wait_s."""
        recurse = "recurse" in params or "keys" in params
        with self._cond:
            if min_index and self._query_index(key, recurse) <= min_index:
                watched = self._watch_index(key, recurse)
                deadline = time.monotonic() + wait_s
                self._blocked += 1
                while self._watch_index(key, recurse) == watched and self._server is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                self._blocked -= 1
            return self._query_index(key, recurse), self._read(key, params)

    def _read(self, key, params):
        if "keys" in params:
            sep = params.get("separator", [""])[0]
            keys = []
            for k in self._matching(key):
                cut = k.find(sep, len(key)) if sep else -1
                name = k[:cut + len(sep)] if cut >= 0 else k
                if name not in keys:
                    keys.append(name)
            return keys if keys or not key else None
        if "recurse" in params:
            return [self._public(self._entries[k]) for k in self._matching(key)] or None
        entry = self._entries.get(key)
        if entry is None:
            return None
        return entry["Value"] if "raw" in params else [self._public(entry)]

    def kv_put(self, key, value, params):
        """The body of a PUT: True or False (plain puts always True)."""
        flags = _uint(params, "flags", 0)
        with self._cond:
            existing = self._entries.get(key)
            if "cas" in params:
                cas = _uint(params, "cas")
                if (existing is None) != (cas == 0) or (existing and existing["ModifyIndex"] != cas):
                    return False
                self._write(key, value, flags, existing["Session"] if existing else "")
            elif "acquire" in params:
                sid = params["acquire"][0]
                delay = self._lock_delays.get(key)
                if delay is not None and delay > time.monotonic():
                    return False  # checked before anything else, as Consul's KVS.Apply does
                if not sid:
                    raise HttpError(500, "missing session")
                if sid not in self._sessions:
                    raise HttpError(500, 'invalid session "%s"' % sid)
                if existing and existing["Session"] not in ("", sid):
                    return False  # held by another session
                lock_index = existing["LockIndex"] if existing else 0
                if not existing or existing["Session"] != sid:
                    lock_index += 1  # a new holder (re-acquiring keeps LockIndex)
                self._write(key, value, flags, sid, lock_index)
            elif "release" in params:
                sid = params["release"][0]
                if not sid:
                    raise HttpError(500, "missing session")
                if existing is None or existing["Session"] != sid:
                    return False
                self._write(key, value, flags, "")
            else:
                self._write(key, value, flags, existing["Session"] if existing else "")
            return True

    def _write(self, key, value, flags, session, lock_index=None):
        existing = self._entries.get(key)
        if lock_index is None:
            lock_index = existing["LockIndex"] if existing else 0
        new = {"Key": key, "Value": value, "Flags": flags, "Session": session, "LockIndex": lock_index}
        if existing and all(existing[k] == v for k, v in new.items()):
            return  # an identical rewrite does not bump ModifyIndex
        idx = self._bump()
        new["CreateIndex"] = existing["CreateIndex"] if existing else idx
        new["ModifyIndex"] = idx
        self._entries[key] = new
        self._touch(key, idx)
        self._cond.notify_all()

    def kv_delete(self, key, params):
        with self._cond:
            if "recurse" in params:
                keys = self._matching(key)
            else:
                entry = self._entries.get(key)
                if "cas" in params:
                    cas = _uint(params, "cas")
                    if entry is None:
                        return True  # Consul: a delete-CAS of a missing key succeeds
                    if entry["ModifyIndex"] != cas:
                        return False
                keys = [key] if entry else []
            if keys:
                self._delete(keys, self._bump())
            return True

    def _delete(self, keys, idx):
        for k in keys:
            del self._entries[k]
            self._touch(k, idx)
        self._cond.notify_all()

    # -- sessions -----------------------------------------------------------------------------

    @staticmethod
    def _ttl_s(session):
        return parse_duration(session["TTL"]) if session["TTL"] else 0.0

    def session_create(self, body):
        try:
            req = json.loads(body) if body.strip() else {}
            if not isinstance(req, dict):
                raise ValueError("expected a JSON object")
            fields = {k.lower(): v for k, v in req.items()}
            lock_delay = fields.get("lockdelay", DEFAULT_LOCK_DELAY_S * 1e9)
            if isinstance(lock_delay, str):
                lock_delay = parse_duration(lock_delay) * 1e9
            if not isinstance(lock_delay, (int, float)):
                raise ValueError("LockDelay must be a duration")
        except ValueError as e:
            raise HttpError(400, "Request decode failed: %s" % e)
        if lock_delay < 1000:  # Consul reads small bare numbers as seconds
            lock_delay *= 1e9
        behavior = fields.get("behavior") or "release"
        if behavior not in ("release", "delete"):
            raise HttpError(500, "Invalid Behavior setting '%s'" % behavior)
        ttl = fields.get("ttl") or ""
        if ttl:
            try:
                ttl_s = parse_duration(ttl)
            except ValueError as e:
                raise HttpError(500, "Session TTL '%s' invalid: %s" % (ttl, e))
            if ttl_s and not self.session_ttl_min <= ttl_s <= SESSION_TTL_MAX_S:
                raise HttpError(500, "Invalid Session TTL '%d', must be between [%s=%s]" % (
                    round(ttl_s * 1e9), go_duration(self.session_ttl_min), go_duration(SESSION_TTL_MAX_S)))
        checks = fields.get("nodechecks", fields.get("checks", ["serfHealth"]))
        with self._cond:
            idx = self._bump()
            sid = str(uuid.uuid4())
            self._sessions[sid] = {
                "ID": sid, "Name": fields.get("name", ""), "Node": fields.get("node") or NODE_NAME,
                "NodeChecks": checks, "ServiceChecks": fields.get("servicechecks"),
                "LockDelay": int(lock_delay), "Behavior": behavior, "TTL": ttl,
                "CreateIndex": idx, "ModifyIndex": idx}
            self._renew(sid)
            return {"ID": sid}

    def _renew(self, sid):
        ttl_s = self._ttl_s(self._sessions[sid])
        if ttl_s:
            self._expiry[sid] = time.monotonic() + ttl_s * self.ttl_multiplier
            self._cond.notify_all()

    def session_renew(self, sid):
        with self._cond:
            if sid not in self._sessions:
                raise HttpError(404, "Session id '%s' not found" % sid)
            self._renew(sid)
            return [self._sessions[sid]]

    def session_destroy(self, sid):
        with self._cond:
            if sid in self._sessions:
                self._invalidate(sid)
            return True

    def session_info(self, sid):
        with self._cond:
            session = self._sessions.get(sid)
            return max(self._index, 1), [session] if session else []

    def _invalidate(self, sid):
        """Ends a session: its keys are released or deleted, each under lock-delay."""
        session = self._sessions.pop(sid)
        self._expiry.pop(sid, None)
        idx = self._bump()
        held = [k for k, e in self._entries.items() if e["Session"] == sid]
        delay = min(session["LockDelay"] / 1e9, MAX_LOCK_DELAY_S)
        for k in held:
            if delay > 0:
                self._lock_delays[k] = time.monotonic() + delay
            if session["Behavior"] == "delete":
                del self._entries[k]
            else:
                self._entries[k].update(Session="", ModifyIndex=idx)
            self._touch(k, idx)
        self._cond.notify_all()

    def _reap(self):
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                # A stopped Consul invalidates nothing; start() restarts the timers.
                for sid in [s for s, t in self._expiry.items() if t <= now and self._server]:
                    self._invalidate(sid)
                next_due = min(self._expiry.values(), default=now + 1.0)
                self._cond.wait(max(0.01, min(next_due - now, 1.0)))


def _uint(params, name, default=None):
    if name not in params:
        return default
    try:
        value = int(params[name][0])
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        raise HttpError(500, 'strconv.ParseUint: parsing "%s": invalid syntax' % params[name][0])


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    standin = None

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # cut connections are expected at stop()
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "consul-standin"

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        pass

    def setup(self):
        super().setup()
        with self.server.standin._cond:
            self.server.standin._connections.add(self.connection)

    def finish(self):
        with self.server.standin._cond:
            self.server.standin._connections.discard(self.connection)
        super().finish()

    def do_GET(self):  # noqa: N802
        self._dispatch()

    do_PUT = do_DELETE = do_POST = do_GET

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size + 2)[:size]
                if not size:
                    return data
                data += chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status, body=b"", content_type="text/plain; charset=utf-8", index=None):
        self.send_response(status)
        if index is not None:
            self.send_header("X-Consul-Index", str(index))
            self.send_header("X-Consul-KnownLeader", "true")
            self.send_header("X-Consul-LastContact", "0")
        if body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value, index=None):
        self._reply(200, json.dumps(value).encode(), "application/json", index)

    def _dispatch(self):
        standin = self.server.standin
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        params = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        try:
            body = self._body()
            self._check_token(standin, params)
            if path.startswith("/v1/kv/"):
                self._kv(standin, path[len("/v1/kv/"):], params, body)
            elif path.startswith("/v1/session/"):
                self._session(standin, path[len("/v1/session/"):], body)
            else:
                self._reply(404)
        except HttpError as e:
            self._reply(e.status, e.text.encode())

    def _check_token(self, standin, params):
        if standin.token is None:
            return
        auth = self.headers.get("Authorization", "")
        given = (params.get("token", [""])[0] or self.headers.get("X-Consul-Token")
                 or (auth[7:] if auth.startswith("Bearer ") else ""))
        if not given:
            raise HttpError(403, "Permission denied")
        if given != standin.token:
            raise HttpError(403, "ACL not found")

    def _kv(self, standin, key, params, body):
        if key:
            validate_key(key)
        if self.command == "GET":
            if not key and "recurse" not in params and "keys" not in params:
                raise HttpError(400, "Missing key name")
            min_index, wait_s = self._blocking(params)
            index, result = standin.kv_read(key, params, min_index, wait_s)
            if result is None:
                self._reply(404, index=index)
            elif isinstance(result, bytes):
                self._reply(200, result, "text/plain", index)
            else:
                self._json(result, index)
        elif self.command == "PUT":
            if not key:
                raise HttpError(400, "Missing key name")
            _conflicting(params, "cas", "acquire", "release")
            self._json(standin.kv_put(key, body, params))
        elif self.command == "DELETE":
            _conflicting(params, "recurse", "cas")
            if not key and "recurse" not in params:
                raise HttpError(400, "Missing key name")
            self._json(standin.kv_delete(key, params))
        else:
            raise HttpError(405, "method %s not allowed" % self.command)

    @staticmethod
    def _blocking(params):
        wait_s = DEFAULT_WAIT_S
        if params.get("wait", [""])[0]:
            try:
                wait_s = parse_duration(params["wait"][0])
            except ValueError:
                raise HttpError(400, "Invalid wait time")
        wait_s = min(wait_s, MAX_WAIT_S)
        min_index = 0
        if params.get("index", [""])[0]:
            try:
                min_index = int(params["index"][0])
            except ValueError:
                raise HttpError(400, "Invalid index")
        return min_index, wait_s + random.uniform(0, wait_s / 16)

    def _session(self, standin, rest, body):
        verb, _, sid = rest.partition("/")
        method = "GET" if verb == "info" else "PUT"
        if verb not in ("create", "renew", "destroy", "info") or (verb == "create") == bool(sid):
            raise HttpError(404)
        if self.command != method:
            raise HttpError(405, "method %s not allowed" % self.command)
        if verb == "create":
            self._json(standin.session_create(body.decode("utf-8", "replace")))
        elif verb == "renew":
            self._json(standin.session_renew(sid))
        elif verb == "destroy":
            self._json(standin.session_destroy(sid))
        else:
            index, sessions = standin.session_info(sid)
            self._json(sessions, index)


def _conflicting(params, *flags):
    if sum(f in params for f in flags) > 1:
        raise HttpError(400, "Conflicting flags: %s\n" % urllib.parse.urlencode(params, doseq=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8500)
    parser.add_argument("--session-ttl-min", default="10s", help="Consul's session_ttl_min")
    parser.add_argument("--ttl-multiplier", type=float, default=2.0)
    parser.add_argument("--token", help="require this X-Consul-Token on every request")
    args = parser.parse_args()
    standin = ConsulStandin(args.host, args.port, parse_duration(args.session_ttl_min),
                            args.ttl_multiplier, args.token).start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.close()


if __name__ == "__main__":
    main()
