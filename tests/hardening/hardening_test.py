"""The runtime inside processes that can hurt it or be hurt by it.

Each test runs a real program with libmemleak.so preloaded (or linked) in
the situation a fault report described: a report path planted by another
user, a setuid program, a FIFO for suppressions, and so on; the program's
output and exit status must be what they are without the runtime.

Environment: MEMLEAK_LIB (libmemleak.so), HARDENING_BIN_DIR (the built
programs; their sources sit next to this file).
"""

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import ld_preload  # noqa: E402  (tests/ld_preload.py)

LIB = os.environ.get("MEMLEAK_LIB", "")
BIN_DIR = os.environ.get("HARDENING_BIN_DIR", "")
TIMEOUT = 60


def program(name):
    return os.path.join(BIN_DIR, name)


def run(args, env=None, preload=True, timeout=TIMEOUT, **kwargs):
    full = {k: v for k, v in os.environ.items() if not k.startswith("MEMLEAK_")}
    if preload:
        full.update(ld_preload.variables(LIB, full))
    full.update(env or {})
    return subprocess.run(args, env=full, capture_output=True, text=True, timeout=timeout,
                          **kwargs)


def other_user():
    """An unprivileged account to act as 'someone else', or None."""
    if os.geteuid() != 0:
        return None
    for name in ("nobody", "daemon"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def as_user(user, args):
    """`args` run under `user`'s uid and gid, without supplementary groups."""
    return ["setpriv", "--reuid=%d" % user.pw_uid, "--regid=%d" % user.pw_gid,
            "--clear-groups", "--"] + list(args)


def shared_tmpdir(test, mode=0o755):
    """A fresh directory under /tmp that other users may enter."""
    path = tempfile.mkdtemp(prefix="memleak-hardening-")
    os.chmod(path, mode)
    test.addCleanup(shutil.rmtree, path, True)
    return path


class ReportFileTests(unittest.TestCase):
    """MEMLEAK_REPORT in a directory others may write to (issue 10, item 2)."""

    def setUp(self):
        self.user = other_user()
        if self.user is None or shutil.which("setpriv") is None:
            self.skipTest("needs root, setpriv and an unprivileged account")
        self.dir = shared_tmpdir(self, 0o1777)

    def plant(self, args):
        subprocess.run(as_user(self.user, args), check=True, timeout=TIMEOUT)

    def test_symlink_planted_by_another_user_is_not_followed(self):
        victim = os.path.join(self.dir, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        link = os.path.join(self.dir, "leaks.txt")
        self.plant(["ln", "-s", victim, link])
        r = run([program("leak_once")], {"MEMLEAK_REPORT": link})
        self.assertEqual((r.returncode, r.stdout), (0, "done\n"))
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")
        self.assertTrue(os.path.islink(link))
        self.assertIn("MEMLEAK_REPORT=%s: a symbolic link (not followed)" % link, r.stderr)

    def test_file_of_another_user_is_not_truncated(self):
        theirs = os.path.join(self.dir, "leaks.txt")
        self.plant(["sh", "-c", 'echo theirs > "$1"', "sh", theirs])
        r = run([program("leak_once")], {"MEMLEAK_REPORT": theirs})
        self.assertEqual((r.returncode, r.stdout), (0, "done\n"))
        with open(theirs) as f:
            self.assertEqual(f.read(), "theirs\n")
        self.assertIn("a file of another user (not overwritten)", r.stderr)

    def test_new_file_is_created_and_own_file_rewritten(self):
        path = os.path.join(self.dir, "report-%p.txt")
        r = run([program("leak_once")], {"MEMLEAK_REPORT": path})
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "done\n", ""))
        made = os.listdir(self.dir)
        self.assertEqual(len(made), 1, made)
        with open(os.path.join(self.dir, made[0])) as f:
            self.assertIn("SUMMARY: memleak: 100 bytes lost in 1 blocks", f.read())
        mine = os.path.join(self.dir, "mine.txt")
        with open(mine, "w") as f:
            f.write("Z" * 100000)
        r = run([program("leak_once")], {"MEMLEAK_REPORT": mine})
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        with open(mine) as f:
            text = f.read()
        self.assertTrue(text.startswith("==") and "ZZ" not in text, text[:200])


