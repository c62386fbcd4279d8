"""Everything that talks to gdb: memory, symbols, the commands themselves.

This is the only module that imports gdb. It supplies commands.py's target
(memory reads through the selected inferior, symbolization through gdb's
own DWARF reader) and registers `memleak` and its subcommands, with one
error handler that turns every failure into a single `memleak:` line.
"""

import re
import time
import traceback

import gdb

from . import (aggregate, args as cmdargs, commands, corefile, demangle, frames, maps, reader,
               regions, roots, scan)
from .errors import EXIT_ERROR, EXIT_LIMIT, LimitExceeded, MemleakError, NotLoaded, ReadError

NO_TARGET = "no process or core file: attach with gdb -p PID or open a core"


class InferiorMemory:
    """reader's byte source over the selected inferior."""

    def __init__(self, inferior):
        self.inferior = inferior

    def read(self, addr, n):
        if n == 0:
            return b""
        try:
            return self.inferior.read_memory(addr, n).tobytes()
        except (gdb.MemoryError, gdb.error, OverflowError, ValueError):
            raise ReadError(addr, n) from None


def _inferior():
    inf = gdb.selected_inferior()
    if inf is None or inf.pid == 0 or not inf.threads():
        quiet = gdb.convenience_variable("memleak_quiet")
        raise MemleakError(NO_TARGET + ("" if quiet is None else
                                        " (gdb/quiet.gdb hid gdb's own messages: run without "
                                        "-ix gdb/quiet.gdb to see why it has none)"))
    return inf


def _connection_type(inf):
    conn = getattr(inf, "connection", None)
    return conn.type if conn is not None else None


def find_root():
    """Address of memleak_introspect: through debug info when there is
    some, else through the minimal (ELF) symbol."""
    for lookup in (gdb.lookup_global_symbol, gdb.lookup_static_symbol):
        try:
            sym = lookup("memleak_introspect")
        except gdb.error:
            sym = None
        if sym is not None and not sym.is_function:
            try:
                return int(sym.value().address)
            except (gdb.error, TypeError):
                pass
    try:
        return int(gdb.parse_and_eval("(unsigned long) &memleak_introspect"))
    except gdb.error:
        raise NotLoaded() from None


class _SymbolCache:
    """Frames per return address and the process's file mappings, kept
    until the set of objfiles changes."""

    def __init__(self):
        self.frames = {}
        self._mappings = None

    def clear(self, *_):
        self.frames.clear()
        self._mappings = None

    def mappings(self):
        if self._mappings is None:
            try:
                text = gdb.execute("info proc mappings", to_string=True)
            except gdb.error:
                text = ""
            self._mappings = maps.Mappings(maps.parse_mappings(text))
        return self._mappings


_cache = _SymbolCache()


def _symtab_file(symtab):
    if symtab is None:
        return None
    try:
        return symtab.fullname()
    except gdb.error:
        return symtab.filename


def _on_target(path):
    """A file gdb read through gdbserver is named `target:PATH`; PATH is
    the name on the target, as for a local process."""
    if path and path.startswith("target:"):
        return path[len("target:"):]
    return path


def _objfile_name(progspace, pc, symtab):
    name = progspace.solib_name(pc)
    if name:
        return _on_target(name)
    if symtab is not None:
        obj = symtab.objfile
        return _on_target((obj.owner or obj).filename)
    return None


def _minimal_name(pc):
    text = gdb.format_address(pc)
    start = text.find("<")
    if start < 0:
        return None
    name = text[start + 1:text.rfind(">")]
    plus = name.rfind("+")
    return name[:plus] if plus > 0 else name


# Names of code without debug info, decoded as the exit report decodes them.
_demangle = demangle.Demangler(demangle.cxa_demangle())


def _contains(outer, inner):
    return outer.start <= inner.start and inner.end <= outer.end


def _elf_name(addr):
    """The demangled ELF symbol at `addr` (gdb's `info symbol`), or None."""
    try:
        text = gdb.execute("info symbol 0x%x" % addr, to_string=True)
    except gdb.error:
        return None
    name, sep, _ = text.partition(" in section ")
    return name.strip() if sep and " + " not in name else None


# A function with C linkage (main, extern "C"): gdb adds the parameter
# types of a C++ compile unit, its symbol and the exit report do not.
_C_LINKAGE = re.compile(r"([A-Za-z_]\w*)\(")


