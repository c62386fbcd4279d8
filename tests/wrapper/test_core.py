"""`memleak core` on a core of the demo service: top, since, folded and SVG totals, errors."""

import json
import os
import shutil
import struct
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

from harness import (SERVICE_SOURCE, Service, WrapperTest, built, gcore, run, source_line,
                     start_plain)

SVG = "{http://www.w3.org/2000/svg}"


class Core(WrapperTest):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="memleak-core-test-")
        cls.program = built("MEMLEAK_TEST_SERVICE")
        with Service("--rate", "400") as service:
            time.sleep(1.0)
            cls.core = gcore(service.pid, os.path.join(cls.workdir, "service.core"))
            cls.pid = service.pid

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def core_cmd(self, *words, program=None, core=None):
        return run(["core", program or self.program, core or self.core] + list(words))

    def top_json(self, *words):
        result = self.core_cmd("top", "--json", *words)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def test_top_from_the_core(self):
        result = self.core_cmd()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.startswith("memleak top: "), result.stdout[:200])
        top = self.top_json()
        self.assertEqual(top["pid"], self.pid)
        pool_line = source_line(os.path.join(SERVICE_SOURCE, "buffer_pool.c"),
                                "buf->data = malloc(capacity);")
        self.assertTrue(any(g["stack"] and g["stack"][0]["line"] == pool_line
                            and g["stack"][0]["file"].endswith("buffer_pool.c")
                            for g in top["groups"]))

    def test_since_the_programs_own_mark(self):
        # The service calls memleak_mark("startup") once its tables exist.
        result = self.core_cmd("since", "startup", "--json")
        self.assertEqual(result.returncode, 0, result.stderr)
        grown = json.loads(result.stdout)
        self.assertGreater(grown["total_bytes"], 0)
        self.assertLess(grown["total_bytes"], self.top_json()["total_bytes"])
        over = self.core_cmd("since", "startup", "--fail-over", "1KiB")
        self.assertNotEqual(over.returncode, 0)
        self.assertIn("memleak:", over.stderr)
        under = self.core_cmd("since", "startup", "--fail-over", "1GiB")
        self.assertEqual(under.returncode, 0, under.stderr)

    def test_folded_sums_equal_top_totals(self):
        for by, key in (("bytes", "total_bytes"), ("count", "total_count")):
            total = self.top_json("--by", by)[key]
            result = self.core_cmd("top", "--folded", "--by", by)
            self.assertEqual(result.returncode, 0, result.stderr)
            lines = result.stdout.splitlines()
            self.assertTrue(lines)
            # Frames below main are left out unless --show-below-main.
            self.assertTrue(all(l.startswith("main;") for l in lines), lines[:3])
            self.assertEqual(sum(int(l.rpartition(" ")[2]) for l in lines), total, by)

    def test_svg_totals_equal_top_totals(self):
        top = self.top_json()
        path = os.path.join(self.workdir, "flame.svg")
        result = self.core_cmd("top", "--svg", path)
        self.assertEqual(result.returncode, 0, result.stderr)
        root = ET.parse(path).getroot()
        frames = [g for g in root.iter(SVG + "g") if g.get("class") == "frame"]
        base = [g for g in frames if g.get("data-d") == "0"]
        self.assertEqual(len(base), 1)
        self.assertEqual(int(base[0].get("data-bytes")), top["total_bytes"])
        self.assertEqual(int(base[0].get("data-count")), top["total_count"])
        children = [g for g in frames if g.get("data-d") == "1"]
        self.assertEqual(sum(int(g.get("data-w")) for g in children), top["total_bytes"])
        names = {g.get("data-name") for g in frames}
        self.assertIn("bufpool_acquire", names)

    def test_missing_files(self):
        self.assert_one_error_line(self.core_cmd(core="/nonexistent/core.1"),
                                   "/nonexistent/core.1", "no such core file")
        self.assert_one_error_line(self.core_cmd(program="/nonexistent/prog"),
                                   "/nonexistent/prog", "no such program")

    def test_not_a_core(self):
        self.assert_one_error_line(self.core_cmd(core=self.program), "not a core file")
        text = os.path.join(self.workdir, "notes.txt")
        with open(text, "w") as f:
            f.write("hello\n")
        self.assert_one_error_line(self.core_cmd(core=text), "not a core file")
        wild = os.path.join(self.workdir, "wild.core")
        header = bytearray(64)
        header[:6] = b"\x7fELF\x02\x01"
        struct.pack_into("<H", header, 16, 4)                   # ET_CORE
        struct.pack_into("<Q", header, 32, 1 << 63)             # program headers far past the end
        struct.pack_into("<HH", header, 54, 56, 3)
        with open(wild, "wb") as f:
            f.write(header)
        self.assert_one_error_line(self.core_cmd(core=wild), "corrupt program headers")

    def test_core_of_another_program(self):
        other = built("MEMLEAK_TEST_EXIT_WITH")
        self.assert_one_error_line(self.core_cmd(program=other), "is not the program that dumped",
                                   "memleak-demo-service", "build-id")

    def test_rebuilt_program_at_the_same_path(self):
        # Same path, same name, different build: only the build-id tells them apart.
        copy = os.path.join(self.workdir, "memleak-demo-service")
        shutil.copy(self.program, copy)
        with Service("--rate", "100", program=copy) as service:
            time.sleep(0.3)
            core = gcore(service.pid, os.path.join(self.workdir, "copy.core"))
        shutil.copy(built("MEMLEAK_TEST_EXIT_WITH"), copy)
        self.assert_one_error_line(self.core_cmd(program=copy, core=core),
                                   "is not the program that dumped")

    def test_core_without_the_runtime(self):
        proc = start_plain(built("MEMLEAK_TEST_EXIT_WITH"), "wait")
        try:
            core = gcore(proc.pid, os.path.join(self.workdir, "plain.core"))
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
        self.assert_one_error_line(
            self.core_cmd(program=built("MEMLEAK_TEST_EXIT_WITH"), core=core),
            "not dumped from a process running the memleak runtime")


if __name__ == "__main__":
    unittest.main()
