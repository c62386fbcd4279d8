"""The README's table of runtime options lists exactly what the runtime's
option table (MEMLEAK_HELP=1) prints: the same options in the same order,
with the same defaults, ranges and help texts."""
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(HERE, "..", "..", "README.md")
sys.path.insert(0, os.path.dirname(HERE))
import ld_preload  # noqa: E402  (tests/ld_preload.py)


class ReadmeOptions(unittest.TestCase):
    def test_table_matches_runtime(self):
        env = dict(os.environ, MEMLEAK_HELP="1", **ld_preload.variables(os.environ["MEMLEAK_LIB"]))
        run = subprocess.run(["/bin/true"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0)
        runtime = dict(re.findall(r"^(MEMLEAK_\w+)\s+default (\w+)", run.stderr, re.M))
        self.assertIn("MEMLEAK_DEPTH", runtime, run.stderr)
        with open(README) as f:
            readme = dict(re.findall(r"^\| `(MEMLEAK_\w+)` \| (\w+) \|", f.read(), re.M))
        self.assertEqual(readme, runtime)

    def test_rows_match_help(self):
        env = dict(os.environ, MEMLEAK_HELP="1", **ld_preload.variables(os.environ["MEMLEAK_LIB"]))
        run = subprocess.run(["/bin/true"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0)
        help_rows = []
        for name, default, bounds, text in re.findall(
                r"^(MEMLEAK_\w+)  default (\w+)(?:, (-?\d+\.\.-?\d+))?: (.*)$", run.stderr, re.M):
            help_rows.append((name, default, bounds, text))
        self.assertGreater(len(help_rows), 5, run.stderr)
        with open(README) as f:
            readme_rows = re.findall(r"^\| `(MEMLEAK_\w+)` \| (\w+) \| ([^|]*?) ?\| (.*) \|$", f.read(), re.M)
        self.assertEqual([(n, d, b.strip(), t) for n, d, b, t in readme_rows], help_rows)


if __name__ == "__main__":
    unittest.main()
