"""`memleak run`: a program with the runtime preloaded, its signals and status."""

import os
import shlex
import shutil
import signal
import subprocess
import sys

from .errors import Failure

LEAK_EXIT_CODE = 23
SI_KERNEL = 0x80
# Signals the wrapper passes on to the program it runs.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGUSR2)


def preload_env(runtime, depth=None, suppressions=None, report=None, exitcode=None,
                show_reachable=False):
    env = dict(os.environ)
    # ld.so splits LD_PRELOAD at spaces and colons, with no way to quote,
    # and LD_LIBRARY_PATH at colons and semicolons only: a runtime in a
    # directory whose path holds a space is preloaded by its file name,
    # found through LD_LIBRARY_PATH.
    directory, name = os.path.split(runtime)
    if any(c in name for c in " \t\n:;") or any(c in directory for c in ":;"):
        raise Failure("the runtime's path %r holds a colon or semicolon (or its file name a "
                      "space), which the loader cannot carry: move it, or set MEMLEAK_LIB to "
                      "a copy elsewhere" % runtime)
    if any(c in directory for c in " \t\n"):
        search = env.get("LD_LIBRARY_PATH", "")
        env["LD_LIBRARY_PATH"] = directory + (":" + search if search else "")
        runtime = name
    preload = env.get("LD_PRELOAD", "").strip()
    env["LD_PRELOAD"] = runtime + (" " + preload if preload else "")
    if depth is not None:
        env["MEMLEAK_DEPTH"] = str(depth)
    if suppressions is not None:
        env["MEMLEAK_SUPPRESSIONS"] = suppressions
    if report is not None:
        env["MEMLEAK_REPORT"] = report
    if exitcode is not None:
        env["MEMLEAK_EXITCODE"] = str(exitcode)
    if show_reachable:
        env["MEMLEAK_REPORT_REACHABLE"] = "1"
    return env


def resolve_program(prog):
    if os.sep in prog:
        if not os.path.exists(prog):
            raise Failure("%s: no such file" % prog)
        if os.path.isdir(prog) or not os.access(prog, os.X_OK):
            raise Failure("%s: not an executable file" % prog)
        return prog
    found = shutil.which(prog)
    if not found:
        raise Failure("%s: command not found" % prog)
    return found


def check_suppressions(layout, path):
    if not os.path.isfile(path):
        raise Failure("%s: suppressions file not found" % path)
    suppress = layout.extension_module("suppress")
    try:
        suppress.load(path)
    except suppress.SuppressionError as error:
        raise Failure(str(error)) from None
    return os.path.abspath(path)


def wait_forwarding(argv, env, receiver=None, **popen_args):
    """Runs argv, passes the wrapper's signals on to it, returns a shell-style status.

    Signals a terminal sends to the whole foreground group (Ctrl-C) already
    reach the program, so only signals sent to the wrapper alone (kill PID)
    are forwarded; the wrapper itself never dies of them. `receiver(pid)`
    names the process they go to when it is not argv's own (the program
    gdb runs). Returns (status, the signal that killed it or None).
    """
    watched = set(FORWARDED) | {signal.SIGCHLD}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    try:
        try:
            child = subprocess.Popen(
                argv, env=env,
                preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_SETMASK, old_mask),
                **popen_args)
        except OSError as error:
            raise Failure("%s: %s" % (argv[0], error.strerror)) from None
        while True:
            pid, status = os.waitpid(child.pid, os.WNOHANG)
            if pid:
                break
            info = signal.sigwaitinfo(watched)
            if info.si_signo != signal.SIGCHLD and info.si_code != SI_KERNEL:
                try:
                    os.kill(receiver(child.pid) if receiver else child.pid, info.si_signo)
                except ProcessLookupError:
                    pass
        child.returncode = 0  # reaped above; keeps Popen from waiting again
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status), os.WTERMSIG(status)
    return os.WEXITSTATUS(status), None


# Signals whose default action dumps core: what a crash dies of.
CRASHES = (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT,
           signal.SIGSYS, signal.SIGQUIT, signal.SIGXCPU, signal.SIGXFSZ)


def signal_name(sig):
    try:
        return signal.Signals(sig).name
    except ValueError:  # a real-time signal has no name of its own
        return "signal %d" % sig


def say_how_it_ended(program, sig, core=None, rerun=None):
    """The one line after a program the signal `sig` killed: which signal,
    and for a crash where its core is or how to get one."""
    if sig is None or sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        return
    line = "%s terminated by %s" % (program, signal_name(sig))
    if core is not None:
        line += ("; its core is %s: `memleak core %s %s` reads the leaks it held"
                 % (core, shlex.quote(program), shlex.quote(core)))
    elif sig in CRASHES and rerun is not None:
        line += ("; no exit report after a crash: `%s` keeps a core to read with `memleak core`"
                 % rerun)
    sys.stderr.write("memleak: %s\n" % line)


def new_core_path(program, pid_hint):
    """A fresh file for a core in the current directory, created empty
    here (never through a symlink, never over an existing file) for gdb
    to fill."""
    base = "memleak-core.%s.%d" % (os.path.basename(program), pid_hint)
    for n in range(100):
        path = os.path.abspath(base if n == 0 else "%s.%d" % (base, n))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        except OSError as error:
            raise Failure("cannot create a core file in %s: %s"
                          % (os.getcwd(), error.strerror)) from None
        os.close(fd)
        return path
    raise Failure("cannot create a core file in %s: %s.* all exist" % (os.getcwd(), base))


def _gdb_child(gdb_pid):
    """The program gdb runs: gdb's child process, else gdb itself."""
    try:
        with open("/proc/%d/task/%d/children" % (gdb_pid, gdb_pid)) as f:
            children = f.read().split()
    except OSError:
        children = []
    return int(children[0]) if children else gdb_pid


def run_under_gdb(layout, command, prog, env, core_path):
    """Runs the program under gdb, which keeps a core at `core_path` if a
    signal kills it (crash_watch.py); returns (status, signal) as
    wait_forwarding does."""
    from .layout import gdb_path
    gdb_env = dict(env)
    preload = gdb_env.pop("LD_PRELOAD")
    watcher = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crash_watch.py")
    argv = [gdb_path(), "-nx", "-batch", "-q",
            "-iex", "set debuginfod enabled off",
            "-iex", "set auto-load python-scripts off",
            "-iex", "set print thread-events off",
            "-iex", "set print inferior-events off",
            "-iex", "set confirm off",
            "-iex", "set pagination off",
            "-iex", "set startup-with-shell off",
            "-iex", "set disable-randomization off",
            "-iex", "set environment LD_PRELOAD=" + preload,
            # gdb's own messages (the stop at the signal, the program's end)
            # would mix with the program's output, which goes to its own fds.
            "-iex", "set logging file /dev/null",
            "-iex", "set logging redirect on",
            "-iex", "set logging enabled on",
            "-x", watcher,
            "-ex", "python watch(%r)" % core_path,
            "--args", prog] + list(command[1:])
    status, _ = wait_forwarding(argv, gdb_env, receiver=_gdb_child)
    # gdb ends with the program's status: 128 + N when the signal N killed it.
    return status, (status - 128 if status > 128 else None)
