"""One memleak command in gdb -batch, on one target."""

import os
import subprocess
import sys
import time

from .errors import Failure
from .layout import gdb_path
from .output import relay

_MARKER = "memleak-wrapper-%d-%d\n" % (os.getpid(), int(time.time() * 1000))


def asks_debuginfod():
    """MEMLEAK_DEBUGINFOD=1 with servers in DEBUGINFOD_URLS: gdb downloads
    debug info it does not find on this machine, as the exit report does.
    Off otherwise, so a DEBUGINFOD_URLS a system sets in every login shell
    never turns a read into a download."""
    return (os.environ.get("MEMLEAK_DEBUGINFOD") == "1"
            and bool(os.environ.get("DEBUGINFOD_URLS", "").strip()))


def run(layout, target, command_line):
    """Runs `command_line` in gdb on `target`; its output is streamed
    (see output.relay). Returns gdb's exit status."""
    gdb = gdb_path()
    extension = layout.check_extension()
    marker_py = ("python import sys; sys.stderr.write(%r); sys.stderr.flush(); "
                 "sys.stdout.write(%r); sys.stdout.flush()" % (_MARKER, _MARKER))
    argv = [gdb, "-nx", "-batch", "-q",
            "-iex", "set debuginfod enabled %s" % ("on" if asks_debuginfod() else "off"),
            "-iex", "set auto-load python-scripts off",
            "-iex", "set print thread-events off",
            "-iex", "set print inferior-events off",
            "-iex", "set confirm off"]
    argv += target.gdb_args()
    argv += ["-x", extension]
    if asks_debuginfod():
        # Debug info came with the objfiles, above; sources are not
        # needed, and gdb would try to download one per frame's file.
        argv += ["-ex", "set debuginfod enabled off"]
    argv += ["-ex", marker_py] + target.command_args(command_line)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except OSError as error:
        raise Failure("cannot run %s: %s" % (gdb, error.strerror)) from None
    held = [] if target.judges_failures() else None
    unfinished = relay(proc, _MARKER, target.on_error, held)
    status = proc.wait()
    if unfinished is not None:
        # gdb stopped before running the command: say why, in its words.
        message = target.on_error(unfinished)
        if message:
            raise Failure(message)
        lines = [line for line in unfinished.splitlines() if line.strip()]
        raise Failure("gdb failed: %s" % (lines[-1] if lines else "exit status %d" % status))
    if held is not None:
        text = b"".join(held)
        message = target.on_failure(text.decode("utf-8", "replace")) if status else None
        if message:
            raise Failure(message)
        sys.stderr.buffer.write(text)
        sys.stderr.flush()
    return 128 - status if status < 0 else status
