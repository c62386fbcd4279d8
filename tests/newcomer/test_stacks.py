"""A newcomer's commands on a real C++ program under the runtime, read by
real gdb the way the README shows: stacks that read like the source, one
suppression verdict at exit, live and on a core, and the exit statuses of
plain gdb -batch."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import ld_preload  # noqa: E402  (tests/ld_preload.py)

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SCRIPT = os.path.join(ROOT, "gdb", "memleak.py")
QUIET = os.path.join(ROOT, "gdb", "quiet.gdb")
SOURCE = os.path.join(HERE, "programs", "stacks.cpp")
BELOW_MAIN = ("_start", "__libc_start_main", "__libc_start_main_impl", "__libc_start_call_main",
              "start_thread", "clone", "clone3")
SVG = "{http://www.w3.org/2000/svg}"


def env(name):
    value = os.environ.get(name)
    if not value:
        raise unittest.SkipTest("%s is not set: run this test through ctest" % name)
    return value


def leak_line(tag):
    with open(SOURCE) as f:
        hits = [n for n, text in enumerate(f, 1) if "// LEAK " + tag in text]
    assert len(hits) == 1, (tag, hits)
    return hits[0]


def start(mode="wait", **extra_env):
    e = dict(os.environ, **extra_env)
    e.update(ld_preload.variables(env("MEMLEAK_LIB"), e))
    return subprocess.Popen([env("MEMLEAK_TEST_STACKS"), mode], env=e, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def gdb(target, *commands):
    """The README's quiet route: gdb -q -batch -ix gdb/quiet.gdb TARGET -x gdb/memleak.py -ex ..."""
    argv = [env("MEMLEAK_GDB"), "-q", "-batch", "-ix", QUIET] + list(target) + ["-x", SCRIPT]
    for c in commands:
        argv += ["-ex", c]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300)


def functions(group):
    return [f["function"] for f in group["stack"]]


