"""memleak-finder's gdb extension: `gdb -x gdb/memleak.py` (or `source` it).

Finds the memleak_gdb package next to this file, whether run from the
source tree or an install, and registers the `memleak` commands.
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.insert(0, _here)

from memleak_gdb import gdb_backend  # noqa: E402

gdb_backend.register()
