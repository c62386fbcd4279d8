import unittest

import image  # noqa: F401
from memleak_gdb import maps

LIVE = """process 25700
Mapped address spaces:

          Start Addr           End Addr       Size     Offset  Perms  objfile
      0x5636eeb11000     0x5636eeb12000     0x1000        0x0  r--p   /tmp/mlg/reader bench
      0x5636eeb12000     0x5636eeb13000     0x1000     0x1000  r-xp   /tmp/mlg/reader bench
      0x5636eeb15000     0x5636eeb36000    0x21000        0x0  rw-p   [heap]
      0x7f0dbebe7000     0x7f0dbed3c000   0x155000    0x26000  r-xp   /usr/lib/x86_64-linux-gnu/libc.so.6
"""

CORE = """Mapped address spaces:

          Start Addr           End Addr       Size     Offset objfile
      0x558d68873000     0x558d68874000     0x1000        0x0 /tmp/mlg/leak
      0x558d68874000     0x558d68875000     0x1000     0x1000 /tmp/mlg/leak
"""


class MapsTest(unittest.TestCase):
    def test_live_format(self):
        m = maps.Mappings(maps.parse_mappings(LIVE))
        self.assertEqual(len(m.maps), 3)
        self.assertEqual(m.locate(0x5636eeb12181), ("/tmp/mlg/reader bench", 0x1181))
        self.assertEqual(m.locate(0x7f0dbebe7010), ("/usr/lib/x86_64-linux-gnu/libc.so.6", 0x26010))
        self.assertIsNone(m.locate(0x5636eeb15010))
        self.assertIsNone(m.locate(0x1000))
        self.assertIsNone(m.locate(0x7f0dbed3c000))

    def test_core_format(self):
        m = maps.Mappings(maps.parse_mappings(CORE))
        self.assertEqual(m.locate(0x558d68874181), ("/tmp/mlg/leak", 0x1181))

    def test_nothing(self):
        self.assertIsNone(maps.Mappings(maps.parse_mappings("")).locate(0x400000))


if __name__ == "__main__":
    unittest.main()