class SecureExecutionTests(unittest.TestCase):
    """A setuid program ignores MEMLEAK_* set by its caller (issue 10, item 3)."""

    def setUp(self):
        self.user = other_user()
        if self.user is None or shutil.which("setpriv") is None:
            self.skipTest("needs root, setpriv and an unprivileged account")
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            self.skipTest("needs a C compiler")
        # The loader ignores LD_PRELOAD paths and $ORIGIN for a setuid
        # program, so this one links the runtime from a directory of its own.
        self.dir = shared_tmpdir(self)
        shutil.copy(LIB, os.path.join(self.dir, "libmemleak.so"))
        self.exe = os.path.join(self.dir, "leak_once")
        subprocess.run([cc, "-O1", "-o", self.exe, os.path.join(HERE, "leak_once.c"),
                        "-L" + self.dir, "-lmemleak", "-Wl,-rpath," + self.dir,
                        "-Wl,--no-as-needed"], check=True, timeout=TIMEOUT)
        self.root_dir = os.path.join(self.dir, "root-only")
        os.mkdir(self.root_dir, 0o755)

    def run_as_user(self, extra_env):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMLEAK_")}
        env.update(extra_env)
        return subprocess.run(as_user(self.user, [self.exe, "secure"]), env=env,
                              capture_output=True, text=True, timeout=TIMEOUT)

    def test_setuid_program_ignores_the_options(self):
        target = os.path.join(self.root_dir, "owned-by-root.txt")
        options = {"MEMLEAK_REPORT": target, "MEMLEAK_HELP": "1"}
        # Not setuid: the options are in force (the user cannot write there).
        r = self.run_as_user(options)
        self.assertEqual((r.returncode, r.stdout), (0, "secure=0\ndone\n"))
        self.assertIn("MEMLEAK_DEPTH", r.stderr)
        self.assertIn("MEMLEAK_REPORT=%s: Permission denied" % target, r.stderr)
        os.chmod(self.exe, 0o4755)
        r = self.run_as_user(options)
        if r.stdout.startswith("secure=0"):
            self.skipTest("the kernel did not run the setuid program in secure mode "
                          "(nosuid mount?)")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "secure=1\ndone\n", ""))
        self.assertFalse(os.path.exists(target))


