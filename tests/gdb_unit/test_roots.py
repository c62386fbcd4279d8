"""Root collection and the memory map on byte images: what is a root,
what is read only for blocks, and what is never read."""

import io
import struct
import unittest

import image  # noqa: F401  (puts gdb/ on sys.path)
from memleak_gdb import args, regions, roots
from memleak_gdb.errors import UsageError

MAPS = """\
55f04ccca000-55f04cccb000 r--p 00000000 08:01 1 /bin/prog
55f04cccb000-55f04cccc000 r-xp 00001000 08:01 1 /bin/prog
55f04ccce000-55f04cccf000 rw-p 00003000 08:01 1 /bin/prog
55f04cccf000-55f04ccd1000 rw-p 00000000 00:00 0
55f0615f9000-55f06161a000 rw-p 00000000 00:00 0                          [heap]
7fc8f9922000-7fc8f9923000 ---p 00000000 00:00 0
7fc8f9923000-7fc8fa123000 rw-p 00000000 00:00 0
7fc8fa123000-7fc8fa20a000 rw-p 00000000 00:00 0
7fc8fa6db000-7fc8fa6de000 rw-p 00016000 08:01 2 /build/runtime/libmemleak.so
7fc8fa6de000-7fc8fa72f000 rw-p 00000000 00:00 0
7fc8fa72f000-7fc8fa733000 r--p 00000000 00:00 0                          [vvar]
7ffeeb7fa000-7ffeeb81b000 rw-p 00000000 00:00 0                          [stack]
"""


class RegionsTest(unittest.TestCase):
    def test_proc_maps(self):
        found = regions.parse_proc_maps(MAPS)
        self.assertEqual(len(found), 12)
        self.assertEqual(found[2], regions.Region(0x55f04ccce000, 0x55f04cccf000, "rw-p", "/bin/prog"))
        self.assertEqual(found[3].path, "")
        self.assertEqual(found[4].path, "[heap]")

    def core(self, loads, files):
        """A core with PT_LOADs (vaddr, memsz, flags) and one NT_FILE note."""
        names = b"".join(p.encode() + b"\0" for _, _, p in files)
        desc = struct.pack("<QQ", len(files), 4096) + b"".join(
            struct.pack("<QQQ", s, e, 0) for s, e, _ in files) + names
        note = struct.pack("<III", 5, len(desc), regions.NT_FILE) + b"CORE\0\0\0\0" + desc
        note += b"\0" * (-len(note) % 4)
        phnum = len(loads) + 1
        table_end = 64 + 56 * phnum
        phdrs = struct.pack("<IIQQQQQQ", 4, 0, table_end, 0, 0, len(note), len(note), 4)
        for vaddr, memsz, flags in loads:
            phdrs += struct.pack("<IIQQQQQQ", 1, flags, table_end + len(note), vaddr, 0, 0,
                                 memsz, 4096)
        head = (b"\x7fELF\x02\x01\x01".ljust(16, b"\0")
                + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, phnum, 0, 0, 0))
        data = head + phdrs + note
        return io.BytesIO(data), len(data)

    def test_core_segments_and_nt_file(self):
        f, size = self.core([(0x1000, 0x1000, 5), (0x2000, 0x1000, 6), (0x9000, 0x2000, 6)],
                            [(0x1000, 0x3000, "/bin/prog")])
        found = regions.core_regions(f, size)
        self.assertEqual(found, [regions.Region(0x1000, 0x2000, "r-xp", "/bin/prog"),
                                 regions.Region(0x2000, 0x3000, "rw-p", "/bin/prog"),
                                 regions.Region(0x9000, 0xB000, "rw-p", "")])

    def test_malformed_nt_file_is_no_paths(self):
        desc = struct.pack("<QQ", 1 << 40, 4096)
        self.assertEqual(regions.parse_nt_file(desc), [])
        self.assertEqual(regions.parse_nt_file(b"\1"), [])

    def test_not_a_core(self):
        data = b"not an elf file at all" * 10
        self.assertIsNone(regions.core_regions(io.BytesIO(data), len(data)))


