"""What gdb reads, and everything that can be checked before gdb runs.

A target gives gdb's command-line arguments that open it (`gdb_args`), the
checks worth making first (`check`, raising Failure with the reason), the
arguments that run one command on it (`command_args`), and the translation
of gdb's own error text into one clear line (`on_error`, None when the text
says nothing the target knows about). A target whose `judges_failures()` is
true also sees the command's stderr when it failed (`on_failure`), to name
a cause the command could not know.
"""

import os
import pwd
import re
import socket

from . import buildid
from .corenotes import read_core_notes
from .errors import Failure

_MISMATCH = "core file may not match specified executable file"
_NOT_A_CORE = "is not a core dump"
_PTRACE_DENIED = re.compile(r"ptrace: Operation not permitted|Could not attach to process")
_NO_PROCESS = re.compile(r"ptrace: No such process")
_RUNTIME_MAPPED = re.compile(r"/libmemleak[^/\s]*\.so")
# The first words of gdb_remote.py's error lines.
REMOTE_ERROR_PREFIX = "memleak-remote-error: "


class Target:
    def command_args(self, command_line):
        return ["-ex", command_line]

    def judges_failures(self):
        return False


class Attach(Target):
    """A local process, by pid: gdb attaches, reads, detaches."""

    def __init__(self, pid_text):
        try:
            self.pid = int(pid_text)
            if self.pid <= 0:
                raise ValueError
        except ValueError:
            raise Failure("attach: %r is not a process id" % pid_text) from None
        self.name = None

    def check(self):
        self.name = check_attachable(self.pid)

    def gdb_args(self):
        return ["-p", str(self.pid)]

    def on_error(self, text):
        if _PTRACE_DENIED.search(text):
            return ptrace_denied_message(self.pid, self.name)
        if _NO_PROCESS.search(text):
            return "pid %d (%s) exited before gdb could attach" % (self.pid, self.name)
        return None


class Core(Target):
    """A core file and the program that dumped it."""

    def __init__(self, layout, program, core, force=False):
        self.layout = layout
        self.program = program
        self.core = core
        self.force = force
        self.corefile = layout.extension_module("corefile")
        self.cut = None

    def check(self):
        check_core(self.layout, self.program, self.core, self.force)
        self.cut = self.corefile.cut(self.core)

    def gdb_args(self):
        return [os.path.abspath(self.program), "-c", os.path.abspath(self.core)]

    def on_error(self, text):
        if self.cut is not None and _NOT_A_CORE in text:
            # gcore writes the notes last: a cut gcore core has none, and
            # gdb refuses it as if it were no core at all.
            return "%s: %s" % (self.core, self.corefile.message(self.cut, "gdb cannot open it"))
        if _MISMATCH in text and not self.force:
            return ("core %s does not match %s (gdb: %s); give the program that dumped it"
                    % (self.core, self.program, _MISMATCH))
        return None

    def judges_failures(self):
        return self.cut is not None

    def on_failure(self, text):
        """The reader's line naming the cut as the reason it failed, as the
        one error; None for any other failure (a --fail-over verdict)."""
        for line in text.splitlines():
            _, found, rest = line.partition("memleak: " + self.corefile.TRUNCATED)
            if found:
                return "%s: %s%s" % (self.core, self.corefile.TRUNCATED, rest)
        return None


class Remote(Target):
    """A process behind gdbserver at HOST:PORT (`target remote`, or with
    `extended` `target extended-remote`, attaching `pid` when gdbserver
    debugs no process yet). gdb runs gdb_remote.py to open it and to detach
    after the command; nothing about the process can be checked from here."""

    def __init__(self, address, extended=False, pid=None, program=None, sysroot=None):
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise Failure("remote: %r is not HOST:PORT (the address gdbserver listens on)"
                          % address)
        if pid is not None and not extended:
            raise Failure("remote: --pid needs --extended (gdbserver --multi attaches on request)")
        self.address = address
        self.extended = extended
        self.pid = pid
        self.program = program
        self.sysroot = sysroot

    def check(self):
        host = self.address.rpartition(":")[0].strip("[]")
        if host:
            try:
                socket.getaddrinfo(host, None)
            except (socket.gaierror, UnicodeError):
                raise Failure("remote: cannot resolve host %r" % host) from None
        if self.program is not None and not os.path.isfile(self.program):
            raise Failure("%s: no such program" % self.program)
        if self.sysroot is not None and not os.path.isdir(self.sysroot):
            raise Failure("%s: no such directory (--sysroot)" % self.sysroot)

    def gdb_args(self):
        args = ["-iex", "set tcp auto-retry off"]
        if self.sysroot is not None:
            args += ["-iex", "set sysroot " + os.path.abspath(self.sysroot)]
        if self.program is not None:
            args.append(os.path.abspath(self.program))
        driver = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gdb_remote.py")
        args += ["-x", driver,
                 "-ex", "python remote_open(%r, %r, %r)" % (self.address, self.extended, self.pid)]
        return args

    def command_args(self, command_line):
        return ["-ex", "python remote_run(%r)" % command_line]

    def on_error(self, text):
        for line in text.splitlines():
            if line.startswith(REMOTE_ERROR_PREFIX):
                return line[len(REMOTE_ERROR_PREFIX):].strip()
        return None


