"""The memleak commands, independent of gdb.

Each command is a function of parsed arguments and a target: an object
giving the table snapshot, symbolized frames for a pc, the snapshot's time,
and (live processes only) memory writes. gdb_backend supplies the real
target and turns these functions into gdb commands; the unit tests supply
a byte image.

Target interface:
    table(records=True) -> reader.Table
    is_live: bool        (False for a core file)
    now_ticks(table) -> int  the snapshot's time in ticks
    now_from_table: bool  now_ticks is the table's newest time stamp, not a
                         clock (a core file, a process behind gdbserver)
    symbolize(pc) -> list[aggregate.Frame]  innermost first
    write(addr, data)    live processes only
"""

import gc
import json
import operator
import struct

from . import (abi, aggregate, args as cmdargs, flame, frames, leaks, reachability, reader,
               render, suppress)
from .errors import DeferredFailure, LimitExceeded, MemleakError

PREFIX_HELP = """Find memory leaks in a process running with libmemleak.so, or in its core.

The runtime (LD_PRELOAD=.../libmemleak.so) records every live heap block with
its allocation stack; these commands read that record by memory reads alone,
so they work the same on a live process (gdb -p PID, or a program started
under gdb and stopped) and on a core file (gcore, or a crash's core).

Usage: memleak top|dump|since|leaks|why|who|mark|stats [ARGS...]

`leaks`, `why` and `who` (and the leak classes other commands add) scan the
process's memory for pointers, as Valgrind's leak check does, with the
native scanner library libmemleak-scan.so.

Every command takes --json (machine-readable output, format in docs/design.md)
and --output FILE (write there instead of the terminal).
"set memleak debug on" shows the Python traceback of an error."""

