"""The reachability programs' expectations, and valgrind as the reference.

Every program in programs/ marks the lines that allocate with the classes
their blocks must fall in:

    p = malloc(n); /* REACH: still_reachable blocks=1 bytes=100 | definitely_lost blocks=1 bytes=37 */

A class is one of KINDS (valgrind's leak kinds, spelled as memleak's JSON
spells them); site() says which line a block belongs to (a std::string
buffer allocated inside libstdc++ counts at the line that assigned the
string). Where valgrind knowingly differs from memleak (it takes the DTV
glibc gives a thread for possibly lost), the line says what valgrind
reports after `VALGRIND:` in the same form, and the comparisons expect
that of valgrind.

run_valgrind() runs a program under `valgrind --leak-check=full
--show-leak-kinds=all --xml=yes` through its stable point to its exit and
returns valgrind's loss records; tally() turns loss records (valgrind's or
any reader's, given as (kind, bytes, blocks, frames)) into per-line,
per-class block and byte counts; compare() lists every difference.

programs() reads the manifest CMake writes (MEMLEAK_REACH_PROGRAMS): each
program's argv (a program that dlopens takes the library's path first) and
sources. A program takes its ending as the argument after those: `exit`
(the default) or `abort`.
"""

import collections
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent

KINDS = ("definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable")
LOST_KINDS = KINDS[:3]

_VALGRIND_KINDS = {
    "Leak_DefinitelyLost": "definitely_lost",
    "Leak_IndirectlyLost": "indirectly_lost",
    "Leak_PossiblyLost": "possibly_lost",
    "Leak_StillReachable": "still_reachable",
}

READY_TIMEOUT = 180
EXIT_TIMEOUT = 300

Frame = collections.namedtuple("Frame", "function file line object")
LossRecord = collections.namedtuple("LossRecord", "kind bytes blocks frames")
Program = collections.namedtuple("Program", "name argv sources")

_MARK_RE = re.compile(r"(?:/\*|//)\s*REACH:\s*(.*?)\s*(?:VALGRIND:\s*(.*?)\s*)?(?:\*/|$)")
_CLASS_RE = re.compile(r"^(\w+)\s+blocks=(\d+)\s+bytes=(\d+)$")


class MarkError(AssertionError):
    pass


def _classes(where, text):
    classes = {}
    for part in text.split("|"):
        c = _CLASS_RE.match(part.strip())
        if not c or c.group(1) not in KINDS:
            raise MarkError(f"{where}: bad REACH mark part {part.strip()!r}")
        if c.group(1) in classes:
            raise MarkError(f"{where}: {c.group(1)} twice")
        classes[c.group(1)] = (int(c.group(2)), int(c.group(3)))
    return classes


def read_marks(source):
    """{line: (classes, valgrind_classes or None)} from the REACH marks of
    one source; classes are {kind: (blocks, bytes)}."""
    marks = {}
    for number, text in enumerate(Path(source).read_text().splitlines(), 1):
        m = _MARK_RE.search(text)
        if not m:
            continue
        where = f"{source}:{number}"
        marks[number] = (_classes(where, m.group(1)),
                         _classes(where, m.group(2)) if m.group(2) else None)
    return marks


def expected(program, valgrind=False):
    """{(basename, line): {kind: (blocks, bytes)}} over a program's marked
    lines: what memleak must report, or with valgrind=True what valgrind
    reports."""
    want = {}
    for src in program.sources:
        for line, (classes, vg) in read_marks(src).items():
            want[(Path(src).name, line)] = vg if valgrind and vg is not None else classes
    return want


def reference(program, valgrind_tally):
    """What a memleak reader must report for a program, block for block:
    valgrind's tally, except on the lines whose marks record where valgrind
    knowingly differs, which take the marks."""
    want = dict(valgrind_tally)
    for src in program.sources:
        for line, (classes, vg) in read_marks(src).items():
            if vg is not None:
                want[(Path(src).name, line)] = classes
    return want


def site(frames, basenames):
    """(basename, line) where a block was allocated, when that is in one of
    `basenames`, else None. Frames without a source file (the allocator's
    entry points, libraries without debug info) and frames of the C++
    headers (std::string's code inlined into the program) are passed over;
    the first other frame is the allocation site. A block allocated inside
    glibc (a thread's DTV, a dynamic TLS block) thus has no site in the
    program, whatever called glibc: such blocks differ in size from one
    process to the next (the DTV grows with the libraries loaded)."""
    for f in frames:
        if not f.file or not f.line or f.file.startswith("/usr/include/"):
            continue
        name = os.path.basename(f.file)
        return (name, f.line) if name in basenames else None
    return None


def tally(records, basenames):
    """{(basename, line): {kind: (blocks, bytes)}} of loss records, over the
    allocation sites in the program's sources (other records are left out)."""
    counts = {}
    for r in records:
        where = site(r.frames, basenames)
        if where is None:
            continue
        per = counts.setdefault(where, {})
        blocks, nbytes = per.get(r.kind, (0, 0))
        per[r.kind] = (blocks + r.blocks, nbytes + r.bytes)
    return counts


