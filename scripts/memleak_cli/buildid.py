"""Build-ids: which build a program file is, and which build dumped a core.

A linker writes a GNU build-id note into every program and library; a
core holds the first page of each mapped ELF file, where that note lies,
so the program that dumped a core is known by content, not by path: a
copy of it anywhere matches, a rebuild at the same path does not. Every
offset and size comes from the files and is bounded before use.
"""

import struct

ELF_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
SHDR = struct.Struct("<IIQQQQIIQQ")
PT_LOAD = 1
PT_NOTE = 4
SHT_NOTE = 7
NT_GNU_BUILD_ID = 3
NT_AUXV = 6
NT_FILE = 0x46494C45
AT_ENTRY = 9
# No real header table or note is larger; a bigger count is garbage.
MAX_HEADERS = 1 << 16
MAX_NOTE = 1 << 20


def _build_id(corefile, data):
    for ntype, name, desc in corefile.notes(data):
        if name == b"GNU" and ntype == NT_GNU_BUILD_ID and desc:
            return desc.hex()
    return None


def _header(read):
    raw = read(0, ELF_HEADER.size)
    if raw is None or len(raw) < ELF_HEADER.size or raw[:4] != b"\x7fELF" or raw[4] != 2:
        return None
    return ELF_HEADER.unpack(raw)


def _table(read, offset, count, entry, struct_):
    if offset == 0 or count == 0 or count > MAX_HEADERS or entry < struct_.size:
        return []
    raw = read(offset, count * entry)
    if raw is None or len(raw) < count * entry:
        return []
    return [struct_.unpack_from(raw, i * entry) for i in range(count)]


def file_build_id(corefile, path):
    """The build-id of the ELF file at `path` (hex), None when it has none
    or is no 64-bit ELF file; OSError when it cannot be read."""
    with open(path, "rb") as f:
        def read(offset, n):
            f.seek(offset)
            return f.read(n)

        h = _header(read)
        if h is None:
            return None
        # Sections first: a separate debug file keeps .note.gnu.build-id
        # while its segments hold nothing.
        for s in _table(read, h[6], h[12], h[11], SHDR):
            if s[1] == SHT_NOTE and 0 < s[5] <= MAX_NOTE:
                found = _build_id(corefile, read(s[4], s[5]) or b"")
                if found:
                    return found
        for p in _table(read, h[5], h[10], h[9], PHDR):
            if p[0] == PT_NOTE and 0 < p[5] <= MAX_NOTE:
                found = _build_id(corefile, read(p[2], p[5]) or b"")
                if found:
                    return found
    return None


class _CoreMemory:
    """Reads of the dumped process's memory from a core's PT_LOAD segments."""

    def __init__(self, f, loads):
        self.f = f
        self.loads = loads

    def read(self, addr, n):
        for vaddr, offset, filesz in self.loads:
            if vaddr <= addr and addr + n <= vaddr + filesz:
                self.f.seek(offset + addr - vaddr)
                data = self.f.read(n)
                return data if len(data) == n else None
        return None


def _mapped_build_id(corefile, mem, start):
    """The build-id of the ELF file mapped at `start` in the dumped process."""
    h = _header(lambda off, n: mem.read(start + off, n))
    if h is None:
        return None
    phdrs = _table(lambda off, n: mem.read(start + off, n), h[5], h[10], h[9], PHDR)
    loads = [p for p in phdrs if p[0] == PT_LOAD]
    if not loads:
        return None
    bias = start - (min(p[3] for p in loads) & ~0xFFF)
    for p in phdrs:
        if p[0] == PT_NOTE and 0 < p[5] <= MAX_NOTE:
            found = _build_id(corefile, mem.read(bias + p[3], p[5]) or b"")
            if found:
                return found
    return None


def core_program(corefile, path):
    """(path, build-id) of the program that dumped the core at `path`, as
    its notes tell: the mapped file holding the entry point, its build-id
    read from its first page in the core. Either is None when the core
    does not say (no NT_FILE note, the page not dumped)."""
    with open(path, "rb") as f:
        def read(offset, n):
            f.seek(offset)
            return f.read(n)

        h = _header(read)
        if h is None:
            return None, None
        phdrs = _table(read, h[5], h[10], h[9], PHDR)
        loads = [(p[3], p[2], p[5]) for p in phdrs if p[0] == PT_LOAD]
        entry, files = None, []
        for p in phdrs:
            if p[0] != PT_NOTE or not 0 < p[5] <= (64 << 20):
                continue
            for ntype, _, desc in corefile.notes(read(p[2], p[5]) or b""):
                if ntype == NT_AUXV:
                    for i in range(0, len(desc) - 15, 16):
                        key, value = struct.unpack_from("<QQ", desc, i)
                        if key == AT_ENTRY:
                            entry = value
                elif ntype == NT_FILE:
                    files = [(start, end, name.decode("utf-8", "replace"))
                             for start, end, name in corefile.nt_file(desc)]
        exe = [(start, name) for start, end, name in files
               if entry is not None and start <= entry < end]
        if not exe:
            return None, None
        name = exe[0][1]
        # The program's first mapping (file offset 0) holds its ELF header.
        first = min(start for start, end, n in files if n == name)
        return name, _mapped_build_id(corefile, _CoreMemory(f, loads), first)
