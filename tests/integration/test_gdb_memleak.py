"""Integration tests: real gdb, real processes, real cores.

Every case starts a fresh `gdb -nx -batch -x gdb/memleak.py` on a leaky
program running with libmemleak.so preloaded, live or from a core, and
checks what a user would check: each leak at its file:line with its bytes
and block count, freed blocks absent, `new` at the user's line, inlined
helpers shown as inlined frames, live and core reading the same. The
expected leaks come from marks in the programs' sources (see
programs/leaky.c), never from a golden file.

Paths come from the environment (CMake passes them):
  MEMLEAK_LIB          libmemleak.so
  MEMLEAK_GDB_SCRIPT   gdb/memleak.py
  MEMLEAK_LEAKY_C      programs/leaky.c built -O2 -g
  MEMLEAK_LEAKY_C_O0   programs/leaky.c built -O0 -g
  MEMLEAK_LEAKY_CXX    programs/leaky.cpp built -O2 -g
  MEMLEAK_PHASES       programs/phases.c built -O2 -g
  MEMLEAK_THREADS      programs/threads.c built -O2 -g
  MEMLEAK_LEAKY_C_NOPIE  programs/leaky.c built -O2 -g, not position-independent
  MEMLEAK_DLOPEN       programs/dlopen.c built -O2 -g
  MEMLEAK_PLUGIN       programs/plugin.c built -O2 -g as a loadable module
  MEMLEAK_GDB          gdb (default: gdb on PATH)

Attaching needs ptrace rights over the child: as root that holds unless
/proc/sys/kernel/yama/ptrace_scope is 3 (attach disabled for everyone);
as another user, a scope of 1 or more forbids attaching to a child that
did not ask for it, and the attaching cases are skipped with that reason.

The kernel-core case needs a core_pattern that writes a file. A pattern
that pipes to a handler (systemd-coredump, apport) is replaced for the
test by `core.%p` when /proc/sys/kernel/core_pattern is writable (root)
and restored afterwards; otherwise the case is skipped, never faked.

`since DURATION` is checked on a core: there the snapshot's time is the
newest record, fixed, while a live process's "now" moves with however long
gdb takes to start, which no assertion here may depend on.

Run one area: `ctest --test-dir BUILD -R integration.Since -V`.
"""

import contextlib
import json
import os
import re
import resource
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAM_SOURCES = HERE / "programs"
REPO = HERE.parent.parent

# Generous: the machine may be a loaded 2-core box. A hang is the failure
# these bound, not slowness.
GDB_TIMEOUT = 240
READY_TIMEOUT = 120


def _env_path(name, default=None):
    value = os.environ.get(name, default)
    return Path(value) if value else None


LIB = _env_path("MEMLEAK_LIB")
GDB_SCRIPT = _env_path("MEMLEAK_GDB_SCRIPT", str(REPO / "gdb" / "memleak.py"))
GDB = os.environ.get("MEMLEAK_GDB") or shutil.which("gdb") or "gdb"
LEAKY_C = _env_path("MEMLEAK_LEAKY_C")
LEAKY_C_O0 = _env_path("MEMLEAK_LEAKY_C_O0")
LEAKY_CXX = _env_path("MEMLEAK_LEAKY_CXX")
THREADS = _env_path("MEMLEAK_THREADS")
LEAKY_C_NOPIE = _env_path("MEMLEAK_LEAKY_C_NOPIE")
DLOPEN = _env_path("MEMLEAK_DLOPEN")
PLUGIN = _env_path("MEMLEAK_PLUGIN")
PHASES = _env_path("MEMLEAK_PHASES")


# --------------------------------------------------------------------------
# Marks in the test programs' sources

_MARK_RE = re.compile(r"(?:/\*|//)\s*(LEAK|FREED|TRANSIENT|CALLSITE)\b:?\s*(.*?)\s*(?:\*/|$)")


class Leak:
    def __init__(self, name, line, bytes_, count, attrs):
        self.name = name
        self.line = line
        self.bytes = bytes_
        self.count = count
        self.attrs = attrs

    def __repr__(self):
        return f"{self.name}@{self.line} bytes={self.bytes} count={self.count}"


class Marks:
    """The LEAK / FREED / CALLSITE marks of one source file."""

    def __init__(self, source):
        self.source = Path(source)
        self.basename = self.source.name
        self.leaks = {}
        self.freed = set()
        self.transient = set()
        self.callsites = {}
        for number, text in enumerate(self.source.read_text().splitlines(), 1):
            m = _MARK_RE.search(text)
            if not m:
                continue
            kind, rest = m.group(1), m.group(2).split()
            if kind == "FREED":
                self.freed.add(number)
            elif kind == "TRANSIENT":
                self.transient.add(number)
            elif kind == "CALLSITE":
                self.callsites[rest[0]] = number
            else:
                attrs = {}
                for word in rest[1:]:
                    key, _, value = word.partition("=")
                    attrs[key] = value if value else True
                self.leaks[number] = Leak(rest[0], number, int(attrs.pop("bytes")),
                                          int(attrs.pop("count")), attrs)
        if not self.leaks:
            raise AssertionError(f"{self.source}: no LEAK marks")

    def common_leaks(self):
        """The leaks every mode of the program makes (not the fork child's)."""
        return [l for l in self.leaks.values() if not l.attrs.get("child")]

    def leaks_in_phase(self, phase):
        return [l for l in self.leaks.values() if l.attrs.get("phase") == str(phase)]


# --------------------------------------------------------------------------
# The JSON contract of design.md ("JSON (version 1, stable")


class ContractError(AssertionError):
    pass


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _need(cond, where, what):
    if not cond:
        raise ContractError(f"{where}: {what}")


def validate_frame(frame, where):
    _need(isinstance(frame, dict), where, f"frame is not an object: {frame!r}")
    for key in ("pc", "function", "file", "line", "object", "inlined"):
        _need(key in frame, where, f"frame lacks {key!r}: {frame!r}")
    _need(_is_int(frame["pc"]) and frame["pc"] >= 0, where, f"pc not an int: {frame!r}")
    for key in ("function", "file", "object"):
        _need(frame[key] is None or isinstance(frame[key], str), where,
              f"{key} not str|null: {frame!r}")
    _need(frame["line"] is None or (_is_int(frame["line"]) and frame["line"] > 0), where,
          f"line not a positive int|null: {frame!r}")
    _need(isinstance(frame["inlined"], bool), where, f"inlined not a bool: {frame!r}")


