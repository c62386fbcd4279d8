"""The scanner's ctypes binding on byte images: the library built from
runtime/scan (MEMLEAK_SCAN_LIB, set by ctest), fed the way the gdb side
feeds it: blocks, root ranges, memory read as segments."""

import array
import mmap
import os
import struct
import tempfile
import unittest
from unittest import mock

import image  # noqa: F401  (puts gdb/ on sys.path)
from memleak_gdb import scan
from memleak_gdb.errors import MemleakError

HEAP = 0x7F0000100000
DATA = 0x555500004000


def words(*values):
    return struct.pack("<%dQ" % len(values), *values)


def have_library():
    try:
        scan.load()
        return True
    except scan.ScanError:
        return False


@unittest.skipUnless(have_library(), "libmemleak-scan.so not built (set MEMLEAK_SCAN_LIB)")
class ClassifyTest(unittest.TestCase):
    def setUp(self):
        self.scanner = scan.load()
        # Heap: a (reachable) -> b; c <-> d (cycle); e reached by an interior
        # pointer from the data area; f pointed to only from freed memory.
        self.blocks = [(HEAP + 0x000, 32), (HEAP + 0x100, 16), (HEAP + 0x200, 16),
                       (HEAP + 0x300, 16), (HEAP + 0x400, 64), (HEAP + 0x500, 16)]
        heap = bytearray(0x600)
        heap[0x008:0x010] = words(HEAP + 0x100)   # a -> b
        heap[0x200:0x208] = words(HEAP + 0x300)   # c -> d
        heap[0x300:0x308] = words(HEAP + 0x200)   # d -> c
        heap[0x0F0:0x0F8] = words(HEAP + 0x500)   # freed memory -> f
        data = words(0, HEAP + 0x000, 0, HEAP + 0x420)
        self.segments = [scan.Segment(DATA, data), scan.Segment(HEAP, heap)]
        self.roots = [scan.Root(DATA, len(data), scan.ROOT_DATA, 3)]

    def test_classes_and_totals(self):
        c = self.scanner.classify(self.blocks, self.segments, self.roots, predecessors=True)
        self.assertEqual([c.kind(i) for i in range(6)],
                         ["still_reachable", "still_reachable", "definitely_lost",
                          "indirectly_lost", "possibly_lost", "definitely_lost"])
        self.assertEqual(c.blocks["definitely_lost"], 2)
        self.assertEqual(c.bytes["still_reachable"], 48)
        self.assertEqual(c.bytes["possibly_lost"], 64)
        self.assertEqual(c.unreadable_bytes, 0)

    def test_chain_from_the_root(self):
        c = self.scanner.classify(self.blocks, self.segments, self.roots, predecessors=True)
        chain = c.chain(1)
        self.assertEqual(chain, [scan.Ref("root", 0, 8, 0, None), scan.Ref("block", 0, 8, 0, None)])
        self.assertEqual(c.predecessor(4), scan.Ref("root", 0, 24, 0x20, None))
        self.assertIsNone(c.predecessor(2))
        self.assertEqual(c.predecessor(3), scan.Ref("block", 2, 0, 0, None))

    def test_packed_blocks_and_read_only_buffers(self):
        packed = scan.pack_blocks([a for a, _ in self.blocks], [s for _, s in self.blocks])
        segments = [scan.Segment(s.address, memoryview(bytes(s.data))) for s in self.segments]
        c = self.scanner.classify(packed, segments, self.roots)
        self.assertEqual(c.kinds, bytes([4, 4, 1, 2, 3, 1]))

    def test_read_only_mapped_segments_are_read_in_place(self):
        # A core file mapped read-only, as a reader may pass it.
        with tempfile.TemporaryFile() as f:
            f.write(self.segments[1].data)
            f.flush()
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                segments = [self.segments[0], scan.Segment(HEAP, m)]
                c = self.scanner.classify(self.blocks, segments, self.roots)
                self.assertEqual(c.kinds, bytes([4, 4, 1, 2, 3, 1]))
                refs, total = self.scanner.who(self.blocks, segments, self.roots, 1)
                self.assertEqual(total, 1)
                # Nothing stays pinned: the mapping closes.
        self.assertTrue(m.closed)

    def test_registers_and_unreadable_roots(self):
        roots = [scan.Root(0, 0, scan.ROOT_REGISTERS, 1, words(HEAP + 0x500, 7)),
                 scan.Root(0x1000, 4096, scan.ROOT_STACK, 1)]
        c = self.scanner.classify(self.blocks, self.segments, roots, predecessors=True)
        self.assertEqual(c.kind(5), "still_reachable")
        self.assertEqual(c.predecessor(5), scan.Ref("root", 0, 0, 0, None))
        self.assertEqual(c.unreadable_bytes, 4096)

    def test_heuristic_is_reported(self):
        heap = bytearray(self.segments[1].data)
        heap[0x400:0x408] = words(4)  # e: a new[] count before 4 elements of 14 bytes
        blocks = list(self.blocks)
        blocks[4] = (HEAP + 0x400, 8 + 56)
        data = words(0, 0, 0, HEAP + 0x408)
        segments = [scan.Segment(DATA, data), scan.Segment(HEAP, heap)]
        c = self.scanner.classify(blocks, segments, self.roots)
        self.assertEqual(c.kind(4), "still_reachable")
        self.assertEqual(c.heuristic(4), "newarray")
        c = self.scanner.classify(blocks, segments, self.roots, heuristics=0)
        self.assertEqual(c.kind(4), "possibly_lost")

    def test_who(self):
        refs, total = self.scanner.who(self.blocks, self.segments, self.roots, 2)
        self.assertEqual(total, 1)
        self.assertEqual(refs, [scan.Ref("block", 3, 0, 0, None)])
        refs, total = self.scanner.who(self.blocks, self.segments, self.roots, 4, limit=0)
        self.assertEqual((refs, total), ([], 1))

    def test_rejected_input_is_one_line(self):
        blocks = list(reversed(self.blocks))
        with self.assertRaises(scan.ScanError) as e:
            self.scanner.classify(blocks, self.segments, self.roots)
        self.assertIsInstance(e.exception, MemleakError)
        self.assertRegex(str(e.exception), r"^scanner: blocks not sorted by address: block 1 ")
        self.assertNotIn("\n", str(e.exception))
        with self.assertRaises(scan.ScanError):
            self.scanner.who(self.blocks, self.segments, self.roots, 99)

    def test_empty_input(self):
        c = self.scanner.classify([], [], [])
        self.assertEqual(c.kinds, b"")
        self.assertEqual(c.blocks["definitely_lost"], 0)


class LoadTest(unittest.TestCase):
    def test_missing_library_is_one_line(self):
        with mock.patch.dict(os.environ, {"MEMLEAK_SCAN_LIB": "/nonexistent/libmemleak-scan.so"}):
            with self.assertRaises(scan.ScanError) as e:
                scan.load()
        message = str(e.exception)
        self.assertIn("libmemleak-scan.so is missing", message)
        self.assertIn("/nonexistent/libmemleak-scan.so", message)
        self.assertNotIn("\n", message)

    def test_not_a_library_is_one_line(self):
        with mock.patch.dict(os.environ, {"MEMLEAK_SCAN_LIB": __file__}):
            with self.assertRaises(scan.ScanError) as e:
                scan.load()
        self.assertIn("cannot load the scanner library", str(e.exception))


class PackTest(unittest.TestCase):
    def test_pack_blocks(self):
        self.assertEqual(scan.pack_blocks([16, 48], [8, 0]), array.array("Q", [16, 8, 48, 0]))
        with self.assertRaises(scan.ScanError):
            scan.pack_blocks([1], [])


if __name__ == "__main__":
    unittest.main()
