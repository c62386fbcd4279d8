"""The inferior's memory map with permissions: from /proc/PID/maps for a
live process, from a core's own program headers and NT_FILE note for a
core. No gdb: both are read as bytes, so the unit tests feed them images.

A core lists every mapping as a PT_LOAD with its permissions (p_flags),
and the file-backed ones, with their paths, in the NT_FILE note; a mapping
the note does not name is anonymous. Every count and offset read from the
core is bounded before use.
"""

import bisect
import collections
import re

from .corefile import NT_FILE, PT_LOAD, PT_NOTE, notes, nt_file, segments as core_program_headers

# perms: four characters as /proc/PID/maps writes them ("rw-p"); path: the
# file, a kernel name such as "[heap]" or "[stack]", or "" when anonymous.
Region = collections.namedtuple("Region", "start end perms path")

_MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+)\s+([rwxsp-]{4})\s+[0-9a-f]+\s+\S+\s+\d+\s*(.*?)\s*$")

PF_X, PF_W, PF_R = 1, 2, 4
# Far beyond any process; a note segment claiming more is not read.
MAX_NOTE_BYTES = 1 << 28


def parse_proc_maps(text):
    """[Region] of /proc/PID/maps text, sorted by start."""
    found = []
    for line in text.splitlines():
        m = _MAPS_LINE.match(line)
        if m:
            found.append(Region(int(m.group(1), 16), int(m.group(2), 16), m.group(3), m.group(4)))
    found.sort()
    return found


def _perms(flags):
    return ("r" if flags & PF_R else "-") + ("w" if flags & PF_W else "-") + \
        ("x" if flags & PF_X else "-") + "p"


def parse_nt_file(desc):
    """[(start, end, path)] of an NT_FILE note's descriptor, or [] when it
    is malformed."""
    return [(start, end, path.decode("utf-8", "surrogateescape")) for start, end, path in nt_file(desc)]


def core_regions(f, size):
    """[Region] of the 64-bit little-endian core open in binary file `f`,
    `size` bytes long, sorted by start; None when it is no such core."""
    found = core_program_headers(f, size)
    if found is None:
        return None
    files = []
    loads = []
    for seg in found[2]:
        if seg.type == PT_LOAD and seg.memsz:
            loads.append((seg.vaddr, seg.vaddr + seg.memsz, _perms(seg.flags)))
        elif seg.type == PT_NOTE and 0 < seg.filesz <= MAX_NOTE_BYTES and seg.offset + seg.filesz <= size:
            f.seek(seg.offset)
            for ntype, name, desc in notes(f.read(seg.filesz)):
                if ntype == NT_FILE and name == b"CORE":
                    files.extend(parse_nt_file(desc))
    files.sort()
    starts = [s for s, _, _ in files]
    regions = []
    for start, end, perms in sorted(loads):
        i = bisect.bisect_right(starts, start) - 1
        path = files[i][2] if i >= 0 and files[i][0] <= start < files[i][1] else ""
        regions.append(Region(start, end, perms, path))
    return regions


def read_core_regions(path):
    """core_regions of the core at `path`, or None."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            return core_regions(f, f.tell())
    except OSError:
        return None