HELP = {
    "top": """Show the allocation stacks holding the most live memory.

Usage: memleak top [N] [--by bytes|count] [--depth D] [--fold] [--folded] [--svg FILE]
                   [--show-below-main] [--suppressions FILE] [--json] [--output FILE]

Groups every live block by its whole allocation stack (or by its innermost D
return addresses with --depth) and prints the N largest groups (default 20),
each with its frames: "#0 0xPC in function file:line", inlined calls shown as
their own frames marked "(inlined)". Frames below main and below a thread's
start routine are left out unless --show-below-main. --fold shows each run of
C++ standard library and libc frames as the one function the program called,
and --depth then counts the program's own frames: `top --fold --depth 1`
groups by the program's call sites. --folded lists every stack (the N largest
when N is given). The header line's totals cover every live block, shown or
not. Shards the process was changing when it stopped are reported as "in
flux". With the scanner library, the header and each group also show how
many blocks fall in each leak class (see `help memleak leaks`), and --kind
keeps only blocks of the given classes.

Options:
""",
    "dump": """List every live block with its allocation stack, oldest first.

Usage: memleak dump [--min-size BYTES] [--limit N] [--fold] [--show-below-main]
                    [--suppressions FILE] [--json] [--output FILE]

Each block shows its address, requested size, allocation sequence number,
allocating thread id (LWP) and allocation time (wall clock, UTC; "time_ns" in
JSON is nanoseconds since the Unix epoch), its leak class when the scanner
library is there ("leak_kind" in JSON), then its stack. The text lists the
oldest 50 blocks unless --limit says otherwise (--limit 0: all) and says how
many more there are; JSON lists every block.

Options:
""",
    "since": """Show only what was allocated after a point and is still live.

Usage: memleak since POINT [--dump] [--fail-over BYTES] [top or dump options]

POINT is one of:
  a sequence number (digits)   blocks with a greater sequence number;
  a mark name                  the latest valid mark of that name (memleak mark,
                               or memleak_mark() in the program);
  a duration (90s, 5m, 2h, 1h30m, 500ms)
                               blocks allocated in that time before the snapshot:
                               for a local process the snapshot is now (this
                               machine's CLOCK_MONOTONIC, the runtime's clock);
                               for a core file or a process behind gdbserver it
                               is the newest time stamp the table holds (the
                               latest allocation or table change, on the
                               target's clock), which the output says.
Output is grouped like `memleak top` unless --dump lists the blocks.
--fail-over BYTES makes the command fail after printing when the growth (bytes
not suppressed) exceeds BYTES. gdb -batch exits with status 1 when its last
command failed, so give this one last (-ex ... -ex 'memleak since X --fail-over
10MiB'); in a script run with -x FILE, the failure stops the script there.

Options:
""",
    "leaks": """Show loss records: live blocks nothing reachable points to, as Valgrind does.

Usage: memleak leaks [N] [--all] [--by bytes|count] [--depth D]
                     [--suppressions FILE] [--json] [--output FILE]

Scans the process's roots (every thread's registers and live stack, static
and dynamic TLS, the data and bss of the program and of every library, and
the program's own mappings) for pointers into the live blocks, and gives each
block Valgrind's class: definitely lost (nothing points to it), indirectly
lost (only lost blocks point to it), possibly lost (reached only through an
interior pointer), still reachable. Freed memory, the allocator's own memory
and the runtime's bookkeeping are no roots.

Prints "B bytes in N blocks are definitely lost in loss record I of M" with
the allocation stack for each loss record (blocks of one stack and one class),
definitely lost first, then indirectly and possibly lost, largest first within
a class; N limits how many. Still-reachable blocks are one summary line
unless --all lists them too.

Options:
""",
    "why": """Show the shortest chain of pointers that keeps a block alive.

Usage: memleak why ADDR [--json] [--output FILE]

ADDR (a number or an expression) is a live block's address or any address
inside one. For a still-reachable or possibly-lost block, prints the root the
chain starts at (a global and its module; thread N's stack in function F at
file:line; thread N's register; TLS of thread N; a mapping of the program),
then each block on the way with its address, size, class, allocation site and
the offset of the pointer in it that leads on. For a lost block, says so and
names the lost block that points to it, if any.

Options:
""",
    "who": """List every root and block that points into a block.

Usage: memleak who ADDR [--limit N] [--json] [--output FILE]

ADDR (a number or an expression) is a live block's address or any address
inside one. Each pointer is listed with where it is (a root, or a block with
its class and allocation site and the pointer's offset in it) and where in
the block it lands.

Options:
""",
    "mark": """Store a named point in the allocation sequence in the process.

Usage: memleak mark [NAME] [--json] [--output FILE]

Writes NAME (default mark-N) with the last sequence number issued so far into
the runtime's marks table of the live process, so `memleak since NAME` works
later, in this session, another gdb session, or on a core dumped afterwards.
Marking an existing name again moves it. Needs a live process.

Options:
""",
    "stats": """Show the runtime's counters.

Usage: memleak stats [--json] [--output FILE]

Live blocks and bytes, allocations, frees, peak bytes, dropped records and
stacks, untracked frees, bootstrap bytes, distinct stacks, shards in flux,
ABI and runtime version, pid, start time, the marks, and the bytes and blocks
in each leak class when the scanner library is there.

Options:
""",
}


def help_text(command):
    return HELP[command] + cmdargs.options_help(command)


class _Symbolizer:
    """Frames per stack through the target's per-pc symbolizer: `raw`
    as gdb gives them, `matched` what suppressions see, `frames` as the
    view shows them."""

    def __init__(self, target, view):
        self.target = target
        self.view = view
        self.raw_cache = {}
        self.cache = {}

    def raw(self, pcs):
        f = self.raw_cache.get(pcs)
        if f is None:
            f = self.raw_cache[pcs] = aggregate.symbolize_pcs(pcs, self.target.symbolize)
        return f

    def matched(self, pcs):
        """What suppressions match: every frame of the whole stack, innermost
        first, by its name as shown with its file and object, then by its
        name as gdb spells it (a file written for LeakSanitizer names
        std::__cxx11::basic_string<...>), as the exit report matches."""
        out = []
        for f in self.raw(pcs):
            shown = frames.clean_name(f.function)
            out.append(f._replace(function=shown))
            if shown != f.function:
                out.append(f._replace(file=None, object=None))
        return out

    def frames(self, pcs):
        f = self.cache.get(pcs)
        if f is None:
            f = self.cache[pcs] = self.view.frames(self.raw(pcs))
        return f

    def fill(self, groups):
        for g in groups:
            if g.frames is None:
                g.frames = self.frames(g.pcs)


