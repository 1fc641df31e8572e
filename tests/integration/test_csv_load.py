"""Bulk loads as jobs (issue 11): csv_data_load, csv_file_load and csv_url_load answer at once
with a job id and load in the background; get_job and search_jobs_by_start_date report the jobs
(system.hdb_job). A real node; csv_url_load downloads from a loopback HTTP server of the test's.
"""

import http.server
import os
import shutil
import tempfile
import threading
import time

import harness
from harness import assert_op, error_body, wait_until


def csv_rows(count, start=0):
    return "".join('%d,name-%d,%d,"text, with a comma %d"\n' % (i, i, i * 7 % 1000, i)
                   for i in range(start, start + count))


class CsvLoadTest(harness.NodeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.node = cls.start_class_node()
        cls.node.ok({"operation": "create_database", "database": "csv"})

    def setUp(self):
        super().setUp()
        self.table = "t%d" % int(time.monotonic() * 1000)
        self.node.ok({"operation": "create_table", "database": "csv", "table": self.table, "primary_key": "id"})

    def scratch_dir(self):
        path = tempfile.mkdtemp(prefix="meshdb-csv-")
        self.addCleanup(shutil.rmtree, path, True)
        return path

    def load(self, operation, **fields):
        body = {"operation": operation, "database": "csv", "table": self.table}
        body.update(fields)
        got = self.node.ok(body)
        self.assertEqual(got["message"], "Starting job with id " + got["job_id"], got)
        return got["job_id"]

    def wait_job(self, job_id, timeout_s=60):
        def done():
            jobs = self.node.ok({"operation": "get_job", "id": job_id})
            return jobs[0] if jobs and jobs[0]["status"] != "IN_PROGRESS" else None
        return wait_until(done, timeout_s, "job %s to end" % job_id)

    def rows(self):
        return {r["id"]: r for r in self.node.ok({"operation": "search_by_value", "database": "csv",
                                                   "table": self.table, "search_attribute": "id",
                                                   "search_value": "*"})}

    def test_data_load_types_cells_and_reports_the_job(self):
        job_id = self.load("csv_data_load", data='id,name,age,tags,ok\n1,ann,30,"[1,2]",true\n2,"bob, jr",,x,false\n')
        job = self.wait_job(job_id)
        harness.assert_subset({"id": job_id, "status": "COMPLETE", "type": "csv_data_load", "user": "admin",
                               "message": "successfully loaded 2 of 2 records"}, job)
        self.assertNotIn("data", job["request"])
        self.assertLessEqual(job["start_datetime"], job["end_datetime"])
        rows = self.rows()
        harness.assert_subset({"id": 1, "name": "ann", "age": 30, "tags": [1, 2], "ok": True}, rows[1])
        harness.assert_subset({"id": 2, "name": "bob, jr", "age": None, "tags": "x", "ok": False}, rows[2])
        found = self.node.ok({"operation": "search_jobs_by_start_date", "from_date": "2000-01-01",
                              "to_date": "2999-01-01T00:00:00.000Z"})
        self.assertIn(job_id, [j["id"] for j in found])
        mine = [j for j in found if j["id"] == job_id][0]
        self.assertTrue(mine["start_datetime_converted"].endswith("Z"), mine)

    def test_update_and_upsert_actions(self):
        self.wait_job(self.load("csv_data_load", data="id,v\n1,a\n2,b\n"))
        job = self.wait_job(self.load("csv_data_load", action="update", data="id,v\n1,A\n3,C\n"))
        self.assertEqual(job["message"], "successfully loaded 1 of 2 records", job)
        job = self.wait_job(self.load("csv_data_load", action="upsert", data="id,v\n2,B\n3,C\n"))
        self.assertEqual(job["message"], "successfully loaded 2 of 2 records", job)
        self.assertEqual({k: r["v"] for k, r in self.rows().items()}, {1: "A", 2: "B", 3: "C"})

    def test_a_malformed_csv_fails_the_job_naming_the_line_and_writes_nothing_of_its_batch(self):
        job = self.wait_job(self.load("csv_data_load", data="id,name\n1,a\n2,b,extra\n3,c\n"))
        self.assertEqual(job["status"], "ERROR", job)
        self.assertIn("CSV line 3", job["message"])
        job = self.wait_job(self.load("csv_data_load", data='id,name\n1,a\n2,"unterminated\n'))
        self.assertEqual(job["status"], "ERROR", job)
        self.assertIn("CSV line", job["message"])
        self.assertEqual(self.rows(), {})

    def test_file_load_in_batches(self):
        count = 25000  # three batches of the loader's 10000
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write("id,name,num,text\n" + csv_rows(count))
        self.addCleanup(os.unlink, f.name)
        job = self.wait_job(self.load("csv_file_load", file_path=f.name))
        self.assertEqual(job["message"], "successfully loaded %d of %d records" % (count, count), job)
        self.assertEqual(harness.count_records(self.node, "csv", self.table), count)

    def test_url_load_from_a_loopback_server(self):
        body = ("id,name,num,text\n" + csv_rows(500)).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path != "/data.csv":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        base = "http://127.0.0.1:%d" % server.server_address[1]
        job = self.wait_job(self.load("csv_url_load", csv_url=base + "/data.csv"))
        self.assertEqual(job["message"], "successfully loaded 500 of 500 records", job)
        job = self.wait_job(self.load("csv_url_load", csv_url=base + "/missing.csv"))
        self.assertEqual(job["status"], "ERROR", job)
        self.assertIn("HTTP 404", job["message"])

    def test_bad_requests_are_refused_at_once(self):
        n = self.node
        base = {"operation": "csv_data_load", "database": "csv", "table": self.table}
        assert_op(n, dict(base), 400, error_body("'data' is required"))
        assert_op(n, dict(base, data="id\n1\n", action="merge"), 400,
                  error_body("'action' must be one of [insert, update, upsert]"))
        # A missing table is refused as insert refuses it.
        insert_status, insert_body = n.op({"operation": "insert", "database": "csv", "table": "nope",
                                           "records": [{"id": 1}]})
        assert_op(n, dict(base, table="nope", data="id\n1\n"), insert_status, insert_body)
        assert_op(n, {"operation": "csv_file_load", "database": "csv", "table": self.table,
                      "file_path": "/nonexistent/x.csv"}, 400)
        assert_op(n, {"operation": "csv_url_load", "database": "csv", "table": self.table,
                      "csv_url": "ftp://x/y.csv"}, 400, error_body("'csv_url' must be an http:// or https:// URL"))
        assert_op(n, {"operation": "get_job"}, 400, error_body("'id' is required"))
        self.assertEqual(n.ok({"operation": "get_job", "id": "no-such-job"}), [])

    def test_a_role_without_insert_permission_is_refused(self):
        n = self.node
        n.ok({"operation": "add_role", "role": "reader_%s" % self.table,
              "permission": {"super_user": False, "csv": {"tables": {self.table: {
                  "read": True, "insert": False, "update": False, "delete": False, "attribute_permissions": []}}}}})
        n.ok({"operation": "add_user", "username": "u_" + self.table, "password": "pw-123",
              "role": "reader_%s" % self.table, "active": True})
        status, body = n.op({"operation": "csv_data_load", "database": "csv", "table": self.table, "data": "id\n1\n"},
                            auth=("u_" + self.table, "pw-123"))
        self.assertEqual(status, 403, body)
        self.assertEqual(self.rows(), {})

    def test_file_load_is_for_super_users(self):
        n = self.node
        n.ok({"operation": "add_role", "role": "filer_%s" % self.table,
              "permission": {"super_user": False, "csv": {"tables": {self.table: {
                  "read": True, "insert": True, "update": True, "delete": False, "attribute_permissions": []}}}}})
        n.ok({"operation": "add_user", "username": "f_" + self.table, "password": "pw-123",
              "role": "filer_%s" % self.table, "active": True})
        with tempfile.NamedTemporaryFile("w", suffix=".csv") as f:
            f.write("id\n1\n")
            f.flush()
            status, body = n.op({"operation": "csv_file_load", "database": "csv", "table": self.table,
                                 "file_path": f.name}, auth=("f_" + self.table, "pw-123"))
        self.assertEqual(status, 403, body)
        self.assertEqual(body["unauthorized_access"], ["Operation 'csvFileLoad' is restricted to 'super_user' roles"])
        # The same role may still load what it sends.
        job = self.wait_job(n.op({"operation": "csv_data_load", "database": "csv", "table": self.table,
                                  "data": "id\n1\n"}, auth=("f_" + self.table, "pw-123"))[1]["job_id"])
        self.assertEqual(job["status"], "COMPLETE", job)

    def test_the_nodes_own_files_are_never_loaded(self):
        n = self.node
        key = os.path.join(n.root, "keys", "privateKey.pem")
        self.assertTrue(os.path.exists(key), key)
        link = os.path.join(self.scratch_dir(), "innocent.csv")
        os.symlink(key, link)
        for path in (key, os.path.join(n.root, "harperdb-config.yaml"), link,
                     os.path.join(n.root, "keys", "..", "keys", "caPrivateKey.pem")):
            status, body = n.op({"operation": "csv_file_load", "database": "csv", "table": self.table,
                                 "file_path": path})
            self.assertEqual(status, 403, (path, body))
            self.assertIn("is one of this node's own files", body["error"])
        self.assertEqual(self.rows(), {})

    def test_a_file_that_is_not_utf8_fails_its_job_and_writes_nothing(self):
        path = os.path.join(self.scratch_dir(), "latin1.csv")
        with open(path, "wb") as f:
            f.write(b"id,name\n1,ok\n2,caf\xe9\n")
        job = self.wait_job(self.load("csv_file_load", file_path=path))
        self.assertEqual(job["status"], "ERROR", job)
        self.assertIn("records[1].name is not valid UTF-8 text", job["message"])
        self.assertEqual(self.rows(), {})


if __name__ == "__main__":
    harness.main()