def _function_name(fn, block, lexical_owner, caller):
    name = fn.print_name
    if not frames.is_lambda_call(name):
        plain = _C_LINKAGE.match(name)
        if plain and not (fn.linkage_name or "").startswith("_Z"):
            return plain.group(1)
        return name
    if caller is not None:
        return frames.lambda_name(name, caller)
    # An out-of-line lambda has an ELF symbol whose demangled name says
    # where it was written, as the exit report's demangler spells it.
    elf = _elf_name(block.start)
    if elf:
        return elf
    return frames.lambda_name(name, lexical_owner) if lexical_owner else name


def symbolize(pc):
    """Frames for one return address, innermost first. The lookup uses pc-1
    (the call instruction, not the one after it). Inlined calls at that
    address come out as frames of their own marked inlined: gdb's block tree
    holds one function block per inlined call, whose symbol's line and symtab
    are the call site (DW_AT_call_line/call_file), and the outermost
    function block is the real function. A function block whose code lies
    outside the next one's is not inlined there but written inside it (a
    lambda's call operator in its enclosing function, unoptimized): the
    chain of calls stops at it."""
    frames = _cache.frames.get(pc)
    if frames is not None:
        return frames
    look = pc - 1 if pc else pc
    progspace = gdb.current_progspace()
    try:
        block = gdb.block_for_pc(look)
    except (gdb.error, RuntimeError):
        block = None
    functions = []
    b = block
    while b is not None and not b.is_static and not b.is_global:
        if b.function is not None:
            functions.append((b.function, b))
        b = b.superblock
    lexical_owner = None
    for i in range(len(functions) - 1):
        if not _contains(functions[i + 1][1], functions[i][1]):
            lexical_owner = functions[i + 1][0].print_name
            del functions[i + 1:]
            break
    sal = gdb.find_pc_line(look) if functions else None
    try:
        objname = _objfile_name(progspace, look, functions[-1][0].symtab if functions else None)
    except gdb.error:
        objname = None
    if not functions:
        try:
            name = _demangle(_minimal_name(look))
        except gdb.error:
            name = None
        where = _cache.mappings().locate(pc)
        offset = None
        if where is not None:
            objname, offset = objname or where[0], where[1]
        elif name is not None and objname is None:
            objname = _on_target(progspace.filename)
        # Code with a line table but no function DIE (assembly) still has a line.
        sal = gdb.find_pc_line(look) if block is not None else None
        if sal is not None and sal.symtab is not None and sal.line:
            file, line = _symtab_file(sal.symtab), sal.line
        else:
            file, line = None, None
        frames = [aggregate.Frame(pc, name, file, line, objname, False, offset)]
    else:
        file, line = _symtab_file(sal.symtab), (sal.line or None)
        frames = []
        last = len(functions) - 1
        for i, (fn, fblock) in enumerate(functions):
            caller = functions[i + 1][0].print_name if i < last else None
            name = _function_name(fn, fblock, lexical_owner, caller)
            frames.append(aggregate.Frame(pc, name, file, line, objname, i < last))
            # The caller's location is this inlined call's call site.
            file, line = _symtab_file(fn.symtab), (fn.line or None)
    _cache.frames[pc] = frames
    return frames


# The general-purpose registers scanned as roots (Valgrind's set: the
# integer registers, the stack pointer and the program counter), the stack
# pointer's name and the thread pointer's, per gdb architecture name.
_X86_64 = (("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
            "r12", "r13", "r14", "r15", "rip"), "rsp", "fs_base")
_REGISTERS = {
    "i386:x86-64": _X86_64,
    "aarch64": (tuple("x%d" % i for i in range(31)) + ("sp", "pc"), "sp", "tpidr"),
}


# The runtime's per-thread stack for its bookkeeping (runtime/core/
# runtime_stack.h): its top in the thread's state, its size fixed.
RUNTIME_STACK_BYTES = 256 << 10


def _runtime_stack():
    """[start, end) of the selected thread's runtime stack, or None (no
    debug info for libmemleak.so, or the thread has none)."""
    try:
        top = int(gdb.parse_and_eval("memleak::t_thread_state.runtime_stack")
                  .cast(gdb.lookup_type("unsigned long")))
    except gdb.error:
        return None
    if top <= 1 or top < RUNTIME_STACK_BYTES:
        return None
    return top - RUNTIME_STACK_BYTES, top