def _view(a):
    return frames.View(show_below_main=a.show_below_main, fold=a.fold)


def _load_suppressions(path):
    if path is None:
        return None
    try:
        return suppress.load(path)
    except suppress.SuppressionError as e:
        raise MemleakError(str(e)) from None
    except OSError as e:
        raise MemleakError("cannot read suppressions %s: %s" % (path, e.strerror)) from None


def _pid(table):
    return table.header.pid


def _classes(a, target, table):
    """(Reachability or None, notes). --kind needs the classes, so their
    failure is the command's; other output only gains them, and says why
    not when they cannot be had. A target that cannot give the process's
    memory (a unit test's byte image without one) gives no classes."""
    if not getattr(target, "classifies", False):
        if getattr(a, "kind", None):
            raise MemleakError("--kind needs leak classes, which this target cannot give")
        return None, []
    try:
        return reachability.classify(table, target), []
    except MemleakError as e:
        if getattr(a, "kind", None):
            raise
        return None, ["leak classes not computed: %s" % e]


def _with_kinds(a, table, blocks, reach):
    """The blocks --kind keeps, and their per-class totals."""
    if reach is None:
        return blocks, None
    if a.kind:
        blocks = reach.select(blocks, a.kind)
    return blocks, reach.totals(blocks)


def _split_suppressed(sym, supp, table, blocks):
    """(kept blocks, suppressed groups or None without suppressions)."""
    if supp is None:
        return blocks, None
    kept, suppressed = aggregate.split_suppressed(table, blocks, sym.matched, supp)
    sym.fill(suppressed)
    return kept, suppressed


def _groups(a, sym, table, blocks):
    if not (a.fold and a.depth):
        return aggregate.group_blocks(table, blocks, a.depth, a.by)

    def key_of(stack):
        key, kept = sym.view.key(sym.frames(stack.pcs), a.depth)
        return key, kept, stack.truncated and len(kept) == len(sym.frames(stack.pcs))

    return aggregate.group_blocks_by(table, blocks, key_of, a.by)


def _top(a, target, supp, table, blocks, since=None, reach=None, notes=()):
    sym = _Symbolizer(target, _view(a))
    blocks, kinds = _with_kinds(a, table, blocks, reach)
    total_bytes, total_count = aggregate.totals(blocks)
    kept, suppressed = _split_suppressed(sym, supp, table, blocks)
    groups = _groups(a, sym, table, kept)
    if reach is not None:
        per_group = aggregate.kind_counts(table, kept, reach.names_by_address(), a.depth)
        for g in groups:
            g.kinds = per_group.get(g.pcs)
    out = []
    if a.folded or a.svg:
        if a.svg:
            sym.fill(groups)
            title = "memleak %s (pid %d, by %s)" % (
                "top" if since is None else "since " + since.point, _pid(table), a.by)
            svg = flame.render_svg(groups, a.by, title)
            try:
                with open(a.svg, "w") as f:
                    f.write(svg)
            except OSError as e:
                raise MemleakError("cannot write %s: %s" % (a.svg, e.strerror)) from None
        if a.folded:
            # Flame graph tools want every stack; N, when given, picks the largest.
            listed = groups[:a.n] if "n" in a.given else groups
            sym.fill(listed)
            out.append("".join(line + "\n" for line in flame.folded_lines(listed, a.by)))
    if not a.folded:
        shown = groups[:a.n]
        sym.fill(shown)
        if a.json:
            out.append(render.top_json(table, _pid(table), shown, a.by, total_bytes, total_count,
                                       since, suppressed, kinds))
        else:
            out.append(render.top_text(table, _pid(table), groups, shown, a.by, total_bytes,
                                       total_count, since, suppressed, kinds, notes))
    growth = total_bytes - (sum(g.bytes for g in suppressed) if suppressed else 0)
    return "".join(out), growth