def compare(want, got, only_marked=False):
    """Differences between two tallies, one line each; [] when they agree.
    With only_marked, sites `want` does not list are not compared."""
    problems = []
    sites = set(want) if only_marked else set(want) | set(got)
    for where in sorted(sites):
        w, g = want.get(where, {}), got.get(where, {})
        for kind in KINDS:
            if w.get(kind, (0, 0)) != g.get(kind, (0, 0)):
                wb, wn = w.get(kind, (0, 0))
                gb, gn = g.get(kind, (0, 0))
                problems.append(f"{where[0]}:{where[1]} {kind}: expected {wb} blocks / {wn} bytes, "
                                f"got {gb} blocks / {gn} bytes")
    return problems


def programs():
    """{name: Program} from the manifest CMake wrote."""
    path = os.environ.get("MEMLEAK_REACH_PROGRAMS")
    if not path or not Path(path).exists():
        raise AssertionError(f"MEMLEAK_REACH_PROGRAMS is not set or missing ({path}); run through ctest")
    with open(path) as f:
        doc = json.load(f)
    return {name: Program(name, tuple(p["argv"]), tuple(p["sources"])) for name, p in doc.items()}


def basenames(program):
    return {Path(s).name for s in program.sources}


# --------------------------------------------------------------------------
# Running a program to its stable point


class Running:
    """A reachability program started in the background, stdout on a pipe."""

    def __init__(self, argv, env=None, cwd=None, preexec_fn=None):
        self.argv = [str(a) for a in argv]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=cwd,
                                     preexec_fn=preexec_fn)
        self.pid = self.proc.pid
        self._buf = b""

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"ready\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.argv}: not ready within {timeout} s")
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(timeout=60)
                    err = self.proc.stderr.read().decode(errors="replace")
                    raise AssertionError(f"{self.argv} exited ({self.proc.returncode}) before "
                                         f"ready; stderr:\n{err[-4000:]}")
                self._buf += chunk

    def finish(self, timeout=EXIT_TIMEOUT):
        """Lets the program go past its stable point; returns (status, stderr)."""
        try:
            _, err = self.proc.communicate(b"go\n", timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.argv}: did not end within {timeout} s") from None
        return self.proc.returncode, err.decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


# --------------------------------------------------------------------------
# valgrind


def valgrind_path():
    return os.environ.get("MEMLEAK_VALGRIND") or shutil.which("valgrind")


_DIRECT_RE = re.compile(r"\(([\d,]+) direct, [\d,]+ indirect\)")


def parse_valgrind_xml(text):
    """valgrind's loss records from its --xml=yes output."""
    root = ET.fromstring(text)
    records = []
    for err in root.iter("error"):
        kind = _VALGRIND_KINDS.get(err.findtext("kind") or "")
        if kind is None:
            continue
        xwhat = err.find("xwhat")
        if xwhat is None:
            continue
        nbytes = int(xwhat.findtext("leakedbytes") or 0)
        # A definitely or possibly lost record counts the bytes of the
        # blocks it holds indirectly too ("96 (64 direct, 32 indirect)");
        # those have records of their own.
        split = _DIRECT_RE.search(xwhat.findtext("text") or "")
        if split:
            nbytes = int(split.group(1).replace(",", ""))
        blocks = int(xwhat.findtext("leakedblocks") or 0)
        frames = []
        stack = err.find("stack")
        for fr in (stack.findall("frame") if stack is not None else ()):
            line = fr.findtext("line")
            file = fr.findtext("file")
            if file and fr.findtext("dir"):
                file = os.path.join(fr.findtext("dir"), file)
            frames.append(Frame(fr.findtext("fn"), file,
                                int(line) if line and line.isdigit() else None, fr.findtext("obj")))
        records.append(LossRecord(kind, nbytes, blocks, frames))
    return records


def run_valgrind(argv, ending="exit", timeout=EXIT_TIMEOUT):
    """Runs argv under valgrind's leak check through the stable point to
    `ending`; returns its loss records."""
    vg = valgrind_path()
    if not vg:
        raise AssertionError("valgrind is not installed")
    with tempfile.TemporaryDirectory(prefix="memleak-reach-vg-") as tmp:
        xml = Path(tmp) / "valgrind.xml"
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        run = Running([vg, "--leak-check=full", "--show-leak-kinds=all", "--num-callers=40",
                       "--xml=yes", f"--xml-file={xml}", *argv, ending], env=env)
        try:
            run.wait_ready(timeout)
            status, err = run.finish(timeout)
        finally:
            run.stop()
        if status != 0:
            raise AssertionError(f"valgrind {argv} exited {status}; stderr:\n{err[-4000:]}")
        return parse_valgrind_xml(xml.read_text(errors="replace"))
