"""The README's table of runtime options lists exactly what the runtime's
option table (MEMLEAK_HELP=1) prints, with the same defaults."""
import os
import re
import subprocess
import sys
import unittest

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


class ReadmeOptions(unittest.TestCase):
    def test_table_matches_runtime(self):
        env = dict(os.environ, LD_PRELOAD=os.environ["MEMLEAK_LIB"], MEMLEAK_HELP="1")
        run = subprocess.run(["/bin/true"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0)
        runtime = dict(re.findall(r"^(MEMLEAK_\w+)\s+default (\w+)", run.stderr, re.M))
        self.assertIn("MEMLEAK_DEPTH", runtime, run.stderr)
        with open(README) as f:
            readme = dict(re.findall(r"^\| `(MEMLEAK_\w+)` \| (\w+) \|", f.read(), re.M))
        self.assertEqual(readme, runtime)


if __name__ == "__main__":
    unittest.main()
