"""A real HarperDB client, unchanged, against a real node (issue 11): harperive 2.0.1 from npm
(pinned in tests/clients/package-lock.json, installed with `npm ci` on first use) runs the calls
a HarperDB application makes, SQL and a CSV job included (tests/clients/harperive_test.js).
"""

import os
import shutil
import subprocess

import harness

CLIENTS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients"))


def ensure_clients_installed():
    if os.path.isdir(os.path.join(CLIENTS, "node_modules", "harperive")):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise AssertionError("npm is needed to install harperive (tools/setup.sh installs Node.js)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENTS, check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)


class HarperiveTest(harness.NodeTestCase):
    def test_harperive_calls_work_unchanged(self):
        ensure_clients_installed()
        node = self.start_node()
        env = dict(os.environ, DB_HOST="http://%s:%d" % (node.ip, node.port),
                   DB_USER=node.username, DB_PASS=node.password)
        run = subprocess.run([shutil.which("node") or "node", "harperive_test.js"], cwd=CLIENTS, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        output = run.stdout.decode("utf-8", "replace")
        self.assertEqual(run.returncode, 0, output)
        self.assertNotIn("FAIL", output)
        self.assertIn("ok   query (SQL select)", output)
        self.assertIn("ok   csvDataLoad + getJobDetails", output)


if __name__ == "__main__":
    harness.main()
