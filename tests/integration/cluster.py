"""Replication test helpers on top of harness.py: clusters of meshdb nodes and a content checker.

Standard library only. A `ClusterTestCase` starts nodes on distinct loopback addresses of its
module's block (harness.AddressBlock), each with its own data directory, named by its address
(`--REPLICATION_HOSTNAME <ip>`), with the same admin credentials and fast reconnects. Tests link
them with `add_node`, routes, or a shared cluster key. They replicate over wss:// (the default of
a new configuration) with certificates from a CA made for the test, or over plain ws:// where a
class says so (ClusterTestCase.SCHEME, SHARED_CA).

The checker (`checksum`, `table_contents`, `wait_converged`) compares the full contents of every
table of a database across nodes: primary key, every attribute including `__createdtime__` and
`__updatedtime__` (the record version is not exposed by the operations API; `__updatedtime__` is
stamped by the writing node and travels with the record's stored bytes, so it identifies the
version that won).
"""

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import harness
from harness import wait_until


RECONNECT_ARGS = ["--REPLICATION_RECONNECTMINMS", "50", "--REPLICATION_RECONNECTMAXMS", "500"]

# replication.securePort of a new configuration: where the nodes serve wss://.
REPLICATION_SECURE_PORT = 9933

# The CA each wss test makes to sign its nodes' certificates (ClusterTestCase.SHARED_CA).
CLUSTER_CA = "cluster-ca"

# Databases that are not user data (never compared by the checker).
SYSTEM_DB = "system"


def new_cluster_key():
    return secrets.token_hex(16)


def basic(username=harness.DEFAULT_USER, password=harness.DEFAULT_PASSWORD):
    return "Basic " + base64.b64encode(("%s:%s" % (username, password)).encode()).decode()


# ---------------------------------------------------------------------------------------------
# Reading a node's contents


def describe_database(node, db):
    status, body = node.op({"operation": "describe_database", "database": db})
    if status == 404:
        return {}
    if status != 200:
        raise AssertionError("%s: describe_database %s -> %s %s" % (node.name, db, status, body))
    return body


def table_rows(node, db, table, primary_key):
    """{canonical primary key: canonical JSON of the whole record} for one table."""
    rows = node.ok({"operation": "search_by_value", "database": db, "table": table,
                    "search_attribute": primary_key, "search_value": "*", "get_attributes": ["*"]})
    out = {}
    for r in rows:
        out[json.dumps(r.get(primary_key), sort_keys=True)] = json.dumps(r, sort_keys=True)
    return out


def table_contents(node, db, tables=None):
    """{table: {pk: row json}} for every table of `db` (or the given tables)."""
    desc = describe_database(node, db)
    out = {}
    for name, t in sorted(desc.items()):
        if tables is not None and name not in tables:
            continue
        out[name] = table_rows(node, db, name, t.get("hash_attribute") or "id")
    return out


def digest(contents):
    h = hashlib.sha256()
    for table in sorted(contents):
        h.update(b"T" + table.encode() + b"\0")
        for pk in sorted(contents[table]):
            h.update(pk.encode() + b"\0" + contents[table][pk].encode() + b"\0")
    return h.hexdigest()


def checksum(node, db, tables=None):
    """A hash over every table's full contents (primary key, attributes, timestamps)."""
    return digest(table_contents(node, db, tables))


def diff_contents(name_a, a, name_b, b, limit=10):
    """Human-readable differences between two table_contents() results."""
    lines = []
    for table in sorted(set(a) | set(b)):
        ta, tb = a.get(table), b.get(table)
        if ta is None or tb is None:
            lines.append("  table %s: only on %s" % (table, name_a if tb is None else name_b))
            continue
        only_a = sorted(set(ta) - set(tb))
        only_b = sorted(set(tb) - set(ta))
        changed = sorted(k for k in set(ta) & set(tb) if ta[k] != tb[k])
        if not (only_a or only_b or changed):
            continue
        lines.append("  table %s: %s has %d rows, %s has %d; %d only on %s, %d only on %s, %d differ"
                     % (table, name_a, len(ta), name_b, len(tb), len(only_a), name_a, len(only_b), name_b,
                        len(changed)))
        for k in only_a[:limit]:
            lines.append("    only on %s: %s" % (name_a, ta[k][:300]))
        for k in only_b[:limit]:
            lines.append("    only on %s: %s" % (name_b, tb[k][:300]))
        for k in changed[:limit]:
            lines.append("    differs %s: %s=%s\n                %s=%s" % (k, name_a, ta[k][:300], name_b, tb[k][:300]))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Cluster status


