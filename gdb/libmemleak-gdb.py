"""gdb auto-load script of libmemleak.so: the `memleak` commands without -x.

Named after the library's real file name plus `-gdb.py`, so gdb runs it
whenever it loads the runtime's objfile: `gdb -p PID` on a process running
the runtime, or `gdb PROG CORE` on its core. Installed next to the library,
where gdb runs it only from a directory in its auto-load safe-path (add
`add-auto-load-safe-path PREFIX/lib` to ~/.gdbinit), or, under /usr, in
/usr/share/gdb/auto-load/usr/lib/, which gdb trusts already.
"""

import os
import runpy

import gdb


def _extension_dir():
    # The library's own path first: this script may live in gdb's auto-load
    # directory, away from the prefix.
    objfile = gdb.current_objfile()
    places = [objfile.filename] if objfile is not None else []
    places.append(globals().get("__file__") or "")
    for here in places:
        libdir = os.path.dirname(os.path.realpath(here))
        # PREFIX/lib or PREFIX/lib/<multiarch> next to PREFIX/share.
        for up in ("..", os.path.join("..", "..")):
            candidate = os.path.normpath(os.path.join(libdir, up, "share", "memleak", "gdb"))
            if os.path.isfile(os.path.join(candidate, "memleak.py")):
                return candidate
    return None


def _load():
    try:
        gdb.execute("help memleak", to_string=True)
        return  # already loaded, by -x or by another copy of the runtime
    except gdb.error:
        pass
    where = _extension_dir()
    if where is None:
        gdb.write("memleak: auto-load: share/memleak/gdb/memleak.py not found next to "
                  "the library's prefix; use -x PATH/memleak.py\n", gdb.STDERR)
        return
    # Its own namespace, so the extension sees its own __file__, not ours.
    runpy.run_path(os.path.join(where, "memleak.py"), run_name="memleak_extension")


_load()
