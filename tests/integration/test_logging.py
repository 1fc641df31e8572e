"""Logs (issue 12, docs/operations.md): logging.level set through set_configuration applies
without a restart; logging.rotation.maxSize / interval rotate hdb.log into hdb.1.log, ...;
bad rotation values stop the start; keys accepted but not acted on are announced.
"""

import os
import re

import harness
from harness import wait_until

DEBUG_LINE = re.compile(r"^\S+ \S+ debug \[node [^\]]*\] \[http\] POST / 200", re.M)


def rotated(node, index):
    return os.path.join(node.root, "log", "hdb.%d.log" % index)


class LoggingTest(harness.NodeTestCase):

    def test_01_level_changes_without_restart(self):
        node = self.start_node()
        pid = node.proc.pid
        node.ok({"operation": "describe_all"})
        self.assertIsNone(DEBUG_LINE.search(node.log_text()), "debug lines at level info")
        msg = node.ok({"operation": "set_configuration", "logging_level": "debug"})
        self.assertIn("Configuration successfully set", msg["message"])

        def debug_line_written():
            node.ok({"operation": "describe_all"})
            return DEBUG_LINE.search(node.log_text()) is not None
        wait_until(debug_line_written, 10, "a debug line in hdb.log after set_configuration")
        self.assertEqual(pid, node.proc.pid)  # no restart
        # And back: at warn, a request writes no new debug line.
        node.ok({"operation": "set_configuration", "LOGGING_LEVEL": "warn"})
        before = len(DEBUG_LINE.findall(node.log_text()))
        for _ in range(5):
            node.ok({"operation": "describe_all"})
        self.assertEqual(before, len(DEBUG_LINE.findall(node.log_text())))
        # A bad level is refused as HarperDB refuses it, and the level stays.
        status, body = node.op({"operation": "set_configuration", "logging_level": "loud"})
        self.assertEqual(400, status, body)

    def test_02_max_size_rotates(self):
        node = self.start_node(["--LOGGING_LEVEL", "debug", "--LOGGING_ROTATION_MAXSIZE", "20K"])

        def rotated_twice():
            for _ in range(20):
                node.ok({"operation": "describe_all"})
            return os.path.exists(rotated(node, 2))
        wait_until(rotated_twice, 60, "hdb.2.log after writing past 20K twice")
        for path in (node.log_path(), rotated(node, 1), rotated(node, 2)):
            size = os.path.getsize(path)
            self.assertLessEqual(size, 20000, path)
        self.assertGreater(os.path.getsize(rotated(node, 1)), 15000)

    def test_03_interval_rotates(self):
        node = self.start_node(["--LOGGING_LEVEL", "debug", "--LOGGING_ROTATION_MAXSIZE", "null",
                                "--LOGGING_ROTATION_INTERVAL", "2S"])

        def rotated_once():
            node.ok({"operation": "describe_all"})
            return os.path.exists(rotated(node, 1))
        wait_until(rotated_once, 20, "hdb.1.log two seconds after the start", interval_s=0.2)

    def test_04_bad_rotation_values_stop_the_start(self):
        for key, value, words in (("LOGGING_ROTATION_MAXSIZE", "64X", "logging.rotation.maxSize"),
                                  ("LOGGING_ROTATION_INTERVAL", "soon", "logging.rotation.interval")):
            node = self.start_node(["--" + key, value], wait=False)
            wait_until(lambda: not node.running(), 20, "the node to refuse %s=%s" % (key, value))
            self.assertIn(words, node.output_text())
            self.assertNotEqual(0, node.proc.returncode)

    def test_05_inert_keys_are_announced(self):
        node = self.start_node(["--LOGGING_ROTATION_COMPRESS", "true"])
        wait_until(lambda: "logging.rotation.compress" in node.log_text(), 10,
                   "the warning naming logging.rotation.compress")
        self.assertIn("not acted on", node.log_text())


if __name__ == "__main__":
    harness.main()