def cluster_status(node):
    return node.ok({"operation": "cluster_status"})


def database_socket(status, peer_name, db):
    """The database_sockets entry of `status` for (peer, db), or None."""
    for c in status.get("connections", []):
        if c.get("name") != peer_name:
            continue
        for s in c.get("database_sockets", []):
            if s.get("database") == db:
                return s
    return None


def connected(node, peer, db):
    """Whether node's cluster_status shows a connected socket to peer (a Node) for db."""
    s = database_socket(cluster_status(node), peer.repl_name, db)
    return bool(s and s.get("connected") is True)


def db_sockets(node, db=None):
    """[(peer name, database_sockets entry)] of node's cluster_status, for db or every database."""
    out = []
    for c in cluster_status(node).get("connections", []):
        for sock in c.get("database_sockets", []):
            if db is None or sock.get("database") == db:
                out.append((c.get("name"), sock))
    return out


def socket_counter(node, peer, db, field):
    """A counter of node's socket to peer (a Node or a name) for db; 0 while there is none."""
    name = peer if isinstance(peer, str) else peer.repl_name
    s = database_socket(cluster_status(node), name, db)
    return (s or {}).get(field, 0)


def counter_total(node, field, db=None):
    """The sum of a database_sockets counter over every peer (and database, unless db is given)."""
    return sum(s.get(field, 0) for _, s in db_sockets(node, db))


class Baseline:
    """A counter total of a node taken now. The counters count since the process started, so
    `since()` is the growth while the same process runs, and the whole count after a restart."""

    def __init__(self, node, field, db=None):
        self.node, self.field, self.db = node, field, db
        self.pid = node.proc.pid if node.proc else None
        self.value = counter_total(node, field, db) if node.running() else 0

    def since(self):
        now = counter_total(self.node, self.field, self.db)
        same = self.node.proc is not None and self.node.proc.pid == self.pid
        return now - self.value if same else now


def link_errors(node):
    """(link_errors, last_link_error) of node's cluster_status: connections it refused and links
    it closed with an Error, and the latest reason."""
    st = cluster_status(node)
    return st.get("link_errors", 0), st.get("last_link_error")


def node_rows(node):
    """system.hdb_nodes rows of a node, by name."""
    rows = node.ok({"operation": "search_by_value", "database": "system", "table": "hdb_nodes",
                    "search_attribute": "name", "search_value": "*", "get_attributes": ["*"]})
    return {r.get("name"): r for r in rows}


def cluster_key_ids(node):
    """The ids of the cluster keys in a node's system.hdb_cluster_keys (never the keys)."""
    rows = node.ok({"operation": "search_by_value", "database": "system", "table": "hdb_cluster_keys",
                    "search_attribute": "id", "search_value": "*", "get_attributes": ["id"]})
    return {json.dumps(r.get("id")) for r in rows}


# ---------------------------------------------------------------------------------------------
# Waiting


