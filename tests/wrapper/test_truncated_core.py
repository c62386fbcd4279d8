"""`memleak core` on cores cut short: exit status 2 and one line naming the
cut and its sizes, whether gdb refuses the file (a gcore core has its notes
last) or opens it and the table is gone (a kernel core, notes first)."""

import json
import os
import re
import resource
import shutil
import struct
import subprocess
import tempfile
import unittest

from harness import WRAPPER, WrapperTest, built, gcore, run

PHDR = struct.Struct("<IIQQQQQQ")
PT_LOAD, PT_NOTE = 1, 4


def program_headers(path):
    """[(type, offset, vaddr, filesz)] of a 64-bit little-endian ELF core."""
    with open(path, "rb") as f:
        head = f.read(64)
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return [(t, off, vaddr, filesz) for t, _, off, vaddr, _, filesz, _, _ in
            (PHDR.unpack_from(table, i * phentsize) for i in range(phnum))]


def start(workdir):
    """The strings program under `memleak run`, once it is ready: (Popen, pid)."""
    proc = subprocess.Popen(
        [WRAPPER, "run", "--", built("MEMLEAK_TEST_STRINGS")], cwd=workdir,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2))
    line = proc.stdout.readline()
    m = re.match(r"ready pid (\d+)$", line.strip())
    if not m:
        proc.kill()
        raise AssertionError("the program did not start: %r %r" % (line, proc.stderr.read()))
    return proc, int(m.group(1))


class TruncatedCore(WrapperTest):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="memleak-cut-core-test-")
        cls.program = built("MEMLEAK_TEST_STRINGS")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def cut_copy(self, core, size):
        path = os.path.join(self.workdir, "cut-%d.core" % size)
        shutil.copyfile(core, path)
        os.truncate(path, size)
        return path

    def assert_cut_reported(self, core, size, expected, consequence):
        result = run(["core", self.program, core, "top"])
        self.assert_one_error_line(
            result, "%s: core file truncated: %d of %s bytes present; %s"
            % (core, size, expected, consequence))
        self.assertEqual(result.stdout, "")

    def test_gcore_cut_anywhere(self):
        proc, pid = start(self.workdir)
        try:
            core = gcore(pid, os.path.join(self.workdir, "whole.gcore"))
        finally:
            proc.communicate("\n", timeout=60)
        whole = run(["core", self.program, core, "top", "--json"])
        self.assertEqual(whole.returncode, 0, whole.stderr)
        self.assertGreater(json.loads(whole.stdout)["total_bytes"], 0)
        headers = program_headers(core)
        table_end = 64 + 56 * len(headers)
        extent = max(off + size for t, off, _, size in headers if t in (PT_LOAD, PT_NOTE))
        notes = min(off for t, off, _, _ in headers if t == PT_NOTE)
        cuts = {"inside the program headers": (100, "at least %d" % table_end),
                "right after the program headers": (table_end, str(extent)),
                "in the middle of the memory": (notes // 2, str(extent)),
                "right before the notes": (notes, str(extent)),
                "inside the notes": (notes + 100, str(extent)),
                "one byte short": (extent - 1, str(extent))}
        for where, (size, expected) in cuts.items():
            with self.subTest(cut=where):
                self.assert_cut_reported(self.cut_copy(core, size), size, expected,
                                         "gdb cannot open it")

    def test_kernel_core_cut_through_the_table(self):
        with open("/proc/sys/kernel/core_pattern") as f:
            pattern = f.read().strip()
        if pattern.startswith("|") or "/" in pattern or "%" in pattern.replace("%p", ""):
            self.skipTest("core_pattern %r does not write a core in the process's directory"
                          % pattern)
        proc, pid = start(self.workdir)
        proc.communicate("abort\n", timeout=60)
        names = [pattern.replace("%p", str(pid)), "%s.%d" % (pattern, pid)]
        found = [os.path.join(self.workdir, n) for n in names
                 if os.path.isfile(os.path.join(self.workdir, n))]
        if not found:
            self.skipTest("the kernel wrote no core (core_pattern %r)" % pattern)
        core = found[0]
        whole = run(["core", self.program, core, "stats", "--json"])
        self.assertEqual(whole.returncode, 0, whole.stderr)
        # The cut goes through the runtime's shard array, which every
        # command reads first.
        root = subprocess.run(["gdb", "-nx", "-batch", self.program, core,
                               "-ex", "info address memleak_introspect"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=120).stdout
        m = re.search(r"memleak_introspect.*?(0x[0-9a-f]+)", root)
        self.assertIsNotNone(m, root)
        headers = program_headers(core)
        loads = [(off, vaddr, size) for t, off, vaddr, size in headers if t == PT_LOAD]

        def file_offset(address):
            for off, vaddr, size in loads:
                if vaddr <= address < vaddr + size:
                    return off + address - vaddr
            self.fail("0x%x is not in the core" % address)

        with open(core, "rb") as f:
            f.seek(file_offset(int(m.group(1), 16) + 80))  # memleak_introspect.shards
            shards, = struct.unpack("<Q", f.read(8))
        size = file_offset(shards) + 100
        extent = max(off + filesz for t, off, _, filesz in headers if t in (PT_LOAD, PT_NOTE))
        cut = self.cut_copy(core, size)
        for command in ("top", "stats"):
            with self.subTest(command=command):
                result = run(["core", self.program, cut, command])
                self.assert_one_error_line(
                    result, "%s: core file truncated: %d of %d bytes present; "
                    % (cut, size, extent))
                self.assertEqual(result.stdout, "")


if __name__ == "__main__":
    unittest.main()
