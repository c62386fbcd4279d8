"""How stacks read: names, frames below main, library folding, and the
commands that show them (top, dump, folded, --depth, suppressions)."""

import json
import os
import tempfile
import unittest

import image
from fake import FakeTarget, validate
from memleak_gdb import commands, frames
from memleak_gdb.aggregate import Frame

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
LIBSTDCXX = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"
PROG = "/srv/app"
STRING = "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >"

# pc -> (function, object) of a C++ program: a string built in load_config
# at two call sites, a strdup in copy_name, a block on a thread.
NAMES = {
    0x10: ("_start", PROG),
    0x11: ("__libc_start_main_impl", LIBC),
    0x12: ("__libc_start_call_main", LIBC),
    0x13: ("main", PROG),
    0x20: (STRING + "::_M_mutate(unsigned long, unsigned long, char const*, unsigned long)",
           LIBSTDCXX),
    0x21: (STRING + "::_M_replace(unsigned long, unsigned long, char const*, unsigned long)",
           LIBSTDCXX),
    0x22: (STRING + "::assign(char const*)", LIBSTDCXX),
    0x30: ("load_config(std::vector<" + STRING + ", std::allocator<" + STRING + " > >&)", PROG),
    0x31: ("load_config(std::vector<" + STRING + ", std::allocator<" + STRING + " > >&)", PROG),
    0x40: ("__GI___strdup", LIBC),
    0x41: ("copy_name()", PROG),
    0x50: ("worker(void*)", PROG),
    0x51: ("start_thread", LIBC),
    0x52: ("clone3", LIBC),
}
BELOW = (0x13, 0x12, 0x11, 0x10)
SITE_1 = (0x20, 0x21, 0x22, 0x30) + BELOW          # 3 blocks of 100
SITE_2 = (0x20, 0x21, 0x22, 0x31) + BELOW          # 2 blocks of 100
STRDUP = (0x40, 0x41) + BELOW                       # 4 blocks of 30
THREAD = (0x50, 0x51, 0x52)                         # 1 block of 777


class NamedTarget(FakeTarget):
    def symbolize(self, pc):
        name, obj = NAMES[pc]
        return [Frame(pc, name, "src.cpp" if obj == PROG else None, pc, obj, False)]


def target():
    spec = [(SITE_1, 100)] * 3 + [(SITE_2, 100)] * 2 + [(STRDUP, 30)] * 4 + [(THREAD, 777)]
    return NamedTarget(image.Image(image.blocks_for(spec)))


def run(command, argstring):
    out = []
    commands.run(command, argstring, target, out.append)
    return "".join(out)


def top_json(argstring=""):
    doc = json.loads(run("top", argstring + " --json"))
    validate(doc)
    return doc


def names(group):
    return [f["function"] for f in group["stack"]]


CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                     "function_names.txt")


class NameTest(unittest.TestCase):
    def test_same_as_the_exit_report(self):
        # runtime/report/names.cpp is held to the same list (newcomer.names).
        checked = 0
        with open(CASES) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                fields = line.split("\t")
                if len(fields) == 3:
                    self.assertEqual(frames.lambda_name(fields[0], fields[1]), fields[2], line)
                else:
                    self.assertEqual(frames.clean_name(fields[0]), fields[1], line)
                checked += 1
        self.assertGreater(checked, 10)

    def test_standard_aliases_without_stray_spaces(self):
        self.assertEqual(frames.clean_name("f(std::vector<" + STRING + ", std::allocator<"
                                           + STRING + " > >&)"),
                         "f(std::vector<std::string, std::allocator<std::string>>&)")
        self.assertEqual(frames.clean_name("std::__cxx11::list<int, std::allocator<int> >::size"),
                         "std::list<int, std::allocator<int>>::size")

    def test_operators_keep_their_spelling(self):
        for name in ("operator>(A const&, A const&)", "A::operator->()", "operator<=>(A, B)",
                     "operator>>(std::istream&, A&)"):
            self.assertEqual(frames.clean_name(name), name)

    def test_glibc_internal_aliases(self):
        self.assertEqual(frames.clean_name("__GI___strdup"), "strdup")
        self.assertEqual(frames.clean_name("__GI___libc_malloc"), "malloc")
        self.assertEqual(frames.clean_name("__GI__IO_file_doallocate"), "_IO_file_doallocate")
        self.assertEqual(frames.clean_name("__strdup"), "__strdup")
        self.assertIsNone(frames.clean_name(None))


class BelowMainTest(unittest.TestCase):
    def test_hidden_by_default_in_every_output(self):
        doc = top_json()
        stacks = [names(g) for g in doc["groups"]]
        for stack in stacks:
            for hidden in ("_start", "__libc_start_main_impl", "__libc_start_call_main",
                           "start_thread", "clone3"):
                self.assertNotIn(hidden, stack)
        self.assertIn(["worker(void*)"], stacks)
        self.assertIn(["strdup", "copy_name()", "main"], stacks)
        text = run("top", "")
        self.assertNotIn("_start", text)
        self.assertNotIn("clone3", text)
        for line in run("top", "--folded").splitlines():
            self.assertTrue(line.startswith(("main;", "worker(void*) ")), line)

    def test_shown_when_asked(self):
        doc = top_json("--show-below-main")
        stacks = [names(g) for g in doc["groups"]]
        self.assertIn(["worker(void*)", "start_thread", "clone3"], stacks)
        self.assertIn(["strdup", "copy_name()", "main", "__libc_start_call_main",
                       "__libc_start_main_impl", "_start"], stacks)
        self.assertTrue(all(l.startswith(("_start;", "clone3;"))
                            for l in run("top", "--folded --show-below-main").splitlines()))

    def test_a_stack_of_start_up_frames_alone_is_kept(self):
        f = [Frame(1, "_start", None, None, PROG, False)]
        self.assertEqual(frames.hide_below_main(f), f)