def validate_stack(stack, where):
    _need(isinstance(stack, list), where, "stack is not a list")
    for i, frame in enumerate(stack):
        validate_frame(frame, f"{where}.stack[{i}]")
    # An inlined frame is always followed by the frame it was inlined into.
    if stack:
        _need(not stack[-1]["inlined"], where, "outermost frame is marked inlined")


def _validate_header(doc, fmt):
    _need(isinstance(doc, dict), fmt, "document is not an object")
    _need(doc.get("format") == fmt, fmt, f"format is {doc.get('format')!r}")
    _need(doc.get("version") == 1 and _is_int(doc.get("version")), fmt,
          f"version is {doc.get('version')!r}")
    _need(_is_int(doc.get("pid")) and doc["pid"] > 0, fmt, f"pid is {doc.get('pid')!r}")


def validate_top(doc):
    _validate_header(doc, "memleak-top")
    _need(doc.get("by") in ("bytes", "count"), "memleak-top", f"by is {doc.get('by')!r}")
    for key in ("total_bytes", "total_count"):
        _need(_is_int(doc.get(key)) and doc[key] >= 0, "memleak-top", f"{key} is {doc.get(key)!r}")
    groups = doc.get("groups")
    _need(isinstance(groups, list), "memleak-top", "groups is not a list")
    for i, g in enumerate(groups):
        where = f"memleak-top.groups[{i}]"
        _need(isinstance(g, dict), where, "group is not an object")
        _need(_is_int(g.get("bytes")) and g["bytes"] >= 0, where, f"bytes is {g.get('bytes')!r}")
        _need(_is_int(g.get("count")) and g["count"] > 0, where, f"count is {g.get('count')!r}")
        validate_stack(g.get("stack"), where)
    key = doc["by"]
    order = [g[key] for g in groups]
    _need(order == sorted(order, reverse=True), "memleak-top", f"groups not largest first by {key}")
    _need(sum(g["bytes"] for g in groups) <= doc["total_bytes"], "memleak-top",
          "shown groups hold more bytes than total_bytes")
    _need(sum(g["count"] for g in groups) <= doc["total_count"], "memleak-top",
          "shown groups hold more blocks than total_count")
    return doc


def validate_dump(doc):
    _validate_header(doc, "memleak-dump")
    allocs = doc.get("allocations")
    _need(isinstance(allocs, list), "memleak-dump", "allocations is not a list")
    seen_addr, seen_seq = set(), set()
    for i, a in enumerate(allocs):
        where = f"memleak-dump.allocations[{i}]"
        _need(isinstance(a, dict), where, "allocation is not an object")
        for key in ("address", "size", "seq", "time_ns", "tid"):
            _need(_is_int(a.get(key)) and a[key] >= 0, where, f"{key} is {a.get(key)!r}")
        _need(a["address"] != 0, where, "address 0")
        _need(a["seq"] > 0, where, "seq 0")
        _need(a["tid"] > 0, where, "tid 0")
        _need(a["address"] not in seen_addr, where, f"address {a['address']:#x} twice")
        _need(a["seq"] not in seen_seq, where, f"seq {a['seq']} twice")
        seen_addr.add(a["address"])
        seen_seq.add(a["seq"])
        validate_stack(a.get("stack"), where)
    return doc


def validate_stats(doc):
    _validate_header(doc, "memleak-stats")
    return doc


def contract_view(doc):
    """The fields design.md fixes, without any that may be added."""
    frame_keys = ("pc", "function", "file", "line", "object", "inlined")

    def stack(s):
        return [{k: f[k] for k in frame_keys} for f in s]

    if doc["format"] == "memleak-top":
        return {
            "format": doc["format"], "version": doc["version"], "pid": doc["pid"],
            "by": doc["by"], "total_bytes": doc["total_bytes"], "total_count": doc["total_count"],
            "groups": [{"bytes": g["bytes"], "count": g["count"], "stack": stack(g["stack"])}
                       for g in doc["groups"]],
        }
    return {
        "format": doc["format"], "version": doc["version"], "pid": doc["pid"],
        "allocations": [{k: a[k] for k in ("address", "size", "seq", "time_ns", "tid")}
                        | {"stack": stack(a["stack"])} for a in doc["allocations"]],
    }


# --------------------------------------------------------------------------
# Processes, gdb and cores


class GdbRun:
    def __init__(self, argv, proc):
        self.argv = argv
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.output = proc.stdout + proc.stderr

    def memleak_lines(self):
        return [l for l in self.output.splitlines() if re.match(r"memleak:(?!:)", l)]

    def describe(self):
        return (f"$ {' '.join(self.argv)}\nexit {self.returncode}\n"
                f"--- stdout\n{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-6000:]}")


def gdb(target_args, *commands, timeout=GDB_TIMEOUT):
    """One fresh batch gdb with the extension; each command one -ex."""
    argv = [GDB, "-nx", "-batch", *target_args, "-x", str(GDB_SCRIPT)]
    for c in commands:
        argv += ["-ex", c]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"gdb hung (no exit within {timeout} s): {' '.join(argv)}") from e
    return GdbRun(argv, proc)


def _unlimited_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


