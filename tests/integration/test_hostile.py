"""Integration tests: hostile cores: no runtime, truncated, corrupted counters,
pointers and versions.
How every case runs: harness.py."""

import os
import re
import shutil
import unittest
from pathlib import Path

from harness import (
    CoreFile,
    GdbTestCase,
    INTROSPECT_MAGIC,
    INTROSPECT_RECORDS_PER_CHUNK,
    INTROSPECT_SHARDS,
    INTROSPECT_SHARD_COUNT,
    INTROSPECT_STACK_CHUNKS,
    INTROSPECT_VERSION,
    LEAKY_C,
    LIB,
    RECORD_SIZE,
    RECORD_STACK_ID,
    SHARD_CHUNK_COUNT,
    SHARD_LIVE_COUNT,
    SHARD_SIZE,
    STACK_DEPTH,
    require_env,
    c_marks,
    gdb,
    load_json,
    validate_top,
)


class HostileTests(GdbTestCase):
    """Cores the reader must refuse in one line, without a traceback or hang."""

    def core_of(self, preload=True):
        self.need_attach()
        require_env(self, ("program", LEAKY_C))
        prog = self.start([LEAKY_C, "wait"], preload=preload)
        prog.wait_for("ready")
        return self.gcore(prog)

    def introspect_address(self, core):
        run = gdb([str(LEAKY_C), str(core)], "info address memleak_introspect")
        m = re.search(r"memleak_introspect.*?(0x[0-9a-fA-F]+)", run.output)
        self.assertIsNotNone(m, "gdb does not know memleak_introspect\n" + run.describe())
        return int(m.group(1), 16)

    def corrupted_core(self, patch):
        core = self.core_of()
        root = self.introspect_address(core)
        elf = CoreFile(core)
        magic, = elf.read(root + INTROSPECT_MAGIC, "<Q")
        self.assertEqual(magic, 0x314b41454c4d454d, "memleak_introspect not found in the core")
        patch(elf, root)
        return core

    def assertRefused(self, core, *needles):
        for command in ("memleak top", "memleak dump --json", "memleak stats"):
            with self.subTest(command=command):
                self.assertOneError(gdb([str(LEAKY_C), str(core)], command), *needles)

    def test_core_without_runtime(self):
        self.assertRefused(self.core_of(preload=False))

    def assertTruncatedHandled(self, core, whole_size, table_cut, *setup):
        """A cut core either still holds the whole table, and the answer is
        whole, or gets the one line that names the cut and its sizes;
        `table_cut` says the cut went through the table, so only the line
        will do. `setup` are gdb commands run first."""
        out = self.tmp / "top.json"
        run = gdb([str(LEAKY_C), str(core)], *setup, f"memleak top --json --output {out}")
        self.assertClean(run)
        self.assertNotIn("not a core dump", run.output,
                         "gdb did not open the cut core, the reader was not reached")
        lines = run.memleak_lines()
        if lines or table_cut:
            self.assertEqual(len(lines), 1, run.describe())
            self.assertIn(f"core file truncated: {core.stat().st_size} of {whole_size} "
                          "bytes present", lines[0], run.describe())
            self.assertNotIn("LD_PRELOAD", lines[0], run.describe())
        else:
            self.assertEqual(run.returncode, 0, run.describe())
            self.assertLeaksMatch(validate_top(load_json(out)), c_marks())

    def test_truncated_gcore(self):
        # gcore writes its notes last: cut in half, gdb itself rejects the
        # file and says so, so there is no core for the reader to look at.
        core = self.core_of()
        os.truncate(core, core.stat().st_size // 2)
        run = gdb([str(LEAKY_C), str(core)], "memleak top")
        self.assertIn("not a core dump", run.output, run.describe())
        self.assertOneError(run, "no process or core file")

    def test_truncated_kernel_core(self):
        # The kernel writes its notes first, so gdb opens a cut core and the
        # reader meets the missing memory: the loader's library list (the
        # runtime looks absent) or the table itself.
        self.need_attach()
        core = self.kernel_core()
        whole = core.stat().st_size
        root = self.introspect_address(core)
        elf = CoreFile(core)
        shards, = elf.read(root + INTROSPECT_SHARDS, "<Q")
        cuts = {}
        for where, size in (("half", whole // 2),
                            ("inside the shard array", elf.offset_of(shards) + 2 * SHARD_SIZE + 7)):
            cuts[where] = self.tmp / f"cut-{size}.core"
            shutil.copyfile(core, cuts[where])
            os.truncate(cuts[where], size)
        with self.subTest(cut="half"):
            self.assertTruncatedHandled(cuts["half"], whole, False)
        shard_cut = cuts["inside the shard array"]
        with self.subTest(cut="inside the shard array"):
            self.assertTruncatedHandled(shard_cut, whole, True)
        # With the runtime's symbols loaded by hand, gdb finds the table in
        # the cut core and the reader meets the missing shard array itself.
        with self.subTest(cut="inside the shard array, library symbols loaded by hand"):
            base = self.mapping_base(shard_cut, LIB)
            self.assertTruncatedHandled(shard_cut, whole, True,
                                        f'add-symbol-file "{LIB}" -o {base:#x}')

    def mapping_base(self, core, path):
        """Where the core's file list (its NT_FILE note) maps offset 0 of `path`."""
        run = gdb([str(LEAKY_C), str(core)], "info proc mappings")
        for line in run.output.splitlines():
            f = line.split(maxsplit=4)
            if (len(f) == 5 and f[0].startswith("0x") and int(f[3], 16) == 0
                    and Path(f[4]).resolve() == Path(path).resolve()):
                return int(f[0], 16)
        self.fail(f"{path} is not in the core's mappings\n" + run.describe())

    def test_bad_magic(self):
        core = self.corrupted_core(
            lambda elf, root: elf.write(root + INTROSPECT_MAGIC, "<Q", 0x0123456789ABCDEF))
        self.assertRefused(core)

    def test_unknown_abi_version(self):
        core = self.corrupted_core(
            lambda elf, root: elf.write(root + INTROSPECT_VERSION, "<I", 7))
        self.assertRefused(core, "unknown ABI version")

    def test_wild_shard_pointer(self):
        core = self.corrupted_core(
            lambda elf, root: elf.write(root + INTROSPECT_SHARDS, "<Q", 0x10))
        self.assertOneError(gdb([str(LEAKY_C), str(core)], "memleak top"))

    def test_more_corruptions(self):
        def first_record(elf, root):
            shards, = elf.read(root + INTROSPECT_SHARDS, "<Q")
            count, = elf.read(root + INTROSPECT_SHARD_COUNT, "<I")
            per_chunk, = elf.read(root + INTROSPECT_RECORDS_PER_CHUNK, "<I")
            for i in range(count):
                chunk_count, chunks = elf.read(shards + i * SHARD_SIZE + SHARD_CHUNK_COUNT, "<IQ")
                if chunk_count:
                    chunk, = elf.read(chunks, "<Q")
                    for r in range(per_chunk):
                        if elf.read(chunk + r * RECORD_SIZE, "<Q")[0]:
                            return chunk + r * RECORD_SIZE
            self.fail("no record in the core's table")

        def first_stack(elf, root):
            chunks, = elf.read(root + INTROSPECT_STACK_CHUNKS, "<Q")
            return elf.read(chunks, "<Q")[0]

        patches = {
            "stack depot pointer": lambda elf, root: elf.write(
                root + INTROSPECT_STACK_CHUNKS, "<Q", 0x10),
            "shard count not a power of two": lambda elf, root: elf.write(
                root + INTROSPECT_SHARD_COUNT, "<I", 3),
            "record stack id past the depot": lambda elf, root: elf.write(
                first_record(elf, root) + RECORD_STACK_ID, "<I", 0x7FFFFFFF),
            "stack depth past max_depth": lambda elf, root: elf.write(
                first_stack(elf, root) + STACK_DEPTH, "<H", 0xFFFF),
        }
        pristine = self.core_of()
        root = self.introspect_address(pristine)
        for what, patch in patches.items():
            with self.subTest(corrupt=what):
                core = self.tmp / "corrupt.core"
                shutil.copyfile(pristine, core)
                patch(CoreFile(core), root)
                self.assertOneError(gdb([str(LEAKY_C), str(core)], "memleak dump"))

    def first_shard_with_chunks(self, elf, root):
        """(index, address, chunk directory) of the first shard holding live blocks."""
        shards, = elf.read(root + INTROSPECT_SHARDS, "<Q")
        count, = elf.read(root + INTROSPECT_SHARD_COUNT, "<I")
        for i in range(count):
            at = shards + i * SHARD_SIZE
            chunk_count, chunks = elf.read(at + SHARD_CHUNK_COUNT, "<IQ")
            if chunk_count and elf.read(at + SHARD_LIVE_COUNT, "<Q")[0]:
                return i, at, chunks
        self.fail("no shard of the core's table holds a live block")

    def test_corrupted_counters_are_warned_about(self):
        def patch(elf, root):
            self.shard, at, _ = self.first_shard_with_chunks(elf, root)
            elf.write(at + SHARD_LIVE_COUNT, "<Q", 140631010570976)
        core = self.corrupted_core(patch)
        run = gdb([str(LEAKY_C), str(core)], "memleak stats")
        self.assertClean(run)
        self.assertEqual(run.returncode, 0, run.describe())
        # The counters as the runtime left them (the sum over the shards).
        self.assertRegex(run.output, r"live blocks:\s+1406310105709\d\d\n", run.describe())
        lines = run.memleak_lines()
        self.assertEqual(len(lines), 2, run.describe())
        for line in lines:
            self.assertTrue(line.startswith("memleak: warning: shard %d counts 140631010570976 "
                                            "live blocks" % self.shard), run.describe())

    def test_chunk_directory_pointing_at_itself(self):
        def patch(elf, root):
            self.shard, _, self.directory = self.first_shard_with_chunks(elf, root)
            elf.write(self.directory, "<Q", self.directory)
        core = self.corrupted_core(patch)
        for command in ("memleak top", "memleak stats"):
            with self.subTest(command=command):
                run = gdb([str(LEAKY_C), str(core)], command)
                self.assertClean(run)
                self.assertEqual(run.returncode, 0, run.describe())
                self.assertEqual(run.memleak_lines(), [
                    "memleak: warning: shard %d chunk 0 at 0x%x overlaps shard %d's chunk "
                    "directory; not read as records" % (self.shard, self.directory, self.shard)],
                    run.describe())

    def test_huge_chunk_count(self):
        def patch(elf, root):
            shards, = elf.read(root + INTROSPECT_SHARDS, "<Q")
            elf.write(shards + SHARD_CHUNK_COUNT, "<I", 0xFFFFFFF0)
        core = self.corrupted_core(patch)
        self.assertOneError(gdb([str(LEAKY_C), str(core)], "memleak top"))


if __name__ == "__main__":
    unittest.main()
