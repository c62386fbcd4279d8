import unittest

import image  # noqa: F401
from memleak_gdb import render
from memleak_gdb.aggregate import Frame


class RenderTest(unittest.TestCase):
    def test_human_size(self):
        self.assertEqual(render.human_size(0), "0 B")
        self.assertEqual(render.human_size(1023), "1023 B")
        self.assertEqual(render.human_size(1024), "1.0 KiB")
        self.assertEqual(render.human_size(1536), "1.5 KiB")
        self.assertEqual(render.human_size(10 << 20), "10.0 MiB")
        self.assertEqual(render.human_size(3 << 30), "3.0 GiB")
        self.assertEqual(render.human_size(5 << 40), "5.0 TiB")

    def test_percent(self):
        self.assertEqual(render.percent(1, 3), "33.3%")
        self.assertEqual(render.percent(0, 0), "-")

    def test_frame_text(self):
        f = Frame(0x401136, "leak_here", "/src/leaky.c", 12, "/bin/leaky", False)
        self.assertEqual(render.frame_text(0, f), "#0 0x0000000000401136 in leak_here /src/leaky.c:12")
        f = Frame(0x7f0000001234, "helper", "/src/h.h", 3, "/bin/leaky", True)
        self.assertTrue(render.frame_text(1, f).endswith("helper /src/h.h:3 (inlined)"))
        f = Frame(0x7f0000001234, None, None, None, "/usr/lib/x86_64-linux-gnu/libc.so.6", False)
        self.assertEqual(render.frame_text(2, f), "#2 0x00007f0000001234 in ?? (libc.so.6)")
        f = Frame(0x7f0000001234, "_start", None, None, "/bin/leaky", False, 0x1234)
        self.assertEqual(render.frame_text(3, f), "#3 0x00007f0000001234 in _start (leaky+0x1234)")

    def test_frame_json(self):
        f = Frame(1, None, None, None, None, 0)
        self.assertEqual(render.frame_json(f), {"pc": 1, "function": None, "file": None,
                                                "line": None, "object": None, "inlined": False})
        f = Frame(0x1234, "_start", None, None, "/bin/leaky", False, 0x234)
        self.assertEqual(render.frame_json(f)["offset"], 0x234)


if __name__ == "__main__":
    unittest.main()