def _program_sp(frame, stack, sp_name, sp):
    """A thread stopped inside a hook runs on its runtime stack: its own
    stack is live from the first outer frame's stack pointer on."""
    f = frame
    for _ in range(64):
        try:
            f = f.older()
            if f is None:
                break
            outer = int(f.read_register(sp_name)) & 0xFFFFFFFFFFFFFFFF
        except (gdb.error, ValueError):
            break
        if not stack[0] <= outer < stack[1]:
            return outer
    return sp


class GdbTarget:
    """commands.py's target over the selected inferior or core."""

    classifies = True

    def __init__(self):
        self.inferior = _inferior()
        connection = _connection_type(self.inferior)
        self.is_live = connection != "core"
        # This machine's clock is the process's only for a local process;
        # behind gdbserver it may be another machine's.
        self.now_from_table = connection not in ("native", None)
        self.memory = InferiorMemory(self.inferior)
        self._threads = None
        self._runtime_stacks = []

    def table(self, records=True):
        try:
            return reader.read_table(self.memory, find_root(), records)
        except (NotLoaded, ReadError):
            # A cut core shows as a missing runtime (the loader's library
            # list is gone) or as unreadable table memory; say which.
            cut = self._truncated_core()
            if cut is None:
                raise
            raise MemleakError(corefile.message(cut)) from None

    def _truncated_core(self):
        if self.is_live:
            return None
        path = self._core_file()
        return corefile.cut(path) if path else None

    def now_ticks(self, table):
        if self.now_from_table:
            return table.newest_ticks
        h = table.header
        # CLOCK_MONOTONIC is system-wide, so the host's clock is the
        # inferior's for a local process.
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) - h.start_monotonic_ns
        if now < 0:
            return table.newest_ticks
        return now // h.tick_ns

    def symbolize(self, pc):
        return symbolize(pc)

    # What the reachability scan needs (reachability.py's target interface).

    def regions(self):
        """The memory map with permissions: /proc/PID/maps for a local live
        process, the core's own headers for a core."""
        if self.is_live:
            try:
                with open("/proc/%d/maps" % self.inferior.pid) as f:
                    found = regions.parse_proc_maps(f.read())
            except OSError as e:
                raise MemleakError("cannot read /proc/%d/maps (%s): leak classes need the "
                                   "process's memory map" % (self.inferior.pid, e.strerror)) from None
        else:
            path = self._core_file()
            found = regions.read_core_regions(path) if path else None
            if found is None:
                raise MemleakError("cannot read the memory map of the core file %s"
                                   % (path or "(unknown)"))
        if not found:
            raise MemleakError("the process's memory map is empty")
        return found

    def _core_file(self):
        try:
            return corefile.core_path(gdb.execute("info target", to_string=True))
        except gdb.error:
            return None

    def threads(self):
        """Every thread's general-purpose registers, stack pointer and TLS
        base, read from its innermost frame (live or from the core's notes)."""
        if self._threads is not None:
            return self._threads
        selected = gdb.selected_thread()
        frame = None
        try:
            frame = gdb.selected_frame()
        except gdb.error:
            pass
        found = []
        self._runtime_stacks = []
        try:
            for t in sorted(self.inferior.threads(), key=lambda t: t.num):
                t.switch()
                stack = _runtime_stack()
                if stack is not None:
                    self._runtime_stacks.append(stack)
                f = gdb.newest_frame()
                names, sp_name, tp_name = _REGISTERS.get(f.architecture().name(), _X86_64)
                regs = []
                for name in names:
                    try:
                        regs.append((name, int(f.read_register(name)) & 0xFFFFFFFFFFFFFFFF))
                    except (gdb.error, ValueError, TypeError):
                        continue
                values = dict(regs)
                try:
                    tp = int(f.read_register(tp_name)) & 0xFFFFFFFFFFFFFFFF
                except (gdb.error, ValueError, TypeError):
                    tp = 0
                sp = values.get(sp_name, 0)
                if stack is not None and stack[0] <= sp < stack[1]:
                    sp = _program_sp(f, stack, sp_name, sp)
                found.append(roots.Thread(t.num, t.ptid[1] or t.ptid[2], regs, sp, tp))
        finally:
            if selected is not None and selected.is_valid():
                selected.switch()
                if frame is not None and frame.is_valid():
                    frame.select()
        self._threads = found
        return found

    def runtime_regions(self, table):
        """The runtime's memory that is no root beyond the table itself:
        each thread's runtime stack (stale copies of the block addresses its
        hooks handled)."""
        self.threads()
        return list(self._runtime_stacks)

    def dtv_slot(self):
        arch = self.inferior.architecture().name()
        return roots.DTV_SLOT["aarch64" if "aarch64" in arch else "x86-64"]

    def read_segments(self, reads):
        """The memory of `reads` as scanner segments; what cannot be read
        (a page missing from a core) becomes an unreadable segment."""
        segments = []
        for rd in reads:
            if not rd.bytes_wanted:
                segments.append(scan.Segment(rd.start, None, rd.flags, rd.end - rd.start))
                continue
            segments.extend(self._read_range(rd.start, rd.end, rd.flags))
        return segments

    def _read_range(self, start, end, flags, step=1 << 20):
        try:
            return [scan.Segment(start, self.inferior.read_memory(start, end - start), flags)]
        except (gdb.MemoryError, gdb.error, OverflowError, ValueError):
            pass
        if end - start <= 4096:
            return [scan.Segment(start, None, flags, end - start)]
        out = []
        piece = step if end - start > step else 4096
        at = start
        while at < end:
            stop = min(end, at + piece)
            out.extend(self._read_range(at, stop, flags, 4096))
            at = stop
        return out

    def stack_frame_at(self, thread_num, address):
        """(function, file, line) of the frame of thread `thread_num` whose
        stack holds `address`, or None."""
        selected = gdb.selected_thread()
        try:
            thread = next((t for t in self.inferior.threads() if t.num == thread_num), None)
            if thread is None:
                return None
            thread.switch()
            f = gdb.newest_frame()
            best = None
            # Frame i's part of the stack runs from its stack pointer to
            # the next older frame's.
            while f is not None:
                try:
                    sp = int(f.read_register("sp"))
                except (gdb.error, ValueError):
                    break
                if sp > address:
                    break
                best = f
                try:
                    f = f.older()
                except gdb.error:
                    break
            if best is None:
                return None
            sal = best.find_sal()
            return (best.name(), _symtab_file(sal.symtab) if sal.symtab else None,
                    sal.line or None)
        except gdb.error:
            return None
        finally:
            if selected is not None and selected.is_valid():
                selected.switch()

    def static_tls_extent(self):
        """glibc's static TLS below the thread pointer and its thread
        descriptor above it, when the dynamic loader's debug info says
        (x86-64 glibc counts the descriptor in the static TLS size)."""
        sizes = []
        for expr in ("_rtld_global_ro._dl_tls_static_size", "sizeof(struct pthread)"):
            try:
                sizes.append(int(gdb.parse_and_eval(expr)))
            except (gdb.error, ValueError):
                return 0, 0
        return max(sizes[0] - sizes[1], 0), sizes[1]

    def data_symbol(self, address):
        """(symbol, offset) of the variable holding `address`, or None."""
        try:
            text = gdb.execute("info symbol 0x%x" % address, to_string=True)
        except gdb.error:
            return None
        if text.startswith("No symbol"):
            return None
        name = text.split(" in section ")[0].strip()
        offset = 0
        if " + " in name:
            name, _, off = name.partition(" + ")
            try:
                offset = int(off)
            except ValueError:
                offset = 0
        return name, offset

    def evaluate_address(self, text):
        try:
            return int(gdb.parse_and_eval(text).cast(gdb.lookup_type("unsigned long")))
        except gdb.error as e:
            raise MemleakError("cannot evaluate %s: %s" % (text, e)) from None

    def write(self, addr, data):
        try:
            self.inferior.write_memory(addr, data)
        except (gdb.MemoryError, gdb.error) as e:
            raise MemleakError("cannot write %d bytes at 0x%x: %s" % (len(data), addr, e)) from None


