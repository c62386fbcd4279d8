# gdb without its attach and core-loading messages ([New LWP ...], the
# libthread_db lines, the current frame, missing source files), for scripts
# that want only the memleak command's answer:
#
#   gdb -q -batch -ix gdb/quiet.gdb -p PID -x gdb/memleak.py -ex 'memleak top'
#
# -ix runs this before gdb attaches; gdb's messages then go to /dev/null
# until gdb/memleak.py is loaded, which turns them back on.
set print inferior-events off
set print thread-events off
set logging file /dev/null
set logging redirect on
set logging enabled on
set $memleak_quiet = 1
