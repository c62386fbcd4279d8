"""Flame graphs: the folded format and the SVG, checked against the groups' totals."""

import os
import sys
import unittest
import xml.etree.ElementTree as ET
from types import SimpleNamespace

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "gdb"))

from memleak_gdb import flame  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def frame(function, file=None, line=None, obj="/srv/bin/server", pc=0x401000, inlined=False):
    return SimpleNamespace(function=function, file=file, line=line, object=obj, pc=pc,
                           inlined=inlined)


def group(nbytes, count, *frames):
    return SimpleNamespace(bytes=nbytes, count=count, frames=list(frames))


BASE = [frame("main", "main.cpp", 40), frame("__libc_start_main", obj=LIBC), frame("_start")]

GROUPS = [
    group(4096 * 30, 30, frame("bufpool_acquire", "pool.c", 45), frame("respond", "handler.cpp", 60),
          frame("handle", "handler.cpp", 20), *BASE),
    group(50000, 200, frame("copy_string", "util.cpp", 12, inlined=True),
          frame("SessionCache::remember(unsigned long, std::string const&)", "cache.cpp", 33),
          frame("handle", "handler.cpp", 21), *BASE),
    # Same names as the first group, another line: merged into the same path.
    group(8192, 2, frame("bufpool_acquire", "pool.c", 47), frame("respond", "handler.cpp", 61),
          frame("handle", "handler.cpp", 20), *BASE),
    group(300, 3, frame(None, obj="/usr/lib/libjson.so.1"), frame("load_config", "config.cpp", 9),
          frame("main", "main.cpp", 30), frame("__libc_start_main", obj=LIBC), frame("_start")),
    group(0, 1, frame("zero_sized", "z.c", 1), *BASE),
]
TOTAL_BYTES = sum(g.bytes for g in GROUPS)
TOTAL_COUNT = sum(g.count for g in GROUPS)


def parse_folded(lines):
    out = {}
    for line in lines:
        path, _, weight = line.rpartition(" ")
        out[path] = int(weight)
    return out


class Folded(unittest.TestCase):
    def test_root_first_and_weights_sum_to_totals(self):
        for weight, total in (("bytes", TOTAL_BYTES), ("count", TOTAL_COUNT)):
            lines = flame.folded_lines(GROUPS, weight)
            self.assertEqual(sum(parse_folded(lines).values()), total, weight)
            for line in lines:
                self.assertTrue(line.startswith("_start;__libc_start_main;main;"), line)

    def test_same_names_merge_and_largest_come_first(self):
        stacks = parse_folded(flame.folded_lines(GROUPS, "bytes"))
        self.assertEqual(stacks["_start;__libc_start_main;main;handle;respond;bufpool_acquire"],
                         4096 * 30 + 8192)
        values = list(stacks.values())
        self.assertEqual(values, sorted(values, reverse=True))

    def test_unknown_function_is_named_after_its_object(self):
        stacks = parse_folded(flame.folded_lines(GROUPS, "count"))
        self.assertEqual(stacks["_start;__libc_start_main;main;load_config;[libjson.so.1]"], 3)
        self.assertEqual(flame.frame_name(frame(None, obj=None, pc=0x7f00aa)), "0x7f00aa")

    def test_zero_weight_lines_are_left_out(self):
        self.assertFalse(any("zero_sized" in l for l in flame.folded_lines(GROUPS, "bytes")))
        self.assertTrue(any("zero_sized" in l for l in flame.folded_lines(GROUPS, "count")))

    def test_names_cannot_break_the_format(self):
        g = group(10, 1, frame("f;g\nh  i", "x.c", 1), frame("main"))
        self.assertEqual(flame.folded_lines([g]), ["main;f:g h i 10"])

    def test_bad_weight(self):
        with self.assertRaises(ValueError):
            flame.folded_lines(GROUPS, "size")