def _dump(a, target, supp, table, blocks, since=None, reach=None, notes=()):
    sym = _Symbolizer(target, _view(a))
    blocks, kinds = _with_kinds(a, table, blocks, reach)
    kind_of = reach.kind_of if reach is not None else None
    total_bytes, total_count = aggregate.totals(blocks)
    blocks, suppressed = _split_suppressed(sym, supp, table, blocks)
    if a.min_size:
        blocks = [b for b in blocks if b.size >= a.min_size]
    selected = sorted(blocks, key=operator.attrgetter("seq"))
    limit = a.limit
    if limit is None and not a.json:
        limit = cmdargs.DUMP_TEXT_LIMIT
    chosen = selected if not limit else selected[:limit]

    def stack_of(block):
        st = table.stack(block.stack_id)
        return sym.frames(st.pcs), st.truncated

    if a.json:
        text = render.dump_json(table, _pid(table), chosen, stack_of, since, suppressed, kind_of,
                                kinds)
    else:
        text = render.dump_text(table, _pid(table), chosen, stack_of, total_bytes, total_count,
                                len(selected), a.min_size, limit, since, suppressed, kind_of,
                                kinds, notes)
    growth = total_bytes - (sum(g.bytes for g in suppressed) if suppressed else 0)
    return text, growth


# A bad suppressions file is reported before the table is read.

def cmd_top(a, target):
    supp = _load_suppressions(a.suppressions)
    table = target.table()
    reach, notes = _classes(a, target, table)
    return _top(a, target, supp, table, table.blocks, None, reach, notes)[0]


def cmd_dump(a, target):
    supp = _load_suppressions(a.suppressions)
    table = target.table()
    reach, notes = _classes(a, target, table)
    return _dump(a, target, supp, table, table.blocks, None, reach, notes)[0]


def cmd_since(a, target):
    supp = _load_suppressions(a.suppressions)
    table = target.table()
    since = aggregate.resolve_since(a.point, table, target.now_ticks(table),
                                    target.now_from_table,
                                    lambda ticks: render.time_text(table, ticks))
    reach, notes = _classes(a, target, table)
    blocks = since.select(table.blocks)
    if a.dump:
        text, growth = _dump(a, target, supp, table, blocks, since, reach, notes)
    else:
        text, growth = _top(a, target, supp, table, blocks, since, reach, notes)
    if a.fail_over is not None and growth > a.fail_over:
        raise LimitExceeded(text, "grew by %s since %s, over the limit of %s (--fail-over)"
                            % (render.human_size(growth), a.point, render.human_size(a.fail_over)))
    return text


def cmd_stats(a, target):
    # The per-class totals need every record; without the scanner, or on a
    # target that cannot classify, stats reads the counters alone.
    if getattr(target, "classifies", False):
        table = target.table()
        reach, notes = _classes(a, target, table)
    else:
        table, reach, notes = target.table(records=reader.COUNTS), None, []
    kinds = reach.totals() if reach is not None else None
    if a.json:
        return render.stats_json(table, _pid(table), kinds)
    return render.stats_text(table, _pid(table), kinds, notes)


def cmd_leaks(a, target):
    supp = _load_suppressions(a.suppressions)
    table = target.table()
    reach = _need_classes(target, table)
    return leaks.leaks(a, table, reach, _Symbolizer(target, _view(a)), supp)


def cmd_why(a, target):
    address = _address(a.addr, target)
    table = target.table()
    reach = _need_classes(target, table, predecessors=True)
    return leaks.why(a, target, table, reach, address, _Symbolizer(target, _view(a)))


def cmd_who(a, target):
    address = _address(a.addr, target)
    table = target.table()
    reach = _need_classes(target, table)
    return leaks.who(a, target, table, reach, address, _Symbolizer(target, _view(a)))


def _need_classes(target, table, predecessors=False):
    if not getattr(target, "classifies", False):
        raise MemleakError("leak classes need the process's memory, which this target cannot give")
    return reachability.classify(table, target, predecessors)


