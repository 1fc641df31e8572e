"""Bad input from replication peers (issue 3 "Bad input from peers"; docs/protocol.md).

A hand-made WebSocket client (HTTP upgrade and frame masking written here) connects to
GET /replication with subprotocol meshdb-replication-v1 and sends: garbage frames, a truncated
frame, an oversized frame, a Hello of an unknown protocol version, a Hello claiming another node's
name, a well-formed Transactions frame holding garbage record bytes, and credentials that are not
a super_user's. Each time the node must refuse (401) or close (Error frame and/or WebSocket close),
report why in cluster_status (link_errors grows, last_link_error gives the reason), keep
serving, and its data must be unchanged (checksum before and after).
A positive control (super_user credentials, a valid Hello) shows the node does answer a good peer.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import struct
import threading
import time

import cluster
import harness
from harness import wait_until

DB, T = "dev", "dog"
SUBPROTOCOL = "meshdb-replication-v1"
MAX_FRAME = 16 << 20

# Message types and error codes (docs/protocol.md §3).
HELLO, ERROR, SUBSCRIBE, TRANSACTIONS = 1, 2, 3, 7
VERIFY_REQUEST, VERIFY_RESPONSE = 18, 19
PROTOCOL_VERSION = 2
E_PROTOCOL, E_VERSION, E_UNAUTHORIZED, E_NAME, E_TOO_LARGE = 1, 2, 3, 4, 5


# -- encoding (docs/protocol.md §2) --------------------------------------------------------------

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(data, pos):
    shift = value = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return varint(len(b)) + b


def str_list(items):
    return varint(len(items)) + b"".join(string(i) for i in items)


def hello(name, version=PROTOCOL_VERSION, url="ws://127.0.0.1:1", caps=("txn-batch", "copy", "credit"), max_frame=MAX_FRAME,
          databases=(DB,)):
    return (bytes([HELLO]) + varint(version) + string(name) + string(url) + str_list(list(caps)) + varint(max_frame)
            + str_list(list(databases)))


def node_id(name):
    h = 2166136261
    for b in name.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h or 1


def node_token(key, name):
    return "MeshNode %s:%s" % (name, hmac.new(key.encode(), name.encode(), hashlib.sha256).hexdigest())


def string_key(s):
    """A primary key as storage encodes it (src/storage/key_codec.h): tag 0x05, then UTF-8."""
    return b"\x05" + s.encode()


def record_bytes(version, origin, doc):
    """Stored record bytes (src/storage/record_codec.h): format 1, flags, version, origin, JSON."""
    return bytes([1, 0]) + struct.pack(">QI", version, origin) + json.dumps(doc).encode()


def txn_entry(sender_sequence, origin, origin_sequence, version, writes):
    """One Transactions entry: writes are (table, key bytes, value bytes)."""
    out = (varint(sender_sequence) + varint(origin) + varint(origin_sequence) + varint(version) + varint(0)
           + varint(len(writes)))
    for table, key, value in writes:
        out += string(table) + string(key) + string(value)
    return out


def read_string(data, pos):
    n, pos = read_varint(data, pos)
    return data[pos:pos + n], pos + n


def subscribe_position(payload):
    """(start tag, after_sender_sequence or None) of a Subscribe frame (docs/protocol.md §3.3)."""
    _, pos = read_string(payload, 1)  # database
    count, pos = read_varint(payload, pos)
    for _ in range(count):
        _, pos = read_string(payload, pos)
    tag = payload[pos]
    pos += 1
    if tag != 0:
        return tag, None
    entries, pos = read_varint(payload, pos)
    for _ in range(2 * entries):
        _, pos = read_varint(payload, pos)
    after, pos = read_varint(payload, pos)
    return tag, after


# -- a minimal WebSocket client --------------------------------------------------------------------

class WsClient:
    def __init__(self, node, authorization, source_ip=None, timeout=5, database=None):
        self.node = node
        self.sock = socket.create_connection((node.ip, node.port), timeout=timeout,
                                             source_address=(source_ip, 0) if source_ip else None)
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        target = "/replication" + ("?database=" + database if database else "")
        lines = ["GET %s HTTP/1.1" % target, "Host: %s:%d" % (node.ip, node.port), "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13",
                 "Sec-WebSocket-Protocol: " + SUBPROTOCOL]
        if authorization:
            lines.append("Authorization: " + authorization)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].decode()
        self.status = int(status_line.split()[1])
        self.headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()

    def _read_until(self, marker):
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; got %r" % self.buf[:200])
            self.buf += chunk
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_raw(self, data):
        self.sock.sendall(data)

    @staticmethod
    def frame(payload, opcode=0x2, fin=True, declared_len=None):
        n = len(payload) if declared_len is None else declared_len
        head = bytearray([(0x80 if fin else 0) | opcode])
        if n < 126:
            head.append(0x80 | n)
        elif n < 65536:
            head.append(0x80 | 126)
            head += struct.pack(">H", n)
        else:
            head.append(0x80 | 127)
            head += struct.pack(">Q", n)
        mask = os.urandom(4)
        head += mask
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if len(payload) < 1 << 16 else \
            (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (len(payload) // 4 + 1))[:len(payload)],
                                                            "big")).to_bytes(len(payload), "big")
        return bytes(head) + masked

    def send(self, payload, opcode=0x2):
        self.sock.sendall(self.frame(payload, opcode))

    def recv(self):
        """Next WebSocket message: (opcode, payload). Raises EOFError / socket.timeout."""
        b0, b1 = self._read_exact(2)
        opcode, n = b0 & 0x0F, b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read_exact(8))[0]
        mask = self._read_exact(4) if b1 & 0x80 else None
        payload = self._read_exact(n)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return opcode, payload

    def outcome(self, timeout=10):
        """Reads until the server closes: returns {"errors": [(code, reason)], "close": code|None,
        "messages": [types], "eof": bool}."""
        self.sock.settimeout(timeout)
        out = {"errors": [], "close": None, "messages": [], "eof": False}
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                opcode, payload = self.recv()
                if opcode == 0x8:
                    out["close"] = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                    break
                if opcode == 0x9:  # ping
                    self.send(payload, 0xA)
                    continue
                if opcode == 0x2 and payload:
                    out["messages"].append(payload[0])
                    if payload[0] == ERROR:
                        code, pos = read_varint(payload, 1)
                        ln, pos = read_varint(payload, pos)
                        out["errors"].append((code, payload[pos:pos + ln].decode("utf-8", "replace")))
        except (EOFError, ConnectionError):
            out["eof"] = True
        except socket.timeout:
            out["timeout"] = True
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class BadPeerTest(cluster.ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key = cluster.new_cluster_key()
        cls.node = cls.new_node(name="A")
        cls.node.repl_name = cls.node.ip
        cls._class_nodes = [cls.node]
        # The raw clients connect from 127.0.0.1 (or a source in the block): these tests probe
        # what a peer past the address check (docs/security.md "Insecure mode") can do.
        cls.node.start(["--REPLICATION_HOSTNAME", cls.node.ip, "--REPLICATION_CLUSTERKEY", cls.key,
                        "--REPLICATION_ALLOWEDIPS", '["127.0.0.0/8"]'] + cluster.RECONNECT_ARGS)
        n = cls.node
        n.ok({"operation": "create_table", "database": DB, "table": T, "primary_key": "id"})
        n.ok({"operation": "insert", "database": DB, "table": T, "records": [{"id": i, "v": i} for i in range(20)]})
        n.ok({"operation": "add_role", "role": "writer", "permission": {
            "super_user": False, "dev": {"tables": {"dog": {"read": True, "insert": True, "update": True,
                                                            "delete": True, "attribute_permissions": []}}}}})
        n.ok({"operation": "add_user", "username": "writer", "password": "pw-123", "role": "writer", "active": True})

    def setUp(self):
        super().setUp()
        n = self.node
        self.before = (cluster.checksum(n, DB), cluster.checksum(n, "system", ["hdb_nodes", "hdb_user", "hdb_role"]))
        self.link_errors_before = cluster.link_errors(n)[0]

    def admin(self):
        return cluster.basic(self.node.username, self.node.password)

    def connect(self, authorization=None):
        c = WsClient(self.node, self.admin() if authorization is None else authorization)
        self.addCleanup(c.close)
        return c

    def assert_unchanged_and_reported(self, reason_pattern, what):
        """The node is up with its data unchanged, and its cluster_status counts one more refused
        connection or link closed with an Error (link_errors) with a reason (last_link_error)
        matching reason_pattern."""
        n = self.node
        self.assertTrue(n.running(), "node died after %s" % what)
        harness.assert_op(n, {"operation": "describe_table", "database": DB, "table": T}, 200)
        after = (cluster.checksum(n, DB), cluster.checksum(n, "system", ["hdb_nodes", "hdb_user", "hdb_role"]))
        self.assertEqual(self.before, after, "data changed after %s" % what)
        pat = re.compile(reason_pattern, re.I)

        def reported():
            count, last = cluster.link_errors(n)
            return count > self.link_errors_before and pat.search(last or "")
        try:
            wait_until(reported, 5, "cluster_status link_errors to grow with a last_link_error matching /%s/ "
                       "after %s" % (reason_pattern, what))
        except AssertionError as e:
            raise AssertionError("%s; link_errors before: %d, now: %r" % (e, self.link_errors_before,
                                                                         cluster.link_errors(n))) from None

    def assert_closed(self, out, codes, close_codes, what):
        """The node sent Error with one of `codes` and/or closed with one of `close_codes` (or dropped)."""
        self.assertFalse(out.get("timeout"), "%s: the node neither closed nor sent Error within 10 s: %r" % (what, out))
        self.assertNotIn(TRANSACTIONS, out["messages"], out)
        error_ok = any(c in codes for c, _ in out["errors"])
        close_ok = out["close"] in close_codes
        self.assertTrue(error_ok or close_ok,
                        "%s: expected Error code in %r or close code in %r; got %r" % (what, codes, close_codes, out))
        if out["errors"]:
            self.assertIn(out["errors"][0][0], codes, "%s: wrong Error code: %r" % (what, out))

    def handshake(self, c, name="fake-peer"):
        self.assertEqual(c.status, 101, "upgrade with super_user credentials: %r" % c.headers)
        self.assertEqual(c.headers.get("sec-websocket-protocol"), SUBPROTOCOL)
        c.send(hello(name))
        c.sock.settimeout(10)
        opcode, payload = c.recv()
        self.assertEqual((opcode, payload[:2]), (0x2, bytes([HELLO, PROTOCOL_VERSION])), "the node's answer to a valid Hello")
        n, pos = read_varint(payload, 2)
        self.assertEqual(payload[pos:pos + n].decode(), self.node.repl_name, "node_name in the node's Hello")

    # -- positive control -------------------------------------------------------------------------

    def test_valid_hello_is_answered(self):
        c = self.connect()
        self.handshake(c)

    # -- authentication on the upgrade -----------------------------------------------------------

    def assert_upgrade_refused(self, authorization, what, pattern):
        c = self.connect(authorization)
        self.assertEqual(c.status, 401, "%s: upgrade must get 401, got %s %r" % (what, c.status, c.headers))
        self.assert_unchanged_and_reported(pattern, what)

    def test_non_super_user_credentials_get_401(self):
        self.assert_upgrade_refused(cluster.basic("writer", "pw-123"), "non-super_user Basic credentials",
                                    r"super.?user|unauthori[sz]ed|401|not allowed|denied|refus|reject")

    def test_wrong_password_gets_401(self):
        self.assert_upgrade_refused(cluster.basic(self.node.username, "wrong"), "a wrong password",
                                    r"unauthori[sz]ed|401|credential|password|denied|refus|reject")

    def test_no_credentials_get_401(self):
        self.assert_upgrade_refused("", "no Authorization header",
                                    r"unauthori[sz]ed|401|credential|authori[sz]ation|denied|refus|reject")

    def test_node_token_with_unknown_key_gets_401(self):
        self.assert_upgrade_refused(node_token("not-the-key", "peer-x"), "a node token signed with an unknown key",
                                    r"unauthori[sz]ed|401|token|key|denied|refus|reject")

    # -- bad frames -----------------------------------------------------------------------------

    def test_garbage_first_frame(self):
        c = self.connect()
        self.assertEqual(c.status, 101)
        c.send(b"\xff\x00garbage\x01\x02")
        self.assert_closed(c.outcome(), {E_PROTOCOL}, {1002}, "garbage instead of Hello")
        self.assert_unchanged_and_reported(r"unknown message type|corrupt|protocol", "a garbage frame")

    def test_garbage_after_hello(self):
        c = self.connect()
        self.handshake(c)
        c.send(bytes([TRANSACTIONS]) + b"\x05\xff\xff\xff\xff\xff\xff")
        self.assert_closed(c.outcome(), {E_PROTOCOL}, {1002}, "a malformed Transactions frame")
        self.assert_unchanged_and_reported(r"corrupt|protocol|Transactions", "a malformed Transactions frame")

    def test_text_message(self):
        c = self.connect()
        self.assertEqual(c.status, 101)
        c.send(b"hello", opcode=0x1)
        self.assert_closed(c.outcome(), {E_PROTOCOL}, {1002, 1003}, "a text message")
        self.assert_unchanged_and_reported(r"text|protocol|binary", "a text message")

    def test_truncated_hello(self):
        c = self.connect()
        self.assertEqual(c.status, 101)
        c.send(hello("fake-peer")[:9])
        self.assert_closed(c.outcome(), {E_PROTOCOL}, {1002}, "a truncated Hello")
        self.assert_unchanged_and_reported(r"corrupt|exceeds|truncat|protocol|Hello", "a truncated Hello")

    def test_truncated_websocket_frame(self):
        c = self.connect()
        self.assertEqual(c.status, 101)
        payload = hello("fake-peer")
        # The WebSocket header promises 1000 bytes; send fewer and stop writing.
        c.send_raw(WsClient.frame(payload, declared_len=1000)[:6 + 4 + len(payload)])
        c.sock.shutdown(socket.SHUT_WR)
        out = c.outcome()
        self.assertFalse(out.get("timeout"), "the node must drop a connection whose frame never completes: %r" % out)
        self.assertNotIn(HELLO, out["messages"])
        self.assert_unchanged_and_reported(r"eof|closed|truncat|end of stream|disconnect|reset|read",
                                         "a truncated WebSocket frame")

    def test_oversized_frame(self):
        c = self.connect()
        self.handshake(c)
        big = bytes([TRANSACTIONS]) + string(DB) + b"\x00" * (MAX_FRAME + 1024)
        try:
            c.send(big)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the node may close before reading it all
        self.assert_closed(c.outcome(), {E_TOO_LARGE}, {1009}, "an oversized frame")
        self.assert_unchanged_and_reported(r"too.?large|exceeds|max_frame|message size|1009", "an oversized frame")

    def test_unknown_protocol_version(self):
        c = self.connect()
        self.assertEqual(c.status, 101)
        c.send(bytes([HELLO]) + varint(PROTOCOL_VERSION + 1) + b"\x09whatever layout follows")
        self.assert_closed(c.outcome(), {E_VERSION}, {1002}, "a Hello of protocol version 3")
        self.assert_unchanged_and_reported(r"version", "an unknown protocol version")

    def test_hello_with_own_name(self):
        c = self.connect()
        self.assertEqual(c.status, 101)
        c.send(hello(self.node.repl_name))
        self.assert_closed(c.outcome(), {E_NAME}, {1008}, "a Hello with the node's own name")
        self.assert_unchanged_and_reported(r"name", "a Hello with the node's own name")

    def test_hello_name_differs_from_token_name(self):
        c = self.connect(node_token(self.key, "peer-x"))
        self.assertEqual(c.status, 101, "a node token made with the cluster key must be accepted: %r" % c.headers)
        c.send(hello("peer-y"))
        self.assert_closed(c.outcome(), {E_NAME, E_UNAUTHORIZED}, {1008}, "a Hello naming another node than the token")
        self.assert_unchanged_and_reported(r"name|token", "a Hello naming another node than its token")

    def test_garbage_record_bytes_in_transactions(self):
        c = self.connect()
        self.handshake(c, "fake-publisher")
        # The node subscribes to us (every link carries data both ways: docs/replication.md);
        # then we publish a transaction whose write holds bytes no record codec can read.
        c.sock.settimeout(10)
        types = []
        while SUBSCRIBE not in types:
            opcode, payload = c.recv()
            if opcode == 0x2 and payload:
                types.append(payload[0])
            self.assertNotIn(ERROR, types, "the node sent Error before subscribing")
        version = int(time.time() * 1000) << 16
        entry = (varint(1) + varint(node_id("fake-publisher")) + varint(1) + varint(version) + varint(0) + varint(1)
                 + string(T) + string(b"\xfe\xfd\xfc") + string(b"\xff\xff\xff\xffnot a record"))
        c.send(bytes([TRANSACTIONS]) + string(DB) + varint(1) + entry)
        out = c.outcome()
        self.assert_closed(out, {E_PROTOCOL, 6}, {1002, 1011}, "a Transactions entry with garbage record bytes")
        self.assert_unchanged_and_reported(r"corrupt|record|decode|invalid|protocol", "garbage record bytes")


class UnappliableTransactionTest(cluster.ClusterTestCase):
    """Issue 8 item 1: a transaction the node cannot apply is never skipped silently. A peer
    (made by hand, so it can send what no meshdb node would) publishes three transactions: a good
    one, one whose record cannot be decoded, and another good one. The node must apply the first,
    stop before the second, show why in cluster_status, never apply the third, and resume from
    before the failed one when the link is made again; cluster_verify must report the divergence."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.node = cls.new_node(name="B")
        cls.node.repl_name = cls.node.ip
        cls._class_nodes = [cls.node]
        # A failed link is retried after reconnectMaxMs: long enough here to look at it.
        cls.node.start(["--REPLICATION_HOSTNAME", cls.node.ip, "--REPLICATION_RECONNECTMINMS", "50",
                        "--REPLICATION_RECONNECTMAXMS", "6000"])
        cls.node.ok({"operation": "create_table", "database": DB, "table": T, "primary_key": "id"})

    def publish(self, name):
        c = WsClient(self.node, cluster.basic(self.node.username, self.node.password), database=DB)
        self.addCleanup(c.close)
        self.assertEqual(c.status, 101)
        c.send(hello(name, caps=("txn-batch", "copy", "credit", "verify")))
        c.sock.settimeout(10)
        while True:  # until the node subscribes to us
            opcode, payload = c.recv()
            if opcode == 0x2 and payload and payload[0] == SUBSCRIBE:
                return c, subscribe_position(payload)
            self.assertFalse(opcode == 0x2 and payload and payload[0] == ERROR, payload)

    def socket_of(self, peer):
        return cluster.database_socket(cluster.cluster_status(self.node), peer, DB)

    def test_failed_transaction_stops_the_link_and_is_retried_not_skipped(self):
        peer = "poisoned-publisher"
        origin = node_id(peer)
        c, (tag, _) = self.publish(peer)
        version = int(time.time() * 1000) << 16
        good = lambda seq, key: (T, string_key(key), record_bytes(version + seq, origin, {"id": key, "seq": seq}))
        entries = (txn_entry(1, origin, 1, version + 1, [good(1, "first")])
                   + txn_entry(2, origin, 2, version + 2, [(T, string_key("bad"), record_bytes(version + 2, origin, {})
                                                            + b"\xff not JSON")])
                   + txn_entry(3, origin, 3, version + 3, [good(3, "third")]))
        c.send(bytes([TRANSACTIONS]) + string(DB) + varint(3) + entries)

        cluster.wait_record(self.node, DB, T, "first")
        wait_until(lambda: (self.socket_of(peer) or {}).get("state") == "Error", 10,
                   "cluster_status state Error for %s" % peer)
        sock = self.socket_of(peer)
        error = sock.get("last_error") or ""
        for part in ("transaction 2 ", "database dev", peer, "JSON"):
            self.assertIn(part, error, sock)
        self.assertEqual(sock["applied_sequence"], 1, sock)

        # cluster_verify reports the divergence while the link is stopped: the peer answers
        # that it holds two rows, the node one.
        answer = {}
        verify = threading.Thread(target=lambda: answer.update(
            reply=self.node.op({"operation": "cluster_verify", "database": DB})))
        verify.start()
        self.addCleanup(verify.join, 15)
        c.sock.settimeout(10)
        while True:
            opcode, payload = c.recv()
            if opcode == 0x9:
                c.send(payload, 0xA)
            self.assertNotEqual(opcode, 0x8, "link closed before cluster_verify asked")
            if opcode == 0x2 and payload and payload[0] == VERIFY_REQUEST:
                break
        request_id, pos = read_varint(payload, 1)
        c.send(bytes([VERIFY_RESPONSE]) + varint(request_id) + string(DB) + string("")
               + varint(1) + string(T) + varint(12345) + varint(2))
        verify.join(15)
        status, body = answer["reply"]
        self.assertEqual(status, 200, body)
        self.assertFalse(body["matches"], body)
        self.assertEqual(body["differing_tables"], [T], body)
        self.assertEqual(body["tables"][0]["nodes"][peer]["record_count"], 2, body)
        self.assertEqual(body["tables"][0]["record_count"], 1, body)

        # The node closes the link (Error naming the transaction) and, when the peer links again,
        # resumes from after transaction 1: transaction 2 is not skipped.
        out = c.outcome(15)
        self.assertTrue(any(code == 6 and "transaction 2 " in reason for code, reason in out["errors"]), out)
        c.close()
        c2, (tag, after) = self.publish(peer)
        self.assertEqual((tag, after), (0, 1), "the node must resume right after the last applied transaction")
        cluster.assert_stays_absent(self, self.node, DB, T, "third")

        # Once the peer sends a good transaction 2, everything applies and the error clears.
        c2.send(bytes([TRANSACTIONS]) + string(DB) + varint(2)
                + txn_entry(2, origin, 2, version + 2, [good(2, "second")])
                + txn_entry(3, origin, 3, version + 3, [good(3, "third")]))
        cluster.wait_record(self.node, DB, T, "third")
        cluster.wait_record(self.node, DB, T, "second")
        wait_until(lambda: (self.socket_of(peer) or {}).get("last_error") is None, 10, "the error cleared")
        self.assertNotEqual(self.socket_of(peer)["state"], "Error")

    def test_forged_hellos_leave_no_trace(self):
        # Issue 8 item 5: names from Hellos of a client that never became a member were listed
        # in cluster_status until restart.
        for name in ("evil1", "evil2"):
            c = WsClient(self.node, cluster.basic(self.node.username, self.node.password))
            self.assertEqual(c.status, 101)
            c.send(hello(name))
            c.sock.settimeout(10)
            opcode, payload = c.recv()
            self.assertEqual(payload[0], HELLO)
            wait_until(lambda: any(x["name"] == name for x in cluster.cluster_status(self.node)["connections"]), 10,
                       "%s listed while connected" % name)
            c.close()
        names = lambda: [x["name"] for x in cluster.cluster_status(self.node)["connections"]]
        wait_until(lambda: not {"evil1", "evil2"} & set(names()), 10, "forged peers gone from cluster_status")


if __name__ == "__main__":
    harness.main()