class PlanTest(unittest.TestCase):
    def setUp(self):
        self.maps = regions.parse_proc_maps(MAPS)
        self.main = roots.Thread(1, 101, [("rax", 7), ("r15", 9)], 0x7ffeeb819a40, 0)
        self.other = roots.Thread(2, 102, [("rax", 0)], 0x7fc8fa121e50, 0x7fc8fa1226c0)
        heap_blocks = [0x55f0615f9010, 0x55f0615f9100]
        self.starts = heap_blocks
        self.ends = [0x55f0615f9050, 0x55f0615f9140]

    def root_ranges(self, plan, kind):
        return [(r.address, r.address + r.length) for r in plan.roots
                if r.kind == kind and r.data is None]

    def test_roots_and_what_is_left_out(self):
        plan = roots.plan(self.maps, [self.main, self.other], self.starts, self.ends)
        self.assertEqual(self.root_ranges(plan, roots.ROOT_STACK),
                         [(0x7fc8fa121e50 - 128, 0x7fc8fa123000), (0x7ffeeb819a40 - 128, 0x7ffeeb81b000)])
        data = self.root_ranges(plan, roots.ROOT_DATA)
        # The program's data and the bss right after it; libmemleak.so's never.
        self.assertEqual(data, [(0x55f04ccce000, 0x55f04cccf000), (0x55f04cccf000, 0x55f04ccd1000)])
        self.assertEqual(plan.modules, ["/bin/prog"])
        self.assertEqual(self.root_ranges(plan, roots.ROOT_MAPPING), [(0x7fc8fa123000, 0x7fc8fa20a000)])
        registers = [r for r in plan.roots if r.kind == roots.ROOT_REGISTERS]
        self.assertEqual([(r.owner, r.data) for r in registers],
                         [(0, struct.pack("<2Q", 7, 9)), (1, struct.pack("<Q", 0))])
        # The heap is read for its blocks only, and no read covers libmemleak.so or [vvar].
        heap = [(r.start, r.end) for r in plan.reads if 0x55f0615f9000 <= r.start < 0x55f06161a000]
        self.assertEqual(heap, [(0x55f0615f9010, 0x55f0615f9140)])
        self.assertFalse([r for r in plan.reads if 0x7fc8fa6db000 <= r.start < 0x7fc8fa733000])
        self.assertEqual(len(plan.notes), 2)

    def test_excluded_ranges_split_roots(self):
        plan = roots.plan(self.maps, [self.main], self.starts, self.ends,
                          excluded=[(0x7fc8fa130000, 0x7fc8fa140000)])
        self.assertEqual(self.root_ranges(plan, roots.ROOT_MAPPING),
                         [(0x7fc8f9923000, 0x7fc8fa123000), (0x7fc8fa123000, 0x7fc8fa130000),
                          (0x7fc8fa140000, 0x7fc8fa20a000)])

    def test_a_merged_mapping_keeps_the_programs_part(self):
        # One VMA: glibc's mapping of a 1 MiB block, then 1 MiB the program mapped.
        vma = regions.Region(0x10000000, 0x10202000, "rw-p", "")
        block = 0x10000010
        extents = {block: (0x10000000, 0x10101000)}
        plan = roots.plan([vma], [self.main], [block], [block + (1 << 20)], chunk_extents=extents)
        self.assertEqual(self.root_ranges(plan, roots.ROOT_MAPPING), [(0x10101000, 0x10202000)])
        plan = roots.plan([vma], [self.main], [block], [block + (1 << 20)])
        self.assertEqual(self.root_ranges(plan, roots.ROOT_MAPPING), [])

    def test_reads_are_cut_into_pieces(self):
        big = regions.Region(0x20000000, 0x20000000 + 3 * roots.PIECE + 5, "rw-p", "")
        plan = roots.plan([big], [], [], [])
        self.assertEqual([r.end - r.start for r in plan.reads], [roots.PIECE] * 3 + [5])


class Mem:
    def __init__(self, regions_):
        self.regions = regions_

    def read(self, addr, n):
        for start, data in self.regions.items():
            if start <= addr and addr + n <= start + len(data):
                return data[addr - start:addr - start + n]
        from memleak_gdb.errors import ReadError
        raise ReadError(addr, n)


class GlibcStructuresTest(unittest.TestCase):
    def test_dynamic_tls_roots_follow_the_dtv(self):
        tp = 0x7000
        # glibc's DTV block: the entry count, the generation, one entry per
        # module; the control block points to the generation.
        dtv_block = 0x9000
        dtv = dtv_block + 16
        tls_block = 0xA000
        mem = Mem({
            tp: struct.pack("<QQ", tp, dtv),
            dtv_block: struct.pack("<QQ", 3, 0) + struct.pack("<QQ", 1, 0)
            + struct.pack("<QQ", 0x6000, 0)
            + struct.pack("<QQ", tls_block + 8, tls_block) + struct.pack("<QQ", (1 << 64) - 1, 0),
            tls_block: struct.pack("<QQ", 0, 0xBEEF000),
        })

        def block_at(a):
            return (tls_block, 16) if tls_block <= a < tls_block + 16 else None

        t = roots.Thread(2, 102, [], 0, tp)
        found = roots.dynamic_tls_roots(mem, [t], block_at, roots.DTV_SLOT["x86-64"])
        self.assertEqual(found, [roots.Root(tls_block, 16, struct.pack("<QQ", 0, 0xBEEF000),
                                            roots.ROOT_TLS, 0)])
        # A thread pointer into nothing, or a DTV count beyond reason, is passed over.
        bad = Mem({tp: struct.pack("<QQ", tp, dtv), dtv_block: struct.pack("<QQ", 1 << 40, 0)})
        self.assertEqual(roots.dynamic_tls_roots(bad, [t], block_at, 8), [])
        self.assertEqual(roots.dynamic_tls_roots(Mem({}), [t], block_at, 8), [])

    def test_mmapped_chunk_extents(self):
        size = 1 << 20
        block = 0x10000010
        mem = Mem({block - 16: struct.pack("<QQ", 0, (size + 4096) | 2)})
        self.assertEqual(roots.mmapped_chunk_extents(mem, [block], [size]),
                         {block: (0x10000000, 0x10000000 + size + 4096)})
        arena = Mem({block - 16: struct.pack("<QQ", 0, (size + 16) | 1)})
        self.assertEqual(roots.mmapped_chunk_extents(arena, [block], [size]), {})
        self.assertEqual(roots.mmapped_chunk_extents(mem, [block], [100]), {})


class KindArgsTest(unittest.TestCase):
    def test_kinds(self):
        self.assertEqual(args.parse("top", "--kind reachable,definite").kind,
                         ("definitely_lost", "still_reachable"))
        with self.assertRaises(UsageError):
            args.parse("dump", "--kind lost")
        self.assertEqual(args.parse("leaks", "").n, None)
        self.assertEqual(args.parse("who", "0x10").limit, 100)
        self.assertEqual(args.parse_address("0x10"), 16)
        self.assertIsNone(args.parse_address("&x"))
        with self.assertRaises(UsageError):
            args.parse("why", "")


if __name__ == "__main__":
    unittest.main()
