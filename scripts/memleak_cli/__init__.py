"""The `memleak` command, layered like the gdb extension's package:

  args.py       the command line: the parser, every subcommand's options and help
  targets.py    what gdb reads (a live process, a core file) and the checks
                that can be made before gdb runs; corenotes.py reads a core's notes
  commands.py   run, attach and core; demo.py the guided tour
  launch.py     running a program with the runtime preloaded
  gdb_session.py  one memleak command in gdb -batch
  output.py     what the user sees: gdb's output without its chatter, headings
  layout.py     where the runtime, the extension and gdb are
  main.py       the entry: parse, dispatch, report a Failure
  errors.py     Failure, the one-line `memleak:` error

A new subcommand adds its options to args.py, its function to commands.py
(or a module of its own, as demo.py) and one entry to main.COMMANDS.
"""
