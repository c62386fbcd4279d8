"""The commands end to end on byte images: what a user reads in the
output, and JSON checked against design.md's contract."""

import json
import os
import re
import tempfile
import unittest

import image
from fake import FakeTarget, validate
from memleak_gdb import commands, reader
from memleak_gdb.errors import LimitExceeded, MemleakError, UsageError

A = (0x401010, 0x402020, 0x403030)   # 3 blocks of 1000
B = (0x401010, 0x402020, 0x404040)   # 1 block of 5000; same top 2 frames as A
C = (0x405050,)                      # 10 blocks of 10


def table_blocks():
    spec = [(A, 1000)] * 3 + [(B, 5000)] + [(C, 10)] * 10
    return image.blocks_for(spec)


def run(command, argstring, target):
    out = []
    commands.run(command, argstring, lambda: target, out.append)
    return "".join(out)


class TopTest(unittest.TestCase):
    def setUp(self):
        self.img = image.Image(table_blocks(), marks=[("m1", 4, 40, 2)])
        self.target = FakeTarget(self.img)

    def top_json(self, argstring=""):
        doc = json.loads(run("top", argstring + " --json", self.target))
        validate(doc)
        return doc

    def test_groups_by_full_stack(self):
        doc = self.top_json()
        self.assertEqual([(g["bytes"], g["count"]) for g in doc["groups"]],
                         [(5000, 1), (3000, 3), (100, 10)])
        self.assertEqual([f["pc"] for f in doc["groups"][0]["stack"]], list(B))
        self.assertEqual((doc["total_bytes"], doc["total_count"]), (8100, 14))
        self.assertEqual((doc["pid"], doc["by"]), (4242, "bytes"))

    def test_by_count(self):
        doc = self.top_json("--by count")
        self.assertEqual([g["count"] for g in doc["groups"]], [10, 3, 1])

    def test_depth_merges_stacks(self):
        doc = self.top_json("--depth 2")
        self.assertEqual([(g["bytes"], g["count"]) for g in doc["groups"]], [(8000, 4), (100, 10)])
        self.assertEqual([f["pc"] for f in doc["groups"][0]["stack"]], list(A[:2]))

    def test_truncated_stack_is_flagged(self):
        img = image.Image(table_blocks(), truncated_stacks=(A,))
        doc = json.loads(run("top", "--json", FakeTarget(img)))
        self.assertEqual([g["truncated"] for g in doc["groups"]], [False, True, False])
        self.assertIn("deeper frames not recorded", run("top", "", FakeTarget(img)))
        doc = json.loads(run("top", "--json --depth 1", FakeTarget(img)))
        self.assertEqual([g["truncated"] for g in doc["groups"]], [False, False])

    def test_totals_cover_hidden_groups(self):
        doc = self.top_json("1")
        self.assertEqual(len(doc["groups"]), 1)
        self.assertEqual((doc["total_bytes"], doc["total_count"]), (8100, 14))

    def test_symbolizes_only_shown_groups(self):
        run("top", "1", self.target)
        self.assertEqual(sorted(set(self.target.symbolized)), sorted(B))

    def test_inlined_frames(self):
        self.target.inlined = {0x402020}
        doc = self.top_json("1")
        names = [(f["function"], f["inlined"]) for f in doc["groups"][0]["stack"]]
        self.assertEqual(names, [("fn_401010", False), ("fn_402020", True),
                                 ("outer_402020", False), ("fn_404040", False)])

    def test_text(self):
        self.target.inlined = {0x402020}
        text = run("top", "", self.target)
        lines = text.splitlines()
        self.assertRegex(lines[0], r"^memleak top: 7\.9 KiB in 14 live blocks, 3 stacks \(pid 4242\)")
        heads = [l for l in lines if re.match(r"^\[\d\]", l)]
        self.assertEqual(len(heads), 3)
        # Columns line up: every group line has its percent and count at the same place.
        self.assertEqual(len(set(l.index("%") for l in heads)), 1)
        self.assertEqual(len(set(l.index(" block") for l in heads)), 1)
        self.assertIn("4.9 KiB  61.7%", heads[0])
        self.assertIn("100 B   1.2%  10 blocks", heads[2])
        self.assertIn("#1 0x0000000000402020 in fn_402020 src/402020.c:528 (inlined)", text)
        self.assertIn("#2 0x0000000000402020 in outer_402020 src/outer.c:7\n", text)

    def test_text_by_count_leads_with_count(self):
        text = run("top", "--by count", self.target)
        heads = [l for l in text.splitlines() if re.match(r"^\[\d\]", l)]
        self.assertRegex(heads[0], r"^\[1\]  10 blocks  71\.4%    100 B  \(100 bytes\)$")
        self.assertRegex(heads[2], r"^\[3\]   1 block    7\.1%  4\.9 KiB  \(5000 bytes\)$")

    def test_in_flux_is_reported(self):
        img = image.Image(table_blocks(), locked_shards=(0,))
        text = run("top", "", FakeTarget(img))
        self.assertIn("1 of 4 shards in flux", text)
        self.assertEqual(json.loads(run("top", "--json", FakeTarget(img)))["shards_in_flux"], 1)

    def test_output_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "top.json")
            self.assertEqual(run("top", "--json --output " + path, self.target), "")
            with open(path) as f:
                validate(json.load(f))

    def test_suppressions(self):
        with tempfile.NamedTemporaryFile("w", suffix=".supp") as f:
            f.write("# known\nleak:fn_405050\n")
            f.flush()
            doc = self.top_json("--suppressions " + f.name)
            self.assertEqual([g["bytes"] for g in doc["groups"]], [5000, 3000])
            self.assertEqual((doc["suppressed_bytes"], doc["suppressed_count"]), (100, 10))
            text = run("top", "--suppressions " + f.name, self.target)
            self.assertIn("suppressed: 100 bytes in 10 blocks by 1 patterns", text)

    def test_bad_suppressions_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".supp") as f:
            f.write("leak:ok\nbogus line\n")
            f.flush()
            with self.assertRaises(MemleakError) as cm:
                run("top", "--suppressions " + f.name, self.target)
            self.assertIn(f.name, str(cm.exception))

    def test_folded(self):
        lines = run("top", "--folded", self.target).splitlines()
        self.assertEqual(lines[0], "fn_404040;fn_402020;fn_401010 5000")
        self.assertEqual(len(lines), 3)

    def test_svg(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.svg")
            run("top", "--svg " + path, self.target)
            with open(path) as f:
                svg = f.read()
            self.assertIn("<svg", svg)
            self.assertIn("fn_404040", svg)


class DumpTest(unittest.TestCase):
    def setUp(self):
        self.img = image.Image(table_blocks())
        self.target = FakeTarget(self.img)

    def test_json_in_seq_order(self):
        doc = json.loads(run("dump", "--json", self.target))
        validate(doc)
        allocs = doc["allocations"]
        self.assertEqual([a["seq"] for a in allocs], list(range(1, 15)))
        self.assertEqual(allocs[3]["size"], 5000)
        self.assertEqual([f["pc"] for f in allocs[3]["stack"]], list(B))
        self.assertEqual(allocs[0]["time_ns"], 1700000000 * 10 ** 9 + 10 * 10 ** 6)
        self.assertEqual(allocs[0]["tid"], 100)

    def test_min_size_and_limit(self):
        doc = json.loads(run("dump", "--json --min-size 1000 --limit 2", self.target))
        self.assertEqual([a["size"] for a in doc["allocations"]], [1000, 1000])
        text = run("dump", "--min-size 1KB", self.target)
        self.assertTrue(text.startswith("memleak dump: 14 live blocks, 7.9 KiB (pid 4242); 4 shown"))
        self.assertIn("5000 B  seq 4  tid 100", text)

    def test_suppressions_hide_blocks_and_say_so(self):
        with tempfile.NamedTemporaryFile("w", suffix=".supp") as f:
            f.write("leak:fn_403030\n")
            f.flush()
            doc = json.loads(run("dump", "--json --suppressions " + f.name, self.target))
            validate(doc)
            self.assertEqual(len(doc["allocations"]), 11)
            self.assertEqual((doc["suppressed_bytes"], doc["suppressed_count"]), (3000, 3))
            self.assertIn("suppressed: 3000 bytes in 3 blocks by 1 patterns",
                          run("dump", "--suppressions " + f.name, self.target))

    def test_text_columns(self):
        text = run("dump", "", self.target)
        rows = [l for l in text.splitlines() if l.startswith("0x")]
        self.assertEqual(len(rows), 14)
        self.assertEqual(len(set(l.index(" seq ") for l in rows)), 1)
        self.assertEqual(len(set(l.index(" tid ") for l in rows)), 1)
        self.assertIn("2023-11-14 22:13:20.010 UTC", rows[0])


class SinceTest(unittest.TestCase):
    def setUp(self):
        self.img = image.Image(table_blocks(), marks=[("m1", 4, 40, 2), ("m1", 2, 20, 2),
                                                      ("gone", 1, 1, 1)])

    def since(self, argstring, **kw):
        doc = json.loads(run("since", argstring + " --json", FakeTarget(self.img, **kw)))
        validate(doc)
        return doc

    def test_seq(self):
        doc = self.since("4")
        self.assertEqual((doc["total_count"], doc["total_bytes"]), (10, 100))
        self.assertEqual(doc["since"]["seq"], 4)

    def test_latest_mark_of_a_name(self):
        doc = self.since("m1")
        self.assertEqual((doc["total_count"], doc["since"]["seq"]), (10, 4))

    def test_duration_from_newest_tick_on_core(self):
        # Newest tick is 140 (block 14); 1 tick is 1 ms; 35ms back -> ticks >= 105.
        doc = self.since("35ms --dump", live=False)
        self.assertEqual([a["seq"] for a in doc["allocations"]], [11, 12, 13, 14])

    def test_duration_from_now_on_live(self):
        doc = self.since("50ms --dump", now_ticks=190)
        self.assertEqual([a["seq"] for a in doc["allocations"]], [14])
        self.assertEqual(doc["since"]["back_from"], "now")

    def test_duration_back_from_the_last_change_says_so(self):
        # A core, or a process behind gdbserver: no clock of the target here.
        doc = self.since("35ms", live=True)
        self.assertEqual(doc["since"]["back_from"], "last_change")
        self.assertEqual(doc["since"]["ticks"], 105)
        text = run("since", "35ms", FakeTarget(self.img))
        self.assertIn("allocated in the last 35ms before the table's last change "
                      "(since 2023-11-14 22:13:20.105 UTC)", text)
        self.assertNotIn("back_from", json.dumps(self.since("4")["since"]))

    def test_unknown_mark(self):
        with self.assertRaises(MemleakError) as cm:
            run("since", "nope", FakeTarget(self.img))
        self.assertTrue(str(cm.exception).startswith("no mark named nope (marks: m1); POINT is "),
                        str(cm.exception))

    def test_mistyped_mark_suggests_the_nearest(self):
        with self.assertRaises(MemleakError) as cm:
            run("since", "m11", FakeTarget(self.img))
        self.assertIn("no mark named m11; did you mean m1? (marks: m1)", str(cm.exception))

    def test_bad_duration_shows_the_accepted_forms(self):
        with self.assertRaises(UsageError) as cm:
            run("since", "5x", FakeTarget(self.img))
        self.assertEqual(str(cm.exception), "bad point '5x': POINT is a sequence number (12345), "
                         "a mark name (startup), or a duration back from the snapshot "
                         "(500ms, 90s, 5m, 2h, 1h30m)")

    def test_duration_before_the_process_started_in_words(self):
        # The newest tick is 140 ms after the start: 1h reaches before it.
        text = run("since", "1h", FakeTarget(self.img, live=False))
        self.assertIn("allocated in the last 1h before the table's last change, which reaches "
                      "back before the process started (140ms before the snapshot): everything "
                      "still live", text)
        self.assertNotIn("tick", text)
        doc = json.loads(run("since", "1h --json", FakeTarget(self.img, live=False)))
        self.assertTrue(doc["since"]["before_start"])
        self.assertEqual(doc["total_count"], 14)

    def test_duration_inside_the_process_life_in_words(self):
        text = run("since", "35ms", FakeTarget(self.img, live=False))
        self.assertRegex(text, r"allocated in the last 35ms before the table's last change "
                               r"\(since \d{4}-\d\d-\d\d "
                               r"\d\d:\d\d:\d\d\.\d{3} UTC\)")

    def test_fail_over(self):
        out = []
        with self.assertRaises(MemleakError) as cm:
            commands.run("since", "3 --fail-over 50", lambda: FakeTarget(self.img), out.append)
        self.assertIsInstance(cm.exception, LimitExceeded)
        self.assertEqual(str(cm.exception),
                         "grew by 5.0 KiB since 3, over the limit of 50 B (--fail-over)")
        self.assertIn("5.0 KiB in 11 blocks allocated after sequence number 3", "".join(out))
        self.assertIn("since", run("since", "3 --fail-over 10KiB", FakeTarget(self.img)))

    def test_fail_over_ignores_suppressed_growth(self):
        with tempfile.NamedTemporaryFile("w", suffix=".supp") as f:
            f.write("leak:fn_404040\n")
            f.flush()
            # 5100 bytes grew, 5000 of them suppressed: 100 is within 1KiB.
            run("since", "3 --fail-over 1KiB --suppressions " + f.name, FakeTarget(self.img))
            with self.assertRaises(MemleakError):
                run("since", "3 --fail-over 99 --suppressions " + f.name, FakeTarget(self.img))

    def test_text_header(self):
        text = run("since", "m1", FakeTarget(self.img))
        self.assertTrue(text.startswith(
            "memleak since m1: 100 B in 10 blocks allocated after mark 'm1' (sequence number 4)"))


class MarkStatsTest(unittest.TestCase):
    def test_mark_then_since(self):
        img = image.Image(table_blocks(), seq=14)
        t = FakeTarget(img, now_ticks=500)
        self.assertIn("mark 'before' set at sequence number 14", run("mark", "before", t))
        table = reader.read_table(img.mem, img.root)
        self.assertEqual([(m.name, m.seq, m.ticks) for m in table.valid_marks()], [("before", 14, 500)])
        self.assertEqual(table.header.mark_count, 1)
        # Allocations after the mark show up in since.
        img.mem.patch(img.root + 152, "Q", 20)
        self.assertIn("0 B in 0 blocks", run("since", "before", t))
        self.assertIn("'mark-2'", run("mark", "", t))
        # Marking the same name again moves it, in the same slot.
        run("mark", "before", t)
        table = reader.read_table(img.mem, img.root)
        self.assertEqual([(m.slot, m.name, m.seq) for m in table.valid_marks()],
                         [(0, "before", 20), (1, "mark-2", 20)])

    def test_mark_table_full(self):
        img = image.Image(table_blocks(), mark_capacity=1, marks=[("a", 1, 1, 2)])
        with self.assertRaises(MemleakError) as cm:
            run("mark", "b", FakeTarget(img))
        self.assertIn("the marks table is full (1 marks)", str(cm.exception))

    def test_mark_on_core(self):
        img = image.Image(table_blocks())
        with self.assertRaises(MemleakError) as cm:
            run("mark", "x", FakeTarget(img, live=False))
        self.assertEqual(str(cm.exception), "marks need a live process (this is a core file)")

    def test_stats(self):
        img = image.Image(table_blocks(), marks=[("m1", 4, 40, 2)], locked_shards=(3,))
        doc = json.loads(run("stats", "--json", FakeTarget(img)))
        validate(doc)
        self.assertEqual((doc["live_blocks"], doc["live_bytes"]), (14, 8100))
        self.assertEqual((doc["shards_in_flux"], doc["distinct_stacks"], doc["abi_version"]), (1, 3, 1))
        self.assertEqual(doc["marks"][0]["name"], "m1")
        text = run("stats", "", FakeTarget(img))
        self.assertIn("live bytes:", text)
        self.assertRegex(text, r"shards: +4, 1 in flux")
        self.assertRegex(text, r"m1 +seq 4")


class HelpTest(unittest.TestCase):
    def test_every_option_is_explained_with_a_usage_line(self):
        from memleak_gdb import args
        for command in args.SUBCOMMANDS:
            text = commands.help_text(command)
            self.assertIn("Usage: memleak " + command, text)
            for option in args.OPTIONS[command]:
                self.assertIn(option, text, "%s help lacks %s" % (command, option))


class ParseBeforeReadTest(unittest.TestCase):
    def test_bad_arguments_reported_without_touching_target(self):
        def no_target():
            raise AssertionError("target built")
        with self.assertRaises(MemleakError):
            commands.run("top", "--by nothing", no_target, print)


if __name__ == "__main__":
    unittest.main()
