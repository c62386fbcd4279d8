"""Exit report and memleak_report() checked against the test programs' marks.

Each test program marks its leaking lines with a comment
`LEAK: name bytes=B blocks=N [kind=KIND] [frame=any] [inlined_into=CALLER]`;
callers of inlined helpers are marked `CALL: CALLER`. The tests run the
programs with libmemleak.so preloaded and look for each mark's file:line in
the report, with its byte and block counts and, where marked, the class the
exit scan gives its blocks. No expected output is stored anywhere else.

Most programs keep their blocks in globals: still reachable at exit, which
the report lists only with MEMLEAK_REPORT_REACHABLE=1 (the tests of what
stacks, lines and counts look like ask for that); report_lost.c builds
blocks of every class.

Environment: MEMLEAK_LIB (libmemleak.so), REPORT_BIN_DIR (the built test
programs; their sources sit next to this file).
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
LIB = os.environ.get("MEMLEAK_LIB", "")
BIN_DIR = os.environ.get("REPORT_BIN_DIR", "")

MARK_RE = re.compile(r"LEAK:\s*(\w+)\s+bytes=(\d+)\s+blocks=(\d+)((?:\s+\w+=\w+)*)")
CALL_RE = re.compile(r"CALL:\s*(\w+)")
HEADER_RE = re.compile(
    r"^==(\d+)== memleak: (\d+) live blocks? \(([^)]*)\) (at exit|now), in (\d+) stacks?$")
# At exit, classified; the stack count comes before the still-reachable
# part when only lost stacks are listed, after it when all are.
CLASSIFIED_HEADER_RE = re.compile(
    r"^==(\d+)== memleak: (\d+) live blocks? \(([^)]*)\) (at exit): (\d+) lost \(([^)]*)\)"
    r"(?: in (\d+) stacks?)?, (\d+) still reachable \(([^)]*)\)(?:, in (\d+) stacks?)?$")
KINDS = ("definitely lost", "indirectly lost", "possibly lost", "still reachable")
GROUP_RE = re.compile(r"^(\d+) bytes in (\d+) block\(s\)(?: (%s),)? allocated from:$" % "|".join(KINDS))
FRAME_RE = re.compile(r"^    #(\d+) 0x([0-9a-f]+)(?: in (.*))?$")
MORE_FRAMES_RE = re.compile(r"^    \.\.\. (\d+) more frames? \(MEMLEAK_REPORT_FRAMES=(\d+)\)$")
OMITTED_RE = re.compile(
    r"^\.\.\. (\d+) more stacks? \((\d+) bytes in (\d+) blocks\) not shown "
    r"\(MEMLEAK_REPORT_GROUPS=(\d+)\)$")
SUPPRESSED_RE = re.compile(r"^Suppressed: (\d+) bytes in (\d+) blocks \(by (\d+) patterns?\)$")
SUMMARY_RE = re.compile(r"^SUMMARY: memleak: (\d+) bytes in (\d+) blocks$")
CLASSIFIED_SUMMARY_RE = re.compile(
    r"^SUMMARY: memleak: (\d+) bytes lost in (\d+) blocks \(definitely (\d+) in (\d+), "
    r"indirectly (\d+) in (\d+), possibly (\d+) in (\d+)\); (\d+) bytes still reachable in (\d+) blocks$")
SCAN_RE = re.compile(r"^memleak: exit scan: checked (\d+) bytes in (\d+) us \((\d+) us on the CPU\); "
                     r"(\d+) other threads? stopped for it$")
STILL_REACHABLE_RE = re.compile(
    r"^Still reachable: (\d+) bytes in (\d+) blocks, in (\d+) stacks? \(MEMLEAK_REPORT_REACHABLE=1 lists them\)$")


class Mark:
    def __init__(self, name, path, line, nbytes, blocks, opts):
        self.name, self.path, self.line = name, path, line
        self.bytes, self.blocks, self.opts = nbytes, blocks, opts

    def __repr__(self):
        return "%s (%s:%d)" % (self.name, os.path.basename(self.path), self.line)


def read_marks(source):
    """Returns ({name: Mark}, {caller: line}) from a test program's source."""
    path = os.path.join(HERE, source)
    marks, calls = {}, {}
    with open(path) as f:
        for lineno, text in enumerate(f, 1):
            m = MARK_RE.search(text)
            if m:
                opts = dict(kv.split("=") for kv in m.group(4).split())
                marks[m.group(1)] = Mark(m.group(1), path, lineno, int(m.group(2)),
                                         int(m.group(3)), opts)
            c = CALL_RE.search(text)
            if c:
                calls[c.group(1)] = lineno
    return marks, calls


