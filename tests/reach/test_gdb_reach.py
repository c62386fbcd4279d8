"""memleak's leak classes in gdb, held to valgrind's, block for block, on
every reachability program: live (gdb -p), from a gcore core and from a
core the kernel wrote at abort(). Then what `leaks`, `why` and `who` print
about the programs' marked blocks, and hostile input.

The reference is valgrind's own run of the same program to its exit
(reach.run_valgrind), tallied per allocation line and class, with the few
lines whose marks record a known difference (reach.reference). Blocks are
matched by allocation line (the innermost frame in the program's sources),
class, count and bytes.

Environment (CMake passes it): MEMLEAK_LIB, MEMLEAK_GDB_SCRIPT, MEMLEAK_GDB,
MEMLEAK_SCAN_LIB, MEMLEAK_REACH_PROGRAMS, MEMLEAK_VALGRIND.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import reach

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import ld_preload  # noqa: E402  (tests/ld_preload.py)

# The integration suite's helpers for attaching and for kernel cores.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
import harness  # noqa: E402

GDB = harness.GDB
GDB_TIMEOUT = 300

_valgrind_tallies = {}


def valgrind_reference(program):
    if program.name not in _valgrind_tallies:
        records = reach.run_valgrind(program.argv)
        _valgrind_tallies[program.name] = reach.tally(records, reach.basenames(program))
    return reach.reference(program, _valgrind_tallies[program.name])


def ours(dump, program):
    """A memleak dump --json document as loss records for reach.tally."""
    records = []
    for a in dump["allocations"]:
        frames = [reach.Frame(f["function"], f["file"], f["line"], f["object"]) for f in a["stack"]]
        records.append(reach.LossRecord(a["leak_kind"], a["size"], 1, frames))
    return reach.tally(records, reach.basenames(program))


def runtime_env():
    env = dict(os.environ)
    env.update(ld_preload.variables(os.environ["MEMLEAK_LIB"], env))
    return env


def gdb(target_args, *commands, env=None):
    return harness.gdb(target_args, *commands, timeout=GDB_TIMEOUT, env=env)


class ReachCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        for name in ("MEMLEAK_LIB", "MEMLEAK_GDB_SCRIPT", "MEMLEAK_REACH_PROGRAMS"):
            if not os.environ.get(name):
                self.fail(f"{name} is not set; run through ctest")
        self.programs = reach.programs()
        self.tmp = Path(tempfile.mkdtemp(prefix="memleak reach "))
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start(self, program, ending="exit", allow_core=False):
        run = reach.Running([*program.argv, ending], env=runtime_env(), cwd=self.tmp,
                            preexec_fn=harness.unlimited_core if allow_core else None)
        self.addCleanup(run.stop)
        run.wait_ready()
        return run

    def dump(self, target_args, *extra):
        out = self.tmp / f"dump-{len(list(self.tmp.iterdir()))}.json"
        run = gdb(target_args, f"memleak dump --json --output '{out}'", *extra)
        self.assertNotIn("Traceback", run.output, run.describe())
        self.assertEqual(run.memleak_lines(), [], run.describe())
        self.assertTrue(out.exists(), run.describe())
        with open(out) as f:
            doc = json.load(f)
        for a in doc["allocations"]:
            self.assertIn(a.get("leak_kind"), reach.KINDS, a)
        return doc, run

    def check(self, program, dump, how):
        got = ours(dump, program)
        self.assertEqual(reach.compare(reach.expected(program), got, only_marked=True), [],
                         f"{program.name} ({how}) against its marks")
        problems = reach.compare(valgrind_reference(program), got)
        self.assertEqual(problems, [], f"{program.name} ({how}) against valgrind:\n"
                         + "\n".join(problems))

    def need_attach(self):
        reason = harness.ptrace_skip_reason()
        if reason:
            self.skipTest(reason)

    def need_valgrind(self):
        if not reach.valgrind_path():
            self.skipTest("valgrind is not installed")


class LiveTests(ReachCase):
    def test_every_program_attached(self):
        self.need_attach()
        self.need_valgrind()
        for name, program in sorted(self.programs.items()):
            with self.subTest(program=name):
                run = self.start(program)
                doc, _ = self.dump(["-p", str(run.pid)])
                self.check(program, doc, "live")


class CoreTests(ReachCase):
    def test_every_program_from_gcore(self):
        self.need_attach()
        self.need_valgrind()
        for name, program in sorted(self.programs.items()):
            with self.subTest(program=name):
                run = self.start(program)
                core = self.tmp / f"core.{name}"
                g = subprocess.run([GDB, "-nx", "-batch", "-p", str(run.pid), "-ex",
                                    f"gcore {core}"], capture_output=True, text=True,
                                   stdin=subprocess.DEVNULL, timeout=GDB_TIMEOUT)
                self.assertTrue(core.exists(), g.stdout + g.stderr)
                run.stop()
                doc, _ = self.dump([program.argv[0], str(core)])
                self.check(program, doc, "gcore")
                core.unlink()

    def test_every_program_from_a_kernel_core(self):
        self.need_valgrind()
        with harness.core_pattern_for_test() as (pattern, reason):
            if reason:
                self.skipTest(reason)
            for name, program in sorted(self.programs.items()):
                with self.subTest(program=name):
                    run = self.start(program, "abort", allow_core=True)
                    status, _ = run.finish()
                    self.assertEqual(status, -signal.SIGABRT)
                    cores = [p for p in self.tmp.iterdir() if p.name.startswith("core")]
                    if not cores:
                        self.skipTest(f"the kernel wrote no core (core_pattern {pattern!r})")
                    doc, _ = self.dump([program.argv[0], str(cores[0])])
                    self.check(program, doc, "kernel core")
                    for c in cores:
                        c.unlink()


def _marked_line(program, source_name, kind):
    """The line of `source_name` whose REACH mark names `kind`."""
    for src in program.sources:
        if Path(src).name == source_name:
            for line, (classes, _) in sorted(reach.read_marks(src).items()):
                if kind in classes:
                    return line
    raise AssertionError(f"no {kind} mark in {source_name}")


class CommandsTests(ReachCase):
    """What `leaks`, `why`, `who`, `--kind` and the JSON fields say about the
    programs' marked blocks, on gcore cores (fixed addresses to ask about)."""

    def core_of(self, name):
        program = self.programs[name]
        run = self.start(program)
        core = self.tmp / f"core.{name}"
        g = subprocess.run([GDB, "-nx", "-batch", "-p", str(run.pid), "-ex", f"gcore {core}"],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           timeout=GDB_TIMEOUT)
        self.assertTrue(core.exists(), g.stdout + g.stderr)
        run.stop()
        return program, [program.argv[0], str(core)]

    def block_at(self, doc, program, source_name, line, kind=None):
        """The blocks the dump shows allocated at source_name:line."""
        found = []
        for a in doc["allocations"]:
            frames = [reach.Frame(f["function"], f["file"], f["line"], f["object"])
                      for f in a["stack"]]
            if reach.site(frames, reach.basenames(program)) == (source_name, line) and \
                    (kind is None or a["leak_kind"] == kind):
                found.append(a)
        self.assertTrue(found, f"no block at {source_name}:{line}")
        return found

    def json_of(self, target, command):
        out = self.tmp / f"out-{len(list(self.tmp.iterdir()))}.json"
        run = gdb(target, f"{command} --json --output '{out}'")
        self.assertEqual(run.memleak_lines(), [], run.describe())
        with open(out) as f:
            return json.load(f), run

    def test_why_names_a_register_root(self):
        self.need_attach()
        program, target = self.core_of("thread_register")
        doc, _ = self.dump(target)
        line = _marked_line(program, "thread_register.c", "still_reachable")
        block = self.block_at(doc, program, "thread_register.c", line)[0]
        run = gdb(target, "memleak why 0x%x" % (block["address"] + 10))
        self.assertEqual(run.memleak_lines(), [], run.describe())
        self.assertRegex(run.output, r"thread 2's register r15 \(LWP \d+\)", run.describe())
        self.assertIn("is 10 bytes into it", run.output)
        why, _ = self.json_of(target, "memleak why 0x%x" % block["address"])
        self.assertEqual(why["format"], "memleak-why")
        self.assertEqual(why["leak_kind"], "still_reachable")
        self.assertEqual((why["root"]["kind"], why["root"]["register"], why["root"]["thread"]),
                         ("registers", "r15", 2))
        self.assertEqual(why["chain"], [])

    def test_why_names_a_global_of_a_dlopened_library(self):
        self.need_attach()
        program, target = self.core_of("dlopen_global")
        doc, _ = self.dump(target)
        line = _marked_line(program, "dlopen_global.c", "still_reachable")
        block = self.block_at(doc, program, "dlopen_global.c", line)[0]
        why, _ = self.json_of(target, "memleak why 0x%x" % block["address"])
        self.assertEqual((why["root"]["kind"], why["root"]["symbol"]), ("data", "plugin_global"))
        self.assertEqual(Path(why["root"]["module"]).name, "libreach_plugin.so")
        run = gdb(target, "memleak why 0x%x" % block["address"])
        self.assertIn("global plugin_global in ", run.output, run.describe())

    def test_why_names_a_stack_frame_and_static_tls(self):
        self.need_attach()
        program, target = self.core_of("thread_stack")
        doc, _ = self.dump(target)
        block = self.block_at(doc, program, "thread_stack.c",
                              _marked_line(program, "thread_stack.c", "still_reachable"))[0]
        why, _ = self.json_of(target, "memleak why 0x%x" % block["address"])
        self.assertEqual((why["root"]["kind"], why["root"]["thread"], why["root"]["function"]),
                         ("stack", 2, "holder"))
        self.assertEqual(Path(why["root"]["file"]).name, "thread_stack.c")
        program, target = self.core_of("tls")
        doc, _ = self.dump(target)
        line = _marked_line(program, "tls.c", "still_reachable")
        kinds = set()
        for block in self.block_at(doc, program, "tls.c", line):
            why, _ = self.json_of(target, "memleak why 0x%x" % block["address"])
            kinds.add((why["root"]["kind"], why["root"]["thread"]))
        self.assertEqual(kinds, {("tls", 1), ("tls", 2)})

    def test_lost_blocks_why_and_who(self):
        self.need_attach()
        program, target = self.core_of("xor_hidden")
        doc, _ = self.dump(target)
        line = _marked_line(program, "xor_hidden.c", "indirectly_lost")
        inner = self.block_at(doc, program, "xor_hidden.c", line, "indirectly_lost")[0]
        outer = self.block_at(doc, program, "xor_hidden.c", line, "definitely_lost")[0]
        why, _ = self.json_of(target, "memleak why 0x%x" % inner["address"])
        self.assertEqual(why["leak_kind"], "indirectly_lost")
        self.assertIsNone(why["root"])
        self.assertEqual(why["lost_by"]["address"], outer["address"])
        self.assertEqual([(c["address"], c["pointer_offset"]) for c in why["chain"]],
                         [(outer["address"], 0)])
        run = gdb(target, "memleak why 0x%x" % outer["address"])
        self.assertIn("it is definitely lost", run.output, run.describe())
        who, _ = self.json_of(target, "memleak who 0x%x" % inner["address"])
        self.assertEqual(who["format"], "memleak-who")
        self.assertEqual(who["total"], 1)
        ref = who["references"][0]
        self.assertEqual((ref["from"], ref["block"]["address"], ref["pointer_offset"],
                          ref["target_offset"]), ("block", outer["address"], 0, 0))

    def test_leaks_text_json_and_kind_filters(self):
        self.need_attach()
        program, target = self.core_of("cycle")
        doc, _ = self.dump(target)
        per_kind = {k: [0, 0] for k in reach.KINDS}
        for a in doc["allocations"]:
            per_kind[a["leak_kind"]][0] += 1
            per_kind[a["leak_kind"]][1] += a["size"]
        run = gdb(target, "memleak leaks")
        self.assertEqual(run.memleak_lines(), [], run.describe())
        self.assertRegex(run.output, r"48 bytes in 1 blocks are definitely lost in loss record 1 of \d+")
        self.assertIn("still reachable: %d bytes in %d blocks (memleak leaks --all lists them)"
                      % (per_kind["still_reachable"][1], per_kind["still_reachable"][0]), run.output)
        self.assertNotIn("are still reachable in loss record", run.output)
        run = gdb(target, "memleak leaks --all")
        self.assertIn("are still reachable in loss record", run.output, run.describe())
        leaks, _ = self.json_of(target, "memleak leaks --all")
        self.assertEqual(leaks["format"], "memleak-leaks")
        self.assertEqual({k: [v["count"], v["bytes"]] for k, v in leaks["kinds"].items()}, per_kind)
        order = [g["leak_kind"] for g in leaks["groups"]]
        self.assertEqual(order, sorted(order, key=reach.KINDS.index))
        top, _ = self.json_of(target, "memleak top --kind definite,indirect")
        self.assertEqual(top["total_count"],
                         per_kind["definitely_lost"][0] + per_kind["indirectly_lost"][0])
        for g in top["groups"]:
            self.assertEqual(sum(v["count"] for v in g["kinds"].values()), g["count"])
        stats, _ = self.json_of(target, "memleak stats")
        self.assertEqual({k: [v["count"], v["bytes"]] for k, v in stats["kinds"].items()}, per_kind)


