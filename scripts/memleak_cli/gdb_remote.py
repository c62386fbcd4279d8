"""Run by gdb (not imported by the wrapper): opens a gdbserver target and
runs one memleak command on it, for `memleak remote`.

remote_open() connects, attaches the requested process when gdbserver
debugs none yet, and checks that it runs the runtime; a failure is one line
`memleak-remote-error: ...` on stderr, then gdb quits with status 2 before
the wrapper's marker, so the wrapper reports it as its own error.
remote_run() runs the command, then detaches so the process runs on (gdb
would kill at exit a process gdbserver started), and quits with the
command's status.
"""

import sys

import gdb

ERROR_PREFIX = "memleak-remote-error: "


def _fail(message, release):
    """`release`: detach (a process this session attached or checked) or
    only disconnect (leave gdbserver as it was)."""
    sys.stderr.write(ERROR_PREFIX + message + "\n")
    sys.stderr.flush()
    try:
        gdb.execute("detach" if release else "disconnect", to_string=True)
    except gdb.error:
        pass
    gdb.execute("quit 2")


def remote_open(address, extended, pid):
    kind = "extended-remote" if extended else "remote"
    try:
        gdb.execute("target %s %s" % (kind, address), to_string=True)
    except gdb.error as error:
        text = str(error)
        if "not running" in text:
            _fail("gdbserver at %s debugs no process; start it as `gdbserver --attach %s PID`, "
                  "or use --extended --pid PID with `gdbserver --multi`" % (address, address), False)
        if text.startswith(address + ": "):
            text = text[len(address) + 2:]
        _fail("cannot connect to gdbserver at %s: %s" % (address, text.rstrip(".")), False)
    inferior = gdb.selected_inferior()
    if inferior.pid == 0:
        if pid is None:
            _fail("gdbserver at %s debugs no process: give --pid PID to attach one" % address,
                  False)
        try:
            gdb.execute("attach %d" % pid, to_string=True)
        except gdb.error:
            pass
        inferior = gdb.selected_inferior()
        if inferior.pid != pid:
            _fail("gdbserver at %s could not attach to pid %d (no such process on the target, "
                  "or ptrace not permitted there)" % (address, pid), False)
    elif pid is not None and inferior.pid != pid:
        _fail("gdbserver at %s debugs pid %d, not pid %d; it debugs one process at a time"
              % (address, inferior.pid, pid), False)
    try:
        libraries = gdb.execute("info sharedlibrary", to_string=True)
    except gdb.error:
        libraries = ""
    if "libmemleak" not in libraries:
        _fail("pid %d behind gdbserver at %s does not run the memleak runtime; start it with "
              "LD_PRELOAD=.../libmemleak.so" % (inferior.pid, address), True)


def remote_run(command_line):
    status = 0
    try:
        gdb.execute(command_line)
    except gdb.error as error:
        sys.stdout.flush()
        sys.stderr.write("%s\n" % error)
        sys.stderr.flush()
        status = 1
    try:
        gdb.execute("detach", to_string=True)
    except gdb.error:
        pass
    gdb.execute("quit %d" % status)
