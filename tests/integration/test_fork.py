"""Integration tests: a forked child and its parent, each with its own table.
How every case runs: harness.py."""

import unittest
from pathlib import Path

from harness import GdbTestCase, LEAKY_C, TOP_ALL, kill_quietly, require_env, c_marks


class ForkTests(GdbTestCase):
    """A forked child reads as its own process: the parent's blocks it
    inherited plus its own, under its pid; the parent's table is untouched."""

    def test_child_and_parent(self):
        self.need_attach()
        require_env(self, ("MEMLEAK_LEAKY_C", LEAKY_C))
        marks = c_marks()
        prog = self.start([LEAKY_C, "fork"])
        child, parent = (int(w) for w in prog.wait_for("ready").split())
        self.addCleanup(kill_quietly, child)
        self.assertEqual(parent, prog.pid)
        child_line = next(l.line for l in marks.leaks.values() if l.attrs.get("child"))

        top, dump, stats = self.json_commands(["-p", str(child)], [TOP_ALL, "dump", "stats"])
        self.assertEqual((top["pid"], dump["pid"], stats["pid"]), (child, child, child))
        self.assertLeaksMatch(top, marks, list(marks.leaks.values()))
        self.assertDumpAgreesWithTop(dump, top)
        for a in dump["allocations"]:
            f0 = a["stack"][0] if a["stack"] else {}
            if f0.get("file") and Path(f0["file"]).name == marks.basename:
                want = child if f0["line"] == child_line else parent
                self.assertEqual(a["tid"], want, f"block from {marks.basename}:{f0['line']}")

        top, = self.json_commands(["-p", str(parent)], [TOP_ALL])
        self.assertEqual(top["pid"], parent)
        self.assertLeaksMatch(top, marks)


if __name__ == "__main__":
    unittest.main()