class Frame:
    def __init__(self, index, pc, rest):
        self.index, self.pc = index, int(pc, 16)
        self.inlined = False
        self.function = self.file = self.line = None
        if rest is None:
            return
        if rest.endswith(" (inlined)"):
            self.inlined = True
            rest = rest[:-len(" (inlined)")]
        # An absolute or ./-relative file may hold spaces (a checkout under
        # "a b/"); a function name holds none before a slash.
        m = re.match(r"^(.*?) ((?:/|\.{1,2}/).*):(\d+)$", rest) or re.match(r"^(.*) (\S+):(\d+)$", rest)
        if m:
            self.function, self.file, self.line = m.group(1), m.group(2), int(m.group(3))
        else:
            self.function = rest

    def at(self, path, line):
        return (self.file is not None and self.line == line
                and os.path.realpath(self.file) == os.path.realpath(path))


class Report:
    """A parsed report; parsing fails loudly on any line it does not know."""

    def __init__(self, text):
        self.text = text
        self.header = None  # (pid, blocks, size text, when, listed stacks)
        self.groups = []  # (bytes, blocks, [Frame], more_frames, kind or None)
        self.omitted = self.suppressed = self.summary = None
        # Classified reports: lost and still-reachable (bytes, blocks), the
        # SUMMARY's (bytes, blocks) per kind, the "Still reachable:" line.
        self.lost = self.reachable = self.still_reachable = self.scan = None
        self.kinds = {}
        self.notes = []
        lines = text.splitlines()
        for line in lines:
            if not line:
                continue
            m = HEADER_RE.match(line)
            if m:
                assert self.header is None, "two headers:\n" + text
                self.header = m.groups()
                continue
            m = CLASSIFIED_HEADER_RE.match(line)
            if m:
                assert self.header is None, "two headers:\n" + text
                g = m.groups()
                self.header = (g[0], g[1], g[2], g[3], g[6] if g[6] is not None else g[9])
                self.header_lost_blocks, self.header_reachable_blocks = int(g[4]), int(g[7])
                continue
            m = GROUP_RE.match(line)
            if m:
                self.groups.append([int(m.group(1)), int(m.group(2)), [], 0, m.group(3)])
                continue
            m = FRAME_RE.match(line)
            if m and self.groups:
                self.groups[-1][2].append(Frame(int(m.group(1)), m.group(2), m.group(3)))
                continue
            m = MORE_FRAMES_RE.match(line)
            if m and self.groups:
                self.groups[-1][3] = int(m.group(1))
                continue
            m = OMITTED_RE.match(line)
            if m:
                self.omitted = tuple(int(x) for x in m.groups())
                continue
            m = SUPPRESSED_RE.match(line)
            if m:
                self.suppressed = tuple(int(x) for x in m.groups())
                continue
            m = SUMMARY_RE.match(line)
            if m:
                self.summary = (int(m.group(1)), int(m.group(2)))
                continue
            m = CLASSIFIED_SUMMARY_RE.match(line)
            if m:
                v = [int(x) for x in m.groups()]
                self.lost, self.reachable = (v[0], v[1]), (v[8], v[9])
                self.kinds = {"definitely lost": (v[2], v[3]), "indirectly lost": (v[4], v[5]),
                              "possibly lost": (v[6], v[7]), "still reachable": (v[8], v[9])}
                self.summary = (v[0] + v[8], v[1] + v[9])
                continue
            m = SCAN_RE.match(line)
            if m:
                self.scan = tuple(int(x) for x in m.groups())
                continue
            m = STILL_REACHABLE_RE.match(line)
            if m:
                self.still_reachable = tuple(int(x) for x in m.groups())
                continue
            if line.startswith("memleak: ") or line.startswith("    ..."):
                self.notes.append(line)
                continue
            raise AssertionError("unexpected report line %r in:\n%s" % (line, text))
        if lines:
            assert SUMMARY_RE.match(lines[-1]) or CLASSIFIED_SUMMARY_RE.match(lines[-1]), \
                "report does not end with SUMMARY:\n" + text

    def groups_at(self, mark):
        return [g for g in self.groups if any(f.at(mark.path, mark.line) for f in g[2])]


def program(name):
    return os.path.join(BIN_DIR, name)


