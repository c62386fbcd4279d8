"""The subcommands that run a program or read one with gdb: each takes the
parsed options and the layout and returns the exit status."""

import os

from . import args, gdb_session, launch, targets


def cmd_run(opts, layout):
    command = args.run_command(opts.command)
    runtime = layout.runtime()
    prog = launch.resolve_program(command[0])
    suppressions = (launch.check_suppressions(layout, opts.suppressions)
                    if opts.suppressions else None)
    report = opts.report
    exitcode = None
    if opts.fail_on_leak:
        exitcode = launch.LEAK_EXIT_CODE
        report = report or "stderr"
    if report and report != "stderr":
        report = os.path.abspath(report)
    env = launch.preload_env(runtime, opts.depth, suppressions, report, exitcode,
                             opts.show_reachable)
    return launch.wait_forwarding(command, env, executable=prog)


def read_with_gdb(layout, target, command):
    """The shared path of every gdb-reading subcommand."""
    command_line = args.gdb_command_line(layout, command)
    target.check()
    return gdb_session.run(layout, target, command_line)


def cmd_attach(opts, layout):
    return read_with_gdb(layout, targets.Attach(opts.pid), opts.command)


def cmd_core(opts, layout):
    return read_with_gdb(layout, targets.Core(layout, opts.program, opts.core), opts.command)


def cmd_remote(opts, layout):
    target = targets.Remote(opts.address, opts.extended, opts.pid, opts.program, opts.sysroot)
    return read_with_gdb(layout, target, opts.command)