def wait_converged(nodes, db, timeout_s=30, tables=None, min_rows=None):
    """Waits until every node holds identical contents of `db`; returns the contents.

    min_rows: also wait until the first node holds at least this many rows in total (so an
    early "all empty" state does not count as converged). On timeout, fails with a per-table
    diff against the first node, each node's cluster_status and its log tail.
    """
    deadline = time.monotonic() + timeout_s
    last = None
    last_error = None
    while True:
        try:
            contents = [table_contents(n, db, tables) for n in nodes]
            digests = [digest(c) for c in contents]
            total = sum(len(t) for t in contents[0].values())
            last = contents
            last_error = None
            if len(set(digests)) == 1 and (min_rows is None or total >= min_rows):
                return contents[0]
        except Exception as e:  # noqa: BLE001 (a node may be restarting)
            last_error = e
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    report = ["nodes did not converge on database %r within %.1fs" % (db, timeout_s)]
    if last_error is not None:
        report.append("last error while reading: %r" % (last_error,))
    if last is not None:
        for n, c in zip(nodes, last):
            report.append("%s (%s): %s" % (n.name, n.ip, {t: len(r) for t, r in c.items()}))
        for n, c in zip(nodes[1:], last[1:]):
            d = diff_contents(nodes[0].name, last[0], n.name, c)
            if d:
                report.append("diff %s vs %s:\n%s" % (nodes[0].name, n.name, d))
    dump_cluster(nodes, report)
    raise AssertionError("\n".join(report))


def dump_cluster(nodes, report=None):
    """Appends (or prints) each node's cluster_status and log tail."""
    out = report if report is not None else []
    for n in nodes:
        try:
            st = json.dumps(cluster_status(n), indent=1)[:6000] if n.running() else "(not running)"
        except Exception as e:  # noqa: BLE001
            st = "(cluster_status failed: %r)" % (e,)
        out.append("----- %s (%s) cluster_status:\n%s" % (n.name, n.ip, st))
        out.append("----- %s log tail:\n%s" % (n.name, harness.Node.tail(n.log_text(), 40)))
    if report is None:
        sys.stderr.write("\n".join(out) + "\n")
    return out


def wait_linked(node, peer, db, timeout_s=20):
    """Waits until node's cluster_status shows a connected (peer, db) socket."""
    try:
        wait_until(lambda: connected(node, peer, db), timeout_s,
                   "%s to show a connected %s socket to %s" % (node.name, db, peer.name))
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, "\n".join(dump_cluster([node, peer], []))))


def wait_record(node, db, table, pk, timeout_s=15, expect=None):
    """Waits until search_by_id finds pk on node (and, with expect, a row containing it)."""
    def found():
        rows = node.ok({"operation": "search_by_id", "database": db, "table": table, "ids": [pk],
                        "get_attributes": ["*"]})
        if not rows:
            return None
        if expect is not None and harness.subset_mismatch(expect, rows[0]):
            return None
        return rows[0]
    return wait_until(found, timeout_s, "%s to hold %s.%s id %r%s" % (
        node.name, db, table, pk, "" if expect is None else " matching %r" % (expect,)))


def assert_stays_absent(test, node, db, table, pk, duration_s=1.5):
    """Polls for duration_s and fails if pk ever appears on node (negative check with a bound)."""
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        status, rows = node.op({"operation": "search_by_id", "database": db, "table": table, "ids": [pk],
                                "get_attributes": ["*"]})
        if status == 200 and rows:
            test.fail("%s: %s.%s id %r arrived but must not have: %r" % (node.name, db, table, pk, rows))
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Clusters


def certgen(*args):
    """Runs meshdb_certgen (tests/integration/certgen.cc): $MESHDB_CERTGEN (set by ctest), else
    ../../build/tests/integration/meshdb_certgen."""
    path = os.environ.get("MESHDB_CERTGEN")
    if not path:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.normpath(os.path.join(here, "..", "..", "build", "tests", "integration",
                                             "meshdb_certgen"))
    subprocess.run([path] + [str(a) for a in args], check=True)


