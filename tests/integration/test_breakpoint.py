"""Integration tests: a process started under gdb and stopped at a breakpoint,
inside the runtime, or holding a shard lock.
How every case runs: harness.py."""

import unittest

from harness import (
    GdbTestCase,
    LEAKY_C,
    LEAKY_CXX,
    LEAKY_C_O0,
    REPO,
    require_env,
    c_marks,
    cxx_marks,
    gdb,
    load_json,
    preload_in_gdb,
    validate_stats,
    validate_top,
)


class BreakpointTests(GdbTestCase):
    """The program started under gdb with the runtime, stopped at a breakpoint."""

    def run_to_stop(self, binary, marks):
        require_env(self, ("program", binary))
        out = self.tmp / "top.json"
        run = gdb([str(binary)], *preload_in_gdb(), "break stop_here",
                  "run break", f"memleak top 100000 --json --output {out}")
        self.assertSucceeded(run)
        self.assertTrue(out.exists(), run.describe())
        top = validate_top(load_json(out))
        self.assertLeaksMatch(top, marks)

    def test_c(self):
        self.run_to_stop(LEAKY_C, c_marks())

    def test_stopped_inside_the_runtime(self):
        # design.md: a process stopped anywhere, even inside a hook, reads
        # as a consistent table. Here the selected frame is the runtime's
        # own malloc, whose debug info also names the ABI struct.
        require_env(self, ("MEMLEAK_LEAKY_C", LEAKY_C))
        out = self.tmp / "top.json"
        run = gdb([str(LEAKY_C)], *preload_in_gdb(), "break stop_here",
                  "run break", "break malloc", "continue", "info symbol $pc",
                  f"memleak top 100000 --json --output {out}")
        self.assertRegex(run.output, r"malloc.* of .*libmemleak", "not stopped in the runtime's "
                         "malloc, the case is not exercised\n" + run.describe())
        self.assertSucceeded(run)
        self.assertLeaksMatch(validate_top(load_json(out)), c_marks())

    def test_stopped_holding_a_shard_lock(self):
        # The line after the runtime takes a shard's lock to insert a
        # record: the shard reads as in flux, the table stays consistent.
        require_env(self, ("MEMLEAK_LEAKY_C", LEAKY_C))
        source = REPO / "runtime" / "table" / "alloc_table.cpp"
        lines = source.read_text().splitlines()
        locked = [i for i, l in enumerate(lines, 1) if "futex_lock(&sh.lock);" in l]
        self.assertTrue(locked, f"{source} no longer takes a shard lock as "
                        "`futex_lock(&sh.lock);`: point this test at the new place")
        top_out, stats_out = self.tmp / "top.json", self.tmp / "stats.json"
        run = gdb([str(LEAKY_C)], *preload_in_gdb(), "break stop_here",
                  "run break", f"break {source}:{locked[0] + 1}", "continue",
                  "info symbol $pc", f"memleak top 100000 --json --output {top_out}",
                  f"memleak stats --json --output {stats_out}")
        self.assertRegex(run.output, r"of .*libmemleak", "not stopped in the runtime, the "
                         "case is not exercised\n" + run.describe())
        self.assertSucceeded(run)
        top = validate_top(load_json(top_out))
        self.assertLeaksMatch(top, c_marks())
        stats = validate_stats(load_json(stats_out))
        self.assertEqual(stats.get("shards_in_flux"), 1,
                         "the shard whose lock is held is not reported in flux")

    def test_c_O0(self):
        self.run_to_stop(LEAKY_C_O0, c_marks())

    def test_cxx(self):
        self.run_to_stop(LEAKY_CXX, cxx_marks())


if __name__ == "__main__":
    unittest.main()
