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
import struct

from .corefile import ELF_HEADER, PHDR, PT_LOAD, PT_NOTE, segments as core_program_headers

# perms: four characters as /proc/PID/maps writes them ("rw-p"); path: the
# file, a kernel name such as "[heap]" or "[stack]", or "" when anonymous.
Region = collections.namedtuple("Region", "start end perms path")

_MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+)\s+([rwxsp-]{4})\s+[0-9a-f]+\s+\S+\s+\d+\s*(.*?)\s*$")

NT_FILE = 0x46494C45
PF_X, PF_W, PF_R = 1, 2, 4
# Far beyond any process; a note claiming more is not read.
MAX_FILE_ENTRIES = 1 << 22
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


def _notes(data):
    """(type, name, desc) of each note in a PT_NOTE segment's bytes."""
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
        pos += 12
        name_end = pos + ((namesz + 3) & ~3)
        desc_end = name_end + ((descsz + 3) & ~3)
        if desc_end > len(data):
            return
        yield ntype, data[pos:pos + namesz].rstrip(b"\0"), data[name_end:name_end + descsz]
        pos = desc_end


def parse_nt_file(desc):
    """[(start, end, path)] of an NT_FILE note's descriptor, or [] when it
    is malformed."""
    if len(desc) < 16:
        return []
    count, _page_size = struct.unpack_from("<QQ", desc, 0)
    if count > MAX_FILE_ENTRIES or 16 + count * 24 > len(desc):
        return []
    names = desc[16 + count * 24:].split(b"\0")
    if len(names) < count:
        return []
    entries = []
    for i in range(count):
        start, end, _offset = struct.unpack_from("<QQQ", desc, 16 + i * 24)
        entries.append((start, end, names[i].decode("utf-8", "surrogateescape")))
    return entries


def core_regions(f, size):
    """[Region] of the 64-bit little-endian core open in binary file `f`,
    `size` bytes long, sorted by start; None when it is no such core."""
    found = core_program_headers(f, size)
    if found is None:
        return None
    f.seek(0)
    head = f.read(ELF_HEADER.size)
    e_phoff, e_phentsize = ELF_HEADER.unpack(head)[5], ELF_HEADER.unpack(head)[9]
    files = []
    loads = []
    for i in range(len(found[2])):
        f.seek(e_phoff + i * e_phentsize)
        raw = f.read(PHDR.size)
        if len(raw) != PHDR.size:
            break
        p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, _align = PHDR.unpack(raw)
        if p_type == PT_LOAD and p_memsz:
            loads.append((p_vaddr, p_vaddr + p_memsz, _perms(p_flags)))
        elif p_type == PT_NOTE and 0 < p_filesz <= MAX_NOTE_BYTES and p_offset + p_filesz <= size:
            f.seek(p_offset)
            for ntype, name, desc in _notes(f.read(p_filesz)):
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