class Program:
    """A test program running in the background with its stdout on a pipe."""

    def __init__(self, argv, preload=True, cwd=None, allow_core=False):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if preload:
            env["LD_PRELOAD"] = str(LIB)
        self.argv = [str(a) for a in argv]
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=cwd, preexec_fn=_unlimited_core if allow_core else None)
        self.pid = self.proc.pid
        self._buf = b""

    def wait_for(self, word, timeout=READY_TIMEOUT):
        """Waits for a line whose first word is `word`; returns the rest."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            lines = self._buf.split(b"\n")
            for i, line in enumerate(lines[:-1]):
                first, _, rest = line.strip().partition(b" ")
                if first == word.encode():
                    self._buf = b"\n".join(lines[i + 1:])
                    return rest.decode()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.argv}: no {word!r} within {timeout} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(timeout=30)
                    err = self.proc.stderr.read().decode(errors="replace")
                    raise AssertionError(f"{self.argv} exited ({self.proc.returncode}) before "
                                         f"{word!r}; stderr:\n{err}")
                self._buf += chunk

    def send_line(self, text="go"):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def wait_exit(self, timeout=READY_TIMEOUT):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                f.close()


def ptrace_skip_reason():
    try:
        scope = int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text())
    except (OSError, ValueError):
        return None
    if scope >= 3:
        return "yama ptrace_scope is 3: no process may attach"
    if scope >= 1 and os.geteuid() != 0:
        return f"yama ptrace_scope is {scope} and not root: cannot attach to a child"
    return None


def load_json(path):
    with open(path) as f:
        return json.load(f)


# --------------------------------------------------------------------------
# ELF core surgery: standard library only


class CoreFile:
    """Maps virtual addresses of a 64-bit little-endian ELF core to file offsets."""

    def __init__(self, path):
        self.path = Path(path)
        data = self.path.read_bytes()
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise AssertionError(f"{path}: not a 64-bit little-endian ELF file")
        e_type, = struct.unpack_from("<H", data, 16)
        if e_type != 4:
            raise AssertionError(f"{path}: ELF type {e_type}, not a core")
        e_phoff, = struct.unpack_from("<Q", data, 32)
        e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
        self.loads = []
        for i in range(e_phnum):
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz, _memsz = struct.unpack_from(
                "<IIQQQQQ", data, e_phoff + i * e_phentsize)
            if p_type == 1 and p_filesz:
                self.loads.append((p_vaddr, p_filesz, p_offset))

    def offset_of(self, address, length=8):
        for vaddr, filesz, offset in self.loads:
            if vaddr <= address and address + length <= vaddr + filesz:
                return offset + (address - vaddr)
        raise AssertionError(f"{self.path}: {address:#x} is not in any PT_LOAD with file contents")

    def read(self, address, fmt):
        with open(self.path, "rb") as f:
            f.seek(self.offset_of(address, struct.calcsize(fmt)))
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))

    def write(self, address, fmt, *values):
        with open(self.path, "r+b") as f:
            f.seek(self.offset_of(address, struct.calcsize(fmt)))
            f.write(struct.pack(fmt, *values))


# Offsets from runtime/include/memleak/abi.h (pinned there by static_assert).
INTROSPECT_MAGIC = 0
INTROSPECT_VERSION = 8
INTROSPECT_SHARDS = 80
INTROSPECT_SHARD_COUNT = 88
INTROSPECT_RECORDS_PER_CHUNK = 92
INTROSPECT_STACK_CHUNKS = 104
SHARD_SIZE = 120
SHARD_CHUNK_COUNT = 4
SHARD_CHUNKS = 8
SHARD_LIVE_COUNT = 16
RECORD_SIZE = 32
RECORD_STACK_ID = 28
STACK_DEPTH = 4


# --------------------------------------------------------------------------
# Shared test machinery


def _require_env(testcase, *paths):
    for name, p in paths:
        if p is None or not Path(p).exists():
            testcase.fail(f"{name} is not set or does not exist ({p}); run through ctest")


class GdbTestCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        _require_env(self, ("MEMLEAK_LIB", LIB), ("MEMLEAK_GDB_SCRIPT", GDB_SCRIPT))
        self.tmp = Path(tempfile.mkdtemp(prefix="memleak-integ-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start(self, argv, **kw):
        prog = Program(argv, **kw)
        self.addCleanup(prog.stop)
        return prog

    def gcore(self, prog, name="core.gcore"):
        core = self.tmp / name
        run = subprocess.run([GDB, "-nx", "-batch", "-p", str(prog.pid), "-ex", f"gcore {core}"],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             errors="replace", timeout=GDB_TIMEOUT)
        self.assertTrue(core.exists() and core.stat().st_size > 0,
                        f"gcore wrote nothing:\n{run.stdout}\n{run.stderr}")
        return core

    def kernel_core(self, before_abort=None):
        """Runs leaky.c in abort mode with the runtime and returns the core
        the kernel wrote; `before_abort(prog)` runs while it waits."""
        _require_env(self, ("MEMLEAK_LEAKY_C", LEAKY_C))
        with core_pattern_for_test() as (pattern, reason):
            if reason:
                self.skipTest(reason)
            prog = self.start([LEAKY_C, "abort"], cwd=self.tmp, allow_core=True)
            prog.wait_for("ready")
            if before_abort:
                before_abort(prog)
            prog.send_line()
            status = prog.wait_exit()
            self.assertEqual(status, -signal.SIGABRT, "the program did not die of abort()")
            cores = find_kernel_core(self.tmp, pattern, prog.pid)
            if not cores:
                self.skipTest(f"the kernel wrote no core (core_pattern {pattern!r}, "
                              f"RLIMIT_CORE unlimited) in {self.tmp}")
        return cores[0]

    def need_attach(self):
        reason = ptrace_skip_reason()
        if reason:
            self.skipTest(reason)

    def assertClean(self, run):
        """No traceback, no signal, gdb ran to its end."""
        self.assertNotIn("Traceback", run.output, run.describe())
        self.assertIn(run.returncode, (0, 1), run.describe())

    def assertSucceeded(self, run):
        self.assertClean(run)
        self.assertEqual(run.memleak_lines(), [], run.describe())
        self.assertEqual(run.returncode, 0, run.describe())

    def assertOneError(self, run, *needles):
        self.assertClean(run)
        lines = run.memleak_lines()
        self.assertEqual(len(lines), 1, "expected exactly one 'memleak:' line\n" + run.describe())
        for n in needles:
            self.assertIn(n.lower(), lines[0].lower(), run.describe())
        return lines[0]

    def json_commands(self, target_args, commands):
        """Runs `memleak CMD --json --output F` for each command in one gdb;
        returns the validated documents."""
        outs, exs = [], []
        for i, cmd in enumerate(commands):
            out = self.tmp / f"out-{time.monotonic_ns()}-{i}.json"
            outs.append(out)
            exs.append(f"memleak {cmd} --json --output {out}")
        run = gdb(target_args, *exs)
        self.assertSucceeded(run)
        docs = []
        for cmd, out in zip(commands, outs):
            self.assertTrue(out.exists(), f"`memleak {cmd}` wrote no {out}\n" + run.describe())
            doc = load_json(out)
            try:
                if doc.get("format") == "memleak-dump":
                    validate_dump(doc)
                elif doc.get("format") == "memleak-stats":
                    validate_stats(doc)
                else:
                    validate_top(doc)
            except ContractError as e:
                self.fail(f"`memleak {cmd}` breaks the JSON contract: {e}")
            docs.append(doc)
        return docs

    # What a user checks: each marked line with its bytes and count.

    def assertLeaksMatch(self, top, marks, leaks=None, exact_totals=False):
        """Groups whose allocation frame (stack[0]) lies in the marked source
        must be exactly the LEAK marks, with their bytes and counts."""
        if leaks is None:
            leaks = marks.common_leaks()
        by_line = {}
        for g in top["groups"]:
            if not g["stack"]:
                continue
            f0 = g["stack"][0]
            if f0["file"] and Path(f0["file"]).name == marks.basename:
                got = by_line.setdefault(f0["line"], [0, 0, []])
                got[0] += g["bytes"]
                got[1] += g["count"]
                got[2].append(g)
        problems = []
        for leak in leaks:
            got = by_line.get(leak.line)
            if got is None:
                deeper = [self._frame_text(g["stack"][0]) for g in top["groups"]
                          if any(f["line"] == leak.line and f["file"]
                                 and Path(f["file"]).name == marks.basename
                                 for f in g["stack"][1:])]
                problems.append(f"{marks.basename}:{leak.line} ({leak.name}) not reported"
                                + (f"; its stack starts at {deeper} instead" if deeper else ""))
                continue
            if (got[0], got[1]) != (leak.bytes, leak.count):
                problems.append(f"{marks.basename}:{leak.line} ({leak.name}): "
                                f"bytes={got[0]} count={got[1]}, "
                                f"expected bytes={leak.bytes} count={leak.count}")
            for g in got[2]:
                problems += self._check_inline(g, leak, marks)
        expected = {l.line for l in leaks}
        for line in sorted(set(by_line) - expected - marks.transient):
            what = "a FREED line" if line in marks.freed else "not a LEAK line"
            problems.append(f"{marks.basename}:{line} reported ({what}): "
                            f"bytes={by_line[line][0]} count={by_line[line][1]}")
        if exact_totals:
            want = (sum(l.bytes for l in leaks), sum(l.count for l in leaks))
            if (top["total_bytes"], top["total_count"]) != want:
                problems.append(f"totals bytes={top['total_bytes']} count={top['total_count']}, "
                                f"expected bytes={want[0]} count={want[1]}")
        if problems:
            self.fail("\n".join(problems))

    @staticmethod
    def _frame_text(f):
        return f"{f['function']} {f['file']}:{f['line']}{' (inlined)' if f['inlined'] else ''}"

    def _check_inline(self, group, leak, marks):
        stack = group["stack"]
        f0 = stack[0]
        where = f"{marks.basename}:{leak.line} ({leak.name})"
        if not leak.attrs.get("inlined"):
            if f0["inlined"]:
                return [f"{where}: allocation frame marked inlined"]
            return []
        problems = []
        if not f0["inlined"]:
            problems.append(f"{where}: allocation frame in an always_inline helper not marked "
                            f"inlined: {self._frame_text(f0)}")
        call_line = marks.callsites[leak.attrs["caller"]]
        if len(stack) < 2:
            return problems + [f"{where}: no frame for the caller of the inlined helper"]
        f1 = stack[1]
        if not (f1["file"] and Path(f1["file"]).name == marks.basename
                and f1["line"] == call_line):
            problems.append(f"{where}: frame after the inlined one is {self._frame_text(f1)}, "
                            f"expected the call site {marks.basename}:{call_line}")
        if f1["pc"] != f0["pc"]:
            problems.append(f"{where}: inlined frame and its caller have different pcs "
                            f"({f0['pc']:#x}, {f1['pc']:#x})")
        return problems

    def assertDumpAgreesWithTop(self, dump, top):
        self.assertEqual((sum(a["size"] for a in dump["allocations"]), len(dump["allocations"])),
                         (top["total_bytes"], top["total_count"]),
                         "dump's blocks do not add up to top's totals")


def c_marks():
    return Marks(PROGRAM_SOURCES / "leaky.c")


def cxx_marks():
    return Marks(PROGRAM_SOURCES / "leaky.cpp")


def phases_marks():
    return Marks(PROGRAM_SOURCES / "phases.c")


def plugin_marks():
    return Marks(PROGRAM_SOURCES / "plugin.c")


def threads_marks():
    return Marks(PROGRAM_SOURCES / "threads.c")


TOP_ALL = "top 100000"


# --------------------------------------------------------------------------
# The cases


class LiveAttachTests(GdbTestCase):
    """`gdb -p PID` on a program running with LD_PRELOAD."""

    def attach_top(self, binary, marks):
        self.need_attach()
        _require_env(self, ("program", binary))
        prog = self.start([binary, "wait"])
        prog.wait_for("ready")
        top, dump, stats = self.json_commands(["-p", str(prog.pid)], [TOP_ALL, "dump", "stats"])
        self.assertEqual(top["pid"], prog.pid)
        self.assertLeaksMatch(top, marks)
        self.assertDumpAgreesWithTop(dump, top)
        self.assertEqual((stats.get("live_blocks"), stats.get("live_bytes")),
                         (top["total_count"], top["total_bytes"]),
                         "stats disagrees with top on a quiet process")
        self.assertIsNone(prog.proc.poll(), "the program died after gdb detached")
        return prog, top

    def test_c_O2(self):
        self.attach_top(LEAKY_C, c_marks())

    def test_c_O0(self):
        self.attach_top(LEAKY_C_O0, c_marks())

    def test_c_no_pie(self):
        self.attach_top(LEAKY_C_NOPIE, c_marks())

    def test_cxx_new_at_user_line(self):
        _, top = self.attach_top(LEAKY_CXX, cxx_marks())
        for g in top["groups"]:
            f0 = g["stack"][0]
            self.assertNotIn("operator new", f0["function"] or "",
                             f"a group starts inside operator new: {self._frame_text(f0)}")

    def test_text_output_names_each_leak(self):
        self.need_attach()
        marks = c_marks()
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        run = gdb(["-p", str(prog.pid)], "memleak top 1000")
        self.assertSucceeded(run)
        for leak in marks.common_leaks():
            self.assertIn(f"{marks.basename}:{leak.line}", run.stdout,
                          f"text `memleak top` does not show {leak.name}\n" + run.describe())

    def test_json_on_stdout(self):
        self.need_attach()
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        run = gdb(["-p", str(prog.pid)], "memleak top 5 --json", "memleak stats --json")
        self.assertSucceeded(run)
        docs, text, pos = [], run.stdout, 0
        decoder = json.JSONDecoder()
        while len(docs) < 2:
            start = text.find("{", pos)
            self.assertNotEqual(start, -1, "fewer than two JSON documents on stdout\n"
                                + run.describe())
            try:
                doc, pos = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                pos = start + 1
                continue
            if isinstance(doc, dict) and "format" in doc:
                docs.append(doc)
        top, stats = docs
        validate_top(top)
        validate_stats(stats)
        self.assertLessEqual(len(top["groups"]), 5)
        self.assertEqual(stats["pid"], prog.pid)

    def test_by_count_and_depth(self):
        self.need_attach()
        marks = c_marks()
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        by_bytes, by_count, shallow = self.json_commands(
            ["-p", str(prog.pid)], [TOP_ALL, TOP_ALL + " --by count", TOP_ALL + " --depth 1"])
        self.assertEqual(by_count["by"], "count")
        self.assertLeaksMatch(by_count, marks)
        self.assertLeaksMatch(shallow, marks)
        for doc in (by_count, shallow):
            self.assertEqual((doc["total_bytes"], doc["total_count"]),
                             (by_bytes["total_bytes"], by_bytes["total_count"]))
        for g in shallow["groups"]:
            self.assertEqual(len([f for f in g["stack"] if not f["inlined"]]), 1,
                             "--depth 1 kept more than one frame")

    def test_dump_filters(self):
        self.need_attach()
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        everything, big, two = self.json_commands(
            ["-p", str(prog.pid)], ["dump", "dump --min-size 300", "dump --limit 2"])
        self.assertEqual([a for a in everything["allocations"] if a["size"] >= 300],
                         big["allocations"])
        self.assertTrue(big["allocations"], "no block of 300 bytes or more listed")
        self.assertEqual(len(two["allocations"]), 2)
        for a in everything["allocations"]:
            self.assertEqual(a["tid"], prog.pid, "a block of the single-threaded program "
                             "does not carry its thread id")

    def test_top_n_totals_cover_everything(self):
        self.need_attach()
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        everything, two = self.json_commands(["-p", str(prog.pid)], [TOP_ALL, "top 2"])
        self.assertEqual(len(two["groups"]), 2)
        self.assertEqual(two["groups"], everything["groups"][:2])
        self.assertEqual((two["total_bytes"], two["total_count"]),
                         (everything["total_bytes"], everything["total_count"]))


class BreakpointTests(GdbTestCase):
    """The program started under gdb with the runtime, stopped at a breakpoint."""

    def run_to_stop(self, binary, marks):
        _require_env(self, ("program", binary))
        out = self.tmp / "top.json"
        run = gdb([str(binary)], f"set environment LD_PRELOAD {LIB}", "break stop_here",
                  "run break", f"memleak top 100000 --json --output {out}")
        self.assertSucceeded(run)
        self.assertTrue(out.exists(), run.describe())
        top = validate_top(load_json(out))
        self.assertLeaksMatch(top, marks)

    def test_c(self):
        self.run_to_stop(LEAKY_C, c_marks())

    def test_stopped_inside_the_runtime(self):
        # design.md: a process stopped anywhere, even inside a hook, reads
        # as a consistent table. Here the selected frame is the runtime's
        # own malloc, whose debug info also names the ABI struct.
        _require_env(self, ("MEMLEAK_LEAKY_C", LEAKY_C))
        out = self.tmp / "top.json"
        run = gdb([str(LEAKY_C)], f"set environment LD_PRELOAD {LIB}", "break stop_here",
                  "run break", "break malloc", "continue", "info symbol $pc",
                  f"memleak top 100000 --json --output {out}")
        self.assertRegex(run.output, r"malloc.* of \S*libmemleak", "not stopped in the runtime's "
                         "malloc, the case is not exercised\n" + run.describe())
        self.assertSucceeded(run)
        self.assertLeaksMatch(validate_top(load_json(out)), c_marks())

    def test_stopped_holding_a_shard_lock(self):
        # The line after the runtime takes a shard's lock to insert a
        # record: the shard reads as in flux, the table stays consistent.
        _require_env(self, ("MEMLEAK_LEAKY_C", LEAKY_C))
        source = REPO / "runtime" / "core" / "alloc_table.cpp"
        lines = source.read_text().splitlines()
        locked = [i for i, l in enumerate(lines, 1) if "futex_lock(&sh.lock);" in l]
        self.assertTrue(locked, f"{source} no longer takes a shard lock as "
                        "`futex_lock(&sh.lock);`: point this test at the new place")
        top_out, stats_out = self.tmp / "top.json", self.tmp / "stats.json"
        run = gdb([str(LEAKY_C)], f"set environment LD_PRELOAD {LIB}", "break stop_here",
                  "run break", f"break {source}:{locked[0] + 1}", "continue",
                  "info symbol $pc", f"memleak top 100000 --json --output {top_out}",
                  f"memleak stats --json --output {stats_out}")
        self.assertRegex(run.output, r"of \S*libmemleak", "not stopped in the runtime, the "
                         "case is not exercised\n" + run.describe())
        self.assertSucceeded(run)
        top = validate_top(load_json(top_out))
        self.assertLeaksMatch(top, c_marks())
        stats = validate_stats(load_json(stats_out))
        self.assertEqual(stats.get("shards_in_flux"), 1,
                         "the shard whose lock is held is not reported in flux")

    def test_c_O0(self):
        self.run_to_stop(LEAKY_C_O0, c_marks())

    def test_cxx(self):
        self.run_to_stop(LEAKY_CXX, cxx_marks())


class CoreTests(GdbTestCase):
    """Cores written by gdb's gcore and by the kernel, against a live read
    of the same process."""

    def live_vs_gcore(self, binary, marks):
        self.need_attach()
        _require_env(self, ("program", binary))
        prog = self.start([binary, "wait"])
        prog.wait_for("ready")
        live = self.json_commands(["-p", str(prog.pid)], [TOP_ALL, "dump"])
        core = self.gcore(prog)
        dead = self.json_commands([str(binary), str(core)], [TOP_ALL, "dump"])
        self.assertLeaksMatch(dead[0], marks)
        for a, b in zip(live, dead):
            self.assertEqual(contract_view(a), contract_view(b),
                             f"{a['format']} differs between the live process and its gcore")

    def test_gcore_c(self):
        self.live_vs_gcore(LEAKY_C, c_marks())

    def test_gcore_cxx(self):
        self.live_vs_gcore(LEAKY_CXX, cxx_marks())

    def test_kernel_core_from_abort(self):
        self.need_attach()
        marks = c_marks()
        live = []
        core = self.kernel_core(
            lambda prog: live.extend(self.json_commands(["-p", str(prog.pid)], [TOP_ALL, "dump"])))
        dead = self.json_commands([str(LEAKY_C), str(core)], [TOP_ALL, "dump"])
        self.assertLeaksMatch(dead[0], marks)
        for a, b in zip(live, dead):
            self.assertEqual(contract_view(a), contract_view(b),
                             f"{a['format']} differs between the live process and its kernel core")

    def test_mark_on_core_needs_live_process(self):
        self.need_attach()
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        core = self.gcore(prog)
        run = gdb([str(LEAKY_C), str(core)], "memleak mark nope")
        self.assertOneError(run, "live")


@contextlib.contextmanager
def core_pattern_for_test():
    """Yields (pattern, skip reason). A pattern that pipes to a handler or
    writes elsewhere is swapped for `core.%p` (in the process's cwd) when
    root can write it, and put back afterwards."""
    path = Path("/proc/sys/kernel/core_pattern")
    try:
        original = path.read_text().rstrip("\n")
    except OSError as e:
        yield None, f"cannot read {path}: {e}"
        return
    if not original.startswith("|") and "/" not in original:
        yield original, None
        return
    try:
        path.write_text("core.%p\n")
    except OSError as e:
        yield None, (f"core_pattern is {original!r} (not a plain file in the cwd) "
                     f"and cannot be changed: {e}")
        return
    try:
        yield "core.%p", None
    finally:
        path.write_text(original + "\n")


def find_kernel_core(directory, pattern, pid):
    expected = pattern.replace("%p", str(pid))
    if "%" not in expected:
        candidates = [directory / expected]
        if Path("/proc/sys/kernel/core_uses_pid").read_text().strip() == "1":
            candidates.insert(0, directory / f"{expected}.{pid}")
        return [c for c in candidates if c.exists()]
    return sorted(p for p in directory.iterdir() if p.name.startswith("core"))


class SinceTests(GdbTestCase):
    """`memleak mark` from gdb between two phases, then `since`."""

    def test_since_mark_seq_and_duration(self):
        self.need_attach()
        _require_env(self, ("MEMLEAK_PHASES", PHASES))
        marks = phases_marks()
        phase2 = marks.leaks_in_phase(2)
        prog = self.start([PHASES])
        prog.wait_for("phase1")

        mark_dump = self.tmp / "phase1-dump.json"
        run = gdb(["-p", str(prog.pid)], "memleak mark phase1",
                  f"memleak dump --json --output {mark_dump}")
        self.assertSucceeded(run)
        phase1_dump = validate_dump(load_json(mark_dump))
        last_seq = max(a["seq"] for a in phase1_dump["allocations"])

        prog.send_line()
        prog.wait_for("phase2")
        target = ["-p", str(prog.pid)]
        top, by_mark, by_seq, by_mark_dump, by_api_mark = self.json_commands(
            target, [TOP_ALL, "since phase1", f"since {last_seq}", "since phase1 --dump",
                     "since program-phase1"])
        self.assertLeaksMatch(top, marks)
        self.assertLeaksMatch(by_mark, marks, phase2, exact_totals=True)
        self.assertLeaksMatch(by_seq, marks, phase2, exact_totals=True)
        self.assertEqual(contract_view(by_api_mark), contract_view(by_mark),
                         "the mark set by memleak_mark() in the program and the one set "
                         "from gdb at the same point select different blocks")
        self.assertEqual(by_mark_dump["format"], "memleak-dump")
        self.assertTrue(all(a["seq"] > last_seq for a in by_mark_dump["allocations"]),
                        "since --dump lists a block allocated before the mark")
        self.assertDumpAgreesWithTop(by_mark_dump, by_mark)

        # On a core the snapshot's time is its newest record, the end of
        # phase 2, which began at least 2 s after phase 1 ended.
        core = self.gcore(prog)
        core_target = [str(PHASES), str(core)]
        core_mark, core_seq, core_duration, core_all, core_top = self.json_commands(
            core_target, ["since phase1", f"since {last_seq}", "since 1s", "since 1h", TOP_ALL])
        self.assertEqual(contract_view(core_mark), contract_view(by_mark))
        self.assertEqual(contract_view(core_seq), contract_view(by_seq))
        self.assertLeaksMatch(core_duration, marks, phase2, exact_totals=True)
        self.assertEqual((core_all["total_bytes"], core_all["total_count"]),
                         (core_top["total_bytes"], core_top["total_count"]),
                         "`since 1h` on a core does not cover every block")

        run = gdb(core_target, "memleak since no-such-mark")
        self.assertOneError(run)

        # Marking the same name again moves it: nothing is newer.
        run = gdb(target, "memleak mark phase1")
        self.assertSucceeded(run)
        moved, stats = self.json_commands(target, ["since phase1", "stats"])
        self.assertEqual((moved["total_count"], moved["total_bytes"]), (0, 0))
        names = [m.get("name") for m in stats.get("marks", [])]
        self.assertEqual(sorted(names), ["phase1", "program-phase1"],
                         "memleak stats --json does not list each mark once")


class ThreadTests(GdbTestCase):
    """Thread ids, and reads of a process stopped while two threads allocate."""

    def test_tids_and_consistency_under_churn(self):
        self.need_attach()
        _require_env(self, ("MEMLEAK_THREADS", THREADS))
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


class ForkTests(GdbTestCase):
    """A forked child reads as its own process: the parent's blocks it
    inherited plus its own, under its pid; the parent's table is untouched."""

    def test_child_and_parent(self):
        self.need_attach()
        _require_env(self, ("MEMLEAK_LEAKY_C", LEAKY_C))
        marks = c_marks()
        prog = self.start([LEAKY_C, "fork"])
        child, parent = (int(w) for w in prog.wait_for("ready").split())
        self.addCleanup(_kill_quietly, child)
        self.assertEqual(parent, prog.pid)
        child_line = next(l.line for l in marks.leaks.values() if l.attrs.get("child"))

        top, dump, stats = self.json_commands(["-p", str(child)], [TOP_ALL, "dump", "stats"])
        self.assertEqual((top["pid"], dump["pid"], stats["pid"]), (child, child, child))
        self.assertLeaksMatch(top, marks, list(marks.leaks.values()))
        self.assertDumpAgreesWithTop(dump, top)
        for a in dump["allocations"]:
            f0 = a["stack"][0] if a["stack"] else {}
            if f0.get("file") and Path(f0["file"]).name == marks.basename:
                want = child if f0["line"] == child_line else parent
                self.assertEqual(a["tid"], want, f"block from {marks.basename}:{f0['line']}")

        top, = self.json_commands(["-p", str(parent)], [TOP_ALL])
        self.assertEqual(top["pid"], parent)
        self.assertLeaksMatch(top, marks)


class DlopenTests(GdbTestCase):
    """Leaks from a library loaded with dlopen(), loaded or unloaded again."""

    def start_dlopen(self, how):
        self.need_attach()
        _require_env(self, ("MEMLEAK_DLOPEN", DLOPEN), ("MEMLEAK_PLUGIN", PLUGIN))
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


def _kill_quietly(pid):
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class CommandLineTests(GdbTestCase):
    """Mistakes at the gdb prompt: one `memleak:` line each, nothing else."""

    def test_help_lists_the_commands(self):
        run = gdb([], "help memleak")
        self.assertSucceeded(run)
        for sub in ("top", "dump", "since", "mark", "stats"):
            self.assertRegex(run.stdout, rf"memleak {sub}\b", run.describe())

    def test_usage_errors(self):
        self.need_attach()
        _require_env(self, ("MEMLEAK_LEAKY_C", LEAKY_C))
        prog = self.start([LEAKY_C, "wait"])
        prog.wait_for("ready")
        core = self.gcore(prog)
        for command in ("memleak top --by nonsense", "memleak nosuchcommand", "memleak since",
                        "memleak top 0", "memleak top --depth x", "memleak dump --limit 0",
                        "memleak since no-such-mark", f"memleak top --output {self.tmp}/no/dir/f",
                        "memleak top --json --output"):
            with self.subTest(command=command):
                self.assertOneError(gdb([str(LEAKY_C), str(core)], command))

    def test_without_a_process(self):
        self.assertOneError(gdb([], "memleak top"))


class HostileTests(GdbTestCase):
    """Cores the reader must refuse in one line, without a traceback or hang."""

    def core_of(self, preload=True):
        self.need_attach()
        _require_env(self, ("program", LEAKY_C))
        prog = self.start([LEAKY_C, "wait"], preload=preload)
        prog.wait_for("ready")
        return self.gcore(prog)

    def introspect_address(self, core):
        run = gdb([str(LEAKY_C), str(core)], "info address memleak_introspect")
        m = re.search(r"memleak_introspect.*?(0x[0-9a-fA-F]+)", run.output)
        self.assertIsNotNone(m, "gdb does not know memleak_introspect\n" + run.describe())
        return int(m.group(1), 16)

    def corrupted_core(self, patch):
        core = self.core_of()
        root = self.introspect_address(core)
        elf = CoreFile(core)
        magic, = elf.read(root + INTROSPECT_MAGIC, "<Q")
        self.assertEqual(magic, 0x314b41454c4d454d, "memleak_introspect not found in the core")
        patch(elf, root)
        return core

    def assertRefused(self, core, *needles):
        for command in ("memleak top", "memleak dump --json", "memleak stats"):
            with self.subTest(command=command):
                self.assertOneError(gdb([str(LEAKY_C), str(core)], command), *needles)

    def test_core_without_runtime(self):
        self.assertRefused(self.core_of(preload=False))

    def assertTruncatedHandled(self, core, whole_size, table_cut, *setup):
        """A cut core either still holds the whole table, and the answer is
        whole, or gets the one line that names the cut and its sizes;
        `table_cut` says the cut went through the table, so only the line
        will do. `setup` are gdb commands run first."""
        out = self.tmp / "top.json"
        run = gdb([str(LEAKY_C), str(core)], *setup, f"memleak top --json --output {out}")
        self.assertClean(run)
        self.assertNotIn("not a core dump", run.output,
                         "gdb did not open the cut core, the reader was not reached")
        lines = run.memleak_lines()
        if lines or table_cut:
            self.assertEqual(len(lines), 1, run.describe())
            self.assertIn(f"core file truncated: {core.stat().st_size} of {whole_size} "
                          "bytes present", lines[0], run.describe())
            self.assertNotIn("LD_PRELOAD", lines[0], run.describe())
        else:
            self.assertEqual(run.returncode, 0, run.describe())
            self.assertLeaksMatch(validate_top(load_json(out)), c_marks())

    def test_truncated_gcore(self):
        # gcore writes its notes last: cut in half, gdb itself rejects the
        # file and says so, so there is no core for the reader to look at.
        core = self.core_of()
        os.truncate(core, core.stat().st_size // 2)
        run = gdb([str(LEAKY_C), str(core)], "memleak top")
        self.assertIn("not a core dump", run.output, run.describe())
        self.assertOneError(run, "no process or core file")

    def test_truncated_kernel_core(self):
        # The kernel writes its notes first, so gdb opens a cut core and the
        # reader meets the missing memory: the loader's library list (the
        # runtime looks absent) or the table itself.
        self.need_attach()
        core = self.kernel_core()
        whole = core.stat().st_size
        root = self.introspect_address(core)
        elf = CoreFile(core)
        shards, = elf.read(root + INTROSPECT_SHARDS, "<Q")
        cuts = {}
        for where, size in (("half", whole // 2),
                            ("inside the shard array", elf.offset_of(shards) + 2 * SHARD_SIZE + 7)):
            cuts[where] = self.tmp / f"cut-{size}.core"
            shutil.copyfile(core, cuts[where])
            os.truncate(cuts[where], size)
        with self.subTest(cut="half"):
            self.assertTruncatedHandled(cuts["half"], whole, False)
        shard_cut = cuts["inside the shard array"]
        with self.subTest(cut="inside the shard array"):
            self.assertTruncatedHandled(shard_cut, whole, True)
        # With the runtime's symbols loaded by hand, gdb finds the table in
        # the cut core and the reader meets the missing shard array itself.
        with self.subTest(cut="inside the shard array, library symbols loaded by hand"):
            base = self.mapping_base(shard_cut, LIB)
            self.assertTruncatedHandled(shard_cut, whole, True,
                                        f"add-symbol-file {LIB} -o {base:#x}")

    def mapping_base(self, core, path):
        """Where the core's file list (its NT_FILE note) maps offset 0 of `path`."""
        run = gdb([str(LEAKY_C), str(core)], "info proc mappings")
        for line in run.output.splitlines():
            f = line.split()
            if (len(f) == 5 and f[0].startswith("0x") and int(f[3], 16) == 0
                    and Path(f[4]).resolve() == Path(path).resolve()):
                return int(f[0], 16)
        self.fail(f"{path} is not in the core's mappings\n" + run.describe())

    def test_bad_magic(self):
        core = self.corrupted_core(
            lambda elf, root: elf.write(root + INTROSPECT_MAGIC, "<Q", 0x0123456789ABCDEF))
        self.assertRefused(core)

    def test_unknown_abi_version(self):
        core = self.corrupted_core(
            lambda elf, root: elf.write(root + INTROSPECT_VERSION, "<I", 7))
        self.assertRefused(core, "unknown ABI version")

    def test_wild_shard_pointer(self):
        core = self.corrupted_core(
            lambda elf, root: elf.write(root + INTROSPECT_SHARDS, "<Q", 0x10))
        self.assertOneError(gdb([str(LEAKY_C), str(core)], "memleak top"))

    def test_more_corruptions(self):
        def first_record(elf, root):
            shards, = elf.read(root + INTROSPECT_SHARDS, "<Q")
            count, = elf.read(root + INTROSPECT_SHARD_COUNT, "<I")
            per_chunk, = elf.read(root + INTROSPECT_RECORDS_PER_CHUNK, "<I")
            for i in range(count):
                chunk_count, chunks = elf.read(shards + i * SHARD_SIZE + SHARD_CHUNK_COUNT, "<IQ")
                if chunk_count:
                    chunk, = elf.read(chunks, "<Q")
                    for r in range(per_chunk):
                        if elf.read(chunk + r * RECORD_SIZE, "<Q")[0]:
                            return chunk + r * RECORD_SIZE
            self.fail("no record in the core's table")

        def first_stack(elf, root):
            chunks, = elf.read(root + INTROSPECT_STACK_CHUNKS, "<Q")
            return elf.read(chunks, "<Q")[0]

        patches = {
            "stack depot pointer": lambda elf, root: elf.write(
                root + INTROSPECT_STACK_CHUNKS, "<Q", 0x10),
            "shard count not a power of two": lambda elf, root: elf.write(
                root + INTROSPECT_SHARD_COUNT, "<I", 3),
            "record stack id past the depot": lambda elf, root: elf.write(
                first_record(elf, root) + RECORD_STACK_ID, "<I", 0x7FFFFFFF),
            "stack depth past max_depth": lambda elf, root: elf.write(
                first_stack(elf, root) + STACK_DEPTH, "<H", 0xFFFF),
        }
        pristine = self.core_of()
        root = self.introspect_address(pristine)
        for what, patch in patches.items():
            with self.subTest(corrupt=what):
                core = self.tmp / "corrupt.core"
                shutil.copyfile(pristine, core)
                patch(CoreFile(core), root)
                self.assertOneError(gdb([str(LEAKY_C), str(core)], "memleak dump"))

    def first_shard_with_chunks(self, elf, root):
        """(index, address, chunk directory) of the first shard holding live blocks."""
        shards, = elf.read(root + INTROSPECT_SHARDS, "<Q")
        count, = elf.read(root + INTROSPECT_SHARD_COUNT, "<I")
        for i in range(count):
            at = shards + i * SHARD_SIZE
            chunk_count, chunks = elf.read(at + SHARD_CHUNK_COUNT, "<IQ")
            if chunk_count and elf.read(at + SHARD_LIVE_COUNT, "<Q")[0]:
                return i, at, chunks
        self.fail("no shard of the core's table holds a live block")

    def test_corrupted_counters_are_warned_about(self):
        def patch(elf, root):
            self.shard, at, _ = self.first_shard_with_chunks(elf, root)
            elf.write(at + SHARD_LIVE_COUNT, "<Q", 140631010570976)
        core = self.corrupted_core(patch)
        run = gdb([str(LEAKY_C), str(core)], "memleak stats")
        self.assertClean(run)
        self.assertEqual(run.returncode, 0, run.describe())
        # The counters as the runtime left them (the sum over the shards).
        self.assertRegex(run.output, r"live blocks:\s+1406310105709\d\d\n", run.describe())
        lines = run.memleak_lines()
        self.assertEqual(len(lines), 2, run.describe())
        for line in lines:
            self.assertTrue(line.startswith("memleak: warning: shard %d counts 140631010570976 "
                                            "live blocks" % self.shard), run.describe())

    def test_chunk_directory_pointing_at_itself(self):
        def patch(elf, root):
            self.shard, _, self.directory = self.first_shard_with_chunks(elf, root)
            elf.write(self.directory, "<Q", self.directory)
        core = self.corrupted_core(patch)
        for command in ("memleak top", "memleak stats"):
            with self.subTest(command=command):
                run = gdb([str(LEAKY_C), str(core)], command)
                self.assertClean(run)
                self.assertEqual(run.returncode, 0, run.describe())
                self.assertEqual(run.memleak_lines(), [
                    "memleak: warning: shard %d chunk 0 at 0x%x overlaps shard %d's chunk "
                    "directory; not read as records" % (self.shard, self.directory, self.shard)],
                    run.describe())

    def test_huge_chunk_count(self):
        def patch(elf, root):
            shards, = elf.read(root + INTROSPECT_SHARDS, "<Q")
            elf.write(shards + SHARD_CHUNK_COUNT, "<I", 0xFFFFFFF0)
        core = self.corrupted_core(patch)
        self.assertOneError(gdb([str(LEAKY_C), str(core)], "memleak top"))


if __name__ == "__main__":
    unittest.main()
