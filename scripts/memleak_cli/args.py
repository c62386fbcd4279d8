"""The command line: the parser, every subcommand's options and help texts,
and the check of a gdb memleak command given after a target."""

import argparse
import re
import shlex
import sys

from .errors import Failure
from .launch import LEAK_EXIT_CODE

GDB_EPILOG = """\
COMMAND (default: top) is a gdb memleak command with its options:
  top [N] [--by bytes|count] [--depth D] [--fold] [--folded] [--svg FILE]
  dump [--min-size B] [--limit N]
  since POINT [--dump] [--fail-over BYTES] [top options]
      POINT: a sequence number, a mark name, or a duration back (90s, 5m, 1h)
  leaks [N] [--all]      loss records by leak class, as valgrind prints them
  why ADDR               the chain of pointers keeping a block alive
  who ADDR [--limit N]   every root and block pointing into a block
  mark [NAME]            (live processes only)
  stats
  and on all of them: --json, --output FILE, --suppressions FILE,
  --show-below-main (frames below main and a thread's start routine)

Exit status: 0; 2 for a usage or input error (one `memleak:` line);
23 when a limit is exceeded (since --fail-over).
"""


class Parser(argparse.ArgumentParser):
    """argparse with the project's error style: usage, then one `memleak:` line, status 2."""

    def error(self, message):
        # argparse counts a trailing COMMAND... as required; only the
        # arguments really missing are named, on the one error line.
        missing = re.match(r"the following arguments are required: (.*)", message)
        if missing:
            names = [n for n in missing.group(1).split(", ") if n not in ("COMMAND", "-- PROG ARGS")]
            if names:
                message = "%s: missing %s (usage: %s)" % (
                    self.prog.split()[-1], " and ".join(names),
                    " ".join(self.format_usage().split()[1:]).replace("[-h] ", ""))
        sys.stderr.write("memleak: %s\n" % message)
        sys.exit(2)


def build_parser():
    """The parser; the chosen subcommand's name is in `subcommand` (None
    when none was given)."""
    parser = Parser(
        prog="memleak",
        description="Find what holds memory in a C/C++ program: record live heap blocks "
                    "with libmemleak.so, read them with gdb from a live process or a core.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `memleak SUBCOMMAND --help` for each one's options. "
               "Errors print one `memleak:` line and exit 2; a limit exceeded "
               "(--fail-on-leak, --fail-over) exits 23.")
    sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    add_run(sub)
    add_attach(sub)
    add_core(sub)
    add_remote(sub)
    add_demo(sub)
    return parser


def add_run(sub):
    run = sub.add_parser(
        "run", help="run a program with the runtime preloaded",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run PROG with libmemleak.so preloaded; at exit, the blocks still live "
                    "are reported on stderr (nothing when nothing leaked). The exit status "
                    "is PROG's (128+N if a signal N killed it).",
        epilog="examples:\n"
               "  memleak run -- ./server --port 8080\n"
               "  memleak run --report leaks.txt -- ./tool input\n"
               "  memleak run --fail-on-leak --suppressions lsan.supp -- ./unit_tests\n"
               "  memleak run --core-on-crash -- ./tool input\n")
    run.add_argument("--report", metavar="FILE",
                     help="write the leak report at exit to FILE instead of stderr (%%p in "
                          "FILE is the pid)")
    run.add_argument("--no-report", action="store_true",
                     help="no leak report at exit")
    run.add_argument("--core-on-crash", action="store_true",
                     help="run PROG under gdb, and if a signal kills it, keep a core "
                          "(memleak-core.PROG.N in the current directory) to read with "
                          "`memleak core`; PROG's signal handling is untouched")
    run.add_argument("--depth", metavar="N", type=depth_value,
                     help="frames recorded per allocation stack (1-256, default 32)")
    run.add_argument("--suppressions", metavar="FILE",
                     help="LeakSanitizer-style `leak:PATTERN` lines; matching stacks are "
                          "left out of the exit report and of --fail-on-leak")
    run.add_argument("--fail-on-leak", action="store_true",
                     help="exit with status %d if lost blocks (definitely, indirectly or "
                          "possibly lost) remain at exit; "
                          "a program whose blocks are all still reachable keeps its status"
                          % LEAK_EXIT_CODE)
    run.add_argument("--show-reachable", action="store_true",
                     help="list still-reachable blocks in the exit report too (by default "
                          "only lost blocks are listed and one line sums up the rest)")
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- PROG ARGS",
                     help="the program and its arguments")


