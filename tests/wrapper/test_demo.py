"""`memleak demo`: the guided tour runs through every step and stops the service cleanly."""

import os
import re
import shutil
import unittest

from harness import WrapperTest, built, run


class Demo(WrapperTest):
    def test_demo_runs_every_step(self):
        built("MEMLEAK_TEST_SERVICE")
        built("MEMLEAK_LIB")
        result = run(["demo", "--seconds", "1"], timeout=240)
        self.assertEqual(result.returncode, 0, result.stdout[-3000:] + result.stderr)
        out = result.stdout
        steps = re.findall(r"^== (\d)\. ", out, re.M)
        self.assertEqual(steps, ["1", "2", "3", "4", "5", "6"])
        self.assertIn("memleak top: ", out)
        self.assertIn("memleak since demo: ", out)
        self.assertIn("bufpool_acquire", out)
        self.assertGreaterEqual(out.count("memleak top: "), 2)  # live and from the core
        self.assertRegex(out, r"exit status 0: demo service: served \d+ requests")
        flame = re.search(r"wrote (\S+flame\.svg)", out).group(1)
        self.addCleanup(lambda: shutil.rmtree(os.path.dirname(flame), ignore_errors=True))
        self.assertTrue(os.path.isfile(flame))
        self.assertEqual(os.listdir(os.path.dirname(flame)), ["flame.svg"])
        pid = int(re.search(r"service running as pid (\d+)", out).group(1))
        self.assertFalse(os.path.exists("/proc/%d" % pid))


if __name__ == "__main__":
    unittest.main()
