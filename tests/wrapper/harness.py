"""Shared helpers of the memleak command's end-to-end tests.

ctest passes the built paths in the environment (see CMakeLists.txt);
every helper runs the real command, real gdb, real processes.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
WRAPPER = os.path.join(ROOT, "scripts", "memleak")
SERVICE_SOURCE = os.path.join(ROOT, "examples", "demo_service")


def required(name):
    value = os.environ.get(name)
    if not value:
        raise unittest.SkipTest("%s is not set: run this test through ctest" % name)
    return value


def built(name):
    path = required(name)
    if not os.path.exists(path):
        raise AssertionError("%s=%s does not exist: build the project first" % (name, path))
    return path


def run(args, env=None, timeout=120, **kwargs):
    """Runs the memleak command; returns the CompletedProcess (text)."""
    return subprocess.run([WRAPPER] + list(args), env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, **kwargs)


def read_text(path):
    with open(path, errors="replace") as handle:
        return handle.read()


def source_line(path, needle):
    """The 1-based line of `path` holding `needle` (there must be exactly one)."""
    with open(path) as handle:
        hits = [n for n, text in enumerate(handle, start=1) if needle in text]
    if len(hits) != 1:
        raise AssertionError("%r is on lines %s of %s" % (needle, hits, path))
    return hits[0]


class Service:
    """The demo service under `memleak run`, stopped with SIGTERM to the wrapper."""

    def __init__(self, *service_args, program=None):
        self.args = service_args
        self.program = program
        self.wrapper = None
        self.pid = None

    def __enter__(self):
        service = self.program or built("MEMLEAK_TEST_SERVICE")
        self.wrapper = subprocess.Popen([WRAPPER, "run", "--", service] + list(self.args),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        line = self.wrapper.stdout.readline()
        match = re.search(r"pid (\d+)", line)
        if not match:
            self.wrapper.kill()
            raise AssertionError("the demo service did not start: %r %r"
                                 % (line, self.wrapper.stderr.read()))
        self.pid = int(match.group(1))
        return self

    def stop(self):
        """SIGTERM to the wrapper (forwarded to the service); the wrapper's status."""
        if self.wrapper.poll() is None:
            self.wrapper.send_signal(signal.SIGTERM)
        try:
            self.wrapper.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.wrapper.kill()
            os.kill(self.pid, signal.SIGKILL)
            raise
        self.wrapper.stdout.close()
        self.wrapper.stderr.close()
        return self.wrapper.returncode

    def __exit__(self, *exc):
        if self.wrapper.poll() is None:
            self.stop()


def gcore(pid, path):
    """Dumps a core of the live process `pid` to `path` with gdb."""
    result = subprocess.run(["gdb", "-nx", "-batch", "-p", str(pid), "-ex", "gcore " + path],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=120)
    if result.returncode != 0 or not os.path.isfile(path):
        raise AssertionError("gcore failed: %s" % result.stdout[-2000:])
    return path


def start_plain(*args):
    """A program without the runtime; returns the Popen once it is running."""
    proc = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    proc.stdout.readline()
    return proc


class WrapperTest(unittest.TestCase):
    def assert_one_error_line(self, result, *fragments):
        """Exit status 2 and exactly one `memleak:` line on stderr containing each fragment."""
        self.assertEqual(result.returncode, 2, (result.stdout, result.stderr))
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("memleak: "), lines[0])
        for fragment in fragments:
            self.assertIn(fragment, lines[0])
        self.assertNotIn("Traceback", result.stderr)

    def frames_of(self, top_json, function_part):
        """Stacks of the groups holding a frame whose function contains `function_part`."""
        return [g for g in top_json["groups"]
                if any(f.get("function") and function_part in f["function"] for f in g["stack"])]


def tempdir(test):
    path = tempfile.mkdtemp(prefix="memleak-wrapper-test-")
    test.addCleanup(shutil.rmtree, path, True)
    return path
