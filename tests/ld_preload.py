"""The environment variables that make the dynamic loader preload a
library, for the tests that run programs under the runtime themselves.

ld.so splits LD_PRELOAD at spaces and colons, with no way to quote, so a
library in a directory whose path holds a space (a checkout under "a b/")
is preloaded by its file name, found through LD_LIBRARY_PATH, which is
split at colons and semicolons only; `memleak run` does the same
(scripts/memleak_cli/launch.py).
"""

import os


def variables(lib, env=None):
    """{name: value} to add to `env` (default: this process's environment)
    so that programs started with it preload `lib`."""
    env = os.environ if env is None else env
    directory, name = os.path.split(lib)
    if not any(c in directory for c in " \t\n"):
        return {"LD_PRELOAD": lib}
    if any(c in directory for c in ":;") or any(c in name for c in " \t\n:;"):
        raise ValueError("the loader cannot preload %r" % lib)
    search = env.get("LD_LIBRARY_PATH", "")
    return {"LD_PRELOAD": name, "LD_LIBRARY_PATH": directory + (":" + search if search else "")}
