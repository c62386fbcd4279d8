"""Integration tests: thread ids, and a process stopped while threads allocate.
How every case runs: harness.py."""

import time
import unittest
from pathlib import Path

from harness import GdbTestCase, THREADS, TOP_ALL, require_env, threads_marks


class ThreadTests(GdbTestCase):
    """Thread ids, and reads of a process stopped while two threads allocate."""

    def test_tids_and_consistency_under_churn(self):
        self.need_attach()
        require_env(self, ("MEMLEAK_THREADS", THREADS))
        marks = threads_marks()
        prog = self.start([THREADS])
        leaker_tid = int(prog.wait_for("ready"))
        thread_line = next(l.line for l in marks.leaks.values() if l.name == "threaded")
        for attempt in range(3):
            with self.subTest(attempt=attempt):
                top, dump = self.json_commands(["-p", str(prog.pid)], [TOP_ALL, "dump"])
                self.assertLeaksMatch(top, marks)
                self.assertDumpAgreesWithTop(dump, top)
                for a in dump["allocations"]:
                    f0 = a["stack"][0] if a["stack"] else {}
                    if f0.get("file") and Path(f0["file"]).name == marks.basename:
                        want = leaker_tid if f0["line"] == thread_line else None
                        if want is not None:
                            self.assertEqual(a["tid"], want, "block from the leaking thread "
                                             "does not carry that thread's id")
                        elif f0["line"] not in marks.transient:
                            self.assertEqual(a["tid"], prog.pid)
            time.sleep(0.3)
        self.assertIsNone(prog.proc.poll(), "the program died while being read")


if __name__ == "__main__":
    unittest.main()
