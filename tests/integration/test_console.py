"""The web console (web/, served at GET /) in a real headless browser: Debian's chromium,
driven by puppeteer-core (tests/console/driver.mjs, installed by tools/setup.sh with `npm ci`).

Real nodes on loopback; the page is checked through its DOM, waiting on what it shows with
deadlines (never a bare sleep): login and its failures, the live cluster picture after
add_node and after kill -9 of a peer (with the link between two peers, as they tell it), copy progress moving during a 200k-record initial copy,
merge progress moving during a 150k-record merge resync, an expired token, the node going away, and a non-super_user's narrower view. Screenshots go
to $MESHDB_TEST_OUTPUT_DIR/console (ctest: build/test-output/console).
"""

import base64
import json
import os
import signal
import subprocess
import sys
import time
import unittest

import cluster
import harness
from harness import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
CONSOLE_DIR = os.path.normpath(os.path.join(HERE, "..", "console"))
TOKEN_TIMEOUT = "3s"  # operation tokens of node A expire quickly: the expired-token test


def output_dir():
    base = os.environ.get("MESHDB_TEST_OUTPUT_DIR") or os.path.join(
        os.path.dirname(harness.binary_path()), "test-output")
    path = os.path.join(base, "console")
    os.makedirs(path, exist_ok=True)
    return path


