"""Integration tests: `help memleak`, usage errors, no process.
How every case runs: harness.py."""

import unittest

from harness import GdbTestCase, LEAKY_C, require_env, gdb


class CommandLineTests(GdbTestCase):
    """Mistakes at the gdb prompt: one `memleak:` line each, nothing else."""

    def test_help_lists_the_commands(self):
        run = gdb([], "help memleak")
        self.assertSucceeded(run)
        for sub in ("top", "dump", "since", "mark", "stats"):
            self.assertRegex(run.stdout, rf"memleak {sub}\b", run.describe())

    def test_usage_errors(self):
        self.need_attach()
        require_env(self, ("MEMLEAK_LEAKY_C", LEAKY_C))
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        core = self.gcore(prog)
        for command in ("memleak top --by nonsense", "memleak nosuchcommand", "memleak since",
                        "memleak top 0", "memleak top --depth x", "memleak dump --limit x",
                        "memleak since no-such-mark", f"memleak top --output {self.tmp}/no/dir/f",
                        "memleak top --json --output"):
            with self.subTest(command=command):
                self.assertOneError(gdb([str(LEAKY_C), str(core)], command))

    def test_without_a_process(self):
        self.assertOneError(gdb([], "memleak top"))


if __name__ == "__main__":
    unittest.main()