def run(args, env=None, preload=True, timeout=120):
    full = dict(os.environ)
    for key in list(full):
        if key.startswith("MEMLEAK_") and key != "MEMLEAK_LIB":
            del full[key]
    if preload:
        full.update(ld_preload.variables(LIB, full))
    full.update(env or {})
    return subprocess.run(args, env=full, capture_output=True, timeout=timeout)


class ReportCase(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not os.path.isfile(LIB):
            raise unittest.SkipTest("MEMLEAK_LIB=%r is not a file" % LIB)
        cls.tmp = tempfile.TemporaryDirectory(prefix="memleak-report-")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def report_of(self, prog, env=None, args=(), expect_rc=0):
        """Runs `prog` with MEMLEAK_REPORT=<dir>/NAME.%p, listing still-reachable
        blocks too unless `env` says otherwise; returns (Report, result)."""
        pattern = os.path.join(self.tmp.name, "%s.%%p" % self.id().rsplit(".", 1)[-1])
        full_env = {"MEMLEAK_REPORT": pattern, "MEMLEAK_REPORT_REACHABLE": "1"}
        full_env.update(env or {})
        res = run([program(prog)] + list(args), env=full_env)
        self.assertEqual(res.returncode, expect_rc, res.stderr.decode(errors="replace"))
        pid = res_pid(self, pattern)
        path = pattern.replace("%p", str(pid))
        with open(path) as f:
            text = f.read()
        os.unlink(path)
        report = Report(text)
        if report.header is not None:
            self.assertEqual(int(report.header[0]), pid, "%p is the pid in the header")
        return report, res

    def check_mark(self, report, mark, calls=None):
        groups = report.groups_at(mark)
        self.assertEqual(len(groups), 1, "%r: expected one stack through it in:\n%s" % (mark, report.text))
        nbytes, blocks, frames, _, kind = groups[0]
        self.assertEqual((nbytes, blocks), (mark.bytes, mark.blocks), "%r in:\n%s" % (mark, report.text))
        if "kind" in mark.opts:
            self.assertEqual(kind, mark.opts["kind"].replace("_", " "), "%r in:\n%s" % (mark, report.text))
        if mark.opts.get("frame") != "any":
            self.assertTrue(frames[0].at(mark.path, mark.line),
                            "%r: frame #0 is not the marked line:\n%s" % (mark, report.text))
        if "inlined_into" in mark.opts:
            self.assertTrue(frames[0].inlined, "%r: frame #0 not marked inlined" % mark)
            caller = calls[mark.opts["inlined_into"]]
            self.assertTrue(frames[1].at(mark.path, caller),
                            "%r: frame #1 is not the call site line %d:\n%s" % (mark, caller, report.text))
            self.assertEqual(frames[1].pc, frames[0].pc)
            self.assertFalse(frames[1].inlined)
            self.assertEqual(frames[1].function.split("(")[0], mark.opts["inlined_into"])
        for i, f in enumerate(frames):
            self.assertEqual(f.index, i)


def res_pid(case, pattern):
    """The pid the runtime put in place of %p: the only file matching."""
    prefix = os.path.basename(pattern).split("%p")[0]
    found = [n for n in os.listdir(os.path.dirname(pattern))
             if n.startswith(prefix) and n[len(prefix):].isdigit()]
    case.assertEqual(len(found), 1, "report files: %r" % found)
    return int(found[0][len(prefix):])


class LeaksTests(ReportCase):
    """The C program: malloc, calloc, realloc, strdup, a loop."""

    def test_every_mark_is_reported_with_its_counts(self):
        marks, _ = read_marks("report_leaks.c")
        report, res = self.report_of("report_leaks")
        for mark in marks.values():
            self.check_mark(report, mark)
        self.assertEqual(len(report.groups), len(marks), report.text)

    def test_totals_are_exactly_the_marked_leaks(self):
        marks, _ = read_marks("report_leaks.c")
        report, res = self.report_of("report_leaks")
        total = sum(m.bytes for m in marks.values())
        blocks = sum(m.blocks for m in marks.values())
        self.assertEqual(report.summary, (total, blocks), report.text)
        pid, nblocks, _, when, nstacks = report.header
        self.assertEqual((int(nblocks), when, int(nstacks)), (blocks, "at exit", len(marks)))
        sizes = [g[0] for g in report.groups]
        self.assertEqual(sizes, sorted(sizes, reverse=True), "largest first")
        self.assertIsNone(report.suppressed)
        self.assertIsNone(report.omitted)

    def test_program_output_unchanged(self):
        plain = run([program("report_leaks")], preload=False)
        report_env = {"MEMLEAK_REPORT": os.path.join(self.tmp.name, "unchanged")}
        traced = run([program("report_leaks")], env=report_env)
        self.assertEqual((traced.returncode, traced.stdout, traced.stderr),
                         (plain.returncode, plain.stdout, plain.stderr))

    def test_unwritable_report_path(self):
        bad = os.path.join(self.tmp.name, "no-such-dir", "report")
        res = run([program("report_leaks")], env={"MEMLEAK_REPORT": bad})
        self.assertEqual((res.returncode, res.stdout), (0, b"report_leaks done\n"))
        self.assertEqual(res.stderr.decode(),
                         "memleak: MEMLEAK_REPORT=%s: No such file or directory\n" % bad)

    def test_report_to_stderr(self):
        res = run([program("report_leaks")], env={"MEMLEAK_REPORT": "stderr", "MEMLEAK_REPORT_REACHABLE": "1"})
        self.assertEqual(res.returncode, 0)
        report = Report(res.stderr.decode())
        marks, _ = read_marks("report_leaks.c")
        self.assertEqual(report.summary[0], sum(m.bytes for m in marks.values()))
        self.assertEqual(res.stdout, b"report_leaks done\n")


class CxxLeaksTests(ReportCase):
    """The C++ program: new, new[], vector growth, an inlined helper."""

    def test_every_mark_is_reported_with_its_counts(self):
        marks, calls = read_marks("report_leaks_cpp.cpp")
        report, _ = self.report_of("report_leaks_cpp")
        for mark in marks.values():
            self.check_mark(report, mark, calls)
        self.assertEqual(report.summary, (sum(m.bytes for m in marks.values()),
                                          sum(m.blocks for m in marks.values())), report.text)

    def test_frame0_is_the_new_expression_not_operator_new(self):
        report, _ = self.report_of("report_leaks_cpp")
        for _, _, frames, _, _ in report.groups:
            self.assertNotIn("operator new", frames[0].function or "", report.text)

    def test_names_are_demangled(self):
        marks, _ = read_marks("report_leaks_cpp.cpp")
        report, _ = self.report_of("report_leaks_cpp")
        frames = report.groups_at(marks["new"])[0][2]
        self.assertEqual(frames[0].function, "leak_new()")
        growth = report.groups_at(marks["vector_growth"])[0][2]
        # Written as users write it (runtime/report/names.cpp): no "> >".
        self.assertTrue(any(f.function and f.function.startswith("std::vector<int, std::allocator<int>>::")
                            for f in growth), report.text)


class ClangTests(ReportCase):
    """The same programs built by clang at -O0 and -O2. clang writes no
    .debug_aranges, the table elfutils maps addresses to compile units
    with, so the report must find each frame's unit by its own ranges."""

    BUILDS = ("clang_O0", "clang_O2")

    def setUp(self):
        missing = [p for p in ("report_leaks_" + b for b in self.BUILDS)
                   if not os.path.isfile(program(p))]
        if missing:
            self.skipTest("clang is not installed: %s not built" % ", ".join(missing))

    def test_every_mark_is_reported_with_its_counts(self):
        for source, base in (("report_leaks.c", "report_leaks"),
                             ("report_leaks_cpp.cpp", "report_leaks_cpp")):
            marks, calls = read_marks(source)
            for build in self.BUILDS:
                with self.subTest(program=base + "_" + build):
                    report, _ = self.report_of(base + "_" + build)
                    for mark in marks.values():
                        self.check_mark(report, mark, calls)
                    self.assertEqual(report.summary, (sum(m.bytes for m in marks.values()),
                                                      sum(m.blocks for m in marks.values())))

    def test_file_suppression_gives_gcc_s_verdict(self):
        marks, _ = read_marks("report_leaks.c")
        total, blocks = sum(m.bytes for m in marks.values()), sum(m.blocks for m in marks.values())
        supp = os.path.join(self.tmp.name, "by-file.supp")
        with open(supp, "w") as f:
            f.write("leak:report_leaks.c\n")
        env = {"MEMLEAK_SUPPRESSIONS": supp, "MEMLEAK_EXITCODE": "23"}
        for prog in ("report_leaks",) + tuple("report_leaks_" + b for b in self.BUILDS):
            with self.subTest(program=prog):
                report, _ = self.report_of(prog, env=env, expect_rc=0)
                self.assertEqual(report.suppressed, (total, blocks, 1), report.text)
                self.assertEqual(report.summary, (0, 0), report.text)


class CleanTests(ReportCase):
    """Clean programs: no report, same output, same exit status."""

    def check_clean(self, prog):
        plain = run([program(prog)], preload=False)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        path = os.path.join(self.tmp.name, prog + ".report")
        for env in ({"MEMLEAK_REPORT": path}, {"MEMLEAK_REPORT": "stderr"},
                    {"MEMLEAK_REPORT": path, "MEMLEAK_EXITCODE": "23"}):
            traced = run([program(prog)], env=env)
            self.assertEqual((traced.returncode, traced.stdout, traced.stderr),
                             (plain.returncode, plain.stdout, plain.stderr), env)
            if env["MEMLEAK_REPORT"] == path:
                with open(path) as f:
                    self.assertEqual(f.read(), "")

    def test_clean_c(self):
        self.check_clean("report_clean")

    def test_clean_cxx(self):
        self.check_clean("report_clean_cpp")


class ExitCodeTests(ReportCase):
    """MEMLEAK_EXITCODE counts lost blocks only."""

    def test_leaky_program_exits_with_the_code(self):
        res = run([program("report_lost")], env={"MEMLEAK_EXITCODE": "23"})
        self.assertEqual(res.returncode, 23)
        self.assertEqual(res.stdout, b"report_lost done\n")
        # Without MEMLEAK_REPORT the reason goes to stderr.
        report = Report(res.stderr.decode())
        marks, _ = read_marks("report_lost.c")
        self.assertEqual(report.lost[0], sum(m.bytes for m in marks.values()
                                             if m.opts["kind"] != "still_reachable"))

    def test_program_that_keeps_its_caches_passes(self):
        for prog in ("report_leaks", "report_leaks_cpp"):
            res = run([program(prog)], env={"MEMLEAK_EXITCODE": "23"})
            self.assertEqual((res.returncode, res.stderr), (0, b""), prog)
            report, _ = self.report_of(prog, env={"MEMLEAK_EXITCODE": "23"})
            self.assertEqual(report.lost, (0, 0), report.text)
            self.assertGreater(report.reachable[1], 0, report.text)

    def test_code_after_writing_the_report_file(self):
        report, res = self.report_of("report_lost", env={"MEMLEAK_EXITCODE": "23"}, expect_rc=23)
        self.assertIsNotNone(report.summary)
        self.assertEqual(res.stderr, b"")

    def test_clean_programs_exit_zero(self):
        for prog in ("report_clean", "report_clean_cpp"):
            res = run([program(prog)], env={"MEMLEAK_EXITCODE": "23"})
            self.assertEqual((res.returncode, res.stderr), (0, b""), prog)

    def test_zero_means_off(self):
        res = run([program("report_leaks")], env={"MEMLEAK_EXITCODE": "0"})
        self.assertEqual((res.returncode, res.stderr), (0, b""))

    def test_fully_suppressed_leaks_exit_zero(self):
        supp = os.path.join(self.tmp.name, "all.supp")
        with open(supp, "w") as f:
            f.write("leak:report_lost.c\n")
        report, _ = self.report_of("report_lost", env={"MEMLEAK_EXITCODE": "23",
                                                       "MEMLEAK_SUPPRESSIONS": supp})
        self.assertEqual(report.summary, (0, 0), report.text)
        self.assertEqual(report.suppressed[:2], (1044, 7), report.text)


class KindsTests(ReportCase):
    """The exit scan's classes, on blocks built to fall in each."""

    def lost_marks(self):
        marks, _ = read_marks("report_lost.c")
        return marks, [m for m in marks.values() if m.opts["kind"] != "still_reachable"]

    def test_lost_blocks_listed_reachable_summed_up(self):
        marks, lost = self.lost_marks()
        report, _ = self.report_of("report_lost", env={"MEMLEAK_REPORT_REACHABLE": "0"})
        for mark in lost:
            self.check_mark(report, mark)
        self.assertEqual(report.groups_at(marks["kept"]), [])
        self.assertEqual(len(report.groups), len(lost), report.text)
        kinds = [g[4] for g in report.groups]
        self.assertEqual(kinds, sorted(kinds, key=KINDS.index), "definitely, indirectly, then possibly lost")
        self.assertEqual(report.still_reachable, (500, 1, 1), report.text)
        self.assertEqual(report.lost, (sum(m.bytes for m in lost), sum(m.blocks for m in lost)))
        self.assertEqual(report.kinds["definitely lost"], (48 + 192, 4))
        self.assertEqual(report.kinds["indirectly lost"], (48, 1))
        self.assertEqual(report.kinds["possibly lost"], (256, 1))
        self.assertEqual(report.reachable, (500, 1))
        pid, nblocks, _, when, nstacks = report.header
        self.assertEqual((int(nblocks), when, int(nstacks)), (7, "at exit", len(lost)))
        self.assertEqual((report.header_lost_blocks, report.header_reachable_blocks), (6, 1))
        checked, _, _, stopped = report.scan
        self.assertGreaterEqual(checked, 500, "the kept block was read")
        self.assertEqual(stopped, 0)

    def test_reachable_listed_on_request(self):
        marks, lost = self.lost_marks()
        report, _ = self.report_of("report_lost")
        for mark in marks.values():
            self.check_mark(report, mark)
        self.assertIsNone(report.still_reachable)
        self.assertEqual(report.groups[-1][4], "still reachable")
        self.assertEqual(int(report.header[4]), len(marks))

    def test_nothing_lost_is_silent(self):
        for env in ({}, {"MEMLEAK_EXITCODE": "23"}):
            path = os.path.join(self.tmp.name, "quiet")
            res = run([program("report_leaks")], env=dict(env, MEMLEAK_REPORT=path))
            self.assertEqual((res.returncode, res.stderr), (0, b""))
            with open(path) as f:
                self.assertEqual(f.read(), "")
            os.unlink(path)


class CapTests(ReportCase):
    """30 leaking stacks: 20 shown, 10 summed up."""

    def test_twenty_largest_shown_rest_counted(self):
        marks, _ = read_marks("report_cap.c")
        self.assertEqual(len(marks), 30)
        report, _ = self.report_of("report_cap")
        by_size = sorted(marks.values(), key=lambda m: m.bytes, reverse=True)
        shown, hidden = by_size[:20], by_size[20:]
        self.assertEqual(len(report.groups), 20, report.text)
        for mark, group in zip(shown, report.groups):
            self.assertTrue(group[2][0].at(mark.path, mark.line), "%r:\n%s" % (mark, report.text))
            self.assertEqual((group[0], group[1]), (mark.bytes, 1))
        self.assertEqual(report.omitted, (10, sum(m.bytes for m in hidden), 10, 20))
        self.assertEqual(report.summary, (sum(m.bytes for m in by_size), 30))
        self.assertEqual(int(report.header[4]), 30)

    def test_groups_option(self):
        marks, _ = read_marks("report_cap.c")
        report, _ = self.report_of("report_cap", env={"MEMLEAK_REPORT_GROUPS": "5"})
        hidden = sorted(m.bytes for m in marks.values())[:25]
        self.assertEqual(len(report.groups), 5)
        self.assertEqual(report.omitted, (25, sum(hidden), 25, 5))


class FramesTests(ReportCase):

    def test_frames_option_caps_each_stack(self):
        marks, _ = read_marks("report_leaks.c")
        full, _ = self.report_of("report_leaks")
        capped, _ = self.report_of("report_leaks", env={"MEMLEAK_REPORT_FRAMES": "1"})
        self.assertEqual(len(capped.groups), len(full.groups))
        for (fb, fn, fframes, _, _), (cb, cn, cframes, more, _) in zip(full.groups, capped.groups):
            self.assertEqual((fb, fn), (cb, cn))
            self.assertEqual(len(cframes), 1)
            self.assertEqual(more, len(fframes) - 1, capped.text)
            self.assertEqual((cframes[0].file, cframes[0].line), (fframes[0].file, fframes[0].line))


class SuppressionsTests(ReportCase):

    def supp_file(self, text):
        path = os.path.join(self.tmp.name, "%s.supp" % self.id().rsplit(".", 1)[-1])
        with open(path, "w") as f:
            f.write(text)
        return path

    def totals(self):
        marks, _ = read_marks("report_leaks.c")
        return marks, sum(m.bytes for m in marks.values()), sum(m.blocks for m in marks.values())

    def test_matched_by_function_and_wildcard(self):
        marks, total, blocks = self.totals()
        supp = self.supp_file("# comment\n\nleak:^leak_calloc$\n   leak:str*up  \n")
        report, _ = self.report_of("report_leaks", env={"MEMLEAK_SUPPRESSIONS": supp})
        gone = marks["calloc"].bytes + marks["strdup"].bytes
        self.assertEqual(report.suppressed, (gone, 2, 2), report.text)
        self.assertEqual(report.summary, (total - gone, blocks - 2))
        self.assertEqual(report.groups_at(marks["calloc"]), [])
        self.assertEqual(report.groups_at(marks["strdup"]), [])
        self.check_mark(report, marks["malloc"])
        self.assertEqual(report.notes, [])

    def test_matched_by_file_path(self):
        marks, total, blocks = self.totals()
        supp = self.supp_file("leak:tests/preload/report_leaks.c$\n")
        report, _ = self.report_of("report_leaks", env={"MEMLEAK_SUPPRESSIONS": supp})
        self.assertEqual(report.suppressed, (total, blocks, 1))
        self.assertEqual(report.summary, (0, 0))
        self.assertEqual(report.groups, [])

    def test_matched_by_object_path(self):
        marks, total, blocks = self.totals()
        supp = self.supp_file("leak:*/report_leaks\n")
        report, _ = self.report_of("report_leaks", env={"MEMLEAK_SUPPRESSIONS": supp})
        self.assertEqual(report.suppressed, (total, blocks, 1))

    def test_unmatched(self):
        marks, total, blocks = self.totals()
        supp = self.supp_file("leak:no_such_function_anywhere\nleak:^eak_malloc\n")
        report, _ = self.report_of("report_leaks", env={"MEMLEAK_SUPPRESSIONS": supp})
        self.assertIsNone(report.suppressed)
        self.assertEqual(report.summary, (total, blocks))

    def check_malformed(self, supp, expected):
        marks, total, blocks = self.totals()
        report, _ = self.report_of("report_leaks", env={"MEMLEAK_SUPPRESSIONS": supp})
        self.assertEqual(len(report.notes), 1, report.text)
        self.assertRegex(report.notes[0], "^memleak: MEMLEAK_SUPPRESSIONS=%s: %s" % (re.escape(supp), expected))
        self.assertIsNone(report.suppressed)
        self.assertEqual(report.summary, (total, blocks))

    def test_unknown_prefix(self):
        self.check_malformed(self.supp_file("leak:leak_calloc\nrace:foo\n"), "line 2: .*race:foo")

    def test_empty_pattern(self):
        self.check_malformed(self.supp_file("# x\nleak:   \n"), "line 2: empty pattern")

    def test_unreadable(self):
        self.check_malformed(os.path.join(self.tmp.name, "missing.supp"), "cannot read: No such file")


class MidrunTests(ReportCase):
    """memleak_report() from the main thread while four threads churn."""

    def test_report_while_threads_allocate(self):
        marks, _ = read_marks("report_midrun.c")
        pattern = os.path.join(self.tmp.name, "mid.%p")
        bad = os.path.join(self.tmp.name, "no-such-dir", "report")
        for attempt in range(3):
            res = run([program("report_midrun"), pattern, bad])
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertEqual(res.stdout, b"report=0 bad=-1 errno=ENOENT\n")
            self.assertEqual(res.stderr, b"")
            path = pattern.replace("%p", str(res_pid(self, pattern)))
            with open(path) as f:
                report = Report(f.read())
            os.unlink(path)
            self.assertEqual(report.header[3], "now")
            self.check_mark(report, marks["midrun"])
            self.assertGreaterEqual(report.summary[0], marks["midrun"].bytes)
            self.assertEqual(report.summary[0], sum(g[0] for g in report.groups) +
                             (report.omitted[1] if report.omitted else 0))

    def test_without_runtime_the_call_is_harmless(self):
        res = run([program("report_midrun"), os.path.join(self.tmp.name, "x"), "/nonexistent/y"],
                  preload=False)
        self.assertEqual(res.returncode, 0)
        self.assertTrue(res.stdout.startswith(b"report=-1 bad=-1"), res.stdout)


class BusyExitTests(ReportCase):
    """Exit while another thread allocates: the report neither crashes
    nor changes the outcome."""

    def test_exit_with_a_running_thread(self):
        plain = run([program("report_busy_exit")], preload=False)
        self.assertEqual(plain.returncode, 0)
        for attempt in range(10):
            for env in ({"MEMLEAK_REPORT": os.path.join(self.tmp.name, "busy")},
                        {"MEMLEAK_REPORT": os.path.join(self.tmp.name, "busy"), "MEMLEAK_EXITCODE": "23"}):
                res = run([program("report_busy_exit")], env=env)
                self.assertEqual(res.stdout, plain.stdout)
                self.assertIn(res.returncode, (0, 23), res.stderr)
                with open(env["MEMLEAK_REPORT"]) as f:
                    report = Report(f.read())
                lost = report.lost[1] if report.lost is not None else (report.summary or (0, 0))[1]
                self.assertEqual(res.returncode, 23 if "MEMLEAK_EXITCODE" in env and lost else 0,
                                 report.text)


class SpinningTests(ReportCase):
    """main returns while another thread spins without entering the kernel:
    the scan stops it, reads its stack, and lets the exit go on."""

    def test_spinning_thread_stopped_and_its_stack_read(self):
        marks, _ = read_marks("report_spinning.c")
        for attempt in range(3):
            report, res = self.report_of("report_spinning", env={"MEMLEAK_EXITCODE": "23"}, expect_rc=23)
            self.assertEqual(res.stdout, b"report_spinning done\n")
            for mark in marks.values():
                self.check_mark(report, mark)
            self.assertEqual(report.scan[3], 1, "one other thread stopped:\n" + report.text)
            self.assertEqual(report.notes, [], report.text)


class UnderGdbTests(ReportCase):
    """A program run under gdb: ptrace is gdb's, so threads cannot be
    stopped for the scan. Alone, a program needs no stopping and is
    classified; with another thread running, the blocks are listed
    unclassified with one line saying why, and all of them count."""

    def gdb_run(self, prog, env):
        gdb = shutil.which("gdb")
        if gdb is None:
            self.skipTest("gdb is not installed")
        pattern = os.path.join(self.tmp.name, "%s.%%p" % self.id().rsplit(".", 1)[-1])
        cmds = ["set startup-with-shell off",
                "set environment MEMLEAK_REPORT=" + pattern]
        cmds += ["set environment %s=%s" % kv for kv in ld_preload.variables(LIB).items()]
        cmds += ["set environment %s=%s" % kv for kv in env.items()]
        args = [gdb, "-nx", "-batch"]
        for c in cmds + ["run"]:
            args += ["-ex", c]
        res = run(args + ["--args", program(prog)], preload=False, timeout=300)
        self.assertEqual(res.returncode, 0, res.stderr)
        path = pattern.replace("%p", str(res_pid(self, pattern)))
        with open(path) as f:
            text = f.read()
        os.unlink(path)
        return Report(text), res.stdout.decode(errors="replace")

    def test_alone_classified(self):
        marks, _ = read_marks("report_lost.c")
        report, out = self.gdb_run("report_lost", {"MEMLEAK_EXITCODE": "23"})
        for mark in marks.values():
            if mark.opts["kind"] != "still_reachable":
                self.check_mark(report, mark)
        self.assertEqual(report.still_reachable, (500, 1, 1), report.text)
        self.assertIn("exited with code 027", out)

    def test_running_thread_leaves_blocks_unclassified(self):
        marks, _ = read_marks("report_spinning.c")
        report, out = self.gdb_run("report_spinning", {"MEMLEAK_EXITCODE": "23"})
        self.assertEqual(len(report.notes), 1, report.text)
        self.assertRegex(report.notes[0], r"^memleak: blocks not classified \(the process is traced")
        self.assertIsNone(report.lost)
        for mark in marks.values():
            groups = report.groups_at(mark)
            self.assertEqual([(g[0], g[1], g[4]) for g in groups], [(mark.bytes, mark.blocks, None)],
                             report.text)
        self.assertIn("exited with code 027", out)


class ForkTests(ReportCase):

    def test_parent_and_child_report_separately(self):
        marks, _ = read_marks("report_fork.c")
        pattern = os.path.join(self.tmp.name, "fork.%p")
        res = run([program("report_fork")], env={"MEMLEAK_REPORT": pattern, "MEMLEAK_REPORT_REACHABLE": "1"})
        self.assertEqual((res.returncode, res.stdout, res.stderr), (0, b"child ok\n", b""))
        files = sorted(n for n in os.listdir(self.tmp.name) if n.startswith("fork."))
        self.assertEqual(len(files), 2, files)
        reports = {}
        for name in files:
            with open(os.path.join(self.tmp.name, name)) as f:
                report = Report(f.read())
            self.assertEqual(int(report.header[0]), int(name.split(".")[1]))
            reports["child" if report.groups_at(marks["in_child"]) else "parent"] = report
        self.assertEqual(set(reports), {"child", "parent"})
        for mark in ("before_fork", "in_child"):
            self.check_mark(reports["child"], marks[mark])
        for mark in ("before_fork", "in_parent"):
            self.check_mark(reports["parent"], marks[mark])
        self.assertEqual(reports["child"].summary, (111 + 222, 2))
        self.assertEqual(reports["parent"].summary, (111 + 333, 2))


if __name__ == "__main__":
    unittest.main()
