"""Suppressions: LeakSanitizer's `leak:` format, its wildcards and anchors, errors."""

import os
import sys
import tempfile
import unittest
from types import SimpleNamespace

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "gdb"))

from memleak_gdb import suppress  # noqa: E402
from memleak_gdb.errors import MemleakError  # noqa: E402


def frame(function=None, file=None, obj=None):
    return SimpleNamespace(function=function, file=file, line=12, object=obj, pc=0x1000,
                           inlined=False)


STACK = [
    frame("CacheEntry::make(unsigned long)", "/src/server/cache.cpp", "/opt/app/bin/server"),
    frame("Cache::insert", "/src/server/cache.cpp", "/opt/app/bin/server"),
    frame("json_parse", "/build/third_party/json/parse.c", "/usr/lib/libjson.so.1"),
    frame("main", "/src/server/main.cpp", "/opt/app/bin/server"),
]


class Matching(unittest.TestCase):
    def check(self, pattern, expected):
        supp = suppress.parse("leak:%s\n" % pattern)
        self.assertEqual(supp.match(STACK), pattern if expected else None, pattern)

    def test_substring_of_function_file_or_object(self):
        self.check("Cache::insert", True)
        self.check("third_party/json", True)      # a file
        self.check("libjson.so", True)            # an object
        self.check("Cache::erase", False)

    def test_wildcard(self):
        self.check("CacheEntry::*(unsigned long)", True)
        self.check("third_party/*/parse.c", True)
        self.check("Cache*delete", False)

    def test_anchors(self):
        self.check("^json_", True)
        self.check("^son_parse", False)
        self.check("main$", True)
        self.check("mai$", False)
        self.check("^main$", True)
        self.check("^Cache::insert$", True)
        self.check("^Cache$", False)

    def test_anchor_at_end_finds_a_later_occurrence(self):
        supp = suppress.parse("leak:ab$\n")
        self.assertEqual(supp.match([frame("abab")]), "ab$")

    def test_regex_characters_are_literal(self):
        self.check("make(unsigned long)", True)
        self.check("make.unsigned", False)
        self.check("Cache..insert", False)

    def test_first_matching_pattern_is_reported(self):
        supp = suppress.parse("leak:nothing_here\nleak:json_parse\nleak:main\n")
        self.assertEqual(supp.match(STACK), "json_parse")
        self.assertEqual(supp.patterns, ["nothing_here", "json_parse", "main"])

    def test_unknown_frames_match_nothing(self):
        supp = suppress.parse("leak:*\n")
        self.assertIsNone(supp.match([frame()]))
        self.assertIsNone(supp.match([]))
        self.assertEqual(supp.match([frame(obj="/lib/libc.so.6")]), "*")

    def test_dict_frames_as_in_json(self):
        supp = suppress.parse("leak:parse.c\n")
        self.assertEqual(supp.match([{"function": None, "file": "/x/parse.c", "object": None}]),
                         "parse.c")


class Parsing(unittest.TestCase):
    def test_comments_blank_lines_and_spaces(self):
        supp = suppress.parse("# a comment\n\n   \n  leak:foo  \n\t# indented comment\nleak: bar\r\n")
        self.assertEqual(supp.patterns, ["foo", "bar"])
        self.assertEqual([e.line for e in supp.entries], [4, 6])

    def test_unknown_prefix_names_file_and_line(self):
        with self.assertRaises(suppress.SuppressionError) as ctx:
            suppress.parse("leak:ok\n\nrace:foo\n", "my.supp")
        self.assertIn("my.supp:3:", str(ctx.exception))
        self.assertIn("race", str(ctx.exception))

    def test_missing_colon(self):
        with self.assertRaises(suppress.SuppressionError) as ctx:
            suppress.parse("leak foo\n", "s.txt")
        self.assertIn("s.txt:1:", str(ctx.exception))

    def test_empty_pattern(self):
        for text in ("leak:\n", "leak:   \n", "leak:^\n", "leak:^$\n"):
            with self.assertRaises(suppress.SuppressionError) as ctx:
                suppress.parse("# header\n" + text, "e.supp")
            self.assertIn("e.supp:2:", str(ctx.exception))
            self.assertIn("empty pattern", str(ctx.exception))

    def test_error_is_a_memleak_error(self):
        self.assertTrue(issubclass(suppress.SuppressionError, MemleakError))


class Loading(unittest.TestCase):
    def test_load_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".supp", delete=False) as f:
            f.write("# third-party noise\nleak:libjson.so\n")
        try:
            supp = suppress.load(f.name)
            self.assertEqual(len(supp), 1)
            self.assertEqual(supp.match(STACK), "libjson.so")
            self.assertEqual(supp.entries[0].source, f.name)
        finally:
            os.unlink(f.name)

    def test_malformed_file_names_path_and_line(self):
        with tempfile.NamedTemporaryFile("w", suffix=".supp", delete=False) as f:
            f.write("leak:a\nleak:b\nleek:c\n")
        try:
            with self.assertRaises(suppress.SuppressionError) as ctx:
                suppress.load(f.name)
            self.assertIn("%s:3:" % f.name, str(ctx.exception))
        finally:
            os.unlink(f.name)

    def test_unreadable_file(self):
        with self.assertRaises(suppress.SuppressionError) as ctx:
            suppress.load("/nonexistent/dir/leaks.supp")
        self.assertIn("/nonexistent/dir/leaks.supp", str(ctx.exception))
        self.assertIn("No such file", str(ctx.exception))
        with self.assertRaises(suppress.SuppressionError):
            suppress.load(tempfile.gettempdir())

    def test_binary_file(self):
        with tempfile.NamedTemporaryFile("wb", delete=False) as f:
            f.write(b"leak:a\n\xff\xfe\n")
        try:
            with self.assertRaises(suppress.SuppressionError) as ctx:
                suppress.load(f.name)
            self.assertIn("%s:2:" % f.name, str(ctx.exception))
        finally:
            os.unlink(f.name)


if __name__ == "__main__":
    unittest.main()