class SuppressionsFifoTests(unittest.TestCase):
    """MEMLEAK_SUPPRESSIONS naming a FIFO or a pipe (issue 10, item 4)."""

    def setUp(self):
        self.dir = shared_tmpdir(self)

    def test_fifo_without_writer_does_not_hold_the_exit(self):
        fifo = os.path.join(self.dir, "supp")
        os.mkfifo(fifo)
        r = run([program("leak_once")],
                {"MEMLEAK_REPORT": "stderr", "MEMLEAK_SUPPRESSIONS": fifo}, timeout=20)
        self.assertEqual((r.returncode, r.stdout), (0, "done\n"))
        self.assertIn("SUMMARY: memleak: 100 bytes lost in 1 blocks", r.stderr)

    def test_fifo_written_late_is_read(self):
        fifo = os.path.join(self.dir, "supp")
        os.mkfifo(fifo)
        writer = subprocess.Popen(["sh", "-c", 'sleep 0.3; echo leak:main > "$1"', "sh", fifo])
        self.addCleanup(writer.wait, TIMEOUT)
        r = run([program("leak_once")],
                {"MEMLEAK_REPORT": "stderr", "MEMLEAK_SUPPRESSIONS": fifo})
        self.assertEqual((r.returncode, r.stdout), (0, "done\n"))
        self.assertIn("Suppressed: 100 bytes in 1 blocks (by 1 pattern)", r.stderr)
        self.assertIn("SUMMARY: memleak: 0 bytes lost in 0 blocks", r.stderr)

    def test_process_substitution_is_read(self):
        script = ('MEMLEAK_SUPPRESSIONS=<(echo leak:main) MEMLEAK_REPORT=stderr '
                  'env "$@"')
        preload = ["%s=%s" % item for item in ld_preload.variables(LIB).items()]
        r = subprocess.run(["bash", "-c", script, "bash"] + preload + [program("leak_once")],
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual((r.returncode, r.stdout), (0, "done\n"))
        self.assertIn("Suppressed: 100 bytes in 1 blocks (by 1 pattern)", r.stderr)


class UnwinderCheckTests(unittest.TestCase):
    """MEMLEAK_FAST_UNWIND=2 counts the stacks it could not compare (item 13)."""

    SUMMARY = re.compile(r"^memleak: unwinder check: (\d+) stacks compared with libunwind, "
                         r"(\d+) differed, (\d+) given up by the cached rules "
                         r"\(libunwind's alone\)$", re.M)

    def test_signal_frames_are_counted_as_given_up(self):
        r = run([program("signal_alloc"), "500"], {"MEMLEAK_FAST_UNWIND": "2"})
        self.assertEqual((r.returncode, r.stdout), (0, "allocations=1000\n"))
        found = self.SUMMARY.findall(r.stderr)
        self.assertEqual(len(found), 1, r.stderr)
        compared, differed, given_up = (int(x) for x in found[0])
        self.assertEqual(differed, 0, r.stderr)
        # Every allocation in the handler is given up (its stack holds a
        # signal frame); every plain one is compared.
        self.assertGreaterEqual(given_up, 500)
        self.assertGreaterEqual(compared, 500)


class OutOfMemoryTests(unittest.TestCase):
    """Out of memory for its bookkeeping, the runtime stops recording for good
    and says so in `memleak stats` and in the exit report (issue 10, item 11)."""

    def test_stop_is_shown_by_stats_and_exit_report(self):
        if shutil.which("gdb") is None:
            self.skipTest("gdb is not installed")
        wrapper = os.path.join(HERE, "..", "..", "scripts", "memleak")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMLEAK_")}
        env.update(MEMLEAK_REPORT="stderr", MEMLEAK_REPORT_GROUPS="1", **ld_preload.variables(LIB, env))
        proc = subprocess.Popen([program("oom_stop")], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(proc.stdout.readline(), "stopped\n")
            wenv = {k: v for k, v in os.environ.items()
                    if k != "LD_PRELOAD" and not k.startswith("MEMLEAK_")}
            wenv["MEMLEAK_LIB"] = LIB
            stats = subprocess.run([wrapper, "attach", str(proc.pid), "stats", "--json"],
                                   env=wenv, capture_output=True, text=True, timeout=TIMEOUT)
            if "ptrace" in stats.stderr and "not permitted" in stats.stderr:
                self.skipTest("ptrace is not permitted here")
            self.assertEqual(stats.returncode, 0, stats.stderr)
            d = json.loads(stats.stdout)
            self.assertEqual((d["recording"], d["disabled"]), (False, True), d)
            self.assertGreater(d["dropped_records"], 0)
            out, err = proc.communicate("\n", timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err[-2000:])
        self.assertIn("memleak: recording stopped early (the runtime ran out of memory); "
                      "later blocks are not in this report", err)
        m = re.search(r"^memleak: (\d+) allocations were not recorded", err, re.M)
        self.assertIsNotNone(m, err[-2000:])
        # stdin's buffer and exit's own allocations come after the stats.
        self.assertGreaterEqual(int(m.group(1)), d["dropped_records"])


class StackRoomTests(unittest.TestCase):
    """A thread on a 16 KiB stack recurses as deep under the runtime as without
    it, less at most 512 bytes, on its first allocation and on every later
    one, in every unwinding mode (issue 10, item 6)."""

    ROOM = re.compile(r"^levels=(\d+) frame=(\d+) room=(\d+)$")

    def room(self, case, env, preload):
        r = run([program("small_stack"), case], env, preload=preload, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        m = self.ROOM.match(r.stdout.strip())
        self.assertIsNotNone(m, r.stdout)
        return int(m.group(3))

    def check(self, case):
        native = self.room(case, {}, False)
        for mode in ("0", "1", "2"):
            under = self.room(case, {"MEMLEAK_FAST_UNWIND": mode}, True)
            self.assertLessEqual(native - under, 512,
                                 "%s allocation, MEMLEAK_FAST_UNWIND=%s: %d bytes of room "
                                 "natively, %d under the runtime" % (case, mode, native, under))

    def test_first_allocation(self):
        self.check("first")

    def test_later_allocations(self):
        self.check("later")


class DescriptorTests(unittest.TestCase):
    """The program gets the descriptor numbers it gets natively: the runtime
    keeps none open, libunwind's included (issue 10, item 5)."""

    def probe(self, preload, close_stderr, mode="1"):
        args = ["sh", "-c", 'exec "$@" 2>&-' if close_stderr else 'exec "$@"', "sh",
                program("fd_probe")]
        r = run(args, {"MEMLEAK_FAST_UNWIND": mode}, preload=preload)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_first_open_gets_three(self):
        native = self.probe(False, False)
        self.assertTrue(native.startswith("first=3 "), native)
        for mode in ("0", "1", "2"):
            self.assertEqual(self.probe(True, False, mode), native, "MEMLEAK_FAST_UNWIND=" + mode)

    def test_first_open_gets_two_with_stderr_closed(self):
        native = self.probe(False, True)
        self.assertTrue(native.startswith("first=2 "), native)
        for mode in ("0", "1", "2"):
            self.assertEqual(self.probe(True, True, mode), native, "MEMLEAK_FAST_UNWIND=" + mode)


class ForkStressTests(unittest.TestCase):
    """No fork child waits forever on a lock another thread held at the fork:
    libunwind's, or the loader's taken by dl_iterate_phdr (issue 10, item 1).
    fork_stress kills a child that has not exited after 10 s and counts it."""

    def stress(self, forkers, allocators, mode):
        r = run([program("fork_stress"), str(forkers), str(allocators), "1000"],
                {"MEMLEAK_FAST_UNWIND": str(mode)}, timeout=600)
        self.assertEqual(r.stdout, "forks=1000 hangs=0 failed=0\n", r.stderr[-2000:])
        self.assertEqual(r.returncode, 0)

    def test_one_forker_eight_allocators_libunwind(self):
        self.stress(1, 8, 0)

    def test_one_forker_eight_allocators_cached_rules(self):
        self.stress(1, 8, 1)

    def test_one_forker_eight_allocators_checked(self):
        self.stress(1, 8, 2)

    def test_six_forkers_four_allocators_libunwind(self):
        self.stress(6, 4, 0)


class UnderDebuggerTests(unittest.TestCase):
    """The exit report is the same under gdb (issue 10, item 10): threads that
    exited but that the debugger has not reaped yet are not running."""

    def test_joined_threads_leave_a_clean_report_under_gdb(self):
        gdb = shutil.which("gdb")
        if gdb is None:
            self.skipTest("gdb is not installed")
        out_dir = shared_tmpdir(self)
        # About half the runs went wrong before; eight in a row must not.
        for attempt in range(8):
            report = os.path.join(out_dir, "report-%d.txt" % attempt)
            env = {k: v for k, v in os.environ.items() if not k.startswith("MEMLEAK_")}
            r = subprocess.run(
                [gdb, "-nx", "-batch"]
                + [a for item in ld_preload.variables(LIB).items()
                   for a in ("-ex", "set environment %s=%s" % item)]
                + ["-ex", "set environment MEMLEAK_REPORT=" + report, "-ex", "run",
                   program("joined_threads")],
                env=env, capture_output=True, text=True, timeout=TIMEOUT)
            if "ptrace" in r.stderr and "not permitted" in r.stderr:
                self.skipTest("ptrace is not permitted here")
            self.assertIn("joined", r.stdout)
            self.assertIn("exited normally", r.stdout)
            with open(report) as f:
                self.assertEqual(f.read(), "", "run %d" % attempt)


if __name__ == "__main__":
    unittest.main()
