import io
import os
import struct
import tempfile
import unittest

import image  # noqa: F401
from memleak_gdb import corefile

EHDR_SIZE = 64
PHDR_SIZE = 56
SHDR_SIZE = 64
PT_LOAD, PT_NOTE, PT_GNU_STACK = 1, 4, 0x6474E551


def ehdr(phoff, phnum, phentsize=PHDR_SIZE, shoff=0, shnum=0, e_type=4,
         ident=b"\x7fELF\x02\x01\x01"):
    return (ident.ljust(16, b"\0")
            + struct.pack("<HHIQQQIHHHHHH", e_type, 62, 1, 0, phoff, shoff, 0, EHDR_SIZE,
                          phentsize, phnum, SHDR_SIZE if shnum else 0, shnum, 0))


def phdr(p_type, offset, filesz, vaddr=0):
    return struct.pack("<IIQQQQQQ", p_type, 4, offset, vaddr, 0, filesz, filesz, 1)


def core(segments, phentsize=PHDR_SIZE):
    """A core laid out the way the kernel writes one: ELF header, program
    headers, then each note's and mapping's contents where its header says."""
    table = b"".join(phdr(t, off, size).ljust(phentsize, b"\0") for t, off, size in segments)
    data = bytearray(ehdr(EHDR_SIZE, len(segments), phentsize) + table)
    for t, off, size in segments:
        if t not in (PT_LOAD, PT_NOTE):
            continue
        if off + size > len(data):
            data.extend(b"\0" * (off + size - len(data)))
        data[off:off + size] = b"\xab" * size
    return bytes(data)


# A note, two dumped mappings and one the kernel left out (filesz 0).
SEGMENTS = [(PT_NOTE, 0x200, 0x300), (PT_LOAD, 0x1000, 0x2000), (PT_LOAD, 0x3000, 0x5000),
            (PT_LOAD, 0x8000, 0), (PT_GNU_STACK, 0x9000000, 0x10)]
WHOLE = 0x8000


def extent_of(data):
    return corefile.extent(io.BytesIO(data), len(data))


class ExtentTest(unittest.TestCase):
    def test_whole_core(self):
        data = core(SEGMENTS)
        self.assertEqual(len(data), WHOLE)
        # Other segment types and undumped mappings do not count.
        self.assertEqual(extent_of(data), (WHOLE, WHOLE))

    def test_cut_core(self):
        data = core(SEGMENTS)
        for size in (WHOLE // 2, WHOLE - 1, 0x1000):
            with self.subTest(size=size):
                self.assertEqual(extent_of(data[:size]), (size, WHOLE))

    def test_notes_last(self):
        # gcore's layout: the notes follow the memory.
        data = core([(PT_LOAD, 0x1000, 0x2000), (PT_NOTE, 0x3000, 0x800)])
        self.assertEqual(extent_of(data), (0x3800, 0x3800))
        self.assertEqual(extent_of(data[:0x3400]), (0x3400, 0x3800))

    def test_segment_order_does_not_matter(self):
        data = core(list(reversed(SEGMENTS)))
        self.assertEqual(extent_of(data[:0x4000]), (0x4000, WHOLE))

    def test_longer_program_headers(self):
        data = core(SEGMENTS, phentsize=PHDR_SIZE + 8)
        self.assertEqual(extent_of(data[:0x5000]), (0x5000, WHOLE))

    def test_core_with_only_headers(self):
        data = core([(PT_LOAD, 0x1000, 0)])
        self.assertEqual(extent_of(data), (len(data), EHDR_SIZE + PHDR_SIZE))

    def test_pn_xnum_takes_the_count_from_section_zero(self):
        table = b"".join(phdr(t, off, size) for t, off, size in SEGMENTS)
        shoff = EHDR_SIZE + len(table)
        sh0 = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, len(SEGMENTS), 0, 0)
        head = ehdr(EHDR_SIZE, 0xFFFF, shoff=shoff, shnum=1) + table + sh0
        data = head.ljust(0x3000, b"\0")
        self.assertEqual(extent_of(data), (0x3000, WHOLE))

    def test_not_a_64_bit_little_endian_core(self):
        whole = core(SEGMENTS)
        cases = {
            "empty": b"",
            "text": b"hello, world\n" * 20,
            "short header": whole[:EHDR_SIZE - 1],
            "32-bit": whole[:4] + b"\x01" + whole[5:],
            "big-endian": whole[:5] + b"\x02" + whole[6:],
            "executable": ehdr(EHDR_SIZE, 1, e_type=2) + phdr(PT_LOAD, 0, 0x10000),
            "shared object": ehdr(EHDR_SIZE, 1, e_type=3) + phdr(PT_LOAD, 0, 0x10000),
        }
        for what, data in cases.items():
            with self.subTest(what):
                self.assertIsNone(extent_of(data))

    def test_garbage_headers(self):
        load = phdr(PT_LOAD, 0x1000, 0x1000)
        xnum_sh0 = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0xFFFFFFFF, 0, 0)
        cases = {
            "no program headers": ehdr(EHDR_SIZE, 0) + load,
            "program headers past the end": ehdr(0x100000, 1) + load,
            "program headers at 2**64-1": ehdr(2**64 - 1, 1) + load,
            "program headers inside the ELF header": ehdr(8, 1) + load,
            "entry size too small": ehdr(EHDR_SIZE, 1, phentsize=PHDR_SIZE - 1) + load,
            "entry size huge": ehdr(EHDR_SIZE, 1, phentsize=0xFFFF) + load,
            "count past the end": ehdr(EHDR_SIZE, 0xFFFE) + load,
            "PN_XNUM without sections": ehdr(EHDR_SIZE, 0xFFFF) + load,
            "PN_XNUM, section 0 past the end": ehdr(EHDR_SIZE, 0xFFFF, shoff=2**63, shnum=1) + load,
            "PN_XNUM, count 2**32-1": (ehdr(EHDR_SIZE, 0xFFFF, shoff=EHDR_SIZE + len(load), shnum=1)
                                       + load + xnum_sh0),
            "segment end past 2**48": ehdr(EHDR_SIZE, 1) + phdr(PT_LOAD, 2**63, 2**63),
            "note end past 2**48": ehdr(EHDR_SIZE, 1) + phdr(PT_NOTE, 0x1000, 2**49),
        }
        for what, data in cases.items():
            with self.subTest(what):
                self.assertIsNone(extent_of(data))