class ClusterTestCase(harness.NodeTestCase):
    """NodeTestCase with replication nodes: start_repl_node(), add_node(), helpers."""

    # How the nodes replicate (docs/security.md).
    # "wss" (the default, as in a new configuration): replication.securePort 9933 serves wss://,
    #   and each node's own URL is wss://<ip>:9933.
    # "ws": insecure mode, as an operator of a closed network sets it: replication.port = the
    #   operations port, so each node's own URL is ws://<ip>:9925.
    SCHEME = "wss"
    # With wss, how the nodes come to trust each other. True: one CA made for the test signs
    # every node's certificate (CN and SAN = its replication name, SAN its address too), given
    # as tls.certificate / tls.privateKey / tls.certificateAuthority, the trust path of an
    # operator who brings their own CA; nodes linked only by routes and a cluster key then
    # verify each other. False: each node keeps the CA and certificate it generates, and nodes
    # trust each other only after an add_node join with credentials (test_join.py).
    SHARED_CA = True

    # Plain ws:// replication is authenticated by IP address (docs/security.md "Insecure
    # mode"): by default the nodes allow the module's loopback block, as an operator allows a
    # closed network's subnet, so nodes sharing a cluster key link by one-way routes. None:
    # only routes, members and what a test passes itself (test_replication_insecure.py).
    ALLOW_MODULE_BLOCK = True

    def setUp(self):
        super().setUp()
        self._certificates_dir = None

    def certificates_dir(self):
        """This test's directory of certificates, with its CA `cluster-ca` (made on first use)."""
        if self._certificates_dir is None:
            self._certificates_dir = tempfile.mkdtemp(prefix="meshdb-it-certs-")
            self.addCleanup(shutil.rmtree, self._certificates_dir, True)
            certgen("ca", self._certificates_dir, CLUSTER_CA)
        return self._certificates_dir

    def ca_path(self, name=CLUSTER_CA):
        return os.path.join(self.certificates_dir(), name + ".pem")

    def node_certificate(self, label, ca=CLUSTER_CA, cn=None, sans=None):
        """Makes <label>.pem and <label>.key, issued by `ca`; returns their paths."""
        certgen("node", self.certificates_dir(), ca, label, cn, *sans)
        base = os.path.join(self.certificates_dir(), label)
        return base + ".pem", base + ".key"

    def scheme_args(self, node):
        """The arguments that make node replicate over this class's SCHEME."""
        if self.SCHEME == "ws":
            return ["--REPLICATION_PORT", node.port]
        if not self.SHARED_CA:
            return []
        certificate, key = self._shared_ca_files(node)
        if not os.path.exists(certificate):  # a restart presents the same certificate
            self.reissue_certificate(node)
        return ["--TLS_CERTIFICATE", certificate, "--TLS_PRIVATEKEY", key,
                "--TLS_CERTIFICATEAUTHORITY", self.ca_path()]

    def _shared_ca_files(self, node):
        base = os.path.join(self.certificates_dir(), "node-%s-%s" % (node.ip, node.repl_name))
        return base + ".pem", base + ".key"

    def reissue_certificate(self, node):
        """(SHARED_CA) A new key and certificate for node from the test's CA, with a new serial,
        in the files it was started with: it presents them from its next start."""
        label = os.path.basename(self._shared_ca_files(node)[0])[:-len(".pem")]
        self.node_certificate(label, cn=node.repl_name, sans=sorted({node.repl_name, node.ip}))

    def repl_port(self):
        """The port the nodes' own URLs name: the operations port for ws, else securePort."""
        return harness.OPS_PORT if self.SCHEME == "ws" else REPLICATION_SECURE_PORT

    def url(self, host, port=None):
        """A replication URL of this class's SCHEME: the nodes' own port unless one is given."""
        return "%s://%s:%d" % (self.SCHEME, host, self.repl_port() if port is None else port)

    def repl_args(self, node, cluster_key=None, routes=None, extra=()):
        args = ["--REPLICATION_HOSTNAME", node.repl_name] + RECONNECT_ARGS + self.scheme_args(node)
        if self.ALLOW_MODULE_BLOCK:
            args += ["--REPLICATION_ALLOWEDIPS", json.dumps([self.block().prefix + "0/24"])]
        if cluster_key:
            args += ["--REPLICATION_CLUSTERKEY", cluster_key]
        if routes:
            args += ["--REPLICATION_ROUTES", json.dumps([r.ip if isinstance(r, harness.Node) else r
                                                         for r in routes])]
        return args + [str(a) for a in extra]

    def new_repl_node(self, label):
        node = self.new_node(name=label)
        node.repl_name = node.ip
        self._test_nodes.append(node)
        return node

    def start_repl_node(self, label, cluster_key=None, routes=None, extra=(), wait=True, node=None):
        """Starts a node (or the given one made by new_repl_node, whose repl_name may be changed)."""
        node = node or self.new_repl_node(label)
        args = self.repl_args(node, cluster_key, routes, extra)
        if wait:
            node.start(args)
        else:
            node.launch(args)
        return node

    def start_repl_nodes(self, labels, cluster_key=None, extra=()):
        """Starts several nodes at once (launch all, then wait for each)."""
        nodes = [self.start_repl_node(l, cluster_key, extra=extra, wait=False) for l in labels]
        for n in nodes:
            n.wait_ready()
        return nodes

    def add_node(self, node, peer, **fields):
        body = {"operation": "add_node", "hostname": peer.repl_name,
                "authorization": {"username": peer.username, "password": peer.password}}
        body.update(fields)
        got = harness.assert_op(node, body, 200)
        self.assertIsInstance(got.get("message"), str, got)
        self.assertTrue(got["message"].startswith("Successfully added '"), got)
        self.assertNotIn("error", got["message"], got)
        return got

    def create_table(self, node, db, table, primary_key="id"):
        node.ok({"operation": "create_table", "database": db, "table": table, "primary_key": primary_key})

    def wait_table(self, node, db, table, timeout_s=15):
        wait_until(lambda: node.op({"operation": "describe_table", "database": db, "table": table})[0] == 200,
                   timeout_s, "%s to have table %s.%s" % (node.name, db, table))

    def insert(self, node, db, table, records, op="insert"):
        return node.ok({"operation": op, "database": db, "table": table, "records": records})

    def check_replicates_both_ways(self, a, b):
        """Creates dev.dog on linked nodes `a` and `b`: the table, a row inserted on `a` and one
        on `b` each reach the other node."""
        self.create_table(a, "dev", "dog")
        self.wait_table(b, "dev", "dog")
        self.insert(a, "dev", "dog", [{"id": 1, "name": "Penny"}])
        wait_record(b, "dev", "dog", 1, expect={"name": "Penny"})
        self.insert(b, "dev", "dog", [{"id": 2, "name": "Kato"}])
        wait_record(a, "dev", "dog", 2, expect={"name": "Kato"})

    def converge(self, nodes, db, timeout_s=30, min_rows=None):
        return wait_converged(nodes, db, timeout_s, min_rows=min_rows)


