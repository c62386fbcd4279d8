"""The gdb extension's suppressions matcher on the shared case list
(cases.txt): each stack gets the verdict the exit report gives it."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "gdb"))

from memleak_gdb import suppress  # noqa: E402


def read_cases():
    """[(name, patterns, frames, expected pattern or None)] from cases.txt."""
    cases = []
    with open(os.path.join(HERE, "cases.txt")) as f:
        for line in f.read().splitlines():
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            if line.startswith("leak:"):
                cases[-1][1].append(line[len("leak:"):])
            elif word == "case":
                cases.append((rest, [], [], None))
            elif word == "frame":
                function, file, obj = (None if v == "-" else v for v in rest.split(" | "))
                cases[-1][2].append({"function": function, "file": file, "object": obj})
            elif word == "expect":
                cases[-1] = cases[-1][:3] + (None if rest == "none" else rest,)
            else:
                raise ValueError("unknown line in the case list: %r" % line)
    return cases


class SuppressionCases(unittest.TestCase):
    def test_gdb_gives_each_stack_its_verdict(self):
        cases = read_cases()
        self.assertGreater(len(cases), 20)
        for name, patterns, frames, expected in cases:
            with self.subTest(name):
                supp = suppress.parse("".join("leak:%s\n" % p for p in patterns), name)
                self.assertEqual(supp.match(frames), expected)


if __name__ == "__main__":
    unittest.main()
