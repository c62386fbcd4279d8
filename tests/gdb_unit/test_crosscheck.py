"""A corrupted table is answered with `memleak: warning:` lines where its
counters and its records disagree, never with silent nonsense: counters
against each other, counters against the records read, chunk directories
pointing at themselves or at the table's other structures, chunks that
cannot be read."""

import json
import unittest

import fake
import image
from memleak_gdb import commands, reader
from memleak_gdb.errors import MemleakError

ST1 = (0x401000, 0x402000, 0x403000)
ST2 = (0x401100, 0x402000)
LIVE_COUNT, LIVE_BYTES, ALLOCS, FREES = 16, 24, 32, 40


def valid_image(**kw):
    return image.Image(image.blocks_for([(ST1, 100), (ST2, 50), (ST1, 100), (None, 7)] * 5), **kw)


def shard_field(im, shard, offset):
    return image.SHARDS + shard * image.abi.SHARD_SIZE + offset


def run(im, command, argstring=""):
    """(output, warning lines) of one command on the image."""
    out, warned = [], []
    commands.run(command, argstring, lambda: fake.FakeTarget(im), out.append, warned.append)
    return "".join(out), "".join(warned).splitlines()


class ConsistentTableTest(unittest.TestCase):
    def test_no_warning(self):
        im = valid_image()
        for command, args in (("stats", ""), ("top", ""), ("dump", ""), ("stats", "--json"),
                              ("top", "--json")):
            with self.subTest(command=command, args=args):
                out, warned = run(im, command, args)
                self.assertEqual(warned, [])
                self.assertNotIn("warning", out)

    def test_a_shard_in_flux_may_disagree(self):
        # The process stopped inside a hook: the record is written, the
        # counter not yet; the shard is reported in flux instead.
        im = valid_image(locked_shards=(1,))
        im.mem.patch(shard_field(im, 1, LIVE_COUNT), "Q", 0)
        self.assertEqual(run(im, "stats")[1], [])


class CountersTest(unittest.TestCase):
    def test_live_count_nonsense(self):
        im = valid_image()
        live = len(im.shard_blocks[2])
        im.mem.patch(shard_field(im, 2, LIVE_COUNT), "Q", 140631010570976)
        out, warned = run(im, "stats")
        self.assertIn("140631010570", out)  # the counters as the runtime left them
        self.assertEqual(warned, [
            "memleak: warning: shard 2 counts 140631010570976 live blocks, but %d allocations "
            "less 3 frees is %d" % (live + 3, live),
            "memleak: warning: shard 2 counts 140631010570976 live blocks (%d bytes), but its "
            "records hold %d (%d bytes)" % (sum(b["size"] for b in im.shard_blocks[2]), live,
                                            sum(b["size"] for b in im.shard_blocks[2]))])
        doc = json.loads(run(im, "stats", "--json")[0])
        self.assertEqual(len(doc["warnings"]), 2)
        fake.validate(doc)

    def test_live_bytes_nonsense_in_top(self):
        im = valid_image()
        im.mem.patch(shard_field(im, 0, LIVE_BYTES), "Q", 12288 << 40)
        out, warned = run(im, "top")
        self.assertEqual(len(warned), 1)
        self.assertRegex(warned[0], r"^memleak: warning: shard 0 counts \d+ live blocks "
                                    r"\(13510798882111488 bytes\), but its records hold")
        self.assertTrue(out.startswith("memleak top: "))

    def test_record_size_nonsense(self):
        im = valid_image()
        first = im.chunk_addrs[1][0]
        im.mem.patch(first + 8, "IH", 0xFFFFFFFF, 0xFFFF)
        out, warned = run(im, "top", "--json")
        self.assertEqual(len(warned), 1, warned)
        self.assertIn("shard 1 counts", warned[0])
        self.assertEqual(json.loads(out)["warnings"], [warned[0][len("memleak: warning: "):]])

    def test_a_lost_record(self):
        im = valid_image()
        im.mem.patch(im.chunk_addrs[3][0], "Q", 0)
        _, warned = run(im, "dump", "--json")
        self.assertEqual(len(warned), 1)
        self.assertIn("shard 3 counts %d live blocks" % len(im.shard_blocks[3]), warned[0])

    def test_counts_without_chunks(self):
        im = valid_image()
        im.mem.patch(shard_field(im, 1, 4), "I", 0)  # chunk_count
        _, warned = run(im, "stats")
        self.assertEqual(len(warned), 1)
        self.assertIn("but its records hold 0 (0 bytes)", warned[0])


class DirectoriesTest(unittest.TestCase):
    def test_directory_entry_pointing_at_itself(self):
        im = valid_image(records_per_chunk=2)
        directory = image.CHUNK_DIRS + image.CHUNK_DIR_STRIDE
        self.assertGreater(len(im.chunk_addrs[1]), 1)
        im.mem.patch(directory + 8, "Q", directory)
        for command in ("stats", "top", "dump"):
            with self.subTest(command=command):
                out, warned = run(im, command)
                self.assertEqual(warned[0], "memleak: warning: shard 1 chunk 1 at 0x%x overlaps "
                                            "shard 1's chunk directory; not read as records"
                                 % directory)
                self.assertEqual(len(warned), 1)
        t = reader.read_table(im.mem, im.root)
        # The other chunks are read; the one that is the directory is not.
        self.assertEqual(len(t.blocks), 20 - 2)
        self.assertFalse(any(b.address == im.chunk_addrs[1][0] for b in t.blocks))

    def test_chunk_pointing_at_the_shard_array_or_the_root(self):
        for target, what in ((image.SHARDS, "the shard array"), (image.ROOT, "the table's root")):
            with self.subTest(what):
                im = valid_image()
                im.mem.patch(image.CHUNK_DIRS, "Q", target)
                _, warned = run(im, "stats")
                self.assertIn("shard 0 chunk 0 at 0x%x overlaps %s" % (target, what), warned[0])

    def test_chunk_pointing_at_another_shards_directory(self):
        im = valid_image()
        im.mem.patch(image.CHUNK_DIRS, "Q", image.CHUNK_DIRS + 2 * image.CHUNK_DIR_STRIDE)
        _, warned = run(im, "stats")
        self.assertIn("overlaps shard 2's chunk directory", warned[0])


class PartialReadsTest(unittest.TestCase):
    def cut_chunk(self):
        im = valid_image()
        addr = im.chunk_addrs[2][0]
        im.mem.map(addr, im.mem.regions.pop(addr)[:64])
        return im, addr

    def test_stats_counts_what_it_can_read(self):
        im, addr = self.cut_chunk()
        out, warned = run(im, "stats")
        self.assertEqual(warned, ["memleak: warning: shard 2 chunk 0 cannot be read (cannot "
                                  "read 128 bytes at 0x%x: truncated core?); its records are not "
                                  "counted" % addr])
        self.assertIn("live blocks:", out)

    def test_unreadable_directory_in_stats(self):
        im = valid_image()
        im.mem.regions.pop(image.CHUNK_DIRS + 3 * image.CHUNK_DIR_STRIDE)
        _, warned = run(im, "stats")
        self.assertEqual(len(warned), 1)
        self.assertIn("shard 3: its chunk directory cannot be read", warned[0])

    def test_top_and_dump_refuse_a_partial_answer(self):
        im, addr = self.cut_chunk()
        for command in ("top", "dump"):
            with self.subTest(command=command):
                with self.assertRaises(MemleakError) as cm:
                    run(im, command)
                self.assertIn("cannot read 128 bytes at 0x%x" % addr, str(cm.exception))


if __name__ == "__main__":
    unittest.main()
