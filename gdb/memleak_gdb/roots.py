"""What the reachability scan reads and what it takes for roots, decided
from the memory map, the threads and the runtime's table. No gdb.

Roots (issue 9, as Valgrind and LeakSanitizer take them):
  - every thread's general-purpose registers;
  - every thread's live stack, from its stack pointer less the 128-byte red
    zone to the top of the mapping holding it (for a thread other than
    main that mapping also holds its static TLS and thread control block);
  - every thread's dynamic TLS: the blocks its DTV points to (glibc
    allocates a dlopen'ed library's TLS block with malloc at the thread's
    first access, and keeps the DTV itself in a block it points to one
    entry past the start, which a scan alone would take for an interior
    pointer);
  - every other readable, writable mapping: the data and bss of the
    program and of every library (dlopen'ed ones too), the dynamic
    loader's own allocations (the main thread's static TLS, initial DTVs),
    and the program's own mmaps.
Never roots:
  - allocator memory: a mapping holding a live block (the brk heap, glibc's
    arenas, each mmapped chunk) is read only for the blocks' contents, so a
    freed chunk's stale pointers keep nothing alive;
  - the runtime's bookkeeping: libmemleak.so's data and bss, the table's
    record chunks, directories and stack depot (which hold every block's
    address), and whatever further regions the runtime publishes;
  - kernel pages ([vvar], [vdso], [vsyscall]) and mappings not readable.
Read-only file mappings are read too (not as roots): the multiple
inheritance heuristic looks at vtables there.
"""

import bisect
import collections
import os
import struct

from .errors import MemleakError

# Root kinds and segment flags: memleak/scan.h's values.
ROOT_STACK = 1
ROOT_REGISTERS = 2
ROOT_TLS = 3
ROOT_DATA = 4
ROOT_MAPPING = 5
SEGMENT_FILE = 1
SEGMENT_EXEC = 2

RED_ZONE = 128
# Allocator memory is read block by block, merging blocks closer than this.
MERGE_GAP = 64 << 10
# Reads are cut into pieces no larger than this (one scanner segment each).
PIECE = 64 << 20
# A read-only file mapping larger than this is not read for vtables.
MAX_RODATA = 64 << 20
_KERNEL = ("[vvar]", "[vdso]", "[vsyscall]", "[vvar_vclock]")
_RUNTIME_PREFIX = "libmemleak.so"

# registers: [(name, value)] of the general-purpose registers.
Thread = collections.namedtuple("Thread", "num tid registers sp fs_base")
# data: bytes for a root held outside memory (registers), else None.
Root = collections.namedtuple("Root", "address length data kind owner")
# bytes_wanted False: the range exists for the heuristics, nothing is read.
Read = collections.namedtuple("Read", "start end flags bytes_wanted")


class Plan:
    """roots (owner: a thread index for stack, register and TLS roots, a
    module index for data), reads (sorted, disjoint), modules (paths),
    threads, and notes on what was left out and why."""

    def __init__(self, roots, reads, modules, threads, notes):
        self.roots = roots
        self.reads = reads
        self.modules = modules
        self.threads = threads
        self.notes = notes


def _subtract(start, end, holes):
    """[start, end) less the sorted, disjoint `holes`, as ranges."""
    out = []
    i = bisect.bisect_right(holes, (start, 1 << 64)) - 1
    i = max(i, 0)
    at = start
    while i < len(holes) and holes[i][0] < end:
        hs, he = holes[i]
        if he > at:
            if hs > at:
                out.append((at, min(hs, end)))
            at = max(at, he)
        i += 1
    if at < end:
        out.append((at, end))
    return out


