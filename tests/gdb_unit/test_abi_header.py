"""The Python mirror (abi.py) agrees with runtime/include/memleak/abi.h:
it is what scripts/gen-abi writes from abi_fields.inc, it matches the
field list's pinned offsets as text, and the compiler's own offsetof when a
C compiler is present."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import image  # noqa: F401
from memleak_gdb import abi

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
HEADER = os.path.join(ROOT, "runtime", "include", "memleak", "abi.h")
FIELDS_INC = os.path.join(ROOT, "runtime", "include", "memleak", "abi_fields.inc")


def header_text():
    """abi.h and the field list it includes, continuation lines joined."""
    text = ""
    for path in (HEADER, FIELDS_INC):
        with open(path) as f:
            text += f.read().replace("\\\n", " ")
    return text


def field_rows(text):
    """(struct, kind, name, offset, INDEX) for every row of every field list."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"#define MEMLEAK_(\w+)_FIELDS\(F, T, P, R, c\)", line)
        if m:
            struct_name = "memleak_%s_t" % m.group(1).lower()
            for kind, name, off, index in re.findall(
                    r"\b([FTPR])\(c, \w+, (\w+), [^,]*, (\d+)(?:, (\w+))?\)", line):
                rows.append((struct_name, kind, name, off, index))
    return rows


def mirrors(text):
    """struct name -> (abi.py's field list, abi.py's size) for every record
    type the field list declares, and the root."""
    found = {"memleak_introspect_t": (abi.INTROSPECT_FIELDS, abi.INTROSPECT_SIZE)}
    for struct_name, prefix, size_field in re.findall(
            r"\bX\((\w+), (\w+), MEMLEAK_\w+_FIELDS, \d+, (\w+), \w+\)", text):
        found[struct_name] = (getattr(abi, prefix + "_FIELDS"), getattr(abi, size_field.upper()))
    return found


MIRRORS = mirrors(header_text())


class GeneratedMirrorTest(unittest.TestCase):
    def test_abi_py_is_what_gen_abi_writes(self):
        run = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-abi"), "--check"],
                             capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)


class StaticAssertTest(unittest.TestCase):
    def test_offsets_and_sizes(self):
        text = header_text()
        offsets = [(s, name, off) for s, kind, name, off, _ in field_rows(text) if kind != "R"]
        sizes = {s: size for s, size in re.findall(r"\bX\((\w+), \w+, \w+, (\d+),", text)}
        sizes["memleak_introspect_t"] = re.search(r"#define MEMLEAK_INTROSPECT_SIZE (\d+)", text).group(1)
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
        rows = field_rows(text)
        for prefix, fields in [("RECORD", abi.RECORD_FIELDS), ("SHARD", abi.SHARD_FIELDS),
                               ("STACK", abi.STACK_FIELDS), ("MARK", abi.MARK_FIELDS)]:
            struct_name = "memleak_%s_t" % prefix.lower()
            names = [index for s, kind, _, _, index in rows if s == struct_name and kind in "FT"]
            self.assertTrue(names, prefix)
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
