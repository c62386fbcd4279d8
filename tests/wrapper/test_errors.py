"""`memleak attach` errors: each one line, `memleak: ...`, exit status 2, before gdb runs."""

import os
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

from harness import ROOT, WRAPPER, Service, WrapperTest, built, run, start_plain


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
        # The other user runs a copy of the command where it may read it:
        # the checkout may sit where only its owner can enter.
        wrapper = self.copy_readable_by_all()
        with Service("--rate", "50") as service:
            result = subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 "--inh-caps=-all", "/usr/bin/python3", wrapper, "attach", str(service.pid)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, timeout=60, cwd="/")
            self.assert_one_error_line(result, "pid %d" % service.pid, "belongs to root")

    def copy_readable_by_all(self):
        """scripts/memleak and the parts of the tree it reads, copied to a
        fresh directory every user may enter; skips when its parents are
        closed to others."""
        top = tempfile.mkdtemp(prefix="memleak-other-user-")
        self.addCleanup(shutil.rmtree, top, True)
        os.chmod(top, 0o755)
        parent = os.path.dirname(top)
        while True:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                self.skipTest("%s, above the temporary directory, is closed to other users"
                              % parent)
            if parent == os.path.dirname(parent):
                break
            parent = os.path.dirname(parent)
        ignore = shutil.ignore_patterns("__pycache__")
        os.mkdir(os.path.join(top, "scripts"), 0o755)
        shutil.copy(WRAPPER, os.path.join(top, "scripts"))
        shutil.copytree(os.path.join(ROOT, "scripts", "memleak_cli"),
                        os.path.join(top, "scripts", "memleak_cli"), ignore=ignore)
        shutil.copytree(os.path.join(ROOT, "gdb"), os.path.join(top, "gdb"), ignore=ignore)
        for where, dirs, files in os.walk(top):
            for name in dirs:
                os.chmod(os.path.join(where, name), 0o755)
            for name in files:
                os.chmod(os.path.join(where, name), 0o755 if name == "memleak" else 0o644)
        return os.path.join(top, "scripts", "memleak")

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
