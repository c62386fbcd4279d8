"""Integration tests: gcore cores and a kernel core from abort(); `mark` on a
core.
How every case runs: harness.py."""

import unittest

from harness import (
    GdbTestCase,
    LEAKY_C,
    LEAKY_CXX,
    TOP_ALL,
    require_env,
    c_marks,
    contract_view,
    cxx_marks,
    gdb,
)


class CoreTests(GdbTestCase):
    """Cores written by gdb's gcore and by the kernel, against a live read
    of the same process."""

    def live_vs_gcore(self, binary, marks):
        self.need_attach()
        require_env(self, ("program", binary))
        prog = self.start([binary, "wait"])
        prog.wait_for("ready")
        live = self.json_commands(["-p", str(prog.pid)], [TOP_ALL, "dump"])
        core = self.gcore(prog)
        dead = self.json_commands([str(binary), str(core)], [TOP_ALL, "dump"])
        self.assertLeaksMatch(dead[0], marks)
        for a, b in zip(live, dead):
            self.assertEqual(contract_view(a), contract_view(b),
                             f"{a['format']} differs between the live process and its gcore")

    def test_gcore_c(self):
        self.live_vs_gcore(LEAKY_C, c_marks())

    def test_gcore_cxx(self):
        self.live_vs_gcore(LEAKY_CXX, cxx_marks())

    def test_kernel_core_from_abort(self):
        self.need_attach()
        marks = c_marks()
        live = []
        core = self.kernel_core(
            lambda prog: live.extend(self.json_commands(["-p", str(prog.pid)], [TOP_ALL, "dump"])))
        dead = self.json_commands([str(LEAKY_C), str(core)], [TOP_ALL, "dump"])
        self.assertLeaksMatch(dead[0], marks)
        for a, b in zip(live, dead):
            self.assertEqual(contract_view(a), contract_view(b),
                             f"{a['format']} differs between the live process and its kernel core")

    def test_mark_on_core_needs_live_process(self):
        self.need_attach()
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        core = self.gcore(prog)
        run = gdb([str(LEAKY_C), str(core)], "memleak mark nope")
        self.assertOneError(run, "live")


if __name__ == "__main__":
    unittest.main()