class Browser:
    """One chromium page behind tests/console/driver.mjs (one JSON command a line)."""

    def __init__(self):
        if not os.path.isdir(os.path.join(CONSOLE_DIR, "node_modules", "puppeteer-core")):
            raise RuntimeError("puppeteer-core is not installed in %s: run tools/setup.sh "
                               "(npm ci there)" % CONSOLE_DIR)
        chromium = os.environ.get("MESHDB_CHROMIUM", "/usr/bin/chromium")
        if not os.access(chromium, os.X_OK):
            raise RuntimeError("no chromium at %s: run tools/setup.sh (Debian package chromium)" % chromium)
        self.proc = subprocess.Popen(["node", os.path.join(CONSOLE_DIR, "driver.mjs")], cwd=CONSOLE_DIR,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def call(self, cmd, **fields):
        fields["cmd"] = cmd
        self.proc.stdin.write(json.dumps(fields) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("the browser driver exited (code %s)" % self.proc.wait())
        answer = json.loads(line)
        if not answer["ok"]:
            raise AssertionError("browser %s failed: %s" % (cmd, answer["error"]))
        return answer["value"]

    def wait(self, expr, timeout_s=5):
        return self.call("wait", expr=expr, timeout_ms=int(timeout_s * 1000))

    def eval(self, expr):
        return self.call("eval", expr=expr)

    def text(self, selector):
        return self.eval("document.querySelector(%s)?.textContent ?? null" % json.dumps(selector))

    def screenshot(self, name):
        path = os.path.join(output_dir(), name + ".png")
        self.call("screenshot", path=path)
        return path

    def close(self):
        try:
            self.call("close")
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


def js_str(s):
    return json.dumps(s)


class ConsoleTest(cluster.ClusterTestCase):
    def setUp(self):
        super().setUp()
        self.browser = Browser()

    def tearDown(self):
        problems = self.browser.call("violations")
        self.browser.close()
        super().tearDown()
        # No CSP violation, uncaught error or console error on any page of the test.
        self.assertEqual(problems, [], "the page reported problems")

    # -- helpers --------------------------------------------------------------------------

    def open_console(self, node):
        self.browser.call("goto", url="http://%s:%d/" % (node.ip, node.port))
        self.browser.wait("document.querySelector('#login-form') && !document.querySelector('#login').hidden")
        # Nothing but the login form before a login.
        self.assertTrue(self.browser.eval("document.querySelector('#app').hidden"))

    def login(self, username=harness.DEFAULT_USER, password=harness.DEFAULT_PASSWORD, token=False):
        self.browser.call("type", selector="#username", text=username)
        self.browser.call("type", selector="#password", text=password)
        if token != self.browser.eval("document.querySelector('#use-token').checked"):
            self.browser.call("click", selector="#use-token")
        self.browser.call("click", selector="#login-submit")

    def wait_logged_in(self):
        self.browser.wait("!document.querySelector('#app').hidden && document.querySelector('#whoami').textContent")

    def link_selector(self, peer):
        return "#cluster-map g.link[data-peer=%s]" % js_str(peer.repl_name)

    def peer_link_selector(self, x, y):
        """The picture's line between two peers of the node the page is on (names sorted)."""
        a, b = sorted([x.repl_name, y.repl_name])
        return "#cluster-map g.peer-link[data-a=%s][data-b=%s]" % (js_str(a), js_str(b))

    def check_paced_progress(self, kind, progress, page_node, peer, total, at_step):
        """Paces a copy or merge (`kind`) that the page on `page_node` shows as a bar for `peer`
        and database big, and checks that the bar follows it. `progress()` is the node's
        cluster_status progress object (None once it ended); SIGSTOP on `peer` holds the count
        still. Three steps: wait for the page to show the settled count, check it against
        `total`, call at_step(step, query) (query: the bar element's JS), then let it run 10,000
        records further. Then: the bar never went back and showed `total`, and once it ended the
        bar goes and the link to `peer` streams."""
        bar = "#progress .progress[data-kind=\"%s\"][data-peer=%s][data-db=\"big\"]" % (
            "copy" if kind == "copy" else "merge-send", js_str(peer.repl_name))
        query = "document.querySelector('%s')" % bar.replace("'", "\\'")

        def shown_on_page():
            shown = progress()
            self.assertIsNotNone(shown, "the %s ended while %s was stopped" % (kind, peer.name.upper()))
            return shown if self.browser.eval(query + "?.dataset.done") == str(shown["records"]) else None

        seen = []
        os.kill(peer.proc.pid, signal.SIGSTOP)
        try:
            for step in range(3):
                # Frames already sent still apply after the stop: wait for the count to settle
                # and the page to show it.
                shown = wait_until(shown_on_page, 10, "the page to show %s's %s count" % (page_node.name.upper(), kind))
                self.assertEqual(shown["total"], total)
                self.assertLess(shown["records"], total)
                seen.append(shown["records"])
                at_step(step, query)
                os.kill(peer.proc.pid, signal.SIGCONT)
                target = shown["records"] + 10000
                wait_until(lambda: (progress() or {"records": target})["records"] >= target, 30,
                           "the %s to pass %d records" % (kind, target), interval_s=0.01)
                os.kill(peer.proc.pid, signal.SIGSTOP)
        finally:
            os.kill(peer.proc.pid, signal.SIGCONT)
        self.assertEqual(seen, sorted(set(seen)), "the bar went back")
        self.assertEqual(self.browser.eval(query + ".dataset.total"), str(total))
        # When it is done the bar goes and the link streams.
        self.browser.wait("!" + query, timeout_s=60)
        self.browser.wait("document.querySelector('%s')?.dataset.state === 'streaming'" % self.link_selector(peer),
                          timeout_s=20)

    def start_node_a(self):
        return self.start_repl_node("a", extra=["--AUTHENTICATION_OPERATIONTOKENTIMEOUT", TOKEN_TIMEOUT])

    # -- tests ----------------------------------------------------------------------------

    def test_page_is_served_with_a_strict_policy(self):
        a = self.start_node_a()
        status, headers, body = a.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        csp = headers["content-security-policy"]
        self.assertIn("script-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertIn(b'<script type="module" src="/js/main.js">', body)
        status, headers, _ = a.request("GET", "/js/main.js")
        self.assertEqual((status, headers["content-type"]), (200, "text/javascript; charset=utf-8"))
        self.assertEqual(a.request("GET", "/js/missing.js")[0], 404)
        # The operations API is unchanged at the same address.
        self.assertEqual(a.op({"operation": "user_info"})[0], 200)

    def test_bad_credentials_show_a_message(self):
        a = self.start_node_a()
        self.open_console(a)
        self.login(password="wrong")
        self.browser.wait("document.querySelector('#login-error').textContent.includes('wrong username or password')")
        self.assertTrue(self.browser.eval("document.querySelector('#app').hidden"))
        self.browser.screenshot("bad-credentials")
        self.login(password="wrong", token=True)
        self.browser.wait("document.querySelector('#login-error').textContent.startsWith('Login failed')")
        self.assertTrue(self.browser.eval("document.querySelector('#app').hidden"))

    def test_cluster_picture_follows_add_node_and_kill(self):
        a = self.start_node_a()
        b, c = self.start_repl_node("b"), self.start_repl_node("c")
        a.ok({"operation": "create_database", "database": "dev"})
        self.create_table(a, "dev", "dog")
        self.insert(a, "dev", "dog", [{"id": i, "name": "dog %d" % i} for i in range(60)])
        self.add_node(a, b)
        cluster.wait_linked(a, b, "dev")

        self.open_console(a)
        self.login()
        self.wait_logged_in()
        self.browser.wait("document.querySelector('%s')?.dataset.state === 'streaming'" % self.link_selector(b))
        self.browser.wait("document.querySelector('#links tr[data-peer=%s][data-db=\"dev\"]')" % js_str(b.repl_name))
        self.assertEqual(self.browser.text("#peers tr[data-peer=%s] .subscriptions" % js_str(b.repl_name)),
                         "all tables, both ways")

        # The new link appears within 2 s of add_node's reply; its explicit subscriptions are
        # shown per table.
        self.add_node(a, c, subscriptions=[{"database": "dev", "table": "dog", "publish": True, "subscribe": False}])
        added = time.monotonic()
        # Until C's Hello the link is known by its URL only.
        self.browser.wait("document.querySelector('#cluster-map g.link[data-url*=\"//%s:\"]')" % c.ip, timeout_s=2)
        self.assertLessEqual(time.monotonic() - added, 2.0)
        self.browser.wait("document.querySelector('%s')?.dataset.state === 'streaming'" % self.link_selector(c),
                          timeout_s=15)

        self.browser.wait("document.querySelector('#peers tr[data-peer=%s] .subscriptions')?.textContent"
                          ".startsWith('dev.dog: publish (defined by ')" % js_str(c.repl_name))

        # B and C learn of each other (hdb_nodes gossips) and link: a link A is not part of,
        # drawn once from what B and C tell (peer_links), with its rows in the table.
        bc = self.peer_link_selector(b, c)
        self.browser.wait("document.querySelector('%s')?.dataset.state === 'streaming'" % bc, timeout_s=15)
        self.assertEqual(self.browser.eval("document.querySelectorAll('#cluster-map g.peer-link').length"), 1)
        self.browser.wait("document.querySelector('#peer-links tr[data-from=%s][data-to=%s][data-db=\"dev\"]')"
                          % (js_str(b.repl_name), js_str(c.repl_name)))

        # Databases and the table browser, with paging.
        self.browser.wait("document.querySelector('#databases tr[data-db=\"dev\"][data-table=\"dog\"] .records')"
                          "?.textContent === '60'", timeout_s=12)
        self.browser.call("click", selector='#databases tr[data-db="dev"][data-table="dog"] button')
        self.browser.wait("document.querySelectorAll('#rows tbody tr').length === 25")
        self.browser.call("click", selector="#browser .next")
        self.browser.wait("document.querySelector('#rows')?.dataset.offset === '25'")
        self.browser.call("click", selector="#browser .next")
        self.browser.wait("document.querySelectorAll('#rows tbody tr').length === 10")
        self.assertIn("rows 51–60 of 60", self.browser.text("#browser .page-info"))

        # The operation box: JSON in, JSON out.
        self.browser.call("type", selector="#op-input", text=json.dumps(
            {"operation": "search_by_id", "database": "dev", "table": "dog", "ids": [7], "get_attributes": ["name"]}))
        self.browser.call("click", selector="#op-run")
        self.browser.wait("document.querySelector('#op-status').textContent === 'HTTP 200'")
        self.assertEqual(json.loads(self.browser.text("#op-output")), [{"name": "dog 7"}])
        self.browser.screenshot("cluster-streaming")

        # kill -9 of a peer: its link shows disconnected.
        c.kill9()
        self.browser.wait("document.querySelector('%s')?.dataset.connected === 'false'" % self.link_selector(c),
                          timeout_s=10)
        self.assertIn("disconnected", self.browser.text(self.link_selector(c)))
        self.browser.wait("document.querySelector('#links tr[data-peer=%s]').textContent.includes('disconnected')"
                          % js_str(c.repl_name))
        self.assertEqual(self.browser.eval("document.querySelector('%s').dataset.connected" % self.link_selector(b)),
                         "true")
        # B's link to C, as B tells it, goes down too; C itself answers nothing now.
        self.browser.wait("document.querySelector('%s')?.dataset.connected === 'false'" % bc, timeout_s=10)
        self.assertIn("disconnected", self.browser.text(bc))
        self.browser.wait("document.querySelector('#cluster .unknown-peer[data-node=%s]')" % js_str(c.repl_name))
        self.browser.screenshot("peer-killed")

    def test_copy_progress_moves(self):
        a = self.start_node_a()
        a.ok({"operation": "create_database", "database": "big"})
        self.create_table(a, "big", "rows")
        # Random values, as real data: they do not compress, so the copy (which ships rows as
        # stored, compressed) spans more 2 MB chunks than the publisher may have in flight,
        # and stopping A holds the count still.
        batch = 25000
        for start in range(0, 200000, batch):
            self.insert(a, "big", "rows", [{"id": i, "v": base64.b64encode(os.urandom(225)).decode()}
                                           for i in range(start, start + batch)])
        d = self.start_repl_node("d")
        self.open_console(d)
        self.login()
        self.wait_logged_in()
        self.add_node(d, a)
        # A copy of 200k records takes about a second here, less than the page's polls need
        # to show it move. So the test paces it: A (the publisher) is stopped with SIGSTOP
        # whenever D's cluster_status shows the copy 10,000 records further, the page must then
        # show the count D settles at, and A continues. Three steps: the bar moves, with a rate.

        def copied():
            s = cluster.database_socket(cluster.cluster_status(d), a.repl_name, "big")
            return (s or {}).get("copy_progress")

        def at_step(step, query):
            if step == 2:
                self.assertRegex(self.browser.eval(query + ".textContent"), r"\d rec/s · ETA \d")
                self.browser.screenshot("initial-copy")

        wait_until(lambda: (copied() or {}).get("records"), 30, "the copy from A to start", interval_s=0.01)
        self.check_paced_progress("copy", copied, d, a, 200000, at_step)
        self.assertEqual(harness.count_records(d, "big", "rows"), 200000)

    def test_merge_progress_moves(self):
        # A merge resync: A and B link by routes with a tiny log retention; B is killed, A
        # writes 150k rows until its log is trimmed past B's position, B returns and A sends
        # them by merge resync. The page on A shows the merge to B.
        key = cluster.new_cluster_key()
        retention = ["--REPLICATION_LOGRETENTION", "1s", "--REPLICATION_LOGRETENTIONBYTES", "16384",
                     "--REPLICATION_LOGTRIMINTERVALMS", "200"]
        a, b = self.new_repl_node("a"), self.new_repl_node("b")
        # One route (B to A): two dials could make a duplicate link, whose closing cuts a merge.
        self.start_repl_node("a", key, extra=retention, node=a)
        self.start_repl_node("b", key, routes=[a], extra=retention, node=b)
        cluster.wait_linked(a, b, "system")
        a.ok({"operation": "create_database", "database": "big"})
        self.create_table(a, "big", "rows")
        self.wait_table(b, "big", "rows")
        self.insert(a, "big", "rows", [{"id": -i} for i in range(1, 11)])
        cluster.wait_converged([a, b], "big", 30, min_rows=10)
        b.kill9()
        trimmed = cluster.socket_counter(a, b, "big", "log_trimmed_past")
        filler = "x" * 200
        batch = 25000
        for start in range(0, 150000, batch):
            self.insert(a, "big", "rows", [{"id": i, "v": filler} for i in range(start, start + batch)])
        wait_until(lambda: cluster.socket_counter(a, b, "big", "log_trimmed_past") > trimmed, 30,
                   "A's log to be trimmed past B's position")
        self.open_console(a)
        self.login()
        self.wait_logged_in()
        b.start()
        # Paced as the copy above, but by stopping the receiver: while B is stopped, A's send
        # queue fills and the count A shows stands still until B continues.

        def sending():
            s = cluster.database_socket(cluster.cluster_status(a), b.repl_name, "big")
            return (s or {}).get("merge_send_progress")

        def at_step(step, query):
            self.assertEqual(self.browser.eval(query + ".dataset.phase"), "sending")
            if step == 2:
                text = self.browser.eval(query + ".textContent")
                self.assertIn("merge resync of big to %s (sending)" % b.repl_name, text)
                self.assertRegex(text, r"\d rec/s · ETA \d")
                self.browser.screenshot("merge-resync")

        first = wait_until(lambda: (lambda p: p if p and p["phase"] == "sending" and p["records"] else None)(sending()),
                           60, "A's merge to B to send rows", interval_s=0.01)
        total = first["total"]
        self.assertGreaterEqual(total, 150000)
        self.check_paced_progress("merge", sending, a, b, total, at_step)
        wait_until(lambda: harness.count_records(b, "big", "rows") == 150010, 30, "B to hold every row")

    def test_expired_token_shows_a_message(self):
        a = self.start_node_a()
        self.open_console(a)
        self.login(token=True)
        self.wait_logged_in()
        self.assertIn("token login", self.browser.text("#whoami"))
        # The token lives TOKEN_TIMEOUT (3 s); the page polls every second.
        self.browser.wait("!document.querySelector('#login').hidden && "
                          "document.querySelector('#login-error').textContent.includes('expired')", timeout_s=10)
        self.assertTrue(self.browser.eval("document.querySelector('#app').hidden"))
        self.assertEqual(self.browser.text("#cluster"), "")
        self.browser.screenshot("token-expired")

    def test_node_going_away_shows_a_message(self):
        a = self.start_node_a()
        self.open_console(a)
        self.login()
        self.wait_logged_in()
        self.browser.wait("document.querySelector('#cluster-summary')")
        a.kill9()
        self.browser.wait("!document.querySelector('#banner').hidden && "
                          "document.querySelector('#banner').textContent.includes('does not answer')", timeout_s=10)
        # The last view stays, marked stale.
        self.assertTrue(self.browser.eval("document.querySelector('#cluster').classList.contains('stale')"))
        self.browser.screenshot("node-gone")
        a.start()
        self.browser.wait("document.querySelector('#banner').hidden", timeout_s=15)

    def test_non_super_user_sees_only_what_its_role_reads(self):
        a = self.start_node_a()
        a.ok({"operation": "create_database", "database": "dev"})
        self.create_table(a, "dev", "open")
        self.create_table(a, "dev", "secret")
        self.insert(a, "dev", "open", [{"id": 1}])
        a.ok({"operation": "add_role", "role": "reader", "permission": {
            "dev": {"tables": {"open": {"read": True, "insert": False, "update": False, "delete": False}}}}})
        a.ok({"operation": "add_user", "username": "rita", "password": "pw-rita", "role": "reader", "active": True})
        self.open_console(a)
        self.login("rita", "pw-rita")
        self.wait_logged_in()
        self.browser.wait("document.querySelector('#cluster').textContent.includes('needs a super_user')")
        self.browser.wait("document.querySelector('#databases tr[data-table=\"open\"]')")
        self.assertIsNone(self.browser.eval("document.querySelector('#databases tr[data-table=\"secret\"]')"))
        self.assertIsNone(self.browser.eval("document.querySelector('#databases [data-db=\"system\"]')"))
        self.assertTrue(self.browser.eval("document.querySelector('#verify-panel').hidden"))
        self.browser.screenshot("non-super-user")


if __name__ == "__main__":
    harness.main()