# ---------------------------------------------------------------------------------------------
# Load


class Writer(threading.Thread):
    """Inserts small batches into one node until stopped; remembers what was acknowledged.

    Each batch is one request (one transaction); acked holds the ids of records in batches
    answered 200 "inserted N of N". Connection errors end the thread (the node went away)
    unless keep_going, in which case it retries after a short pause.
    """

    def __init__(self, node, db, table, prefix, batch=5, keep_going=False, pause_s=0.0):
        super().__init__(daemon=True)
        self.node, self.db, self.table, self.prefix = node, db, table, prefix
        self.batch, self.keep_going, self.pause_s = batch, keep_going, pause_s
        self.stop_event = threading.Event()
        self.acked = []
        self.errors = []
        self.seq = 0

    def run(self):
        while not self.stop_event.is_set():
            ids = ["%s-%06d-%d" % (self.prefix, self.seq, i) for i in range(self.batch)]
            records = [{"id": i, "w": self.prefix, "seq": self.seq} for i in ids]
            self.seq += 1
            try:
                status, body = self.node.op({"operation": "insert", "database": self.db, "table": self.table,
                                             "records": records}, timeout=10)
            except Exception as e:  # noqa: BLE001 (node killed)
                self.errors.append(repr(e))
                if not self.keep_going:
                    return
                time.sleep(0.05)
                continue
            if status == 200 and body.get("message") == "inserted %d of %d records" % (self.batch, self.batch):
                self.acked.extend(ids)
            else:
                self.errors.append("%s %s" % (status, json.dumps(body)[:200]))
            if self.pause_s:
                time.sleep(self.pause_s)

    def stop(self):
        self.stop_event.set()
        self.join(30)