class DebugParameter(gdb.Parameter):
    """Show the Python traceback of memleak errors."""

    set_doc = "Set whether memleak errors show their Python traceback."
    show_doc = "Show whether memleak errors show their Python traceback."

    def __init__(self):
        super().__init__("memleak debug", gdb.COMMAND_MAINTENANCE, gdb.PARAM_BOOLEAN)
        self.value = False

    def get_show_string(self, svalue):
        return "memleak debug is %s." % svalue


class _SetPrefix(gdb.Command):
    """Settings of the memleak commands."""

    def __init__(self, verb):
        super().__init__(verb + " memleak", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)


_debug = None


def _one_line(text):
    return " ".join(str(text).split())


def _run(fn):
    """The one error handler: every failure becomes one `memleak:` line
    (and its traceback too with `set memleak debug on`), and in gdb -batch
    the exit status a CI reads when it was gdb's last command."""
    try:
        fn()
    except gdb.GdbError as e:
        _fail(EXIT_ERROR, str(e))
    except KeyboardInterrupt:
        _fail(EXIT_ERROR, "memleak: interrupted")
    except (MemleakError, gdb.error) as e:
        if _debug is not None and _debug.value:
            traceback.print_exc()
        _fail(EXIT_LIMIT if isinstance(e, LimitExceeded) else EXIT_ERROR,
              "memleak: " + _one_line(e))
    except Exception as e:
        if _debug is not None and _debug.value:
            traceback.print_exc()
        _fail(EXIT_ERROR, "memleak: internal error (%s: %s); 'set memleak debug on' shows where"
              % (type(e).__name__, _one_line(e)))