class CutTest(unittest.TestCase):
    def write(self, data):
        fd, path = tempfile.mkstemp(suffix=".core")
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def test_cut_file(self):
        found = corefile.cut(self.write(core(SEGMENTS)[:0x2800]))
        self.assertEqual(found, (0x2800, WHOLE, False))
        self.assertEqual(corefile.message(found),
                         "core file truncated: 10240 of 32768 bytes present; "
                         "the runtime's table cannot be read")

    def test_cut_inside_the_program_headers(self):
        # Where the contents end is in the headers that are gone; where the
        # headers themselves end is known.
        table_end = EHDR_SIZE + len(SEGMENTS) * PHDR_SIZE
        for size in (EHDR_SIZE + 1, EHDR_SIZE + PHDR_SIZE, table_end - 1):
            with self.subTest(size=size):
                found = corefile.cut(self.write(core(SEGMENTS)[:size]))
                self.assertEqual(found, (size, table_end, True))
                self.assertEqual(corefile.message(found, "gdb cannot open it"),
                                 "core file truncated: %d of at least %d bytes present; "
                                 "gdb cannot open it" % (size, table_end))

    def test_whole_file_and_others(self):
        self.assertIsNone(corefile.cut(self.write(core(SEGMENTS))))
        self.assertIsNone(corefile.cut(self.write(b"not an ELF file")))
        self.assertIsNone(corefile.cut(self.write(core(SEGMENTS)[:EHDR_SIZE - 1])))
        self.assertIsNone(corefile.cut(os.path.join(tempfile.gettempdir(), "no", "such.core")))

    def test_longer_than_its_headers(self):
        # gcore may pad; extra bytes are no cut.
        self.assertIsNone(corefile.cut(self.write(core(SEGMENTS) + b"\0" * 100)))


# gdb 13's `info target` on a core, trimmed of its section list.
INFO_TARGET = """Symbols from "/work/build/tests/integration/integ_leaky_c".
Local core dump file:
\t`/tmp/a dir/it's.core', file type elf64-x86-64.
\tWhile running this, GDB does not access memory from...
Local exec file:
\t`/work/build/tests/integration/integ_leaky_c', file type elf64-x86-64.
\tEntry point: 0x5623bb2a1360
\t0x00005623bb29f318 - 0x00005623bb29f334 is .interp
"""

INFO_TARGET_LIVE = """Symbols from "/work/build/tests/integration/integ_leaky_c".
Native process:
\tUsing the running image of attached process 13070.
\tWhile running this, GDB does not access memory from...
Local exec file:
\t`/work/build/tests/integration/integ_leaky_c', file type elf64-x86-64.
"""


class CorePathTest(unittest.TestCase):
    def test_core(self):
        self.assertEqual(corefile.core_path(INFO_TARGET), "/tmp/a dir/it's.core")

    def test_no_core(self):
        self.assertIsNone(corefile.core_path(INFO_TARGET_LIVE))
        self.assertIsNone(corefile.core_path(""))


if __name__ == "__main__":
    unittest.main()
