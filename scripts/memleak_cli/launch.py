"""`memleak run`: a program with the runtime preloaded, its signals and status."""

import os
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


def wait_forwarding(argv, env, **popen_args):
    """Runs argv, passes the wrapper's signals on to it, returns a shell-style status.

    Signals a terminal sends to the whole foreground group (Ctrl-C) already
    reach the program, so only signals sent to the wrapper alone (kill PID)
    are forwarded; the wrapper itself never dies of them.
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
                    os.kill(child.pid, info.si_signo)
                except ProcessLookupError:
                    pass
        child.returncode = 0  # reaped above; keeps Popen from waiting again
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            try:
                name = signal.Signals(sig).name
            except ValueError:  # a real-time signal has no name of its own
                name = "signal %d" % sig
            sys.stderr.write("memleak: %s terminated by %s\n" % (argv[0], name))
        return 128 + sig
    return os.WEXITSTATUS(status)
