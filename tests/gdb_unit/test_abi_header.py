"""The Python mirror (abi.py) agrees with runtime/include/memleak/abi.h:
first with the header's static_asserts as text, then with the compiler's
own offsetof when a C compiler is present."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import image  # noqa: F401
from memleak_gdb import abi

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
HEADER = os.path.join(ROOT, "runtime", "include", "memleak", "abi.h")

MIRRORS = {
    "memleak_record_t": (abi.RECORD_FIELDS, abi.RECORD_SIZE),
    "memleak_shard_t": (abi.SHARD_FIELDS, abi.SHARD_SIZE),
    "memleak_stack_t": (abi.STACK_FIELDS, abi.STACK_HEADER_SIZE),
    "memleak_mark_t": (abi.MARK_FIELDS, abi.MARK_SIZE),
    "memleak_introspect_t": (abi.INTROSPECT_FIELDS, abi.INTROSPECT_SIZE),
}


def header_text():
    with open(HEADER) as f:
        return f.read()


class StaticAssertTest(unittest.TestCase):
    def test_offsets_and_sizes(self):
        text = header_text()
        offsets = re.findall(r"offsetof\((\w+),\s*(\w+)\)\s*==\s*(\d+)", text)
        sizes = dict(re.findall(r"sizeof\((\w+)\)\s*==\s*(\d+)", text))
        self.assertGreater(len(offsets), 50)
        for struct_name, field, off in offsets:
            fields, _ = MIRRORS[struct_name]
            mine = {n: o for n, _, o in fields}
            self.assertIn(field, mine, "%s.%s missing from abi.py" % (struct_name, field))
            self.assertEqual(mine[field], int(off), "%s.%s" % (struct_name, field))
        for struct_name, size in sizes.items():
            self.assertEqual(MIRRORS[struct_name][1], int(size), struct_name)

    def test_constants(self):
        text = header_text()
        self.assertEqual(int(re.search(r"MEMLEAK_ABI_MAGIC UINT64_C\((0x[0-9a-fA-F]+)\)", text).group(1), 16),
                         abi.MAGIC)
        self.assertEqual(int(re.search(r"MEMLEAK_ABI_VERSION (\d+)u", text).group(1)), abi.VERSION)
        self.assertEqual(int(re.search(r"MEMLEAK_MARK_NAME_SIZE (\d+)u", text).group(1)),
                         abi.MARK_NAME_SIZE)
        for name, value in [("MEMLEAK_STACK_TRUNCATED", abi.STACK_TRUNCATED),
                            ("MEMLEAK_MARK_VALID", abi.MARK_VALID),
                            ("MEMLEAK_MARK_WRITING", abi.MARK_WRITING),
                            ("MEMLEAK_FLAG_RECORDING", abi.FLAG_RECORDING),
                            ("MEMLEAK_FLAG_DISABLED", abi.FLAG_DISABLED)]:
            self.assertEqual(int(re.search(r"#define %s (\d+)u" % name, text).group(1)), value, name)

    def test_layout_index_enums_follow_field_order(self):
        text = header_text()
        for prefix, fields in [("RECORD", abi.RECORD_FIELDS), ("SHARD", abi.SHARD_FIELDS),
                               ("STACK", abi.STACK_FIELDS), ("MARK", abi.MARK_FIELDS)]:
            m = re.search(r"enum\s*\{\s*(MEMLEAK_%s_ADDRESS|MEMLEAK_%s_LOCK|MEMLEAK_%s_HASH|"
                          r"MEMLEAK_%s_NAME)[^}]*\}" % ((prefix,) * 4), text)
            self.assertIsNotNone(m, prefix)
            names = re.findall(r"MEMLEAK_%s_(\w+)" % prefix, m.group(0))
            self.assertEqual([n.lower() for n in names], [f[0] for f in fields], prefix)


@unittest.skipUnless(shutil.which("cc"), "no C compiler")
class CompilerTest(unittest.TestCase):
    def test_offsetof(self):
        lines = ['#include "memleak/abi.h"', "#include <stdio.h>", "int main(void) {"]
        for struct_name, (fields, _) in MIRRORS.items():
            lines.append('printf("%s sizeof %%zu\\n", sizeof(%s));' % (struct_name, struct_name))
            for name, code, _ in fields:
                if not code:  # the pcs that follow a stack header are no member
                    continue
                lines.append('printf("%s %s %%zu\\n", offsetof(%s, %s));'
                             % (struct_name, name, struct_name, name))
        lines.append("return 0; }")
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "offsets.c")
            with open(src, "w") as f:
                f.write("\n".join(lines))
            exe = os.path.join(d, "offsets")
            subprocess.run(["cc", "-std=c11", "-I", os.path.join(ROOT, "runtime", "include"),
                            src, "-o", exe], check=True)
            out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            struct_name, field, value = line.split()
            fields, size = MIRRORS[struct_name]
            if field == "sizeof":
                self.assertEqual(size, int(value), struct_name)
            else:
                self.assertEqual({n: o for n, _, o in fields}[field], int(value),
                                 "%s.%s" % (struct_name, field))


if __name__ == "__main__":
    unittest.main()
