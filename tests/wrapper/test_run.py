"""`memleak run`: status pass-through, signals, --fail-on-leak, --report, --suppressions."""

import os
import shutil
import signal
import subprocess
import unittest

from harness import HERE, WRAPPER, WrapperTest, built, read_text, run, source_line, tempdir


class Run(WrapperTest):
    @classmethod
    def setUpClass(cls):
        cls.exit_with = built("MEMLEAK_TEST_EXIT_WITH")
        cls.leaky = built("MEMLEAK_TEST_LEAKY")
        built("MEMLEAK_LIB")
        cls.leak_line = source_line(os.path.join(HERE, "leaky.c"), "/* LEAK */")

    def test_exit_status_passes_through(self):
        for status in (0, 1, 7, 255):
            result = run(["run", "--", self.exit_with, str(status)])
            self.assertEqual(result.returncode, status, result.stderr)
            self.assertEqual(result.stderr, "")

    def test_without_double_dash(self):
        self.assertEqual(run(["run", self.exit_with, "7"]).returncode, 7)

    def test_death_by_signal_is_128_plus_n(self):
        result = run(["run", "--", self.exit_with, "signal", str(int(signal.SIGTERM))])
        self.assertEqual(result.returncode, 128 + signal.SIGTERM)
        result = run(["run", "--", self.exit_with, "signal", str(int(signal.SIGSEGV))])
        self.assertEqual(result.returncode, 128 + signal.SIGSEGV)
        self.assertIn("terminated by SIGSEGV", result.stderr)
        rt = signal.SIGRTMIN + 3  # no name of its own
        result = run(["run", "--", self.exit_with, "signal", str(int(rt))])
        self.assertEqual(result.returncode, 128 + rt)
        self.assertEqual(result.stderr, "memleak: %s terminated by signal %d\n" % (self.exit_with, rt))

    def test_arguments_reach_the_program_unchanged(self):
        args = ["two words", "--report", "", "*", "-- x"]
        result = run(["run", "--", self.exit_with, "args"] + args)
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout.split("\n")[:-1], args)

    def test_runtime_is_preloaded(self):
        proc = subprocess.Popen([WRAPPER, "run", "--", self.exit_with, "wait"],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        try:
            self.assertEqual(proc.stdout.readline(), "waiting\n")
            children = read_text("/proc/%d/task/%d/children" % (proc.pid, proc.pid)).split()
            self.assertEqual(len(children), 1)
            maps = read_text("/proc/%s/maps" % children[0])
            self.assertIn(os.path.realpath(os.environ["MEMLEAK_LIB"]), maps)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            proc.stdout.close()

    def test_sigterm_to_the_wrapper_reaches_the_program(self):
        proc = subprocess.Popen([WRAPPER, "run", "--", self.exit_with, "wait"],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        self.assertEqual(proc.stdout.readline(), "waiting\n")
        child = int(read_text("/proc/%d/task/%d/children" % (proc.pid, proc.pid)).split()[0])
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 128 + signal.SIGTERM)
        self.assertFalse(os.path.exists("/proc/%d" % child), "the program outlived the wrapper")
        proc.stdout.close()
        proc.stderr.close()

    def test_sigint_to_the_wrapper_alone_is_forwarded_once(self):
        proc = subprocess.Popen([WRAPPER, "run", "--", self.exit_with, "sigint"],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                start_new_session=True)
        self.assertEqual(proc.stdout.readline(), "waiting\n")
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(timeout=30), 1)
        proc.stdout.close()

    def test_fail_on_leak_fails_a_leaky_program(self):
        result = run(["run", "--fail-on-leak", "--", self.leaky, "leak"])
        self.assertEqual(result.returncode, 23, result.stderr)
        self.assertIn("leaky.c:%d" % self.leak_line, result.stderr)
        self.assertIn("SUMMARY: memleak: 3003 bytes lost in 3 blocks", result.stderr)

    def test_fail_on_leak_fails_the_demo_service(self):
        service = built("MEMLEAK_TEST_SERVICE")
        result = run(["run", "--fail-on-leak", "--", service, "--seconds", "0.5"])
        self.assertEqual(result.returncode, 23, result.stderr[-2000:])
        self.assertIn("served", result.stdout)
        self.assertIn("bufpool_acquire", result.stderr)

    def test_fail_on_leak_keeps_a_clean_program_clean(self):
        result = run(["run", "--fail-on-leak", "--", self.leaky, "clean"])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("leaky.c", result.stderr)
        result = run(["run", "--fail-on-leak", "--", self.exit_with, "7"])
        self.assertEqual(result.returncode, 7, result.stderr)

    def test_program_keeping_its_blocks_passes_and_lists_them_on_request(self):
        # `strings` keeps a std::string to the end: still reachable, not lost.
        strings = built("MEMLEAK_TEST_STRINGS")
        result = run(["run", "--fail-on-leak", "--", strings])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("SUMMARY", result.stderr)
        result = run(["run", "--fail-on-leak", "--show-reachable", "--", strings])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("301 bytes in 1 block(s) still reachable, allocated from:", result.stderr)
        self.assertIn("SUMMARY: memleak: 0 bytes lost in 0 blocks", result.stderr)

    def test_report_file(self):
        report = os.path.join(tempdir(self), "leaks-%p.txt")
        result = run(["run", "--report", report, "--", self.leaky, "leak"])
        self.assertEqual(result.returncode, 0, result.stderr)
        written = [f for f in os.listdir(os.path.dirname(report)) if f.startswith("leaks-")]
        self.assertEqual(len(written), 1)
        self.assertRegex(written[0], r"^leaks-\d+\.txt$")
        text = read_text(os.path.join(os.path.dirname(report), written[0]))
        self.assertIn("leaky.c:%d" % self.leak_line, text)
        # With --fail-on-leak the report goes to the file, not the terminal.
        result = run(["run", "--fail-on-leak", "--report", os.path.join(os.path.dirname(report), "r.txt"),
                      "--", self.leaky, "leak"])
        self.assertEqual(result.returncode, 23)
        self.assertNotIn("leaky.c", result.stderr)

    def test_runtime_in_a_directory_with_spaces(self):
        # LD_PRELOAD cannot carry the space: the runtime is preloaded by
        # name through LD_LIBRARY_PATH.
        spaced = os.path.join(tempdir(self), "with space", "and another")
        os.makedirs(spaced)
        lib = os.path.join(spaced, "libmemleak.so")
        shutil.copy(built("MEMLEAK_LIB"), lib)
        env = dict(os.environ, MEMLEAK_LIB=lib)
        result = run(["run", "--fail-on-leak", "--", self.leaky, "leak"], env=env)
        self.assertEqual(result.returncode, 23, result.stderr)
        self.assertIn("leaky.c:%d" % self.leak_line, result.stderr)
        self.assertIn("SUMMARY: memleak: 3003 bytes lost in 3 blocks", result.stderr)

    def test_suppressions_silence_a_known_leak(self):
        supp = os.path.join(tempdir(self), "known.supp")
        with open(supp, "w") as f:
            f.write("# the records live until exit on purpose\nleak:make_record\n")
        result = run(["run", "--fail-on-leak", "--suppressions", supp, "--", self.leaky, "leak"])
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(supp, "w") as f:
            f.write("leak:some_other_function\n")
        result = run(["run", "--fail-on-leak", "--suppressions", supp, "--", self.leaky, "leak"])
        self.assertEqual(result.returncode, 23, result.stderr)

    def test_depth_limits_the_stack(self):
        result = run(["run", "--depth", "1", "--fail-on-leak", "--", self.leaky, "leak"])
        self.assertEqual(result.returncode, 23)
        self.assertIn("make_record", result.stderr)
        self.assertNotIn("load_records", result.stderr)

    def test_errors(self):
        self.assert_one_error_line(run(["run", "--", "/nonexistent/prog"]), "/nonexistent/prog")
        self.assert_one_error_line(run(["run", "--", "no-such-command-here"]), "command not found")
        self.assert_one_error_line(run(["run", "--", HERE]), "not an executable")
        self.assert_one_error_line(run(["run"]), "no program given")
        supp = os.path.join(tempdir(self), "bad.supp")
        with open(supp, "w") as f:
            f.write("leak:ok\nlek:typo\n")
        self.assert_one_error_line(run(["run", "--suppressions", supp, "--", self.exit_with]),
                                   "%s:2:" % supp)
        self.assert_one_error_line(run(["run", "--suppressions", supp + ".missing", "--", self.exit_with]),
                                   "not found")
        result = run(["run", "--depth", "0", "--", self.exit_with])
        self.assertEqual(result.returncode, 2)
        self.assertIn("memleak: argument --depth", result.stderr)
        coloned = os.path.join(tempdir(self), "with:colon")
        os.mkdir(coloned)
        env = dict(os.environ, MEMLEAK_LIB=os.path.join(coloned, "libmemleak.so"))
        with open(env["MEMLEAK_LIB"], "wb") as f:
            f.write(b"")
        self.assert_one_error_line(run(["run", "--", self.exit_with], env=env),
                                   "the loader cannot carry")
        env = dict(os.environ, MEMLEAK_LIB="/nonexistent/libmemleak.so")
        self.assert_one_error_line(run(["run", "--", self.exit_with], env=env),
                                   "libmemleak.so not found")


if __name__ == "__main__":
    unittest.main()