def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def has_cap_sys_ptrace():
    try:
        cap = int(proc_status(os.getpid()).get("CapEff", "0"), 16)
    except (OSError, ValueError):
        return False
    return bool(cap & (1 << 19))


def ptrace_scope():
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return 0


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


def process_name(pid):
    try:
        return proc_status(pid).get("Name", "?")
    except OSError:
        return "?"


def check_attachable(pid):
    """Everything that can be checked before gdb: the process, ptrace, the
    runtime. Returns the process's name."""
    if pid == os.getpid():
        raise Failure("cannot attach to the memleak command itself")
    if not os.path.isdir("/proc/%d" % pid):
        raise Failure("no process with pid %d" % pid)
    try:
        status = proc_status(pid)
    except OSError:
        raise Failure("no process with pid %d" % pid) from None
    name = status.get("Name", "?")
    if status.get("State", "").startswith("Z"):
        raise Failure("pid %d (%s) has exited (zombie); nothing to read" % (pid, name))
    uid = int(status.get("Uid", "0").split()[0])
    privileged = has_cap_sys_ptrace()
    scope = ptrace_scope()
    if scope >= 3:
        raise Failure("ptrace is disabled on this system (kernel.yama.ptrace_scope=3); "
                      "attach is impossible until reboot, use a core file instead")
    if uid != os.geteuid() and not privileged:
        raise Failure("pid %d (%s) belongs to %s; run memleak as that user or as root"
                      % (pid, name, user_name(uid)))
    if scope == 2 and not privileged:
        raise Failure("kernel.yama.ptrace_scope=2 allows only root to attach; run as root")
    tracer = int(status.get("TracerPid", "0") or 0)
    if tracer:
        raise Failure("pid %d (%s) is already traced by pid %d (%s); detach that debugger first"
                      % (pid, name, tracer, process_name(tracer)))
    try:
        with open("/proc/%d/maps" % pid) as handle:
            maps = handle.read()
    except PermissionError:
        raise Failure("cannot read /proc/%d/maps: pid %d (%s) is not ours to inspect"
                      % (pid, pid, name)) from None
    except OSError:
        raise Failure("no process with pid %d" % pid) from None
    if not _RUNTIME_MAPPED.search(maps):
        raise Failure("pid %d (%s) does not run the memleak runtime; start it with "
                      "`memleak run -- PROG` (or LD_PRELOAD=libmemleak.so)" % (pid, name))
    return name


def ptrace_denied_message(pid, name):
    scope = ptrace_scope()
    if scope == 1:
        return ("cannot attach to pid %d (%s): kernel.yama.ptrace_scope=1 lets you attach only to "
                "your own child processes; run as root, or `sysctl kernel.yama.ptrace_scope=0`"
                % (pid, name))
    return "cannot attach to pid %d (%s): ptrace not permitted" % (pid, name)


def check_core(layout, prog, core, force=False):
    """The core is a core of a process that ran the runtime, and PROG is
    the program that dumped it: the same build-id (any path, or its
    separate debug file); by name only when either lacks a build-id."""
    if not os.path.exists(prog):
        raise Failure("%s: no such program" % prog)
    if not os.path.isfile(prog):
        raise Failure("%s: not a program file" % prog)
    if not os.path.exists(core):
        raise Failure("%s: no such core file" % core)
    comm, files = read_core_notes(layout, core)
    if files and not any(re.search(r"/libmemleak[^/]*\.so", f) for f in files):
        raise Failure("%s was not dumped from a process running the memleak runtime "
                      "(no libmemleak.so among its mappings)" % core)
    if force:
        return
    try:
        corefile = layout.extension_module("corefile")
        prog_id = buildid.file_build_id(corefile, prog)
        dumped_by, core_id = buildid.core_program(corefile, core)
    except OSError as error:
        raise Failure("%s: %s" % (error.filename or prog, error.strerror)) from None
    if prog_id and core_id:
        if prog_id != core_id:
            raise Failure("%s (build-id %s) is not the program that dumped %s (build-id %s, "
                          "%s); --force reads it anyway"
                          % (prog, prog_id, core, core_id, dumped_by or comm or "?"))
        return
    prog_real = os.path.realpath(prog)
    if files:
        in_core = {os.path.realpath(f) for f in files} | set(files)
        if prog_real not in in_core and prog not in in_core:
            exe = [f for f in files if comm and os.path.basename(f).startswith(comm)]
            raise Failure("core %s does not match %s: it was dumped by %s; --force reads it "
                          "anyway" % (core, prog, exe[0] if exe else (comm or "another program")))
    elif comm and not os.path.basename(prog_real).startswith(comm) \
            and not os.path.basename(prog).startswith(comm):
        raise Failure("core %s does not match %s: it was dumped by %s; --force reads it anyway"
                      % (core, prog, comm))


def check_can_trace():
    """gdb can run a program of ours unless ptrace is off altogether."""
    if ptrace_scope() >= 3:
        raise Failure("--core-on-crash runs the program under gdb, and ptrace is disabled on "
                      "this system (kernel.yama.ptrace_scope=3)")
