"""The harness of the integration tests: the leaky programs and their
marks, a batch gdb per command, live programs and cores, and the JSON
contract checks. The tests themselves are the test_*.py files here, one
per area; what they share is described below.

Integration tests: real gdb, real processes, real cores.

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

Run one area: `ctest --test-dir BUILD -R integration.test_since -V`.
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
import sys
import tempfile
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import ld_preload  # noqa: E402  (tests/ld_preload.py)

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


def gdb(target_args, *commands, timeout=GDB_TIMEOUT, env=None):
    """One fresh batch gdb with the extension; each command one -ex."""
    argv = [GDB, "-nx", "-batch", *target_args, "-x", str(GDB_SCRIPT)]
    for c in commands:
        argv += ["-ex", c]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace", timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"gdb hung (no exit within {timeout} s): {' '.join(argv)}") from e
    return GdbRun(argv, proc)


def unlimited_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def preload_in_gdb():
    """gdb commands that make the program it starts preload the runtime."""
    return ["set environment %s %s" % item for item in ld_preload.variables(str(LIB)).items()]


class Program:
    """A test program running in the background with its stdout on a pipe."""

    def __init__(self, argv, preload=True, cwd=None, allow_core=False):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if preload:
            env.update(ld_preload.variables(str(LIB), env))
        self.argv = [str(a) for a in argv]
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=cwd, preexec_fn=unlimited_core if allow_core else None)
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


def require_env(testcase, *paths):
    for name, p in paths:
        if p is None or not Path(p).exists():
            testcase.fail(f"{name} is not set or does not exist ({p}); run through ctest")


class GdbTestCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        require_env(self, ("MEMLEAK_LIB", LIB), ("MEMLEAK_GDB_SCRIPT", GDB_SCRIPT))
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
        require_env(self, ("MEMLEAK_LEAKY_C", LEAKY_C))
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
        # 2 or 23: the last command was a memleak command that failed (an
        # error, a limit exceeded), gdb -batch's status then is the memleak one.
        self.assertIn(run.returncode, (0, 1, 2, 23), run.describe())

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


def kill_quietly(pid):
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
