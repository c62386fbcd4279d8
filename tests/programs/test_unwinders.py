"""The runtime's own unwinder (cached .eh_frame rules and each thread's last
stack) must give every allocation the stack libunwind gives it. Real
programs run with MEMLEAK_FAST_UNWIND=2, which unwinds every stack both ways
in the process and prints, at exit, how many stacks were compared and how
many differed (and each of the first differences).

Run one case with
    MEMLEAK_LIB=build/runtime/libmemleak.so MEMLEAK_SQL_GEN=bench/gen_sql.py \\
        python3 tests/programs/test_unwinders.py -v UnwindersAgreeTest.test_perl
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import ld_preload  # noqa: E402  (tests/ld_preload.py)
WORKLOADS = os.path.join(HERE, "workloads")
PYTHON = "/usr/bin/python3"
RUN_TIMEOUT = 240
# Blocks past pymalloc's 512-byte limit, so each one is a malloc call.
THREADS_SCRIPT = r"""
import threading
def work(seed):
    kept = []
    for i in range(6000):
        kept.append(("%d-" % (seed + i)) * (100 + i % 300))
        if len(kept) > 500:
            kept = kept[250:]
threads = [threading.Thread(target=work, args=(n * 100000,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""
SUMMARY = re.compile(rb"^memleak: unwinder check: (\d+) stacks compared with libunwind, (\d+) differed, "
                     rb"\d+ given up by the cached rules \(libunwind's alone\)$", re.M)


class UnwindersAgreeTest(unittest.TestCase):
    def setUp(self):
        self.lib = os.path.abspath(os.environ.get("MEMLEAK_LIB", ""))
        if not os.path.isfile(self.lib):
            self.fail("MEMLEAK_LIB=%r is not a file; set it to libmemleak.so" % self.lib)
        self.tmp = tempfile.mkdtemp(prefix="memleak-unwinders-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def assert_agree(self, argv, min_compared, stdin_path=None):
        """Runs argv (and whatever it starts) under the check; every process
        must report, none may differ, and together they must have compared
        at least min_compared stacks."""
        env = {k: v for k, v in os.environ.items()
               if k != "LD_PRELOAD" and not k.startswith("MEMLEAK_")}
        env.update(LC_ALL="C", PYTHONHASHSEED="0", TMPDIR=self.tmp, MEMLEAK_FAST_UNWIND="2",
                   **ld_preload.variables(self.lib, env))
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            proc = subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, env=env, cwd=self.tmp,
                                  timeout=RUN_TIMEOUT)
        finally:
            if stdin_path:
                stdin.close()
        differences = [line for line in proc.stderr.splitlines()
                       if line.startswith(b"memleak: unwinder check: stacks differ")]
        self.assertEqual(differences, [], "the unwinders disagreed")
        summaries = SUMMARY.findall(proc.stderr)
        self.assertTrue(summaries, "no process reported its check:\n" +
                        proc.stderr.decode(errors="replace")[-2000:])
        self.assertEqual([int(d) for _, d in summaries], [0] * len(summaries))
        compared = sum(int(c) for c, _ in summaries)
        self.assertGreaterEqual(compared, min_compared, "too few stacks compared")
        return proc

    def test_python3(self):
        self.assert_agree([PYTHON, os.path.join(WORKLOADS, "dicts.py")], min_compared=5000)

    def test_perl(self):
        self.assert_agree(["perl", os.path.join(WORKLOADS, "words.pl")], min_compared=5000)

    def test_git(self):
        repo = os.path.join(self.tmp, "repo")
        proc = self.assert_agree(["bash", os.path.join(WORKLOADS, "git_session.sh"), repo],
                                 min_compared=20000)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode(errors="replace")[-2000:])

    def test_sqlite3(self):
        script = os.path.join(self.tmp, "shop.sql")
        subprocess.run([PYTHON, os.environ["MEMLEAK_SQL_GEN"], "--rows", "5000",
                        "--output", script], check=True)
        self.assert_agree(["sqlite3", os.path.join(self.tmp, "shop.db")], min_compared=50000,
                          stdin_path=script)

    def test_threads(self):
        # Four threads unwinding at once, each with its own last stack.
        script = os.path.join(self.tmp, "threads.py")
        with open(script, "w") as f:
            f.write(THREADS_SCRIPT)
        self.assert_agree([PYTHON, script], min_compared=20000)


if __name__ == "__main__":
    unittest.main()
