"""Which program dumped a core: its ELF notes, read without gdb.

The process name (NT_PRPSINFO) and the mapped files (NT_FILE) say which
program dumped it and whether the runtime was loaded.
"""

import os
import struct

from .errors import Failure

NT_PRPSINFO = 3


def read_core_notes(layout, path):
    """(process name, [mapped file paths]) of an ELF core; Failure if not a core."""
    corefile = layout.extension_module("corefile")
    try:
        with open(path, "rb") as handle:
            header = handle.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF":
                raise Failure("%s is not a core file (not ELF)" % path)
            if header[4] != 2 or header[5] != 1:
                raise Failure("%s: only 64-bit little-endian cores are supported" % path)
            e_type, = struct.unpack_from("<H", header, 16)
            if e_type != 4:
                raise Failure("%s is an ELF file but not a core file" % path)
            found = corefile.segments(handle, os.fstat(handle.fileno()).st_size)
            if found is None:
                raise Failure("%s: corrupt program headers" % path)
            comm, files = None, []
            for seg in found[2]:
                if seg.type != corefile.PT_NOTE or seg.filesz > (64 << 20):  # sanely sized
                    continue
                handle.seek(seg.offset)
                notes = handle.read(seg.filesz)
                for ntype, _name, desc in corefile.notes(notes):
                    if ntype == NT_PRPSINFO and len(desc) >= 56:
                        comm = desc[40:56].split(b"\0", 1)[0].decode("utf-8", "replace")
                    elif ntype == corefile.NT_FILE:
                        files = [path.decode("utf-8", "replace") for _, _, path in corefile.nt_file(desc)]
            return comm, files
    except FileNotFoundError:
        raise Failure("%s: no such core file" % path) from None
    except (ValueError, OverflowError):
        raise Failure("%s: corrupt program headers" % path) from None
    except IsADirectoryError:
        raise Failure("%s is a directory, not a core file" % path) from None
    except PermissionError:
        raise Failure("%s: permission denied" % path) from None
    except struct.error:
        raise Failure("%s: truncated core file" % path) from None