class Svg(unittest.TestCase):
    def render(self, weight="bytes", groups=GROUPS, title="memleak top (pid 1, by bytes)"):
        text = flame.render_svg(groups, weight, title)
        return text, ET.fromstring(text.encode("utf-8"))

    def frames(self, root):
        out = []
        for g in root.iter(SVG + "g"):
            if g.get("class") != "frame":
                continue
            rect = g.find(SVG + "rect")
            out.append({
                "name": g.get("data-name"), "depth": int(g.get("data-d")),
                "start": int(g.get("data-x")), "weight": int(g.get("data-w")),
                "bytes": int(g.get("data-bytes")), "count": int(g.get("data-count")),
                "x": float(rect.get("x")), "width": float(rect.get("width")),
                "title": g.find(SVG + "title").text, "label": g.find(SVG + "text").text or "",
            })
        return out

    def test_valid_svg_with_title_and_script(self):
        text, root = self.render()
        self.assertEqual(root.tag, SVG + "svg")
        self.assertEqual(root.find(SVG + "title").text, "memleak top (pid 1, by bytes)")
        script = root.find(SVG + "script")
        self.assertIn("function zoom", script.text)
        self.assertIn("search", script.text)

    def test_root_children_add_up_to_the_totals(self):
        for weight, total in (("bytes", TOTAL_BYTES), ("count", TOTAL_COUNT)):
            _, root = self.render(weight)
            frames = self.frames(root)
            base = [f for f in frames if f["depth"] == 0]
            self.assertEqual(len(base), 1)
            self.assertEqual(base[0]["name"], "all")
            self.assertEqual(base[0]["weight"], total)
            self.assertEqual(base[0]["bytes"], TOTAL_BYTES)
            self.assertEqual(base[0]["count"], TOTAL_COUNT)
            children = [f for f in frames if f["depth"] == 1]
            self.assertEqual(sum(f["weight"] for f in children), total, weight)
            self.assertAlmostEqual(sum(f["width"] for f in children), base[0]["width"], delta=0.02)

    def test_widths_are_proportional_and_children_fit_in_parents(self):
        _, root = self.render("bytes")
        frames = self.frames(root)
        full = frames[0]["width"]
        for f in frames:
            self.assertAlmostEqual(f["width"], full * f["weight"] / TOTAL_BYTES, delta=0.01)
            parents = [p for p in frames if p["depth"] == f["depth"] - 1
                       and p["start"] <= f["start"] and p["start"] + p["weight"] >= f["start"] + f["weight"]]
            if f["depth"]:
                self.assertEqual(len(parents), 1, f["name"])
                self.assertGreaterEqual(f["x"] + 0.01, parents[0]["x"])

    def test_frames_merge_by_path_of_names(self):
        _, root = self.render("bytes")
        pools = [f for f in self.frames(root) if f["name"] == "bufpool_acquire"]
        self.assertEqual(len(pools), 1)
        self.assertEqual(pools[0]["bytes"], 4096 * 30 + 8192)
        self.assertEqual(pools[0]["count"], 32)
        self.assertIn("pool.c:45", pools[0]["title"])
        self.assertIn("pool.c:47", pools[0]["title"])

    def test_tooltips_say_function_place_bytes_count_and_share(self):
        _, root = self.render("bytes")
        by_name = {f["name"]: f for f in self.frames(root)}
        title = by_name["SessionCache::remember(unsigned long, std::string const&)"]["title"]
        self.assertIn("SessionCache::remember", title)
        self.assertIn("cache.cpp:33", title)
        self.assertIn("48.8 KiB (50000 bytes) in 200 blocks", title)
        self.assertIn("%.2f%%" % (100.0 * 50000 / TOTAL_BYTES), title)
        self.assertIn("(inlined)", by_name["copy_string"]["title"])
        self.assertIn(LIBC, by_name["__libc_start_main"]["title"])

    def test_labels_fit_their_frames(self):
        _, root = self.render("bytes")
        for f in self.frames(root):
            self.assertLessEqual(len(f["label"]) * flame.CHAR_WIDTH, max(f["width"] - 6, 0) + 1e-6,
                                 f["name"])
            if f["label"] and f["label"] != f["name"]:
                self.assertTrue(f["label"].endswith("..") or f["name"].startswith(f["label"]))

    def test_long_names_drop_their_parameters_first(self):
        self.assertEqual(flame.short_name("ns::f(int, char const*) const"), "ns::f")
        self.assertEqual(flame.short_name("std::function<void (int)>::operator()(int) const"),
                         "std::function<void (int)>::operator()")
        self.assertEqual(flame.short_name("plain"), "plain")

    def test_markup_in_names_is_escaped(self):
        g = group(64, 1, frame("std::map<int, int>::operator[](int&&) & \"q\""), frame("main"))
        _, root = self.render(groups=[g], title="a < b & c")
        names = [f["name"] for f in self.frames(root)]
        self.assertIn("std::map<int, int>::operator[](int&&) & \"q\"", names)

    def test_no_groups(self):
        _, root = self.render(groups=[])
        frames = self.frames(root)
        self.assertEqual([(f["name"], f["weight"]) for f in frames], [("all", 0)])

    def test_count_weight(self):
        _, root = self.render("count")
        self.assertEqual(root.get("data-weight"), "count")
        zero = [f for f in self.frames(root) if f["name"] == "zero_sized"]
        self.assertEqual(zero[0]["weight"], 1)


class Human(unittest.TestCase):
    def test_units(self):
        self.assertEqual(flame.human_bytes(0), "0 B")
        self.assertEqual(flame.human_bytes(1023), "1023 B")
        self.assertEqual(flame.human_bytes(1536), "1.5 KiB")
        self.assertEqual(flame.human_bytes(5 << 20), "5.0 MiB")


if __name__ == "__main__":
    unittest.main()
