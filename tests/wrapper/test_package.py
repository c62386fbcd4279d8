"""The Debian package: CPack makes the .deb from this build, `dpkg -x`
unpacks it into a temporary root, and the memleak command from there runs a
program under the packaged runtime and reads a core with the packaged
extension, with nothing of the build tree in its environment."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import built, gcore, read_text, required, source_line

HERE = os.path.dirname(os.path.abspath(__file__))


def clean_env():
    env = dict(os.environ)
    for name in ("MEMLEAK_LIB", "MEMLEAK_BUILD_DIR", "MEMLEAK_GDB", "LD_PRELOAD"):
        env.pop(name, None)
    return env


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        build = required("MEMLEAK_TEST_BUILD_DIR")
        for tool in ("cpack", "dpkg-deb", "dpkg"):
            if not shutil.which(tool):
                raise unittest.SkipTest("%s is not installed" % tool)
        cls.work = tempfile.mkdtemp(prefix="memleak-package-test-")
        result = subprocess.run(["cpack", "--config", os.path.join(build, "CPackConfig.cmake"),
                                 "-B", cls.work], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=300)
        debs = [n for n in os.listdir(cls.work) if n.endswith(".deb")]
        if result.returncode != 0 or len(debs) != 1:
            raise AssertionError("cpack failed:\n" + result.stdout)
        cls.deb = os.path.join(cls.work, debs[0])
        cls.root = os.path.join(cls.work, "root")
        subprocess.run(["dpkg", "-x", cls.deb, cls.root], check=True, timeout=60)
        cls.memleak = os.path.join(cls.root, "usr", "bin", "memleak")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.root, "usr", *parts)

    def run_memleak(self, *words, **kw):
        return subprocess.run([self.memleak] + list(words), env=clean_env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=120, **kw)

    def test_control_fields(self):
        info = subprocess.run(["dpkg-deb", "-f", self.deb], stdout=subprocess.PIPE,
                              text=True, check=True).stdout
        fields = dict(re.findall(r"^(\S+): (.*)$", info, flags=re.M))
        self.assertEqual(fields["Package"], "memleak-finder")
        self.assertRegex(os.path.basename(self.deb), r"^memleak-finder_\d+\.\d+\.\d+_\w+\.deb$")
        for dep in ("gdb", "libdw1", "libunwind8", "python3"):
            self.assertIn(dep, fields["Depends"])

    def test_contents(self):
        runtime = self.path("lib", "libmemleak.so")
        self.assertTrue(os.path.exists(runtime))
        real = os.path.basename(os.path.realpath(runtime))
        # gdb trusts /usr/share/gdb/auto-load without configuration.
        self.assertTrue(os.path.isfile(self.path("share", "gdb", "auto-load", "usr", "lib",
                                                 real + "-gdb.py")))
        self.assertFalse(os.path.exists(self.path("lib", real + "-gdb.py")))
        for name in ("memleak.py", "memleak_gdb/gdb_backend.py"):
            self.assertTrue(os.path.isfile(self.path("share", "memleak", "gdb", name)), name)
        self.assertTrue(os.path.isfile(self.path("share", "memleak", "cli", "memleak_cli",
                                                 "main.py")))
        self.assertTrue(os.access(self.memleak, os.X_OK))
        listing = subprocess.run(["dpkg-deb", "-c", self.deb], stdout=subprocess.PIPE,
                                 text=True, check=True).stdout
        self.assertNotIn("__pycache__", listing)
        self.assertNotIn("/usr/local", listing)
        # The control archive carries the prerm that removes Python's bytecode.
        control = subprocess.run(["dpkg-deb", "-I", self.deb, "prerm"], stdout=subprocess.PIPE,
                                 text=True, check=True).stdout
        self.assertIn("__pycache__", control)

    def test_man_page(self):
        page = self.path("share", "man", "man1", "memleak.1.gz")
        self.assertTrue(os.path.isfile(page))
        if not shutil.which("man"):
            self.skipTest("man is not installed")
        text = subprocess.run(["man", "-l", page], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, check=True,
                              env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="")).stdout
        text = re.sub(r".\x08", "", text)
        for name in ("run", "attach", "core", "remote", "demo"):
            self.assertRegex(text, r"\n\s+%s " % name)
        self.assertIn("--fail-on-leak", text)

    def test_run_reports_with_the_packaged_runtime(self):
        report = os.path.join(self.work, "report.txt")
        leaky = built("MEMLEAK_TEST_LEAKY")
        result = self.run_memleak("run", "--report", report, "--", leaky, "leak")
        self.assertEqual(result.returncode, 0, result.stderr)
        text = read_text(report)
        line = source_line(os.path.join(HERE, "leaky.c"), "/* LEAK */")
        self.assertIn("leaky.c:%d" % line, text)
        self.assertIn("3 live blocks", text)
        self.assertEqual(self.run_memleak("--help").returncode, 0)

    def test_core_with_the_packaged_extension(self):
        hold = built("MEMLEAK_TEST_HOLD")
        proc = subprocess.Popen([self.memleak, "run", "--", hold, "500"], env=clean_env(),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            pid = int(re.search(r"ready pid (\d+)", proc.stdout.readline()).group(1))
            maps = read_text("/proc/%d/maps" % pid)
            self.assertIn(os.path.realpath(self.path("lib", "libmemleak.so")), maps)
            core = gcore(pid, os.path.join(self.work, "hold.core"))
        finally:
            proc.stdin.close()
            proc.wait(timeout=60)
            proc.stdout.close()
            proc.stderr.close()
        result = self.run_memleak("core", hold, core, "top", "--json")
        self.assertEqual(result.returncode, 0, result.stderr)
        top = json.loads(result.stdout)
        pages = [g for g in top["groups"]
                 if any(f.get("function") == "page_block" for f in g["stack"])]
        self.assertEqual([(g["count"], g["bytes"]) for g in pages], [(5, 5 * 4096)])
        frame = [f for f in pages[0]["stack"] if f.get("function") == "page_block"][0]
        self.assertEqual(frame["line"], source_line(os.path.join(HERE, "hold.c"), "HOLD_PAGE"))

    def test_auto_load_script_finds_the_packaged_extension(self):
        # gdb looks for <scripts-directory>/<library's real path>-gdb.py; a
        # scripts directory of our own stands in for /usr/share/gdb/auto-load.
        runtime = os.path.realpath(self.path("lib", "libmemleak.so"))
        scripts = os.path.join(self.work, "auto-load")
        shipped = self.path("share", "gdb", "auto-load", "usr", "lib",
                            os.path.basename(runtime) + "-gdb.py")
        target = scripts + runtime + "-gdb.py"
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy(shipped, target)
        hold = built("MEMLEAK_TEST_HOLD")
        env = dict(clean_env(), LD_PRELOAD=runtime)
        proc = subprocess.Popen([hold, "20"], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        try:
            pid = int(re.search(r"ready pid (\d+)", proc.stdout.readline()).group(1))
            result = subprocess.run(
                ["gdb", "-nx", "-batch", "-iex", "set auto-load scripts-directory " + scripts,
                 "-iex", "add-auto-load-safe-path " + scripts, "-p", str(pid),
                 "-ex", "memleak stats --json"],
                env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, timeout=120)
        finally:
            proc.stdin.close()
            proc.wait(timeout=60)
            proc.stdout.close()
        self.assertEqual(result.returncode, 0, result.stderr)
        # gdb's own lines (the detach at exit) may follow the document.
        stats, _ = json.JSONDecoder().raw_decode(result.stdout, result.stdout.index("{"))
        self.assertEqual(stats["format"], "memleak-stats")
        self.assertEqual(stats["pid"], pid)


if __name__ == "__main__":
    unittest.main()