def _batch_commands():
    """gdb's -ex commands when it runs in batch mode, else None."""
    try:
        with open("/proc/self/cmdline", "rb") as f:
            argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0")]
    except OSError:
        return None
    if not any(a.lstrip("-") in ("batch", "batch-silent") for a in argv):
        return None
    commands = []
    for i, a in enumerate(argv):
        name, eq, value = a.lstrip("-").partition("=")
        if name in ("ex", "eval-command"):
            commands.append(value if eq else (argv[i + 1] if i + 1 < len(argv) else ""))
    return commands


_invocations = 0


def _is_last_batch_command():
    """Whether this memleak command is the last of gdb -batch's -ex
    commands: then its failure decides gdb's exit status."""
    commands = _batch_commands()
    if not commands or commands[-1].split()[:1] != ["memleak"]:
        return False
    return sum(1 for c in commands if c.split()[:1] == ["memleak"]) == _invocations


def _fail(status, message):
    """gdb -batch ends with status 1 after a failed last command; a memleak
    command that is the last one ends it with its own status instead (2 for
    a usage or input error, 23 for a limit exceeded), the statuses of the
    memleak command-line tool. Quitting is what batch mode does next
    anyway: an attached process is detached, one gdb started is killed."""
    if _is_last_batch_command():
        gdb.write(message + "\n", gdb.STDERR)
        gdb.flush()
        gdb.execute("set confirm off")
        gdb.execute("quit %d" % status)
    raise gdb.GdbError(message)


class _Subcommand(gdb.Command):
    name = None

    def __init__(self):
        super().__init__("memleak " + self.name, gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        global _invocations
        self.dont_repeat()
        _invocations += 1
        _run(lambda: commands.run(self.name, arg, GdbTarget, gdb.write,
                                  lambda text: gdb.write(text, gdb.STDERR)))

    def complete(self, text, word):
        return cmdargs.complete(self.name, text, word)[0]


class MemleakCommand(gdb.Command):
    __doc__ = commands.PREFIX_HELP

    def __init__(self):
        super().__init__("memleak", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)

    def invoke(self, arg, from_tty):
        global _invocations
        self.dont_repeat()
        if not arg.strip():
            gdb.execute("help memleak", from_tty)
            return
        _invocations += 1

        def unknown():
            raise cmdargs.unknown_command(arg.split()[0])

        _run(unknown)


def _end_quiet_start():
    """gdb/quiet.gdb sends gdb's messages to /dev/null until this
    extension is loaded: from here on they show again."""
    try:
        quiet = gdb.convenience_variable("memleak_quiet")
    except AttributeError:
        quiet = None
    if quiet is not None and int(quiet) == 1:
        gdb.execute("set logging enabled off")
        gdb.set_convenience_variable("memleak_quiet", 2)


def register():
    """Registers the commands and the debug parameter, once per gdb even
    when both -x memleak.py and the runtime's auto-load script run."""
    global _debug
    _end_quiet_start()
    if _debug is not None:
        return
    MemleakCommand()
    for name in cmdargs.SUBCOMMANDS:
        cls = type("Memleak%sCommand" % name.capitalize(), (_Subcommand,),
                   {"__doc__": commands.help_text(name), "name": name})
        cls()
    _SetPrefix("set")
    _SetPrefix("show")
    _debug = DebugParameter()
    gdb.events.new_objfile.connect(_cache.clear)
    gdb.events.clear_objfiles.connect(_cache.clear)
    gdb.events.exited.connect(_cache.clear)