def merge_ranges(ranges):
    """Sorted, disjoint union of (start, end) ranges."""
    out = []
    for s, e in sorted(r for r in ranges if r[1] > r[0]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


# glibc's thread control block: the offset of the DTV pointer from the
# thread pointer (x86-64: tcbhead_t's second word; aarch64: its first).
DTV_SLOT = {"x86-64": 8, "aarch64": 0}
DTV_ENTRY = 16
# A DTV entry no TLS block was allocated for (glibc's TLS_DTV_UNALLOCATED).
DTV_UNALLOCATED = (1 << 64) - 1
MAX_DTV_ENTRIES = 1 << 16
MAX_TLS_BLOCK = 1 << 24


def dynamic_tls_roots(mem, threads, block_at, dtv_slot):
    """Roots for every thread's dynamic TLS blocks, each one's contents
    read as bytes (a root inside a live block is otherwise skipped).
    glibc's DTV: the control block holds &dtv[1]; dtv[0] is the entry
    count, then one (value, to_free) pair per module. `block_at(address)`
    gives (start, size) of the live block holding `address`, or None.
    What cannot be read or makes no sense is passed over: these roots only
    add to the mappings already scanned."""
    out = []
    seen = set()
    for i, t in enumerate(threads):
        if not t.fs_base:
            continue
        try:
            dtv = struct.unpack("<Q", mem.read(t.fs_base + dtv_slot, 8))[0]
            if dtv < DTV_ENTRY or dtv % 8:
                continue
            count = struct.unpack("<Q", mem.read(dtv - DTV_ENTRY, 8))[0]
            if count == 0 or count > MAX_DTV_ENTRIES:
                continue
            entries = mem.read(dtv + DTV_ENTRY, count * DTV_ENTRY)
        except MemleakError:
            continue
        for k in range(count):
            value = struct.unpack_from("<Q", entries, k * DTV_ENTRY)[0]
            if value in (0, DTV_UNALLOCATED):
                continue
            found = block_at(value)
            if found is None or (found[0], i) in seen or not 0 < found[1] <= MAX_TLS_BLOCK:
                continue
            seen.add((found[0], i))
            try:
                data = mem.read(found[0], found[1])
            except MemleakError:
                continue
            out.append(Root(found[0], found[1], data, ROOT_TLS, i))
    return out


# glibc serves requests from this size up with a mapping of their own
# (M_MMAP_THRESHOLD's default; the dynamic threshold only rises from it).
MMAP_CANDIDATE = 128 << 10
_IS_MMAPPED = 2


def mmapped_chunk_extents(mem, starts, sizes):
    """{block start: (start, end)} of the mapping of each block glibc's
    malloc mapped by itself (IS_MMAPPED in its chunk header: the chunk
    starts 16 bytes before the block and its prev_size field is the
    mapping's offset before the chunk). Only blocks of MMAP_CANDIDATE bytes
    or more are looked at; a header that does not fit is no such chunk."""
    out = {}
    big = [(start, size) for start, size in zip(starts, sizes) if size >= MMAP_CANDIDATE]
    for start, size in big:
        if start < 16:
            continue
        try:
            prev_size, field = struct.unpack("<QQ", mem.read(start - 16, 16))
        except MemleakError:
            continue
        length = field & ~7
        if not field & _IS_MMAPPED or length < size + 16 or prev_size % 16 or prev_size > length:
            continue
        chunk = start - 16
        out[start] = (chunk - prev_size, chunk + length)
    return out


def register_bytes(thread):
    return struct.pack("<%dQ" % len(thread.registers),
                       *(v & 0xFFFFFFFFFFFFFFFF for _, v in thread.registers))


def _is_runtime(path):
    return os.path.basename(path).startswith(_RUNTIME_PREFIX)


def _is_file(path):
    return path.startswith("/")


def plan(regions, threads, block_starts, block_ends, excluded=(), extra_roots=(),
         chunk_extents=None):
    """The roots and reads for `regions` (regions.Region, sorted), the
    threads (Thread), the live blocks (sorted starts, and their ends in
    the same order), `excluded` ranges (the runtime's bookkeeping), roots
    found otherwise (dynamic TLS) and {block start: (start, end)} of the
    blocks that are mappings of their own (mmapped_chunk_extents)."""
    chunk_extents = chunk_extents or {}
    holes = merge_ranges(excluded)
    notes = []
    roots = []
    reads = []
    modules = []
    module_index = {}
    sps = sorted((t.sp, i) for i, t in enumerate(threads))
    placed = set()
    prev = None
    for r in regions:
        before, prev = prev, r
        if "r" not in r.perms[:1] or r.path in _KERNEL or r.end <= r.start:
            continue
        first = bisect.bisect_left(block_starts, r.start)
        holds_blocks = first < len(block_starts) and block_starts[first] < r.end
        if holds_blocks:
            last = bisect.bisect_left(block_starts, r.end)
            reads.extend(_block_reads(r, block_starts, block_ends, first, last))
            if r.path or last - first > len(chunk_extents):
                continue
            extents = [chunk_extents.get(block_starts[i]) for i in range(first, last)]
            if None in extents:
                continue
            # Only chunks glibc mapped one by one: the kernel may have merged
            # them with mappings of the program's own, which stay roots.
            for s, e in _subtract(r.start, r.end, merge_ranges(extents + holes)):
                roots.append(Root(s, e - s, None, ROOT_MAPPING, 0))
                reads.append(Read(s, e, 0, True))
            continue
        owner_path = r.path
        if not r.path and before is not None and before.end == r.start and _is_file(before.path) \
                and "w" in before.perms:
            owner_path = before.path  # a module's bss past its file-backed data
        if "w" not in r.perms:
            if _is_file(r.path) and not _is_runtime(r.path):
                if "x" in r.perms:
                    reads.append(Read(r.start, r.end, SEGMENT_FILE | SEGMENT_EXEC, False))
                elif r.end - r.start <= MAX_RODATA:
                    reads.append(Read(r.start, r.end, SEGMENT_FILE, True))
            continue
        if owner_path and _is_runtime(owner_path):
            notes.append("libmemleak.so's data at 0x%x-0x%x is the runtime's, not a root"
                         % (r.start, r.end))
            continue
        stack_threads = [i for sp, i in sps if r.start <= sp < r.end]
        if stack_threads:
            low = max(r.start, min(threads[i].sp for i in stack_threads) - RED_ZONE)
            for s, e in _subtract(low, r.end, holes):
                roots.append(Root(s, e - s, None, ROOT_STACK, stack_threads[0]))
                reads.append(Read(s, e, 0, True))
            placed.update(stack_threads)
            continue
        tls_owner = next((i for i, t in enumerate(threads)
                          if t.fs_base and r.start <= t.fs_base < r.end), None)
        if tls_owner is not None:
            kind, owner = ROOT_TLS, tls_owner
        elif _is_file(owner_path):
            if owner_path not in module_index:
                module_index[owner_path] = len(modules)
                modules.append(owner_path)
            kind, owner = ROOT_DATA, module_index[owner_path]
        else:
            kind, owner = ROOT_MAPPING, 0
        flags = SEGMENT_FILE if _is_file(r.path) else 0
        for s, e in _subtract(r.start, r.end, holes):
            roots.append(Root(s, e - s, None, kind, owner))
            reads.append(Read(s, e, flags, True))
    for i, t in enumerate(threads):
        if i not in placed:
            notes.append("thread %d's stack pointer 0x%x is in no readable mapping: "
                         "its stack is not scanned" % (t.num, t.sp))
        data = register_bytes(t)
        roots.append(Root(0, len(data), data, ROOT_REGISTERS, i))
    roots.extend(extra_roots)
    return Plan(roots, _pieces(reads), modules, list(threads), notes)


def _block_reads(region, starts, ends, first, last):
    """Reads covering the live blocks of one allocator region, merged
    across small gaps and clipped to the region. Blocks filling at least
    half of their span (a busy heap) are read as that one span, without a
    walk over each block."""
    span_start = starts[first] & ~7
    span_end = min((max(ends[first:last]) + 7) & ~7, region.end)
    if 2 * (sum(ends[first:last]) - sum(starts[first:last])) >= span_end - span_start:
        return [Read(span_start, span_end, 0, True)]
    out = []
    i = first
    while i < len(starts) and starts[i] < region.end:
        s = starts[i]
        e = max(ends[i], s)
        i += 1
        while i < len(starts) and starts[i] < region.end and starts[i] <= e + MERGE_GAP:
            e = max(e, ends[i])
            i += 1
        s = s & ~7
        e = min((e + 7) & ~7, region.end)
        if out and s <= out[-1].end:
            out[-1] = Read(out[-1].start, max(out[-1].end, e), 0, True)
        elif e > s:
            out.append(Read(s, e, 0, True))
    return out


def _pieces(reads):
    """Sorted reads, none larger than PIECE, overlaps removed."""
    out = []
    for rd in sorted(reads):
        start = rd.start
        if out and start < out[-1].end:
            start = out[-1].end
        while start < rd.end:
            end = min(rd.end, start + PIECE)
            out.append(Read(start, end, rd.flags, rd.bytes_wanted))
            start = end
    return out


def table_ranges(table):
    """The runtime's bookkeeping a table snapshot points to: the shard
    array, chunk directories, record chunks, the stack depot and the marks.
    They hold the address of every block, so they must be no root."""
    h = table.header
    out = []
    if h.shards:
        out.append((h.shards, h.shards + h.shard_count * h.shard_size))
    chunk_bytes = h.records_per_chunk * h.record_size
    for s in table.shards:
        if s.chunks and s.chunk_count:
            out.append((s.chunks, s.chunks + 8 * s.chunk_count))
    for a in table.record_chunks:
        out.append((a, a + chunk_bytes))
    if h.stack_chunks and h.stack_chunk_count:
        out.append((h.stack_chunks, h.stack_chunks + 8 * h.stack_chunk_count))
    for a in table.stack_chunks:
        out.append((a, a + h.stack_chunk_size))
    if h.marks and h.mark_capacity:
        out.append((h.marks, h.marks + h.mark_capacity * h.mark_size))
    return out
