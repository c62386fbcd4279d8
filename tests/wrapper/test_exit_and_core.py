"""One program read twice: by the exit report (in the process, elfutils)
and by `memleak core` on a core taken just before the exit. A frame in
libstdc++, which has no debug info here, must carry the same demangled
name in both, so one suppressions file gives one verdict."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import WRAPPER, WrapperTest, built, gcore, read_text, run

# A file may hold spaces (a checkout under "a b/"), a function name none
# before a slash.
FRAME = re.compile(r"^    #(\d+) 0x[0-9a-f]+ in (.*?)"
                   r"(?: \(.*\+0x[0-9a-f]+\)| (?:/|\.{1,2}/).*:\d+| \S+:\d+)?$")


def report_groups(text):
    """{bytes: [function of each frame]} of an exit report."""
    groups, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^(\d+) bytes in \d+ block\(s\)(?: [a-z ]+,)? allocated from:$", line)
        if m:
            current = groups.setdefault(int(m.group(1)), [])
            continue
        m = FRAME.match(line)
        if m and current is not None:
            current.append(m.group(2))
    return groups


class ExitAndCore(WrapperTest):
    BUFFER = 301  # std::string(300, 'x'): its characters and the terminator

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="memleak-exit-core-test-")
        cls.program = built("MEMLEAK_TEST_STRINGS")
        # The string is still reachable at exit: listed on request.
        cls.core, cls.report = cls.run_to_exit(["--show-reachable"], "core")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.workdir, ignore_errors=True)

    @classmethod
    def run_to_exit(cls, run_options, name):
        """Runs the program under `memleak run --report`, takes a core once
        it is ready, lets it exit; (core path, report text)."""
        report = os.path.join(cls.workdir, name + ".report")
        proc = subprocess.Popen([WRAPPER, "run", "--report", report] + run_options
                                + ["--", cls.program], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            m = re.match(r"ready pid (\d+)$", line.strip())
            if not m:
                raise AssertionError("the program did not start: %r %r" % (line, proc.stderr.read()))
            core = gcore(int(m.group(1)), os.path.join(cls.workdir, name + ".core"))
            _, err = proc.communicate("\n", timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise AssertionError("exit status %d: %s" % (proc.returncode, err))
        return core, read_text(report)

    def core_top(self, *words):
        result = run(["core", self.program, self.core, "top", "--json"] + list(words))
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def library_frame(self):
        """The buffer's frame #0 as the core shows it: in libstdc++, no file."""
        groups = [g for g in self.core_top()["groups"] if g["bytes"] == self.BUFFER]
        self.assertEqual(len(groups), 1, "one %d-byte group" % self.BUFFER)
        frame = groups[0]["stack"][0]
        self.assertIn("libstdc++", frame["object"] or "", frame)
        self.assertIsNone(frame["file"], "libstdc++ has debug info here: the case is not tested")
        return frame

    def test_same_name_in_the_core_and_at_exit(self):
        frame = self.library_frame()
        at_exit = report_groups(self.report)[self.BUFFER]
        self.assertEqual(frame["function"], at_exit[0])
        self.assertFalse(frame["function"].startswith("_Z"), frame)
        self.assertIn("::_M_construct(unsigned long, char)", frame["function"])

    def test_one_suppressions_file_one_verdict(self):
        supp = os.path.join(self.workdir, "library.supp")
        with open(supp, "w") as f:
            f.write("leak:^%s$\n" % self.library_frame()["function"])
        on_core = self.core_top("--suppressions", supp)
        self.assertEqual((on_core["suppressed_bytes"], on_core["suppressed_count"]),
                         (self.BUFFER, 1))
        _, report = self.run_to_exit(["--show-reachable", "--suppressions", supp], "suppressed")
        self.assertRegex(report, r"(?m)^Suppressed: %d bytes in 1 blocks \(by 1 pattern\)$"
                         % self.BUFFER)
        self.assertNotIn(self.BUFFER, report_groups(report))


if __name__ == "__main__":
    unittest.main()
