"""memleak(1) against `memleak --help`: the same subcommands and the same
options, so neither can change without the other."""

import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from memleak_cli import args  # noqa: E402

MAN_PAGE = os.path.join(ROOT, "docs", "memleak.1")


def subparsers(parser):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            return action.choices
    return {}


def man_sections():
    """{section title: text} of the page's source, with roff's `\\-` as `-`."""
    with open(MAN_PAGE) as handle:
        text = handle.read().replace("\\-", "-")
    parts = re.split(r"^\.SH (.+)$", text, flags=re.M)
    return {parts[i].strip('"'): parts[i + 1] for i in range(1, len(parts), 2)}


class ManPage(unittest.TestCase):
    def test_same_subcommands_and_options(self):
        sections = man_sections()
        documented = sections["SUBCOMMANDS"]
        subs = subparsers(args.build_parser())
        # Each subcommand is an item (.TP, then its line) of SUBCOMMANDS.
        items = re.findall(r"^\.TP\n\.BI? \"?(\w+)", documented, flags=re.M)
        self.assertEqual(sorted(items), sorted(subs))
        for name in subs:
            self.assertIn(name, sections["SYNOPSIS"], name)
        # Option items (.TP, then the option) per subcommand, against the parser's.
        blocks = re.split(r"^\.TP\n\.BI? \"?(\w+)", documented, flags=re.M)
        for i in range(1, len(blocks), 2):
            name, block = blocks[i], blocks[i + 1]
            in_page = set(re.findall(r"^\.TP\n\.BI? (--[a-z][a-z-]*)", block, flags=re.M))
            in_parser = {o for a in subs[name]._actions for o in a.option_strings
                         if o.startswith("--") and o != "--help"}
            self.assertEqual(in_page, in_parser, name)

    def test_same_gdb_commands_as_the_help(self):
        # The commands `memleak attach --help` lists after its options.
        in_help = re.findall(r"^  ([a-z]+)\b", args.GDB_EPILOG, flags=re.M)
        in_page = re.findall(r"^\.TP\n\.BI? \"?([a-z]+)", man_sections()["COMMANDS"], flags=re.M)
        self.assertEqual([c for c in in_help if c != "and"], in_page)

    def test_renders_without_warnings(self):
        try:
            result = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", MAN_PAGE],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except FileNotFoundError:
            self.skipTest("groff is not installed")
        self.assertEqual((result.returncode, result.stderr), (0, ""))


if __name__ == "__main__":
    unittest.main()