class HostileTests(ReachCase):
    def test_missing_scanner_is_one_line_and_other_commands_work(self):
        self.need_attach()
        program = self.programs["cycle"]
        run = self.start(program)
        env = dict(os.environ, MEMLEAK_SCAN_LIB=str(self.tmp / "no" / "libmemleak-scan.so"))
        for command in ("memleak leaks", "memleak why 0x1000", "memleak who 0x1000"):
            g = gdb(["-p", str(run.pid)], command, env=env)
            self.assertNotIn("Traceback", g.output, g.describe())
            lines = g.memleak_lines()
            self.assertEqual(len(lines), 1, g.describe())
            self.assertIn("libmemleak-scan.so is missing", lines[0])
        g = gdb(["-p", str(run.pid)], "memleak top", env=env)
        self.assertEqual(g.memleak_lines(), [], g.describe())
        self.assertIn("memleak top:", g.output)

    def test_truncated_core_is_one_line(self):
        self.need_attach()
        program = self.programs["mmap_big"]
        run = self.start(program)
        core = self.tmp / "core.cut"
        subprocess.run([GDB, "-nx", "-batch", "-p", str(run.pid), "-ex", f"gcore {core}"],
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=GDB_TIMEOUT)
        run.stop()
        size = core.stat().st_size
        with open(core, "r+b") as f:
            f.truncate(size // 2)
        for command in ("memleak leaks", "memleak why 0x1000"):
            g = gdb([program.argv[0], str(core)], command)
            self.assertNotIn("Traceback", g.output, g.describe())
            self.assertEqual(len(g.memleak_lines()), 1, g.describe())

    def test_address_in_no_block(self):
        self.need_attach()
        run = self.start(self.programs["cycle"])
        g = gdb(["-p", str(run.pid)], "memleak why 0x10", "memleak who no_such_symbol")
        lines = g.memleak_lines()
        self.assertEqual(len(lines), 2, g.describe())
        self.assertIn("0x10 is in no live block", lines[0])
        self.assertIn("cannot evaluate no_such_symbol", lines[1])
