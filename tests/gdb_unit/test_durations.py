"""Durations as `since` takes them."""

import unittest

import image  # noqa: F401
from memleak_gdb import durations


class DurationTest(unittest.TestCase):
    def test_durations(self):
        s = 10 ** 9
        self.assertEqual(durations.parse_duration("90s"), 90 * s)
        self.assertEqual(durations.parse_duration("5m"), 300 * s)
        self.assertEqual(durations.parse_duration("2h"), 7200 * s)
        self.assertEqual(durations.parse_duration("1h30m"), 5400 * s)
        self.assertEqual(durations.parse_duration("500ms"), s // 2)
        self.assertEqual(durations.parse_duration("1m30s"), 90 * s)
        for bad in ("", "5", "m", "5x", "1h 30m", "s5", "boot"):
            self.assertIsNone(durations.parse_duration(bad), bad)


if __name__ == "__main__":
    unittest.main()
