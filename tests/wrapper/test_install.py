"""`cmake --install` into a temporary prefix: the installed command, runtime and
extension work from there, and gdb auto-loads the commands with the runtime."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import gcore, read_text, required

SERVICE_FROM_PREFIX = os.path.join("libexec", "memleak", "memleak-demo-service")


def clean_env():
    """The environment without the build tree's paths: only the prefix may serve."""
    env = dict(os.environ)
    for name in ("MEMLEAK_LIB", "MEMLEAK_BUILD_DIR", "MEMLEAK_GDB", "LD_PRELOAD"):
        env.pop(name, None)
    return env


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        build = required("MEMLEAK_TEST_BUILD_DIR")
        cls.prefix = tempfile.mkdtemp(prefix="memleak-install-test-")
        result = subprocess.run(["cmake", "--install", build, "--prefix", cls.prefix],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=120)
        if result.returncode != 0:
            raise AssertionError("cmake --install failed:\n" + result.stdout)
        cls.memleak = os.path.join(cls.prefix, "bin", "memleak")
        cls.service_path = os.path.join(cls.prefix, SERVICE_FROM_PREFIX)
        cls.service = subprocess.Popen([cls.memleak, "run", "--", cls.service_path],
                                       env=clean_env(), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = cls.service.stdout.readline()
        if "pid" not in line:
            raise AssertionError("the installed demo service did not start: %r %r"
                                 % (line, cls.service.stderr.read()))
        cls.pid = int(line.split("pid ")[1].split(",")[0])

    @classmethod
    def tearDownClass(cls):
        cls.service.terminate()
        cls.service.wait(timeout=30)
        cls.service.stdout.close()
        cls.service.stderr.close()
        shutil.rmtree(cls.prefix, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.prefix, *parts)

    def gdb(self, *args, safe_path=True):
        argv = ["gdb", "-nx", "-batch"]
        if safe_path:
            argv += ["-iex", "add-auto-load-safe-path " + self.prefix]
        return subprocess.run(argv + list(args), env=clean_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=120)

    def test_layout(self):
        self.assertTrue(os.access(self.path("bin", "memleak"), os.X_OK))
        runtime = self.path("lib", "libmemleak.so")
        self.assertTrue(os.path.isfile(runtime))
        real_name = os.path.basename(os.path.realpath(runtime))
        self.assertTrue(os.path.isfile(self.path("lib", real_name + "-gdb.py")))
        for name in ("memleak.py", "memleak_gdb/__init__.py", "memleak_gdb/gdb_backend.py",
                     "memleak_gdb/flame.py", "memleak_gdb/suppress.py"):
            self.assertTrue(os.path.isfile(self.path("share", "memleak", "gdb", name)), name)
        self.assertFalse(os.path.exists(self.path("share", "memleak", "gdb", "memleak_gdb",
                                                  "__pycache__")))
        # The command is a thin entry over its package, installed apart from bin/.
        for name in ("main.py", "args.py", "targets.py", "commands.py", "output.py"):
            self.assertTrue(os.path.isfile(self.path("share", "memleak", "cli", "memleak_cli",
                                                     name)), name)
        self.assertEqual(sorted(os.listdir(self.path("bin"))), ["memleak"])

    def test_installed_extension_finds_its_scanner(self):
        # scan.py looks next to the extension, where the install puts it.
        gdb_dir = self.path("share", "memleak", "gdb")
        env = dict(clean_env(), PYTHONDONTWRITEBYTECODE="1")
        env.pop("MEMLEAK_SCAN_LIB", None)
        env.pop("MEMLEAK_BUILD_DIR", None)
        probe = ("import sys; sys.path.insert(0, sys.argv[1]); from memleak_gdb import scan; "
                 "s = scan.load(); print(s.path); print(s.classify([(4096, 16)], [], []).kind(0))")
        out = subprocess.run([sys.executable, "-c", probe, gdb_dir], env=env, check=True,
                             stdout=subprocess.PIPE, text=True).stdout.split()
        self.assertEqual(out, [os.path.join(gdb_dir, "libmemleak-scan.so"), "definitely_lost"])

    def test_headers_compile(self):
        programs = {
            "abi": "#include <memleak/abi.h>\n"
                   "int main(void) { return sizeof(memleak_introspect) != 416; }\n",
            "api": "#include <memleak/memleak.h>\n"
                   "int main(void) { return memleak_try_mark(\"x\") != 0; }\n",
        }
        for name, text in programs.items():
            source = self.path(name + ".c")
            with open(source, "w") as f:
                f.write(text)
            exe = self.path(name)
            subprocess.run(["cc", "-Wall", "-Werror", "-I", self.path("include"), source, "-o", exe],
                           check=True)
            self.assertEqual(subprocess.run([exe]).returncode, 0, name)

    def test_installed_command_uses_the_installed_runtime(self):
        maps = read_text("/proc/%d/maps" % self.pid)
        self.assertIn(os.path.realpath(self.path("lib", "libmemleak.so")), maps)
        result = subprocess.run([self.memleak, "attach", str(self.pid), "top", "--json"],
                                env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        top = json.loads(result.stdout)
        self.assertEqual(top["pid"], self.pid)
        self.assertGreater(top["total_bytes"], 0)

    def test_gdb_auto_loads_the_commands_with_the_runtime(self):
        result = self.gdb("-p", str(self.pid), "-ex", "memleak top 3")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("memleak top: ", result.stdout)
        self.assertIn("bufpool_acquire", result.stdout)
        self.assertNotIn("Traceback", result.stderr)

    def test_without_the_safe_path_gdb_declines(self):
        result = self.gdb("-p", str(self.pid), "-ex", "memleak top 3", safe_path=False)
        self.assertNotIn("memleak top: ", result.stdout)
        self.assertIn("auto-loading has been declined", result.stderr)
        self.assertIn('Undefined command: "memleak"', result.stderr)

    def test_gdb_auto_loads_the_commands_for_a_core(self):
        core = gcore(self.pid, self.path("service.core"))
        time.sleep(0.1)
        result = self.gdb(self.service_path, core, "-ex", "memleak stats --json")
        self.assertEqual(result.returncode, 0, result.stderr)
        stats = json.loads(result.stdout[result.stdout.index("{"):])
        self.assertEqual(stats["format"], "memleak-stats")
        os.unlink(core)


if __name__ == "__main__":
    unittest.main()
