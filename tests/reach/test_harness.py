"""The harness's pure parts: marks, valgrind's XML, tallies, comparisons."""

import tempfile
import unittest
from pathlib import Path

import reach

_XML = """<?xml version="1.0"?>
<valgrindoutput>
<error>
  <unique>0x1</unique>
  <kind>Leak_DefinitelyLost</kind>
  <xwhat>
    <text>96 (64 direct, 32 indirect) bytes in 1 blocks are definitely lost in loss record 3 of 3</text>
    <leakedbytes>96</leakedbytes>
    <leakedblocks>1</leakedblocks>
  </xwhat>
  <stack>
    <frame><ip>0x1</ip><obj>/usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so</obj><fn>malloc</fn></frame>
    <frame><ip>0x2</ip><fn>block</fn><dir>/src</dir><file>prog.c</file><line>17</line></frame>
    <frame><ip>0x3</ip><fn>main</fn><dir>/src</dir><file>prog.c</file><line>30</line></frame>
  </stack>
</error>
<error>
  <unique>0x2</unique>
  <kind>Leak_IndirectlyLost</kind>
  <xwhat>
    <text>32 bytes in 1 blocks are indirectly lost in loss record 1 of 3</text>
    <leakedbytes>32</leakedbytes>
    <leakedblocks>1</leakedblocks>
  </xwhat>
  <stack>
    <frame><ip>0x1</ip><fn>malloc</fn></frame>
    <frame><ip>0x2</ip><fn>block</fn><dir>/src</dir><file>prog.c</file><line>17</line></frame>
  </stack>
</error>
<error>
  <unique>0x3</unique>
  <kind>Leak_StillReachable</kind>
  <xwhat>
    <text>8 bytes in 1 blocks are still reachable in loss record 2 of 3</text>
    <leakedbytes>8</leakedbytes>
    <leakedblocks>1</leakedblocks>
  </xwhat>
  <stack>
    <frame><ip>0x1</ip><fn>malloc</fn></frame>
    <frame><ip>0x9</ip><fn>_dl_new_object</fn><file>dl-object.c</file><line>92</line></frame>
  </stack>
</error>
<error>
  <unique>0x4</unique>
  <kind>InvalidRead</kind>
  <what>Invalid read of size 8</what>
</error>
</valgrindoutput>
"""


class HarnessTests(unittest.TestCase):
    def test_xml_records_count_direct_bytes(self):
        records = reach.parse_valgrind_xml(_XML)
        self.assertEqual([(r.kind, r.bytes, r.blocks) for r in records],
                         [("definitely_lost", 64, 1), ("indirectly_lost", 32, 1),
                          ("still_reachable", 8, 1)])
        self.assertEqual(records[0].frames[1], reach.Frame("block", "/src/prog.c", 17, None))

    def test_tally_takes_the_innermost_own_frame(self):
        got = reach.tally(reach.parse_valgrind_xml(_XML), {"prog.c"})
        self.assertEqual(got, {("prog.c", 17): {"definitely_lost": (1, 64),
                                                "indirectly_lost": (1, 32)}})

    def test_site_passes_over_headers_and_code_without_source(self):
        F = reach.Frame
        string = [F("operator new", None, None, "vgpreload_memcheck-amd64-linux.so"),
                  F("_M_create", None, None, "libstdc++.so.6"),
                  F("assign", "/usr/include/c++/12/bits/basic_string.h", 1612, None),
                  F("items", "/src/new_array.cpp", 23, None)]
        self.assertEqual(reach.site(string, {"new_array.cpp"}), ("new_array.cpp", 23))
        dtv = [F("malloc", None, None, None), F("allocate_dtv", "./elf/dl-tls.c", 401, None),
               F("main", "/src/tls.c", 60, None)]
        self.assertIsNone(reach.site(dtv, {"tls.c"}))

    def test_marks_and_valgrind_exceptions(self):
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "prog.c"
            src.write_text("int x;\n"
                           "p = malloc(1); /* REACH: still_reachable blocks=2 bytes=8 */\n"
                           "q = malloc(2); // REACH: definitely_lost blocks=1 bytes=2 | "
                           "indirectly_lost blocks=3 bytes=6\n"
                           "r = malloc(4); /* REACH: still_reachable blocks=1 bytes=4 "
                           "VALGRIND: definitely_lost blocks=1 bytes=4 */\n")
            prog = reach.Program("prog", ("prog",), (str(src),))
            self.assertEqual(reach.expected(prog), {
                ("prog.c", 2): {"still_reachable": (2, 8)},
                ("prog.c", 3): {"definitely_lost": (1, 2), "indirectly_lost": (3, 6)},
                ("prog.c", 4): {"still_reachable": (1, 4)}})
            self.assertEqual(reach.expected(prog, valgrind=True)[("prog.c", 4)],
                             {"definitely_lost": (1, 4)})
            vg = {("prog.c", 4): {"definitely_lost": (1, 4)}, ("prog.c", 9): {"possibly_lost": (1, 1)}}
            self.assertEqual(reach.reference(prog, vg), {("prog.c", 4): {"still_reachable": (1, 4)},
                                                         ("prog.c", 9): {"possibly_lost": (1, 1)}})
            src.write_text("p = malloc(1); /* REACH: reachable blocks=1 bytes=1 */\n")
            with self.assertRaises(reach.MarkError):
                reach.read_marks(src)

    def test_compare_names_each_difference(self):
        want = {("a.c", 1): {"definitely_lost": (1, 10)}}
        got = {("a.c", 1): {"possibly_lost": (1, 10)}, ("a.c", 2): {"still_reachable": (1, 5)}}
        self.assertEqual(reach.compare(want, want), [])
        self.assertEqual(len(reach.compare(want, got)), 3)
        self.assertEqual(len(reach.compare(want, got, only_marked=True)), 2)


if __name__ == "__main__":
    unittest.main()
