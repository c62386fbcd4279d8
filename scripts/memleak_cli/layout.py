"""Where things are: an installed prefix (bin/ share/ lib/) or a source tree."""

import os
import shutil
import sys

from .errors import Failure


class Layout:
    """Paths found from the entry point's own location (`entry`: the real
    path of bin/memleak or scripts/memleak)."""

    def __init__(self, entry):
        here = os.path.dirname(os.path.realpath(entry))
        self.prefix = os.path.dirname(here)
        installed_ext = os.path.join(self.prefix, "share", "memleak", "gdb", "memleak.py")
        source_ext = os.path.join(self.prefix, "gdb", "memleak.py")
        if os.path.isfile(installed_ext):
            self.installed = True
            self.source = None
            self.extension = installed_ext
            self.build = None
        else:
            self.installed = False
            self.source = self.prefix
            self.extension = source_ext
            self.build = os.path.abspath(os.environ.get("MEMLEAK_BUILD_DIR")
                                         or os.path.join(self.source, "build"))
        self.gdb_dir = os.path.dirname(self.extension)

    def runtime_candidates(self):
        env = os.environ.get("MEMLEAK_LIB")
        if env:
            return [env]
        if self.installed:
            return [os.path.join(self.prefix, d, "libmemleak.so")
                    for d in ("lib", "lib64", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu")]
        return [os.path.join(self.build, "runtime", "libmemleak.so")]

    def runtime(self, required=True):
        candidates = self.runtime_candidates()
        for path in candidates:
            if os.path.isfile(path):
                return os.path.abspath(path)
        if not required:
            return None
        hint = ("set MEMLEAK_LIB" if os.environ.get("MEMLEAK_LIB") else
                "reinstall, or set MEMLEAK_LIB" if self.installed else
                "build it with `cmake --build %s --target memleak`, or set MEMLEAK_LIB"
                % self.build)
        raise Failure("libmemleak.so not found (looked at %s); %s" % (", ".join(candidates), hint))

    def demo_service(self):
        if self.installed:
            return os.path.join(self.prefix, "libexec", "memleak", "memleak-demo-service")
        return os.path.join(self.build, "examples", "memleak-demo-service")

    def check_extension(self):
        if not os.path.isfile(self.extension):
            raise Failure("gdb extension not found at %s" % self.extension)
        return self.extension

    def extension_module(self, name):
        """A module of the extension's package (pure Python, no gdb)."""
        if self.gdb_dir not in sys.path:
            sys.path.insert(0, self.gdb_dir)
        try:
            return __import__("memleak_gdb." + name, fromlist=[name])
        except ImportError:
            raise Failure("the gdb extension's memleak_gdb package is missing from %s"
                          % self.gdb_dir) from None


def gdb_path():
    gdb = os.environ.get("MEMLEAK_GDB") or "gdb"
    found = shutil.which(gdb)
    if not found:
        raise Failure("gdb not found (%s); install it (Debian: apt-get install gdb) "
                      "or set MEMLEAK_GDB" % gdb)
    return found
