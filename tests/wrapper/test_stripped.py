"""Stripped programs, as distributions ship them: the debug info in a
separate file found by debuglink, by build-id under /usr/lib/debug (where
-dbg packages put it), or served by a real debuginfod on 127.0.0.1. The
exit report (elfutils) and the gdb reader both give file:line from it."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import unittest

from harness import built, gcore, read_text, source_line, tempdir

HERE = os.path.dirname(os.path.abspath(__file__))
MEMLEAK = os.path.join(HERE, "..", "..", "scripts", "memleak")
SYSTEM_DEBUG_DIR = "/usr/lib/debug/.build-id"


def env_here(**extra):
    """No debuginfod server but the test's own, ever."""
    env = dict(os.environ)
    for name in ("DEBUGINFOD_URLS", "MEMLEAK_DEBUGINFOD", "DEBUGINFOD_CACHE_PATH"):
        env.pop(name, None)
    env.update(extra)
    return env


def tool(name):
    if not shutil.which(name):
        raise unittest.SkipTest("%s is not installed" % name)


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    return re.search(r"Build ID: ([0-9a-f]+)", out).group(1)


def has_debug_info(path):
    out = subprocess.run(["readelf", "-S", "-W", path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, check=True).stdout
    return ".debug_info" in out


def split_debug(source, directory):
    """A copy of `source` stripped as dh_strip does, and its debug info
    apart: (stripped program, debug file)."""
    program = os.path.join(directory, "hold")
    debug = os.path.join(directory, "hold.debug")
    shutil.copy(source, program)
    subprocess.run(["objcopy", "--only-keep-debug", program, debug], check=True)
    subprocess.run(["strip", "--remove-section=.comment", "--remove-section=.note",
                    "--strip-unneeded", program], check=True)
    subprocess.run(["objcopy", "--add-gnu-debuglink=" + debug, program], check=True,
                   cwd=directory)
    return program, debug


def memleak(args, env, **kw):
    return subprocess.run([MEMLEAK] + list(args), env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=300, **kw)


class StrippedProgram(unittest.TestCase):
    """A stripped copy of wrapper_hold and its debug file, in a temporary
    directory; the readers' answers on it."""

    @classmethod
    def setUpClass(cls):
        for name in ("objcopy", "strip", "readelf"):
            tool(name)
        cls.page_line = source_line(os.path.join(HERE, "hold.c"), "HOLD_PAGE")

    def setUp(self):
        self.dir = tempdir(self)
        self.program, self.debug = split_debug(built("MEMLEAK_TEST_HOLD"), self.dir)
        self.assertFalse(has_debug_info(self.program))
        self.assertTrue(has_debug_info(self.debug))

    def exit_report(self, env):
        report = os.path.join(self.dir, "report.txt")
        result = memleak(["run", "--report", report, "--", self.program, "300", "exit"], env)
        self.assertEqual(result.returncode, 0, result.stderr)
        return read_text(report)

    def gdb_top(self, env, core=False):
        """`memleak attach PID top --json` on the stripped program held
        live under the runtime, or `memleak core` on its core."""
        proc = subprocess.Popen([MEMLEAK, "run", "--", self.program, "300"], env=env_here(),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            pid = int(re.search(r"ready pid (\d+)", proc.stdout.readline()).group(1))
            if core:
                path = gcore(pid, os.path.join(self.dir, "hold.core"))
                result = memleak(["core", self.program, path, "top", "--json"], env)
            else:
                result = memleak(["attach", str(pid), "top", "--json"], env)
        finally:
            proc.stdin.close()
            proc.wait(timeout=60)
            proc.stdout.close()
            proc.stderr.close()
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def page_frame(self, top):
        for group in top["groups"]:
            for frame in group["stack"]:
                if frame.get("function") == "page_block":
                    return frame
        return None

    def assert_symbolized(self, report=None, top=None):
        if report is not None:
            self.assertIn("page_block", report)
            self.assertIn("hold.c:%d" % self.page_line, report)
        if top is not None:
            frame = self.page_frame(top)
            self.assertIsNotNone(frame, top)
            self.assertEqual((os.path.basename(frame["file"] or ""), frame["line"]),
                             ("hold.c", self.page_line))

    def assert_not_symbolized(self, report=None, top=None):
        if report is not None:
            self.assertNotIn("hold.c:", report)
        if top is not None:
            self.assertIsNone(self.page_frame(top))


class Stripped(StrippedProgram):
    def hide_debug_file(self):
        os.rename(self.debug, os.path.join(self.dir, "elsewhere.debug"))

    def test_without_its_debug_file_there_is_no_line(self):
        # What the tests below prove is needed: the stripped copy alone.
        self.hide_debug_file()
        self.assert_not_symbolized(report=self.exit_report(env_here()))
        self.assert_not_symbolized(top=self.gdb_top(env_here()))

    def test_debuglink(self):
        # objcopy --add-gnu-debuglink names hold.debug; both readers look
        # next to the program and in its .debug/ directory.
        dot_debug = os.path.join(self.dir, ".debug")
        os.mkdir(dot_debug)
        os.rename(self.debug, os.path.join(dot_debug, "hold.debug"))
        self.assert_symbolized(report=self.exit_report(env_here()))
        self.assert_symbolized(top=self.gdb_top(env_here()))
        self.assert_symbolized(top=self.gdb_top(env_here(), core=True))

    def test_build_id_path_as_dbg_packages_ship(self):
        if not os.access("/usr/lib/debug", os.W_OK) and not os.access("/usr/lib", os.W_OK):
            self.skipTest("/usr/lib/debug is not writable here (install as root to test it)")
        bid = build_id(self.program)
        target = os.path.join(SYSTEM_DEBUG_DIR, bid[:2], bid[2:] + ".debug")
        if os.path.exists(target):
            self.skipTest("%s exists already" % target)
        made = [d for d in ("/usr/lib/debug", SYSTEM_DEBUG_DIR, os.path.dirname(target))
                if not os.path.isdir(d)]
        os.makedirs(os.path.dirname(target), exist_ok=True)

        def remove():
            if os.path.exists(target):
                os.unlink(target)
            for d in reversed(made):
                if os.path.isdir(d) and not os.listdir(d):
                    os.rmdir(d)
        self.addCleanup(remove)
        shutil.copy(self.debug, target)
        # Only the build-id can lead there: the debuglink's file is gone.
        os.unlink(self.debug)
        self.assert_symbolized(report=self.exit_report(env_here()))
        self.assert_symbolized(top=self.gdb_top(env_here()))


class Debuginfod(StrippedProgram):
    """A real debuginfod on 127.0.0.1 serving the debug file, and nothing else."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tool("debuginfod")

    def setUp(self):
        super().setUp()
        served = os.path.join(self.dir, "served")
        os.mkdir(served)
        os.rename(self.debug, os.path.join(served, "hold.debug"))
        # Neither debuglink nor build-id finds it on this machine now.
        self.server, self.url = self.start_server(served)
        self.bid = build_id(self.program)

    def start_server(self, served):
        last = ""
        for _ in range(5):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            log = open(os.path.join(self.dir, "debuginfod.log"), "w")
            proc = subprocess.Popen(["debuginfod", "-F", "-p", str(port), "-t", "0", "-g", "0",
                                     "-d", os.path.join(self.dir, "debuginfod.sqlite"), served],
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env_here())
            log.close()
            url = "http://127.0.0.1:%d" % port
            if self.wait_served(proc, url):
                self.addCleanup(self.stop, proc)
                return proc, url
            self.stop(proc)
            last = read_text(os.path.join(self.dir, "debuginfod.log"))
        raise AssertionError("debuginfod did not serve the debug file:\n" + last[-2000:])

    def wait_served(self, proc, url):
        """True once the server answers for the program's build-id."""
        bid = build_id(self.program)
        deadline = time.monotonic() + 60
        attempt = 0
        while time.monotonic() < deadline and proc.poll() is None:
            # A fresh cache each time: the client remembers a miss for minutes.
            attempt += 1
            cache = os.path.join(self.dir, "probe-cache-%d" % attempt)
            result = subprocess.run(["debuginfod-find", "debuginfo", bid],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    timeout=60,
                                    env=env_here(DEBUGINFOD_URLS=url, DEBUGINFOD_CACHE_PATH=cache))
            if result.returncode == 0:
                return True
            time.sleep(0.5)
        return False

    @staticmethod
    def stop(proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def client_env(self, name, ask):
        return env_here(DEBUGINFOD_URLS=self.url, MEMLEAK_DEBUGINFOD="1" if ask else "0",
                        DEBUGINFOD_CACHE_PATH=os.path.join(self.dir, name + "-cache"))

    def test_exit_report_asks_the_server(self):
        self.assert_symbolized(report=self.exit_report(self.client_env("report", True)))

    def test_exit_report_stays_on_this_machine_unless_asked(self):
        env = self.client_env("report-off", False)
        self.assert_not_symbolized(report=self.exit_report(env))
        self.assertFalse(os.path.exists(env["DEBUGINFOD_CACHE_PATH"]))

    def test_gdb_asks_the_server(self):
        self.assert_symbolized(top=self.gdb_top(self.client_env("gdb", True)))
        self.assert_symbolized(top=self.gdb_top(self.client_env("gdb-core", True), core=True))

    def test_gdb_stays_on_this_machine_unless_asked(self):
        self.assert_not_symbolized(top=self.gdb_top(self.client_env("gdb-off", False)))


if __name__ == "__main__":
    unittest.main()
