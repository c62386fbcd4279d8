"""The memleak command as a newcomer and a CI meet it: the leak report at
exit by default, a crash that leaves a core behind, cores matched by
build-id, usage errors naming what is missing, and exit statuses: 2 for
a usage or input error with one `memleak:` line, 23 for a limit exceeded."""

import json
import re
import os
import shlex
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
WRAPPER = os.path.join(ROOT, "scripts", "memleak")


def env(name):
    value = os.environ.get(name)
    if not value:
        raise unittest.SkipTest("%s is not set: run this test through ctest" % name)
    return value


def memleak(*words, cwd=None, timeout=300):
    return subprocess.run([WRAPPER] + list(words), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


class Case(unittest.TestCase):
    def setUp(self):
        self.stacks = env("MEMLEAK_TEST_STACKS")
        self.tmp = tempfile.mkdtemp(prefix="memleak wrapper ")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def one_error(self, result, status, *words):
        self.assertEqual(result.returncode, status, result.stdout + result.stderr)
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("memleak: "), lines[0])
        for w in words:
            self.assertIn(w, lines[0])
        return lines[0]

    def crash_core(self):
        """A core kept by `run --core-on-crash` (in the temporary directory)."""
        result = memleak("run", "--core-on-crash", "--", self.stacks, "crash", cwd=self.tmp)
        self.assertEqual(result.returncode, 128 + 11, result.stderr)
        cores = [n for n in os.listdir(self.tmp) if n.startswith("memleak-core.")]
        self.assertEqual(len(cores), 1, os.listdir(self.tmp))
        return os.path.join(self.tmp, cores[0]), result


class Run(Case):
    def test_report_at_exit_by_default(self):
        result = memleak("run", "--", self.stacks, "exit")
        self.assertEqual(result.returncode, 0)
        self.assertIn("live blocks", result.stderr)
        self.assertIn("app::copy_names()", result.stderr)
        self.assertIn("SUMMARY: memleak:", result.stderr)

    def test_no_report_and_report_file(self):
        quiet = memleak("run", "--no-report", "--", self.stacks, "exit")
        self.assertEqual((quiet.returncode, quiet.stderr), (0, ""))
        path = os.path.join(self.tmp, "leaks.txt")
        to_file = memleak("run", "--report", path, "--", self.stacks, "exit")
        self.assertEqual((to_file.returncode, to_file.stderr), (0, ""))
        with open(path) as f:
            self.assertIn("SUMMARY: memleak:", f.read())

    def test_nothing_printed_when_nothing_leaked(self):
        result = memleak("run", "--", env("MEMLEAK_TEST_CLEAN"), "clean")
        self.assertEqual((result.returncode, result.stdout, result.stderr), (0, "", ""))

    def test_fail_on_leak_is_the_limit_status(self):
        result = memleak("run", "--fail-on-leak", "--", self.stacks, "exit")
        self.assertEqual(result.returncode, 23)
        clean = memleak("run", "--fail-on-leak", "--", env("MEMLEAK_TEST_CLEAN"), "clean")
        self.assertEqual(clean.returncode, 0)

    def test_no_report_with_fail_on_leak_is_a_usage_error(self):
        self.one_error(memleak("run", "--no-report", "--fail-on-leak", "--", self.stacks), 2,
                       "--no-report")


class Crash(Case):
    def test_core_on_crash_keeps_a_core_that_memleak_core_reads(self):
        core, result = self.crash_core()
        line = self.one_error(result, 139, "terminated by SIGSEGV", "memleak core")
        self.assertIn(core, line)
        read = memleak("core", self.stacks, core, "top", "--json")
        self.assertEqual(read.returncode, 0, read.stderr)
        doc = json.loads(read.stdout)
        names = {f["function"] for g in doc["groups"] for f in g["stack"]}
        self.assertIn("app::copy_names()", names)
        self.assertIn("app::worker(void*)", names)

    def test_without_the_option_the_message_says_how(self):
        result = memleak("run", "--", self.stacks, "crash", cwd=self.tmp)
        self.one_error(result, 139, "terminated by SIGSEGV",
                       "memleak run --core-on-crash -- %s crash" % shlex.quote(self.stacks))
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("memleak-core")], [])

    def test_the_programs_own_handler_runs(self):
        result = memleak("run", "--core-on-crash", "--no-report", "--", self.stacks, "handled",
                         cwd=self.tmp)
        self.assertEqual((result.returncode, result.stdout, result.stderr), (3, "handled\n", ""))
        self.assertEqual(os.listdir(self.tmp), [])


class CoreMatch(Case):
    def setUp(self):
        super().setUp()
        self.core, _ = self.crash_core()

    def test_a_copy_elsewhere_and_the_debug_file_match(self):
        copy = os.path.join(self.tmp, "renamed-copy")
        shutil.copy(self.stacks, copy)
        debug = os.path.join(self.tmp, "stacks.debug")
        subprocess.run(["objcopy", "--only-keep-debug", self.stacks, debug], check=True)
        for prog in (copy, debug):
            result = memleak("core", prog, self.core, "top", "--json")
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertGreater(json.loads(result.stdout)["total_count"], 10)

    def test_another_build_is_refused_by_build_id(self):
        other = env("MEMLEAK_TEST_CLEAN")
        line = self.one_error(memleak("core", other, self.core), 2)
        self.assertRegex(line, r"^memleak: %s \(build-id [0-9a-f]{40}\) is not the program that "
                               r"dumped %s \(build-id [0-9a-f]{40}, "
                         % (re.escape(other), re.escape(self.core)))
        self.assertNotIn("not loaded", line)
        forced = memleak("core", "--force", other, self.core)
        self.assertNotIn("is not the program that dumped", forced.stderr)


class Statuses(Case):
    def setUp(self):
        super().setUp()
        self.core, _ = self.crash_core()

    def test_usage_and_input_errors_are_2_and_limits_23(self):
        target = ["core", self.stacks, self.core]
        self.one_error(memleak(*target, "since", "5x"), 2, "POINT is a sequence number")
        self.one_error(memleak(*target, "tpo"), 2, "did you mean top?")
        self.one_error(memleak(*target, "since", "stratup"), 2, "no mark named stratup")
        self.one_error(memleak("core", self.stacks, self.core + ".missing"), 2, "no such core")
        self.one_error(memleak(*target, "since", "1", "--fail-over", "1KiB"), 23,
                       "over the limit of 1.0 KiB")

    def test_missing_arguments_are_named(self):
        line = self.one_error(memleak("core", self.stacks), 2)
        self.assertIn("missing CORE", line)
        self.assertNotIn("COMMAND", line)
        line = self.one_error(memleak("attach"), 2)
        self.assertIn("missing PID", line)
        self.assertNotIn("COMMAND", line)

    def test_two_pids_said_so(self):
        self.one_error(memleak("attach", "4242", "4243"), 2, "one process id, got 2 (4242 4243)")


if __name__ == "__main__":
    unittest.main()
