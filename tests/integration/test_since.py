"""Integration tests: `since` by mark, sequence number and duration.
How every case runs: harness.py."""

import unittest

from harness import (
    GdbTestCase,
    PHASES,
    TOP_ALL,
    require_env,
    contract_view,
    gdb,
    load_json,
    phases_marks,
    validate_dump,
)


class SinceTests(GdbTestCase):
    """`memleak mark` from gdb between two phases, then `since`."""

    def test_since_mark_seq_and_duration(self):
        self.need_attach()
        require_env(self, ("MEMLEAK_PHASES", PHASES))
        marks = phases_marks()
        phase2 = marks.leaks_in_phase(2)
        prog = self.start([PHASES])
        prog.wait_for("phase1")

        mark_dump = self.tmp / "phase1-dump.json"
        run = gdb(["-p", str(prog.pid)], "memleak mark phase1",
                  f"memleak dump --json --output {mark_dump}")
        self.assertSucceeded(run)
        phase1_dump = validate_dump(load_json(mark_dump))
        last_seq = max(a["seq"] for a in phase1_dump["allocations"])

        prog.send_line()
        prog.wait_for("phase2")
        target = ["-p", str(prog.pid)]
        top, by_mark, by_seq, by_mark_dump, by_api_mark = self.json_commands(
            target, [TOP_ALL, "since phase1", f"since {last_seq}", "since phase1 --dump",
                     "since program-phase1"])
        self.assertLeaksMatch(top, marks)
        self.assertLeaksMatch(by_mark, marks, phase2, exact_totals=True)
        self.assertLeaksMatch(by_seq, marks, phase2, exact_totals=True)
        self.assertEqual(contract_view(by_api_mark), contract_view(by_mark),
                         "the mark set by memleak_mark() in the program and the one set "
                         "from gdb at the same point select different blocks")
        self.assertEqual(by_mark_dump["format"], "memleak-dump")
        self.assertTrue(all(a["seq"] > last_seq for a in by_mark_dump["allocations"]),
                        "since --dump lists a block allocated before the mark")
        self.assertDumpAgreesWithTop(by_mark_dump, by_mark)

        # On a core the snapshot's time is its newest record, the end of
        # phase 2, which began at least 2 s after phase 1 ended.
        core = self.gcore(prog)
        core_target = [str(PHASES), str(core)]
        core_mark, core_seq, core_duration, core_all, core_top = self.json_commands(
            core_target, ["since phase1", f"since {last_seq}", "since 1s", "since 1h", TOP_ALL])
        self.assertEqual(contract_view(core_mark), contract_view(by_mark))
        self.assertEqual(contract_view(core_seq), contract_view(by_seq))
        self.assertLeaksMatch(core_duration, marks, phase2, exact_totals=True)
        self.assertEqual((core_all["total_bytes"], core_all["total_count"]),
                         (core_top["total_bytes"], core_top["total_count"]),
                         "`since 1h` on a core does not cover every block")

        run = gdb(core_target, "memleak since no-such-mark")
        self.assertOneError(run)

        # Marking the same name again moves it: nothing is newer.
        run = gdb(target, "memleak mark phase1")
        self.assertSucceeded(run)
        moved, stats = self.json_commands(target, ["since phase1", "stats"])
        self.assertEqual((moved["total_count"], moved["total_bytes"]), (0, 0))
        names = [m.get("name") for m in stats.get("marks", [])]
        self.assertEqual(sorted(names), ["phase1", "program-phase1"],
                         "memleak stats --json does not list each mark once")


if __name__ == "__main__":
    unittest.main()