def _address(text, target):
    address = cmdargs.parse_address(text)
    if address is None:
        address = target.evaluate_address(text)
    return address


def cmd_mark(a, target):
    if not target.is_live:
        raise MemleakError("marks need a live process (this is a core file)")
    table = target.table(records=False)
    h = table.header
    cap, size = h.mark_capacity, h.mark_size
    names = set(m.name for m in table.marks)
    name = a.name
    if name is None:
        n = h.mark_count + 1
        while "mark-%d" % n in names:
            n += 1
        name = "mark-%d" % n
    same = [m for m in table.marks if m.name == name]
    slot = same[-1].slot if same else h.mark_count
    if slot >= cap:
        raise MemleakError("the marks table is full (%d marks): reuse a name to move a mark" % cap)
    seq = h.seq
    ticks = target.now_ticks(table) & 0xFFFFFFFF
    at = h.marks + slot * size
    off = abi.MARK_OFFSETS
    target.write(at + off["state"], struct.pack("<I", abi.MARK_WRITING))
    target.write(at + off["name"], name.encode("utf-8").ljust(abi.MARK_NAME_SIZE, b"\0"))
    target.write(at + off["seq"], struct.pack("<Q", seq))
    target.write(at + off["ticks"], struct.pack("<I", ticks))
    target.write(at + off["state"], struct.pack("<I", abi.MARK_VALID))
    if not same:
        target.write(table.root + abi.INTROSPECT_OFFSETS["mark_count"], struct.pack("<I", slot + 1))
    if a.json:
        return json.dumps({"format": "memleak-mark", "version": render.JSON_VERSION,
                           "pid": _pid(table), "name": name, "seq": seq, "slot": slot,
                           "time_ns": table.realtime_ns(ticks)}, indent=1) + "\n"
    return "mark %r set at sequence number %d, %s (slot %d of %d)\n" % (
        name, seq, render.time_text(table, ticks), slot, cap)


COMMANDS = {
    "top": cmd_top,
    "dump": cmd_dump,
    "since": cmd_since,
    "leaks": cmd_leaks,
    "why": cmd_why,
    "who": cmd_who,
    "mark": cmd_mark,
    "stats": cmd_stats,
}


class _TablesSeen:
    """The target, keeping the tables it gave so their warnings can be told."""

    def __init__(self, target):
        self._target = target
        self.tables = []

    def table(self, records=True):
        table = self._target.table(records)
        self.tables.append(table)
        return table

    def __getattr__(self, name):
        return getattr(self._target, name)


def run(command, argstring, make_target, write, warn=None):
    """Runs one command: parses, builds the target (so bad arguments are
    reported before anything is read), computes, tells the table's
    warnings through `warn` (one `memleak: warning:` line each; default:
    `write`), writes the output through `write` (or to --output FILE), then
    raises a deferred failure if the command has one (--fail-over). Errors
    are MemleakError."""
    a = cmdargs.parse(command, argstring)
    # A table of a million blocks is millions of tuples and no cycles: the
    # cyclic collector would rescan them over and over while they are built.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _run(a, command, make_target, write, warn or write)
    finally:
        if collecting:
            gc.enable()
    return a


def _run(a, command, make_target, write, warn):
    target = _TablesSeen(make_target())
    failure = None
    try:
        result = COMMANDS[command](a, target)
    except DeferredFailure as deferred:
        result, failure = deferred.output, deferred
    for table in target.tables:
        for text in table.warnings:
            warn("memleak: warning: %s\n" % text)
    pieces = [result] if isinstance(result, str) else result
    if a.output:
        try:
            # Bytes, not a text file: a dump runs to gigabytes and the text
            # layer's encoding and buffering double the time spent writing.
            with open(a.output, "wb") as f:
                for piece in pieces:
                    f.write(piece.encode("utf-8", "surrogateescape"))
        except OSError as e:
            raise MemleakError("cannot write %s: %s" % (a.output, e.strerror)) from None
    else:
        for piece in pieces:
            write(piece)
    if failure is not None:
        raise failure
