"""`memleak attach` errors: each one line, `memleak: ...`, exit status 2, before gdb runs."""

import os
import shutil
import subprocess
import time
import unittest

from harness import WRAPPER, Service, WrapperTest, built, run, start_plain


class AttachErrors(WrapperTest):
    def test_pid_that_does_not_exist(self):
        proc = subprocess.Popen(["true"])
        proc.wait()
        self.assert_one_error_line(run(["attach", str(proc.pid)]),
                                   "no process with pid %d" % proc.pid)

    def test_pid_that_is_not_a_number(self):
        self.assert_one_error_line(run(["attach", "server"]), "not a process id")
        self.assert_one_error_line(run(["attach", "-5"]))

    def test_process_without_the_runtime(self):
        proc = start_plain(built("MEMLEAK_TEST_EXIT_WITH"), "wait")
        try:
            self.assert_one_error_line(run(["attach", str(proc.pid)]),
                                       "pid %d" % proc.pid, "does not run the memleak runtime")
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()

    def test_gdb_missing(self):
        with Service("--rate", "50") as service:
            env = dict(os.environ, MEMLEAK_GDB="/nonexistent/bin/gdb")
            self.assert_one_error_line(run(["attach", str(service.pid)], env=env),
                                       "gdb not found")
            env = dict(os.environ, PATH="/nonexistent")
            env.pop("MEMLEAK_GDB", None)
            result = subprocess.run(["/usr/bin/python3", WRAPPER, "attach", str(service.pid)],
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, timeout=60)
            self.assert_one_error_line(result, "gdb not found")

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"),
                         "needs root (to become another user) and setpriv")
    def test_process_of_another_user(self):
        with Service("--rate", "50") as service:
            result = subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 "--inh-caps=-all", "/usr/bin/python3", WRAPPER, "attach", str(service.pid)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, timeout=60)
            self.assert_one_error_line(result, "pid %d" % service.pid, "belongs to root")

    def test_already_traced(self):
        with Service("--rate", "50") as service:
            gdb = subprocess.Popen(["gdb", "-nx", "-q", "-p", str(service.pid)],
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            try:
                def traced():
                    with open("/proc/%d/status" % service.pid) as handle:
                        return "TracerPid:\t0\n" not in handle.read()
                deadline = time.time() + 30
                while not traced() and time.time() < deadline:
                    time.sleep(0.1)
                self.assertTrue(traced())
                self.assert_one_error_line(run(["attach", str(service.pid)]), "already traced")
            finally:
                gdb.stdin.write(b"detach\nquit\n")
                gdb.stdin.close()
                gdb.wait(timeout=60)

    def test_no_subcommand_and_unknown_subcommand(self):
        result = run([])
        self.assertEqual(result.returncode, 2)
        self.assertIn("run", result.stdout)
        result = run(["explode"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("memleak: argument SUBCOMMAND", result.stderr)

    def test_every_subcommand_has_help(self):
        for sub in ("run", "attach", "core", "demo"):
            result = run([sub, "--help"])
            self.assertEqual(result.returncode, 0)
            self.assertIn("usage: memleak " + sub, result.stdout)


if __name__ == "__main__":
    unittest.main()
