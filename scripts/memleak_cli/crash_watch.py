"""Run inside gdb by `memleak run --core-on-crash`: gdb runs the program
and, when a signal is about to kill it, writes a core before letting the
signal do so.

Every signal reaches the program as it would without gdb ("handle all
nostop noprint pass"); only the signals whose default action dumps core
stop it for a moment, and a core is written when the program neither
catches nor (for a fault) can ignore the signal, that is, when the signal
is fatal. The program's handlers, masks and dispositions are never
touched. gdb then ends with the program's own status: its exit code, or
128 + the signal that killed it.
"""

import os

import gdb

# Signals whose default action is to dump core (signal(7)); SIGTRAP is gdb's own.
FATAL = ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGABRT", "SIGSYS", "SIGQUIT", "SIGXCPU",
         "SIGXFSZ")
# A fault the program ignores is delivered anyway, with the default action.
FAULTS = ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL")
SIGNAL_NUMBERS = {"SIGSEGV": 11, "SIGBUS": 7, "SIGFPE": 8, "SIGILL": 4, "SIGABRT": 6,
                  "SIGSYS": 31, "SIGQUIT": 3, "SIGXCPU": 24, "SIGXFSZ": 25}

_stops = []


def _on_stop(event):
    if isinstance(event, gdb.SignalEvent):
        _stops.append(event.stop_signal)


def _mask(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return 0


def is_fatal(pid, name):
    bit = 1 << (SIGNAL_NUMBERS[name] - 1)
    if _mask(pid, "SigCgt") & bit:
        return False
    return name in FAULTS or not _mask(pid, "SigIgn") & bit


def _status():
    for var, base in (("_exitsignal", 128), ("_exitcode", 0)):
        value = gdb.convenience_variable(var)
        if value is not None:
            return base + int(value)
    return None


def watch(core_path):
    """Runs the program to its end, writes `core_path` if a signal is
    about to kill it, and quits gdb with the program's status."""
    gdb.events.stop.connect(_on_stop)
    gdb.execute("handle all nostop noprint pass", to_string=True)
    for name in FATAL:
        gdb.execute("handle %s stop print pass" % name, to_string=True)
    try:
        gdb.execute("run", to_string=True)
        written = False
        while gdb.selected_inferior().pid != 0:
            name = _stops.pop() if _stops else None
            if name in FATAL and not written and is_fatal(gdb.selected_inferior().pid, name):
                gdb.execute("gcore %s" % core_path, to_string=True)
                written = True
            gdb.execute("continue", to_string=True)
    except gdb.error as e:
        os.write(2, ("memleak: gdb: %s\n" % e).encode("utf-8", "replace"))
    status = _status()
    gdb.execute("quit %d" % (status if status is not None else 2))
