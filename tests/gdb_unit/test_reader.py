import struct
import unittest

import image
from memleak_gdb import reader
from memleak_gdb.errors import MemleakError

ST1 = (0x401000, 0x402000, 0x403000)
ST2 = (0x401100, 0x402000)


def valid_image(**kw):
    blocks = image.blocks_for([(ST1, 100), (ST2, 50), (ST1, 100), (None, 7)] * 5)
    return image.Image(blocks, marks=[("start", 3, 20, 2), ("half", 0, 0, 1)], **kw)


class DecodeTest(unittest.TestCase):
    def test_valid_table(self):
        im = valid_image()
        t = reader.read_table(im.mem, im.root)
        self.assertEqual(len(t.blocks), 20)
        self.assertEqual(sum(b.size for b in t.blocks), 5 * 257)
        self.assertEqual(sorted(b.seq for b in t.blocks), list(range(1, 21)))
        self.assertEqual(t.stack(im.stack_ids[ST1]).pcs, ST1)
        self.assertEqual(t.stack(im.stack_ids[ST2]).pcs, ST2)
        self.assertEqual(t.stack(0).pcs, ())
        self.assertEqual(t.header.pid, 4242)
        self.assertEqual(t.header.runtime_version, "1.0.0")
        self.assertEqual([(m.name, m.seq) for m in t.valid_marks()], [("start", 3)])
        self.assertEqual(t.shards_in_flux, 0)
        self.assertEqual(t.newest_ticks, 200)

    def test_48_bit_fields(self):
        size = (1 << 40) + 12345
        seq = (1 << 33) + 7
        im = image.Image([{"address": 0x7000, "size": size, "seq": seq, "ticks": 5, "tid": 9,
                           "stack": ST1}])
        (b,) = reader.read_table(im.mem, im.root).blocks
        self.assertEqual((b.address, b.size, b.seq, b.ticks, b.tid), (0x7000, size, seq, 5, 9))

    def test_stacks_across_depot_chunks(self):
        stacks = [tuple(0x400000 + 0x10 * i + j for j in range(1 + i % 5)) for i in range(40)]
        im = image.Image(image.blocks_for([(s, 8) for s in stacks]), stack_chunk_size=64)
        self.assertGreater(len(im.depot), 5)
        t = reader.read_table(im.mem, im.root)
        got = sorted(t.stack(b.stack_id).pcs for b in t.blocks)
        self.assertEqual(got, sorted(stacks))

    def test_truncated_flag(self):
        im = image.Image(image.blocks_for([(ST1, 8)]), truncated_stacks=(ST1,))
        t = reader.read_table(im.mem, im.root)
        self.assertTrue(t.stack(im.stack_ids[ST1]).truncated)

    def test_locked_shard_is_read_and_counted(self):
        im = valid_image(locked_shards=(1, 2))
        t = reader.read_table(im.mem, im.root)
        self.assertEqual(len(t.blocks), 20)
        self.assertEqual(t.shards_in_flux, 2)

    def test_empty_table(self):
        im = image.Image([])
        t = reader.read_table(im.mem, im.root)
        self.assertEqual(t.blocks, [])
        self.assertEqual(t.newest_ticks, 0)

    def test_reads_whole_arrays(self):
        im = valid_image()
        im.mem.reads = 0
        reader.read_table(im.mem, im.root)
        chunks = sum(len(a) for a in im.chunk_addrs)
        # root (2) + shard array + one directory per shard with chunks +
        # one read per chunk + depot directory + depot chunks + marks +
        # region directory + region chunks.
        dirs = sum(1 for a in im.chunk_addrs if a)
        region_chunks = -(-(len(im.regions) + 1) // 4)
        self.assertEqual(im.mem.reads, 2 + 1 + dirs + chunks + 1 + len(im.depot) + 1 + 1 + region_chunks)


class DecoderTest(unittest.TestCase):
    def records(self, record_size):
        data = bytearray()
        for i in range(40):
            address = 0 if i % 3 == 0 else 0x7f0000000000 + 64 * i
            size, seq = (i << 36) + i, (i << 40) + 3 * i
            data += struct.pack("<QIHHIIII", address, size & 0xFFFFFFFF, size >> 32, seq >> 32,
                                seq & 0xFFFFFFFF, i, 100 + i, 7 * i)
            data += bytes(record_size - 32)
        return bytes(data)

    def test_native_and_struct_decoders_agree(self):
        for record_size in (32, 40, 64):
            with self.subTest(record_size=record_size):
                data = self.records(record_size)
                native = list(reader._decode_records_native(data, record_size))
                plain = reader._decode_records_struct(data, record_size)
                self.assertEqual(native, plain)
                self.assertEqual(len(native), 26)
                b = native[0]
                self.assertEqual((b.address, b.size, b.seq, b.ticks, b.tid, b.stack_id),
                                 (0x7f0000000040, (1 << 36) + 1, (1 << 40) + 3, 1, 101, 7))


class CorruptionTest(unittest.TestCase):
    def assertError(self, im, text):
        with self.assertRaises(MemleakError) as cm:
            reader.read_table(im.mem, im.root)
        self.assertIn(text, str(cm.exception))
        return str(cm.exception)

    def test_wrong_magic(self):
        im = valid_image()
        im.mem.patch(im.root, "Q", 0x1234)
        self.assertError(im, "not a memleak table")

    def test_table_not_set_up(self):
        im = valid_image()
        im.mem.patch(im.root, "Q", 0)
        self.assertError(im, "not set up yet")

    def test_unknown_version(self):
        im = valid_image()
        im.mem.patch(im.root + 8, "I", 7)
        msg = self.assertError(im, "unknown ABI version 7 (this gdb extension reads 1)")
        self.assertEqual(msg, "unknown ABI version 7 (this gdb extension reads 1)")

    def test_small_size(self):
        im = valid_image()
        im.mem.patch(im.root + 12, "I", 200)
        self.assertError(im, "corrupt table: memleak_introspect size is 200")

    def test_record_size_and_offsets(self):
        for off, fmt, value, text in [
                (16, "I", 24, "record size is 24"),
                (20, "I", 100, "shard size is 100"),
                (24, "I", 4, "stack size is 4"),
                (28, "I", 32, "mark size is 32"),
                (32 + 2 * 4, "H", 18, "record field seq_lo at offset 18, expected 16"),
                (48 + 2 * 2, "H", 12, "shard field chunks at offset 12, expected 8"),
                (64 + 2 * 1, "H", 2, "stack field depth at offset 2, expected 4"),
                (72 + 2 * 1, "H", 40, "mark field seq at offset 40, expected 48")]:
            with self.subTest(text):
                im = valid_image()
                im.mem.patch(im.root + off, fmt, value)
                self.assertError(im, "corrupt table: " + text)

    def test_bad_counts_in_header(self):
        for off, value, text in [
                (88, 3, "shard_count is 3"),
                (88, 0, "shard_count is 0"),
                (88, 1 << 20, "shard_count is 1048576"),
                (92, 0, "records_per_chunk is 0"),
                (100, 0, "max_depth is 0"),
                (100, 100000, "max_depth is 100000"),
                (112, 65, "stack_chunk_count is 65"),
                (116, 12, "stack_chunk_size is 12"),
                (144, 1 << 20, "mark_capacity is 1048576")]:
            with self.subTest(text):
                im = valid_image()
                im.mem.patch(im.root + off, "I", value)
                self.assertError(im, "corrupt table: " + text)

    def test_shard_pointer(self):
        for value, text in [(0, "shard array is a null pointer"),
                            (image.SHARDS + 4, "not 8-byte aligned"),
                            (1 << 60, "not a user-space address")]:
            with self.subTest(text):
                im = valid_image()
                im.mem.patch(im.root + 80, "Q", value)
                self.assertError(im, "corrupt table: ")
                self.assertError(im, text)

    def test_unmapped_shard_array(self):
        im = valid_image()
        im.mem.patch(im.root + 80, "Q", 0x900000000)
        msg = self.assertError(im, "cannot read 480 bytes at 0x900000000: truncated core?")
        self.assertEqual(msg, "cannot read 480 bytes at 0x900000000: truncated core?")

    def test_chunk_count_over_max(self):
        im = valid_image()
        im.mem.patch(image.SHARDS + 120 + 4, "I", 9)
        self.assertError(im, "corrupt table: shard 1 has 9 chunks, more than max_chunks_per_shard 8")

    def test_huge_counts_fail_before_reading(self):
        im = valid_image(records_per_chunk=4, max_chunks=1 << 24)
        for i in range(4):
            im.mem.patch(image.SHARDS + 120 * i + 4, "I", 1 << 24)
        im.mem.patch(im.root + 92, "I", 1 << 20)
        im.mem.reads = 0
        self.assertError(im, "more than any process holds")
        self.assertLess(im.mem.reads, 5)

    def test_huge_single_reads_refused_before_reading(self):
        # gdb aborts (it does not fail the read) when it cannot allocate the
        # buffer of one huge request, so no such request may reach it.
        for patches, text in [
                ([(16, 65528), (92, 1 << 24)], "a record chunk would be"),
                ([(20, 65528), (88, 1 << 16)], "the shard array would be")]:
            with self.subTest(text):
                im = valid_image()
                for off, value in patches:
                    im.mem.patch(im.root + off, "I", value)
                self.assertError(im, "corrupt table: " + text)

    def test_chunk_pointer_bad_or_shared(self):
        im = valid_image()
        im.mem.patch(image.CHUNK_DIRS + image.CHUNK_DIR_STRIDE, "Q", 0x13)
        self.assertError(im, "corrupt table: shard 1 chunk 0 0x13 is not 8-byte aligned")
        im = valid_image()
        im.mem.patch(image.CHUNK_DIRS + image.CHUNK_DIR_STRIDE, "Q", im.chunk_addrs[0][0])
        self.assertError(im, "is listed twice")
        im = valid_image()
        im.mem.patch(image.CHUNK_DIRS + image.CHUNK_DIR_STRIDE, "Q", 0x7fff0000)
        self.assertError(im, "cannot read 128 bytes at 0x7fff0000")

    def test_stack_id_out_of_range(self):
        im = valid_image()
        first = im.chunk_addrs[0][0]
        im.mem.patch(first + 28, "I", 100000)
        self.assertError(im, "corrupt table: stack id 100000 is beyond the")

    def test_stack_id_pointing_at_unused_tail(self):
        im = valid_image()
        im.mem.patch(im.chunk_addrs[0][0] + 28, "I", 15)
        self.assertError(im, "corrupt table: stack id 15 has depth 0")

    def test_depth_over_max(self):
        im = valid_image()
        im.mem.patch(image.DEPOT_CHUNKS + 4, "H", 33)
        self.assertError(im, "corrupt table: stack id 1 has depth 33 (max_depth 32)")

    def test_depth_crossing_chunk(self):
        im = valid_image(max_depth=100)
        im.mem.patch(image.DEPOT_CHUNKS + 4, "H", 20)
        self.assertError(im, "frames cross its chunk")

    def test_huge_depot_fails_before_reading(self):
        im = valid_image()
        im.mem.patch(im.root + 112, "II", 1 << 20, 1 << 28)
        im.mem.patch(im.root + 132, "I", 1 << 24)
        im.mem.reads = 0
        with self.assertRaises(MemleakError) as cm:
            reader._Depot(im.mem, reader.read_header(im.mem, im.root))
        self.assertIn("more than any process holds", str(cm.exception))
        self.assertLess(im.mem.reads, 4)

    def test_stack_directory_repeats_chunk(self):
        stacks = [tuple(range(0x400000 + 8 * i, 0x400000 + 8 * i + 5)) for i in range(10)]
        im = image.Image(image.blocks_for([(s, 8) for s in stacks]), stack_chunk_size=64)
        im.mem.patch(image.DEPOT_DIR + 8, "Q", image.DEPOT_CHUNKS)
        self.assertError(im, "stack depot lists a chunk twice")

    def test_truncated_core(self):
        im = valid_image()
        addr = im.chunk_addrs[2][0]
        buf = im.mem.regions.pop(addr)
        im.mem.map(addr, buf[:64])
        self.assertError(im, "cannot read 128 bytes at 0x%x: truncated core?" % addr)

    def test_root_unreadable(self):
        im = valid_image()
        with self.assertRaises(MemleakError) as cm:
            reader.read_table(im.mem, 0x5550000)
        self.assertEqual(str(cm.exception), "cannot read 16 bytes at 0x5550000: truncated core?")

    def test_marks_count_beyond_capacity_reads_capacity(self):
        im = valid_image()
        im.mem.patch(im.root + 148, "I", 1000)
        t = reader.read_table(im.mem, im.root)
        self.assertEqual(len(t.marks), 8)

    def test_random_corruption_never_escapes(self):
        import random
        rng = random.Random(1)
        base = valid_image()
        for _ in range(300):
            im = valid_image()
            region = rng.choice(list(im.mem.regions))
            buf = im.mem.regions[region]
            pos = rng.randrange(len(buf))
            buf[pos] = rng.randrange(256)
            try:
                reader.read_table(im.mem, im.root)
            except MemleakError:
                pass
        self.assertTrue(base.mem.regions)


class RegionsTest(unittest.TestCase):
    """The runtime's own regions, which a reachability scan leaves out."""

    def test_listed_across_chunks_sorted(self):
        im = valid_image()
        t = reader.read_table(im.mem, im.root)
        self.assertGreater(len(im.regions) + 1, 4, "more than one region chunk")
        expected = sorted(set(im.regions) | {(image.REGION_CHUNKS, 4 * 32, 1)})
        self.assertEqual([tuple(r) for r in t.regions], expected)
        for addrs in im.chunk_addrs:
            for a in addrs:
                self.assertTrue(any(r.start <= a and a + 4 * 32 <= r.start + r.size and r.kind == 2
                                    for r in t.regions), hex(a))

    def test_same_without_records(self):
        im = valid_image()
        self.assertEqual(reader.read_table(im.mem, im.root, records=False).regions,
                         reader.read_table(im.mem, im.root).regions)

    def test_unused_and_half_claimed_slots_skipped(self):
        im = valid_image(regions=[(0x7000000, 0x1000, 4), (0x7100000, 0x2000, 5)])
        # Slot 1 of chunk 0: a start without a size is being claimed.
        im.mem.patch(image.REGION_CHUNKS + 32 + 8, "Q", 0)
        t = reader.read_table(im.mem, im.root)
        self.assertEqual([tuple(r) for r in t.regions],
                         [(image.REGION_CHUNKS, 128, 1), (0x7100000, 0x2000, 5)])

    def test_runtime_without_regions(self):
        im = valid_image(region_layout=False)
        self.assertIsNone(reader.read_table(im.mem, im.root).regions)

    def test_empty_table(self):
        im = image.Image([], regions=[])
        self.assertEqual([tuple(r) for r in reader.read_table(im.mem, im.root).regions],
                         [(image.REGION_CHUNKS, 128, 1)])

    def assertError(self, im, text):
        with self.assertRaises(MemleakError) as cm:
            reader.read_table(im.mem, im.root)
        self.assertIn(text, str(cm.exception))

    def test_bad_layout(self):
        im = valid_image()
        im.mem.patch(im.root + 276, "I", 24)
        self.assertError(im, "region size is 24")
        im = valid_image()
        im.mem.patch(im.root + 282, "H", 12)
        self.assertError(im, "region field size at offset 12, expected 8")

    def test_bad_counts(self):
        im = valid_image()
        im.mem.patch(im.root + 264, "I", 65)
        self.assertError(im, "region_chunk_count is 65, outside 0..64")
        im = valid_image()
        im.mem.patch(im.root + 268, "I", 1 << 20)
        self.assertError(im, "max_region_chunks")
        im = valid_image()
        im.mem.patch(im.root + 272, "I", 0)
        self.assertError(im, "regions_per_chunk is 0")

    def test_huge_table_refused_before_reading(self):
        im = valid_image()
        im.mem.patch(im.root + 268, "I", 60000)
        im.mem.patch(im.root + 264, "I", 60000)
        im.mem.patch(im.root + 272, "I", 1 << 20)
        sizes = []
        read = im.mem.read
        im.mem.read = lambda addr, n: sizes.append(n) or read(addr, n)
        self.assertError(im, "more than")
        self.assertLessEqual(max(sizes), 1 << 16, "nothing of the huge table was read")

    def test_bad_pointers(self):
        im = valid_image()
        im.mem.patch(im.root + 256, "Q", 0)
        self.assertError(im, "region chunk directory is a null pointer")
        im = valid_image()
        im.mem.patch(image.REGION_DIR + 8, "Q", image.REGION_CHUNKS)
        self.assertError(im, "region table lists a chunk twice")
        im = valid_image()
        im.mem.patch(image.REGION_DIR, "Q", 0x3)
        self.assertError(im, "region chunk 0 0x3 is not 8-byte aligned")
        im = valid_image()
        im.mem.patch(image.REGION_DIR, "Q", 0x9990000)
        self.assertError(im, "cannot read")

    def test_bad_region(self):
        im = valid_image()
        im.mem.patch(image.REGION_CHUNKS + 32, "Q", 0x7000123)
        self.assertError(im, "runtime region 0x7000123")
        im = valid_image()
        im.mem.patch(image.REGION_CHUNKS + 32 + 8, "Q", 1 << 60)
        self.assertError(im, "not a page-aligned user-space range")


if __name__ == "__main__":
    unittest.main()
