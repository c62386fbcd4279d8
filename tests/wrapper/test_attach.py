"""`memleak attach` on the demo service running under `memleak run`."""

import json
import os
import time
import unittest

from harness import SERVICE_SOURCE, Service, WrapperTest, run, source_line

POOL_C = os.path.join(SERVICE_SOURCE, "buffer_pool.c")
SERVICE_CPP = os.path.join(SERVICE_SOURCE, "service.cpp")


class Attach(WrapperTest):
    @classmethod
    def setUpClass(cls):
        cls.service = Service("--rate", "400")
        cls.service.__enter__()
        time.sleep(1.0)

    @classmethod
    def tearDownClass(cls):
        status = cls.service.stop()
        if status != 0:
            raise AssertionError("the service (via memleak run) ended with status %d" % status)

    def attach(self, *words):
        return run(["attach", str(self.service.pid)] + list(words))

    def test_default_is_top_without_gdb_chatter(self):
        result = self.attach()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.startswith("memleak top: "), result.stdout[:300])
        for noise in ("Thread debugging", "libthread_db", "clock_nanosleep", "detached",
                      "No such file or directory"):
            self.assertNotIn(noise, result.stdout + result.stderr)

    def test_top_json_names_the_leaking_lines(self):
        result = self.attach("top", "--json")
        self.assertEqual(result.returncode, 0, result.stderr)
        top = json.loads(result.stdout)
        self.assertEqual(top["format"], "memleak-top")
        self.assertEqual(top["pid"], self.service.pid)
        self.assertGreater(top["total_bytes"], 0)
        # The buffer the error path never releases: allocated in buffer_new.
        pool_line = source_line(POOL_C, "buf->data = malloc(capacity);")
        pool = [g for g in top["groups"] if g["stack"]
                and g["stack"][0]["file"] and g["stack"][0]["file"].endswith("buffer_pool.c")
                and g["stack"][0]["line"] == pool_line]
        self.assertEqual(len(pool), 1, [g["stack"][:1] for g in top["groups"]])
        self.assertEqual(pool[0]["bytes"], 4096 * pool[0]["count"])
        # The session cache's copies: copy_string called from SessionCache::remember.
        copy_line = source_line(SERVICE_CPP, "char *copy = new char[length + 1];")
        sessions = [g for g in self.frames_of(top, "SessionCache::remember")
                    if g["stack"][0]["line"] == copy_line]
        self.assertTrue(sessions)

    def test_mark_then_since_and_fail_over(self):
        result = self.attach("mark", "wrapper-test")
        self.assertEqual(result.returncode, 0, result.stderr)
        time.sleep(1.0)
        result = self.attach("since", "wrapper-test", "--json")
        self.assertEqual(result.returncode, 0, result.stderr)
        grown = json.loads(result.stdout)
        self.assertGreater(grown["total_bytes"], 0)
        self.assertTrue(self.frames_of(grown, "bufpool_acquire"))
        over = self.attach("since", "wrapper-test", "--fail-over", "1")
        self.assertNotEqual(over.returncode, 0, over.stdout)
        self.assertIn("memleak:", over.stderr)
        under = self.attach("since", "wrapper-test", "--fail-over", "1GiB")
        self.assertEqual(under.returncode, 0, under.stderr)

    def test_memleak_prefix_and_output_file(self):
        out = os.path.join(os.environ.get("TMPDIR", "/tmp"), "memleak-attach-%d.json" % os.getpid())
        self.addCleanup(lambda: os.path.exists(out) and os.unlink(out))
        result = self.attach("memleak", "stats", "--json", "--output", out)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(out) as handle:
            stats = json.load(handle)
        self.assertEqual(stats["format"], "memleak-stats")

    def test_bad_command_options_fail_before_gdb(self):
        self.assert_one_error_line(self.attach("top", "--bogus"), "--bogus")
        self.assert_one_error_line(self.attach("frobnicate"), "unknown command")
        self.assert_one_error_line(self.attach("since"), "POINT")


if __name__ == "__main__":
    unittest.main()