class Live(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="memleak newcomer ")
        cls.proc = start()
        line = cls.proc.stdout.readline()
        if not line.startswith("pid "):
            cls.proc.kill()
            raise AssertionError("the program did not start: %r %r" % (line, cls.proc.stderr.read()))
        cls.target = ["-p", str(cls.proc.pid)]
        cls.core = os.path.join(cls.tmp, "stacks.core")
        done = subprocess.run([env("MEMLEAK_GDB"), "-nx", "-batch", "-p", str(cls.proc.pid),
                               "-ex", "gcore " + cls.core], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or not os.path.isfile(cls.core):
            raise AssertionError("gcore failed: " + done.stdout + done.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=30)
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ok(self, *commands, target=None):
        result = gdb(target or self.target, *commands)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result

    def top(self, *options, target=None):
        return json.loads(self.ok("memleak top 50 --json " + " ".join(options),
                                  target=target).stdout)

    def group_with(self, doc, function):
        found = [g for g in doc["groups"] if function in functions(g)]
        self.assertTrue(found, "no group holds %s: %s" % (function, [functions(g) for g in doc["groups"]]))
        return found[0]

    def test_quiet_route_prints_the_answer_alone(self):
        for target in (self.target, [env("MEMLEAK_TEST_STACKS"), self.core]):
            result = self.ok("memleak top 3", target=target)
            self.assertTrue(result.stdout.startswith("memleak top: "), result.stdout[:300])
            self.assertEqual(result.stderr, "")
            self.assertNotIn("[Inferior", result.stdout)

    def test_frames_below_main_and_thread_start_hidden(self):
        for target in (self.target, [env("MEMLEAK_TEST_STACKS"), self.core]):
            doc = self.top(target=target)
            for g in doc["groups"]:
                self.assertFalse(set(functions(g)) & set(BELOW_MAIN), functions(g))
            worker = self.group_with(doc, "app::worker(void*)")
            self.assertEqual(functions(worker), ["app::worker(void*)"])
            self.assertEqual(worker["stack"][0]["line"], leak_line("worker"))
            self.assertEqual(functions(self.group_with(doc, "app::copy_names()"))[-1],
                             "main")

    def test_below_main_shown_when_asked(self):
        doc = self.top("--show-below-main")
        worker = self.group_with(doc, "app::worker(void*)")
        self.assertEqual(functions(worker)[1:], ["start_thread", "clone3"])
        self.assertEqual(functions(self.group_with(doc, "app::copy_names()"))[-1], "_start")

    def test_folded_and_svg_hide_below_main(self):
        folded = self.ok("memleak top --folded").stdout.splitlines()
        self.assertTrue(folded)
        for line in folded:
            self.assertTrue(line.startswith(("main;", "app::worker(void*) ")), line)
        path = os.path.join(self.tmp, "flame.svg")
        self.ok("memleak top --svg '%s'" % path)
        names = {g.get("data-name") for g in ET.parse(path).getroot().iter(SVG + "g")
                 if g.get("class") == "frame"}
        self.assertIn("app::copy_names()", names)
        self.assertFalse(names & set(BELOW_MAIN), names)

    def test_top_n_folded_honours_n(self):
        self.assertEqual(len(self.ok("memleak top 2 --folded").stdout.splitlines()), 2)

    def test_names_read_like_the_source(self):
        doc = self.top()
        strdup = self.group_with(doc, "app::copy_names()")
        self.assertEqual(functions(strdup)[:2], ["strdup", "app::copy_names()"])
        self.assertEqual(strdup["stack"][1]["line"], leak_line("strdup"))
        lam = [f for g in doc["groups"] for f in g["stack"]
               if f["function"] and "{lambda}" in f["function"]]
        self.assertTrue(lam)
        self.assertTrue(lam[0]["function"].startswith("app::fill_with_lambda()::{lambda}::operator()"),
                        lam[0]["function"])
        self.assertEqual(lam[0]["line"], leak_line("lambda"))
        text = self.ok("memleak top 50").stdout
        self.assertIn("std::vector<std::string, std::allocator<std::string>>::push_back", text)
        # Mangled names (libstdc++ has no debug info here) are demangled by
        # the reader's own demangler; the names gdb gives are cleaned here.
        shown = [line.split(" in ", 1)[1] for line in text.splitlines() if " in " in line]
        shown += [n for g in doc["groups"] for n in functions(g)]
        for name in shown:
            if name and not name.startswith("_Z"):
                for stray in ("std::string >", "> >", "__cxx11", "__GI_"):
                    self.assertNotIn(stray, name)

    def test_fold_depth_1_groups_by_the_call_site(self):
        names_line = leak_line("names")
        doc = self.top("--fold", "--depth", "1")
        sites = [g for g in doc["groups"]
                 if g["stack"][-1]["function"] == "app::load_names()"
                 and g["stack"][-1]["line"] == names_line]
        # The 8 strings and the vector's buffer, each under its std:: entry.
        self.assertEqual(sorted(g["count"] for g in sites), [1, 8], sites)
        for g in sites:
            self.assertEqual(len(g["stack"]), 2)
            self.assertTrue(g["stack"][0]["function"].startswith("std::"), g["stack"][0])
            self.assertGreaterEqual(g["stack"][0]["folded"], 1)
        text = self.ok("memleak top 50 --fold --depth 1").stdout
        self.assertNotIn("_M_construct", text)
        self.assertNotIn("_M_realloc_insert", text)

    def test_since_before_start_in_words(self):
        text = self.ok("memleak since 1d").stdout
        self.assertIn("in the last 1d, which reaches back before the process started", text)
        self.assertNotIn("tick", text)

    def test_exit_statuses_of_gdb_batch(self):
        for command, status, words in (
                ("memleak since 5x", 2, "POINT is a sequence number"),
                ("memleak tpo", 2, "did you mean top?"),
                ("memleak since startp", 2, "no mark named startp"),
                ("memleak since 1 --fail-over 1KiB", 23, "over the limit of 1.0 KiB")):
            for target in (self.target, [env("MEMLEAK_TEST_STACKS"), self.core]):
                result = gdb(target, command)
                self.assertEqual(result.returncode, status, (command, result.stderr))
                lines = [l for l in result.stderr.splitlines() if l.strip()]
                self.assertEqual(len(lines), 1, result.stderr)
                self.assertTrue(lines[0].startswith("memleak: "), lines[0])
                self.assertIn(words, lines[0])
        # Not the last command: gdb goes on, as gdb -batch does.
        result = gdb(self.target, "memleak since 5x", "memleak stats")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("live blocks:", result.stdout)


class OneVerdict(unittest.TestCase):
    """One suppressions file through the exit report, live gdb and a core."""

    def test_same_verdict_at_exit_live_and_on_a_core(self):
        tmp = tempfile.mkdtemp(prefix="memleak verdict ")
        self.addCleanup(shutil.rmtree, tmp, True)
        supp = os.path.join(tmp, "app.supp")
        with open(supp, "w") as f:
            # load_names is deeper than --depth 1 keeps; strdup is glibc's
            # __strdup at exit and gdb's __GI___strdup.
            f.write("leak:app::load_names\nleak:strdup\n")
        # 1 vector + 8 strings + the vector's buffer, and 4 strdup copies.
        expected = (24 + sum(101 + i for i in range(8)) + 256 + 4 * 39, 14)

        report = os.path.join(tmp, "report.txt")
        proc = start("exit", MEMLEAK_REPORT=report, MEMLEAK_SUPPRESSIONS=supp)
        proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0)
        with open(report) as f:
            text = f.read()
        # The exit report names frames as gdb does (tests/data/function_names.txt).
        self.assertIn(" in app::fill_with_lambda()::{lambda}::operator() ", text)
        self.assertRegex(text, r" in main .+stacks\.cpp:\d+\n")
        m = re.search(r"Suppressed: (\d+) bytes in (\d+) blocks", text)
        self.assertTrue(m, text)
        self.assertEqual((int(m.group(1)), int(m.group(2))), expected, text)

        proc = start()
        try:
            self.assertTrue(proc.stdout.readline().startswith("pid "))
            core = os.path.join(tmp, "stacks.core")
            subprocess.run([env("MEMLEAK_GDB"), "-nx", "-batch", "-p", str(proc.pid),
                            "-ex", "gcore " + core], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=300, check=True)
            for target in (["-p", str(proc.pid)], [env("MEMLEAK_TEST_STACKS"), core]):
                for depth in ("", "--depth 1", "--fold --depth 1"):
                    result = gdb(target, "memleak top --json --suppressions '%s' %s"
                                 % (supp, depth))
                    self.assertEqual(result.returncode, 0, result.stderr)
                    doc = json.loads(result.stdout)
                    self.assertEqual((doc["suppressed_bytes"], doc["suppressed_count"]),
                                     expected, (target, depth))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            proc.stdout.close()
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
