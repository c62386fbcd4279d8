"""The subcommands that run a program or read one with gdb: each takes the
parsed options and the layout and returns the exit status."""

import os

from . import args, gdb_session, launch, targets
from .errors import Failure


def cmd_run(opts, layout):
    command = args.run_command(opts.command)
    if opts.no_report and (opts.report or opts.fail_on_leak):
        raise Failure("--no-report goes with neither --report nor --fail-on-leak (whose status "
                      "comes with its report): pick one")
    runtime = layout.runtime()
    prog = launch.resolve_program(command[0])
    suppressions = (launch.check_suppressions(layout, opts.suppressions)
                    if opts.suppressions else None)
    # The leak report at exit by default, as valgrind and LeakSanitizer do;
    # the runtime prints nothing when nothing leaked.
    report = None if opts.no_report else (opts.report or "stderr")
    exitcode = launch.LEAK_EXIT_CODE if opts.fail_on_leak else None
    if report and report != "stderr":
        report = os.path.abspath(report)
    env = launch.preload_env(runtime, opts.depth, suppressions, report, exitcode,
                             opts.show_reachable)
    if opts.core_on_crash:
        targets.check_can_trace()
        core = launch.new_core_path(command[0], os.getpid())
        status, sig = launch.run_under_gdb(layout, command, prog, env, core)
        kept = os.path.getsize(core) > 0
        if not kept:
            os.unlink(core)
        launch.say_how_it_ended(command[0], sig, core=core if kept else None)
        return status
    status, sig = launch.wait_forwarding(command, env, executable=prog)
    launch.say_how_it_ended(command[0], sig, rerun=args.rerun_with_core(opts.raw_argv))
    return status


def read_with_gdb(layout, target, command):
    """The shared path of every gdb-reading subcommand."""
    command_line = args.gdb_command_line(layout, command)
    target.check()
    return gdb_session.run(layout, target, command_line)


def cmd_attach(opts, layout):
    command = list(opts.command)
    # `memleak attach $(pidof prog)` with two processes of that name.
    extra = []
    for word in command:
        if not word.isdigit():
            break
        extra.append(word)
    if extra and opts.pid.isdigit():
        raise Failure("attach takes one process id, got %d (%s): pick one of them"
                      % (1 + len(extra), " ".join([opts.pid] + extra)))
    return read_with_gdb(layout, targets.Attach(opts.pid), command)


def cmd_core(opts, layout):
    command = list(opts.command)
    force = opts.force
    if command and command[0] == "--force":
        force, command = True, command[1:]
    return read_with_gdb(layout, targets.Core(layout, opts.program, opts.core, force), command)


def cmd_remote(opts, layout):
    target = targets.Remote(opts.address, opts.extended, opts.pid, opts.program, opts.sysroot)
    return read_with_gdb(layout, target, opts.command)