class FoldTest(unittest.TestCase):
    def test_library_runs_fold_into_the_called_function(self):
        doc = top_json("--fold")
        group = [g for g in doc["groups"] if g["bytes"] == 300][0]
        self.assertEqual(names(group), ["std::string::assign(char const*)",
                                        "load_config(std::vector<std::string, "
                                        "std::allocator<std::string>>&)", "main"])
        self.assertEqual(group["stack"][0]["folded"], 3)
        self.assertNotIn("folded", group["stack"][1])
        text = run("top", "--fold")
        self.assertRegex(text, r"in std::string::assign\(char const\*\) \(libstdc\+\+\.so\.6\) "
                               r"\(\+2 library frames folded\)")
        self.assertNotIn("_M_mutate", text)
        strdup = [g for g in doc["groups"] if g["count"] == 4][0]
        self.assertEqual(names(strdup), ["strdup", "copy_name()", "main"])

    def test_depth_1_groups_by_the_programs_call_site(self):
        # Unfolded, --depth 1 is _M_mutate for both string call sites ...
        plain = top_json("--depth 1")
        self.assertEqual(plain["groups"][0]["bytes"], 777)
        self.assertEqual([g["bytes"] for g in plain["groups"] if "_M_mutate" in names(g)[0]],
                         [500])
        # ... folded, it is each call site in load_config.
        doc = top_json("--fold --depth 1")
        sites = [g for g in doc["groups"] if any("load_config" in n for n in names(g))]
        self.assertEqual(sorted(g["bytes"] for g in sites), [200, 300])
        self.assertEqual([f["pc"] for f in sites[0]["stack"]][1:], [0x30])
        self.assertEqual(sum(g["bytes"] for g in doc["groups"]), doc["total_bytes"])


class OutputLimitTest(unittest.TestCase):
    def test_folded_honours_n_when_given(self):
        # Both load_config call sites read the same: one line of 4 stacks.
        self.assertEqual(len(run("top", "--folded").splitlines()), 3)
        self.assertEqual(len(run("top", "1 --folded").splitlines()), 1)

    def test_dump_text_is_capped_and_says_how_to_see_all(self):
        spec = [((0x41, 0x13), 8)] * 60
        img = image.Image(image.blocks_for(spec))
        out = []
        commands.run("dump", "", lambda: NamedTarget(img), out.append)
        text = "".join(out)
        self.assertIn("; 50 shown; 10 more, --limit 0 for all", text.splitlines()[0])
        self.assertEqual(sum(1 for l in text.splitlines() if l.startswith("0x")), 50)
        out = []
        commands.run("dump", "--limit 0", lambda: NamedTarget(img), out.append)
        self.assertEqual(sum(1 for l in "".join(out).splitlines() if l.startswith("0x")), 60)
        out = []
        commands.run("dump", "--json", lambda: NamedTarget(img), out.append)
        self.assertEqual(len(json.loads("".join(out))["allocations"]), 60)


class SuppressionTest(unittest.TestCase):
    def supp(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".supp")
        f.write(text)
        f.flush()
        self.addCleanup(f.close)
        return f.name

    def test_whole_stack_matched_under_depth(self):
        # load_config is the 4th frame: --depth 1 cuts it from the group,
        # not from what the suppression sees.
        path = self.supp("leak:load_config\n")
        for extra in ("", "--depth 1", "--fold --depth 1"):
            doc = top_json("--suppressions %s %s" % (path, extra))
            self.assertEqual((doc["suppressed_bytes"], doc["suppressed_count"]), (500, 5), extra)
            self.assertEqual(doc["total_bytes"] - doc["suppressed_bytes"],
                             sum(g["bytes"] for g in doc["groups"]), extra)

    def test_frames_below_main_are_matched_though_hidden(self):
        doc = top_json("--suppressions " + self.supp("leak:start_thread\n"))
        self.assertEqual((doc["suppressed_bytes"], doc["suppressed_count"]), (777, 1))

    def test_names_as_shown_and_as_gdb_spells_them_are_matched(self):
        for pattern in ("__GI___strdup", "^strdup$"):
            doc = top_json("--suppressions " + self.supp("leak:%s\n" % pattern))
            self.assertEqual(doc["suppressed_count"], 4, pattern)
        for pattern in ("std::__cxx11::basic_string<char", "^std::string::assign(char const*)$"):
            doc = top_json("--suppressions " + self.supp("leak:%s\n" % pattern))
            self.assertEqual(doc["suppressed_count"], 5, pattern)


if __name__ == "__main__":
    unittest.main()
