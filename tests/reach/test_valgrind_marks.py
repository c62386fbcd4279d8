"""Each reachability program, run under valgrind to its exit, falls in the
classes its source marks, block for block: the programs test what they say.
"""

import unittest

import reach


class ValgrindAgreesWithMarks(unittest.TestCase):
    maxDiff = None

    def test_every_program(self):
        if not reach.valgrind_path():
            self.skipTest("valgrind is not installed")
        for name, prog in sorted(reach.programs().items()):
            with self.subTest(program=name):
                records = reach.run_valgrind(prog.argv)
                got = reach.tally(records, reach.basenames(prog))
                want = reach.expected(prog, valgrind=True)
                self.assertTrue(want, f"{name}: no REACH marks")
                problems = reach.compare(want, got, only_marked=True)
                self.assertEqual(problems, [], f"{name} under valgrind:\n" + "\n".join(problems)
                                 + f"\nvalgrind's tally: {got}")


if __name__ == "__main__":
    unittest.main()
