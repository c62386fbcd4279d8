"""Integration tests: `top` and `dump` on a live process gdb attaches to, C and
C++, -O0, -O2 and no PIE.
How every case runs: harness.py."""

import json
import unittest

from harness import (
    GdbTestCase,
    LEAKY_C,
    LEAKY_CXX,
    LEAKY_C_NOPIE,
    LEAKY_C_O0,
    TOP_ALL,
    require_env,
    c_marks,
    cxx_marks,
    gdb,
    validate_stats,
    validate_top,
)


# --------------------------------------------------------------------------
# The cases


class LiveAttachTests(GdbTestCase):
    """`gdb -p PID` on a program running with LD_PRELOAD."""

    def attach_top(self, binary, marks):
        self.need_attach()
        require_env(self, ("program", binary))
        prog = self.start([binary, "wait"])
        prog.wait_for("ready")
        top, dump, stats = self.json_commands(["-p", str(prog.pid)], [TOP_ALL, "dump", "stats"])
        self.assertEqual(top["pid"], prog.pid)
        self.assertLeaksMatch(top, marks)
        self.assertDumpAgreesWithTop(dump, top)
        self.assertEqual((stats.get("live_blocks"), stats.get("live_bytes")),
                         (top["total_count"], top["total_bytes"]),
                         "stats disagrees with top on a quiet process")
        self.assertIsNone(prog.proc.poll(), "the program died after gdb detached")
        return prog, top

    def test_c_O2(self):
        self.attach_top(LEAKY_C, c_marks())

    def test_c_O0(self):
        self.attach_top(LEAKY_C_O0, c_marks())

    def test_c_no_pie(self):
        self.attach_top(LEAKY_C_NOPIE, c_marks())

    def test_cxx_new_at_user_line(self):
        _, top = self.attach_top(LEAKY_CXX, cxx_marks())
        for g in top["groups"]:
            f0 = g["stack"][0]
            self.assertNotIn("operator new", f0["function"] or "",
                             f"a group starts inside operator new: {self._frame_text(f0)}")

    def test_text_output_names_each_leak(self):
        self.need_attach()
        marks = c_marks()
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        run = gdb(["-p", str(prog.pid)], "memleak top 1000")
        self.assertSucceeded(run)
        for leak in marks.common_leaks():
            self.assertIn(f"{marks.basename}:{leak.line}", run.stdout,
                          f"text `memleak top` does not show {leak.name}\n" + run.describe())

    def test_json_on_stdout(self):
        self.need_attach()
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        run = gdb(["-p", str(prog.pid)], "memleak top 5 --json", "memleak stats --json")
        self.assertSucceeded(run)
        docs, text, pos = [], run.stdout, 0
        decoder = json.JSONDecoder()
        while len(docs) < 2:
            start = text.find("{", pos)
            self.assertNotEqual(start, -1, "fewer than two JSON documents on stdout\n"
                                + run.describe())
            try:
                doc, pos = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                pos = start + 1
                continue
            if isinstance(doc, dict) and "format" in doc:
                docs.append(doc)
        top, stats = docs
        validate_top(top)
        validate_stats(stats)
        self.assertLessEqual(len(top["groups"]), 5)
        self.assertEqual(stats["pid"], prog.pid)

    def test_by_count_and_depth(self):
        self.need_attach()
        marks = c_marks()
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        by_bytes, by_count, shallow = self.json_commands(
            ["-p", str(prog.pid)], [TOP_ALL, TOP_ALL + " --by count", TOP_ALL + " --depth 1"])
        self.assertEqual(by_count["by"], "count")
        self.assertLeaksMatch(by_count, marks)
        self.assertLeaksMatch(shallow, marks)
        for doc in (by_count, shallow):
            self.assertEqual((doc["total_bytes"], doc["total_count"]),
                             (by_bytes["total_bytes"], by_bytes["total_count"]))
        for g in shallow["groups"]:
            self.assertEqual(len([f for f in g["stack"] if not f["inlined"]]), 1,
                             "--depth 1 kept more than one frame")

    def test_dump_filters(self):
        self.need_attach()
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        everything, big, two = self.json_commands(
            ["-p", str(prog.pid)], ["dump", "dump --min-size 300", "dump --limit 2"])
        self.assertEqual([a for a in everything["allocations"] if a["size"] >= 300],
                         big["allocations"])
        self.assertTrue(big["allocations"], "no block of 300 bytes or more listed")
        self.assertEqual(len(two["allocations"]), 2)
        for a in everything["allocations"]:
            self.assertEqual(a["tid"], prog.pid, "a block of the single-threaded program "
                             "does not carry its thread id")

    def test_top_n_totals_cover_everything(self):
        self.need_attach()
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        everything, two = self.json_commands(["-p", str(prog.pid)], [TOP_ALL, "top 2"])
        self.assertEqual(len(two["groups"]), 2)
        self.assertEqual(two["groups"], everything["groups"][:2])
        self.assertEqual((two["total_bytes"], two["total_count"]),
                         (everything["total_bytes"], everything["total_count"]))


if __name__ == "__main__":
    unittest.main()
