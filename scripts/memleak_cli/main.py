"""The entry: parse the command line, run the subcommand, turn a Failure
into its one `memleak:` line and status 2."""

from . import args, commands, demo, output
from .errors import Failure
from .layout import Layout

COMMANDS = {
    "run": commands.cmd_run,
    "attach": commands.cmd_attach,
    "core": commands.cmd_core,
    "remote": commands.cmd_remote,
    "demo": demo.tour,
}


def main(argv, entry):
    """The whole command; `entry` is the path of the script that was run."""
    parser = args.build_parser()
    opts = parser.parse_args(argv)
    if opts.subcommand is None:
        parser.print_help()
        return 2
    opts.raw_argv = list(argv)
    try:
        return COMMANDS[opts.subcommand](opts, Layout(entry))
    except Failure as error:
        output.error_line(error)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
