"""Integration tests: blocks allocated by a dlopen()ed plugin, loaded and
unloaded.
How every case runs: harness.py."""

import unittest
from pathlib import Path

from harness import DLOPEN, GdbTestCase, PLUGIN, TOP_ALL, require_env, contract_view, plugin_marks


class DlopenTests(GdbTestCase):
    """Leaks from a library loaded with dlopen(), loaded or unloaded again."""

    def start_dlopen(self, how):
        self.need_attach()
        require_env(self, ("MEMLEAK_DLOPEN", DLOPEN), ("MEMLEAK_PLUGIN", PLUGIN))
        prog = self.start([DLOPEN, PLUGIN, how])
        prog.wait_for("ready")
        live = self.json_commands(["-p", str(prog.pid)], [TOP_ALL, "dump"])
        dead = self.json_commands([str(DLOPEN), str(self.gcore(prog))], [TOP_ALL, "dump"])
        for a, b in zip(live, dead):
            self.assertEqual(contract_view(a), contract_view(b),
                             f"{a['format']} differs between the live process and its gcore")
        return live[0]

    def test_loaded(self):
        self.assertLeaksMatch(self.start_dlopen("keep"), plugin_marks())

    def test_unloaded(self):
        # Its code is gone: the block is still counted, and no frame may
        # claim a line of the unloaded library.
        top = self.start_dlopen("close")
        leak = next(iter(plugin_marks().leaks.values()))
        self.assertIn((leak.bytes, leak.count), [(g["bytes"], g["count"]) for g in top["groups"]])
        for g in top["groups"]:
            for f in g["stack"]:
                self.assertNotEqual(Path(f["file"] or "").name, "plugin.c",
                                    f"a frame points into the unloaded library: {f}")


if __name__ == "__main__":
    unittest.main()
