"""Is a core file whole? Read from its own ELF headers, without gdb.

A cut core (a full disk, a size limit, a copy stopped halfway) loses the
memory at its end; gdb then loses the dynamic loader's library list or the
table's pages, and the runtime looks absent or broken. Comparing the file's
size with the extent its program headers claim tells the user the real
cause. The headers come from the file, so every count and offset is bounded
before use.
"""

import collections
import os
import re
import struct

ELF_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
SHDR = struct.Struct("<IIQQQQIIQQ")

ET_CORE = 4
PT_LOAD = 1
PT_NOTE = 4
# e_phnum's escape when a core has too many segments for 16 bits: the
# real count is then section header 0's sh_info.
PN_XNUM = 0xFFFF
# Bounds beyond any real core: a header claiming more is garbage, not a cut.
MAX_PHNUM = 1 << 22
MAX_EXTENT = 1 << 48

NT_FILE = 0x46494C45
# Far beyond any process; an NT_FILE note claiming more is not read.
MAX_FILE_ENTRIES = 1 << 22

Extent = collections.namedtuple("Extent", "present expected")
Segment = collections.namedtuple("Segment", "type flags offset vaddr filesz memsz")


def _read_at(f, offset, n):
    f.seek(offset)
    return f.read(n)


def _phnum(f, e_phnum, e_shoff, e_shentsize, size):
    if e_phnum != PN_XNUM:
        return e_phnum
    if e_shoff == 0 or e_shentsize < SHDR.size or e_shoff + SHDR.size > size:
        return None
    raw = _read_at(f, e_shoff, SHDR.size)
    if len(raw) != SHDR.size:
        return None
    return SHDR.unpack(raw)[7]


def segments(f, size):
    """(phnum, table_end, [Segment]) of the 64-bit little-endian ELF core
    open in binary file `f`, `size` bytes long: the number of program
    headers the core claims, where their table ends, and those of them
    wholly present in the file. None when `f` is no such core or its
    headers are not credible."""
    if size < ELF_HEADER.size:
        return None
    raw = _read_at(f, 0, ELF_HEADER.size)
    if len(raw) != ELF_HEADER.size:
        return None
    (ident, e_type, _machine, _version, _entry, e_phoff, e_shoff, _flags, _ehsize,
     e_phentsize, e_phnum, e_shentsize, _shnum, _shstrndx) = ELF_HEADER.unpack(raw)
    if ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1 or e_type != ET_CORE:
        return None
    if e_phentsize < PHDR.size or not ELF_HEADER.size <= e_phoff < size:
        return None
    phnum = _phnum(f, e_phnum, e_shoff, e_shentsize, size)
    if phnum is None or phnum == 0 or phnum > MAX_PHNUM:
        return None
    table_end = e_phoff + phnum * e_phentsize
    table = _read_at(f, e_phoff, min(table_end, size) - e_phoff)
    found = []
    for i in range(len(table) // e_phentsize):
        p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, _align = PHDR.unpack_from(
            table, i * e_phentsize)
        found.append(Segment(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz))
    return phnum, table_end, found


def notes(data):
    """(type, name, desc) of each note in a PT_NOTE segment's bytes."""
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
        pos += 12
        name_end = pos + ((namesz + 3) & ~3)
        if name_end + descsz > len(data):
            return
        yield ntype, data[pos:pos + namesz].rstrip(b"\0"), data[name_end:name_end + descsz]
        pos = name_end + ((descsz + 3) & ~3)


def nt_file(desc):
    """[(start, end, path as bytes)] of an NT_FILE note's descriptor, or []
    when it is malformed."""
    if len(desc) < 16:
        return []
    count, _page_size = struct.unpack_from("<QQ", desc, 0)
    if count > MAX_FILE_ENTRIES or 16 + count * 24 > len(desc):
        return []
    names = desc[16 + count * 24:].split(b"\0")
    if len(names) < count:
        return []
    return [struct.unpack_from("<QQ", desc, 16 + i * 24) + (names[i],) for i in range(count)]


def extent(f, size):
    """Extent(present, expected) of the core open in `f` (see segments);
    `expected` is where its last PT_LOAD or PT_NOTE contents end. None when
    `f` is no such core, or its headers are not credible or not all there
    (the kernel and gcore both write them right after the ELF header; a file
    cut before their end is beyond telling)."""
    found = segments(f, size)
    if found is None or len(found[2]) != found[0]:
        return None
    _phnum, expected, segs = found
    for seg in segs:
        if seg.type not in (PT_LOAD, PT_NOTE) or seg.filesz == 0:
            continue
        end = seg.offset + seg.filesz
        if end > MAX_EXTENT:
            return None
        expected = max(expected, end)
    return Extent(size, expected)


Cut = collections.namedtuple("Cut", "present expected at_least")


def cut(path):
    """Cut(present, expected, at_least) when the core at `path` is shorter
    than its headers say, else None (whole, unreadable, or not a 64-bit
    little-endian core). `at_least`: the file ends inside its own program
    headers, so `expected` is only where those end."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            found = segments(f, size)
            if found is not None and len(found[2]) != found[0]:
                return Cut(size, found[1], True) if size < found[1] else None
            whole = extent(f, size)
    except OSError:
        return None
    if whole is None or whole.present >= whole.expected:
        return None
    return Cut(whole.present, whole.expected, False)


TRUNCATED = "core file truncated: "


def message(found, consequence="the runtime's table cannot be read"):
    return "%s%d of %s%d bytes present; %s" % (
        TRUNCATED, found.present, "at least " if found.at_least else "", found.expected,
        consequence)


_CORE_LINE = re.compile(r"^\s*Local core dump file:\s*\n\s*`(.*)', file type ", re.MULTILINE)


def core_path(info_target):
    """The core's path in the text of gdb's `info target`, or None."""
    m = _CORE_LINE.search(info_target)
    return m.group(1) if m else None
