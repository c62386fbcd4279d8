import os
import tempfile
import unittest

import image  # noqa: F401
from memleak_gdb import args
from memleak_gdb.errors import UsageError


class ParseTest(unittest.TestCase):
    def test_top_defaults(self):
        a = args.parse("top", "")
        self.assertEqual((a.n, a.by, a.depth, a.json, a.output), (20, "bytes", None, False, None))

    def test_top_options(self):
        a = args.parse("top", "5 --by count --depth=3 --json --output /tmp/x.json")
        self.assertEqual((a.n, a.by, a.depth, a.json, a.output), (5, "count", 3, True, "/tmp/x.json"))

    def test_quoted_file(self):
        self.assertEqual(args.parse("stats", "--output 'a b.txt'").output, "a b.txt")

    def test_dump(self):
        a = args.parse("dump", "--min-size 4KiB --limit 10")
        self.assertEqual((a.min_size, a.limit), (4096, 10))

    def test_since(self):
        a = args.parse("since", "5m --dump --fail-over 10MiB --min-size 100")
        self.assertEqual((a.point, a.dump, a.fail_over, a.min_size), ("5m", True, 10 << 20, 100))
        self.assertEqual(args.parse("since", "boot --by count 3").n, 3)

    def test_mark(self):
        self.assertIsNone(args.parse("mark", "").name)
        self.assertEqual(args.parse("mark", "before-load").name, "before-load")

    def test_errors(self):
        for command, text, msg in [
                ("top", "--by size", "--by must be one of bytes|count"),
                ("top", "abc", "N needs a number"),
                ("top", "0", "N must be at least 1"),
                ("top", "1 2", "top takes N, got 1 2"),
                ("top", "--depth", "--depth needs a value"),
                ("top", "--depth -1", "--depth needs a number"),
                ("top", "--limit 3", "top: unknown option --limit"),
                ("top", "--json=1", "--json takes no value"),
                ("top", "--folded --json", "pick one"),
                ("dump", "--min-size lots", "bad size 'lots'"),
                ("dump", "extra", "dump takes no argument"),
                ("since", "", "since needs POINT"),
                ("since", "5m --dump --folded", "pick one"),
                ("stats", "--by count", "stats: unknown option --by"),
                ("mark", "a b", "mark takes NAME, got a b"),
                ("mark", "x" * 48, "mark name must be 1 to 47 bytes"),
                ("top", "'unclosed", "cannot split arguments"),
                ("frob", "", "unknown command 'frob'")]:
            with self.subTest(text):
                with self.assertRaises(UsageError) as cm:
                    args.parse(command, text)
                self.assertIn(msg, str(cm.exception))


class ValueTest(unittest.TestCase):
    def test_sizes(self):
        self.assertEqual(args.parse_size("4096"), 4096)
        self.assertEqual(args.parse_size("10MiB"), 10 << 20)
        self.assertEqual(args.parse_size("10M"), 10 << 20)
        self.assertEqual(args.parse_size("1kB"), 1000)
        self.assertEqual(args.parse_size("1.5KiB"), 1536)
        self.assertEqual(args.parse_size("2GiB"), 2 << 30)
        for bad in ("", "MiB", "-1", "10 XB", "1e6"):
            with self.assertRaises(UsageError):
                args.parse_size(bad)


class SuggestTest(unittest.TestCase):
    def test_unknown_command_suggests_the_nearest(self):
        with self.assertRaises(UsageError) as cm:
            args.parse("tpo", "")
        self.assertTrue(str(cm.exception).startswith(
            "unknown command 'tpo'; did you mean top? (commands: top, dump, since, "),
            str(cm.exception))

    def test_unknown_option_suggests_the_nearest(self):
        with self.assertRaises(UsageError) as cm:
            args.parse("top", "--fodled")
        self.assertTrue(str(cm.exception).startswith(
            "top: unknown option --fodled; did you mean --folded? (options: "), str(cm.exception))

    def test_nothing_near_suggests_nothing(self):
        with self.assertRaises(UsageError) as cm:
            args.parse("zzzzzz", "")
        self.assertNotIn("did you mean", str(cm.exception))

    def test_limit_zero_means_all(self):
        self.assertEqual(args.parse("dump", "--limit 0").limit, 0)
        with self.assertRaises(UsageError):
            args.parse("top", "0")


class CompleteTest(unittest.TestCase):
    # gdb breaks words at '-', so the word to complete after "--d" is "d".
    def test_options(self):
        self.assertEqual(args.complete("top", "--d", "d")[0], ["depth"])
        self.assertEqual(args.complete("top", "5 --", "")[0][:2], ["by", "depth"])
        got, wants_file = args.complete("top", "", "")
        self.assertIn("--by", got)
        self.assertFalse(wants_file)
        self.assertEqual(args.complete("dump", "--min-s", "s")[0], ["size"])

    def test_used_options_not_offered_again(self):
        self.assertNotIn("--json", args.complete("stats", "--json ", "")[0])

    def test_values(self):
        self.assertEqual(args.complete("top", "--by c", "c"), (["count"], False))
        self.assertEqual(args.complete("top", "--by ", ""), (["bytes", "count"], False))
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "sub"))
            open(os.path.join(d, "supp.txt"), "w").close()
            # gdb breaks words at '/' too: the word is what follows the last one.
            got = args.complete("since", "1h --suppressions %s/su" % d, "su")
            self.assertEqual(got, (["sub/", "supp.txt"], True))
        self.assertEqual(args.complete("top", "--depth ", ""), ([], False))


if __name__ == "__main__":
    unittest.main()
