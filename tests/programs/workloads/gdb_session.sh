#!/bin/bash
# gdb in batch mode on debugged.c's program ($1, source $2): breakpoints,
# backtrace, locals, printing through pointers, finish, continue to exit.
# The inferior's pid, the one line that differs from run to run, is masked.
set -eu -o pipefail
stop=$(grep -n "gdb_session.sh stops here" "$2" | cut -d: -f1)
gdb -nx -batch -q \
  -iex "set debuginfod enabled off" -iex "set print inferior-events off" \
  -iex "set print thread-events off" \
  -ex "break sum" -ex "run" -ex "bt" -ex "print *head" -ex "print head->next->label" \
  -ex "finish" -ex "info locals" -ex "break $stop" -ex "continue" \
  -ex "print total" -ex "continue" "$1" 2>&1 | sed -E 's/\(process [0-9]+\)/(process PID)/'