def add_attach(sub):
    attach = sub.add_parser(
        "attach", help="read a running process's live blocks with gdb",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Attach gdb to PID (a process running the runtime), run one memleak "
                    "command, detach. The process pauses only while gdb reads.",
        epilog=GDB_EPILOG + "\nexamples:\n  memleak attach 4242\n"
                            "  memleak attach 4242 since 5m --json\n"
                            "  memleak attach 4242 top --svg flame.svg\n")
    attach.add_argument("pid", metavar="PID")
    attach.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND",
                        help="memleak command and options (default: top)")


def add_core(sub):
    core = sub.add_parser(
        "core", help="read the live blocks saved in a core file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Load PROG and CORE (dumped by PROG running the runtime, e.g. with "
                    "gcore) in gdb and run one memleak command. PROG is matched to CORE by "
                    "build-id: a copy of the program anywhere, or its separate debug file, "
                    "will do.",
        epilog=GDB_EPILOG + "\nexamples:\n  memleak core ./server core.4242\n"
                            "  memleak core ./server core.4242 since startup --fail-over 10MiB\n")
    core.add_argument("--force", action="store_true",
                      help="read CORE even when PROG's build-id is not the one that dumped it")
    core.add_argument("program", metavar="PROG")
    core.add_argument("core", metavar="CORE")
    core.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND",
                      help="memleak command and options (default: top)")


def add_remote(sub):
    remote = sub.add_parser(
        "remote", help="read a process behind gdbserver",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Connect gdb to gdbserver at HOST:PORT, run one memleak command on the "
                    "process it debugs, detach: the process runs on, and a gdbserver started "
                    "with --attach exits. With --extended (gdbserver --multi) gdbserver stays "
                    "for the next command and --pid PID attaches the process. Libraries and "
                    "debug info come through the connection unless --sysroot gives a local "
                    "copy of the target's files. `since DURATION` counts back from the "
                    "table's last change (the target's clock). The exit status is gdb's.",
        epilog=GDB_EPILOG + "\nexamples:\n"
                            "  gdbserver --attach :2345 4242       # on the target, then:\n"
                            "  memleak remote board:2345 top\n"
                            "  gdbserver --multi :2345             # on the target, then:\n"
                            "  memleak remote --extended --pid 4242 board:2345 mark before\n"
                            "  memleak remote --extended --pid 4242 board:2345 since before\n")
    remote.add_argument("--extended", action="store_true",
                        help="target extended-remote: gdbserver --multi, which stays after "
                             "the command")
    remote.add_argument("--pid", type=pid_value, metavar="PID",
                        help="with --extended: the process to attach when gdbserver debugs "
                             "none yet")
    remote.add_argument("--program", metavar="PROG",
                        help="a local copy of the program (symbols from it, not the target)")
    remote.add_argument("--sysroot", metavar="DIR",
                        help="a local copy of the target's files (default: fetched through "
                             "gdbserver)")
    remote.add_argument("address", metavar="HOST:PORT")
    remote.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND",
                        help="memleak command and options (default: top)")


def add_demo(sub):
    demo = sub.add_parser(
        "demo", help="a guided tour on a bundled leaky service",
        description="Build what is missing, start the bundled leaky service under the "
                    "runtime, and show top, mark/since and a core file, step by step.")
    demo.add_argument("--seconds", type=float, default=3.0, metavar="S",
                      help="how long the service runs between steps (default 3)")
    demo.add_argument("--keep", action="store_true",
                      help="keep the core file and the service's log next to the flame graph")


def depth_value(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text) from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError("must be between 1 and 256")
    return value


def pid_value(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a process id" % text) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("%r is not a process id" % text)
    return value


def run_command(words):
    """The program and its arguments after `run [OPTIONS]`, without `--`."""
    command = list(words)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise Failure("run: no program given (usage: memleak run [OPTIONS] -- PROG ARGS...)")
    return command


def rerun_with_core(argv):
    """The `memleak run` command line again, with --core-on-crash."""
    return "memleak run --core-on-crash " + " ".join(shlex.quote(w) for w in argv[1:])


def gdb_command_line(layout, command):
    """The `memleak ...` line for gdb from the words after the target,
    checked with the extension's own parser."""
    words = list(command)
    if words and words[0] == "--":
        words = words[1:]
    if words and words[0] == "memleak":
        words = words[1:]
    if not words:
        words = ["top"]
    args = layout.extension_module("args")
    if words[0] not in args.SUBCOMMANDS:
        raise Failure(str(args.unknown_command(words[0])))
    try:
        args.parse(words[0], " ".join(shlex.quote(w) for w in words[1:]))
    except args.UsageError as error:
        raise Failure(str(error)) from None
    return "memleak " + " ".join(shlex.quote(w) for w in words)
