"""Reads the runtime's table out of a process image, trusting nothing.

The byte source is any object with `read(addr, n) -> bytes` that raises
errors.ReadError when the memory is not there: gdb's inferior is one, a
dict-backed image in the unit tests is another. Everything is read in
whole arrays (the root, the shard array, each chunk directory, each record
chunk, each depot chunk, the marks table); nothing is read value by value.

Every pointer and count is checked before it is followed, and every bound
comes from the table's own published limits, so corrupt memory ends in one
MemleakError and never in a long loop or a huge read.
"""

import collections
import itertools
import struct
import sys

from . import abi
from .errors import CorruptTable, MemleakError, ReadError

# Highest user-space address on x86-64 and aarch64 with 5-level / 52-bit
# page tables; anything above is not a pointer a runtime wrote.
ADDRESS_LIMIT = 1 << 57

# Sanity bounds on counts, far above what the runtime uses, so that a
# corrupt count fails fast instead of asking for gigabytes.
MAX_SHARDS = 1 << 16
MAX_RECORDS_PER_CHUNK = 1 << 24
MAX_CHUNKS_PER_SHARD = 1 << 24
MAX_DEPTH = 4096
MAX_STACK_CHUNK_SIZE = 1 << 28
# No single read may be larger: gdb aborts, rather than failing the read,
# when it cannot allocate the buffer of a huge request.
MAX_READ = 1 << 28
MAX_STACK_CHUNKS = 1 << 24
MAX_MARKS = 1 << 16
MAX_STRUCT_SIZE = 1 << 16
MAX_TOTAL_RECORDS = 1 << 32
MAX_DEPOT_BYTES = 1 << 36
MAX_REGIONS_PER_CHUNK = 1 << 20
MAX_REGION_CHUNKS = 1 << 16
MAX_REGION_BYTES = 1 << 28
PAGE = 4096

Block = collections.namedtuple("Block", "address size seq ticks tid stack_id")
Stack = collections.namedtuple("Stack", "pcs truncated")
Mark = collections.namedtuple("Mark", "slot name seq ticks state")
Shard = collections.namedtuple(
    "Shard", "lock chunk_count chunks live_count live_bytes allocs frees last_ticks")
Region = collections.namedtuple("Region", "start size kind")

# The root object as read: one attribute per field of abi.INTROSPECT_FIELDS
# (so per row of abi_fields.inc), arrays as lists, runtime_version a str.
Header = collections.namedtuple("Header", [name for name, _, _ in abi.INTROSPECT_FIELDS])

_HEADER_STRUCT = struct.Struct(abi.struct_format(abi.INTROSPECT_FIELDS, abi.INTROSPECT_SIZE))
_HEADER_NAMES = abi.field_names(abi.INTROSPECT_FIELDS)


def _decode_header(data):
    raw = dict(zip(_HEADER_NAMES, _HEADER_STRUCT.unpack_from(data)))
    fields = {}
    for name, code, _ in abi.INTROSPECT_FIELDS:
        if code[:-1].isdigit() and code[-1] != "s":
            fields[name] = [raw["%s[%d]" % (name, i)] for i in range(int(code[:-1]))]
        else:
            fields[name] = raw[name]
    fields["runtime_version"] = _cstring(fields["runtime_version"])
    return Header(**fields)


def _cstring(data):
    return data.split(b"\0", 1)[0].decode("utf-8", "replace")


class Table:
    """One snapshot of the runtime's table. `warnings` says where its
    counters and what was read of it disagree: each a sentence, the
    answer is then partial or doubtful."""

    def __init__(self, root, header, shards, blocks, stacks, marks, stack_in_flux, warnings=(),
                 record_chunks=(), stack_chunks=(), regions=None):
        self.root = root
        # The runtime's own memory (Region list sorted by start), never a
        # root of a reachability scan; None from a runtime that publishes none.
        self.regions = regions
        self.header = header
        self.shards = shards
        self.blocks = blocks
        self.stacks = stacks
        self.marks = marks
        self.stack_in_flux = stack_in_flux
        self.warnings = list(warnings)
        # Where the record chunks and depot chunks lie: the runtime's
        # bookkeeping, which a reachability scan must not take for roots.
        self.record_chunks = record_chunks
        self.stack_chunks = stack_chunks

    @property
    def shards_in_flux(self):
        return sum(1 for s in self.shards if s.lock)

    @property
    def newest_ticks(self):
        """The newest time the table holds (the shards' last changes and the
        records' times): what "now" is for a core file."""
        ticks = max((s.last_ticks for s in self.shards), default=0)
        return max(ticks, max((b.ticks for b in self.blocks), default=0))

    def stack(self, stack_id):
        """The stack for a record's id (an empty stack for id 0)."""
        if stack_id == 0:
            return Stack((), False)
        return self.stacks[stack_id]

    def realtime_ns(self, ticks):
        h = self.header
        return h.start_realtime_ns + ticks * h.tick_ns

    def valid_marks(self):
        return [m for m in self.marks if m.state == abi.MARK_VALID]


def check_pointer(what, addr, length, align=8):
    if addr == 0:
        raise CorruptTable("%s is a null pointer" % what)
    if addr % align:
        raise CorruptTable("%s 0x%x is not %d-byte aligned" % (what, addr, align))
    if addr >= ADDRESS_LIMIT or addr + length > ADDRESS_LIMIT:
        raise CorruptTable("%s 0x%x is not a user-space address" % (what, addr))


def _check_bound(what, value, low, high):
    if not low <= value <= high:
        raise CorruptTable("%s is %d, outside %d..%d" % (what, value, low, high))


def _check_layout(what, size, offsets, fields, known_size):
    if size < known_size or size > MAX_STRUCT_SIZE or size % 4:
        raise CorruptTable("%s size is %d (this reader knows %d)" % (what, size, known_size))
    for (name, _, expected), got in zip(fields, offsets):
        if got != expected:
            raise CorruptTable("%s field %s at offset %d, expected %d" % (what, name, got, expected))


def read_header(mem, root):
    """Reads and validates the root object; returns it as a Header."""
    check_pointer("memleak_introspect", root, abi.INTROSPECT_SIZE)
    head = mem.read(root, 16)
    magic, version, size = struct.unpack_from("<QII", head)
    if magic == 0:
        # The runtime stores the magic last, once the table is set up.
        raise MemleakError("the memleak table at 0x%x is not set up yet (magic is 0): "
                           "let the program run to its first allocation" % root)
    if magic != abi.MAGIC:
        raise MemleakError("not a memleak table: magic at 0x%x is 0x%016x, expected 0x%016x"
                           % (root, magic, abi.MAGIC))
    if version != abi.VERSION:
        raise MemleakError("unknown ABI version %d (this gdb extension reads %d)"
                           % (version, abi.VERSION))
    if size < abi.INTROSPECT_SIZE or size > MAX_STRUCT_SIZE:
        raise CorruptTable("memleak_introspect size is %d, expected at least %d"
                           % (size, abi.INTROSPECT_SIZE))
    h = _decode_header(mem.read(root, abi.INTROSPECT_SIZE))
    _check_layout("record", h.record_size, h.record_offsets, abi.RECORD_FIELDS, abi.RECORD_SIZE)
    _check_layout("shard", h.shard_size, h.shard_offsets, abi.SHARD_FIELDS, abi.SHARD_SIZE)
    _check_layout("stack", h.stack_header_size, h.stack_offsets, abi.STACK_FIELDS,
                  abi.STACK_HEADER_SIZE)
    _check_layout("mark", h.mark_size, h.mark_offsets, abi.MARK_FIELDS, abi.MARK_SIZE)
    if h.record_size % 8 or h.stack_header_size % 8:
        raise CorruptTable("record size %d or stack header size %d is not a multiple of 8"
                           % (h.record_size, h.stack_header_size))
    sc = h.shard_count
    if sc == 0 or sc > MAX_SHARDS or sc & (sc - 1):
        raise CorruptTable("shard_count is %d, not a power of two up to %d" % (sc, MAX_SHARDS))
    _check_bound("records_per_chunk", h.records_per_chunk, 1, MAX_RECORDS_PER_CHUNK)
    _check_bound("max_chunks_per_shard", h.max_chunks_per_shard, 0, MAX_CHUNKS_PER_SHARD)
    _check_bound("max_depth", h.max_depth, 1, MAX_DEPTH)
    _check_bound("max_stack_chunks", h.max_stack_chunks, 0, MAX_STACK_CHUNKS)
    _check_bound("stack_chunk_count", h.stack_chunk_count, 0, h.max_stack_chunks)
    if h.stack_chunk_count:
        cs = h.stack_chunk_size
        if cs % 8 or cs < h.stack_header_size + 8 or cs > MAX_STACK_CHUNK_SIZE:
            raise CorruptTable("stack_chunk_size is %d, not a multiple of 8 between %d and %d"
                               % (cs, h.stack_header_size + 8, MAX_STACK_CHUNK_SIZE))
    _check_bound("mark_capacity", h.mark_capacity, 0, MAX_MARKS)
    if h.tick_ns == 0 or h.tick_ns > 10 ** 10:
        raise CorruptTable("tick_ns is %d" % h.tick_ns)
    return h


class _Depot:
    """The stack depot, read chunk by chunk; stacks decoded on demand."""

    def __init__(self, mem, h):
        self.h = h
        self.chunk_size = h.stack_chunk_size
        self.words_per_chunk = self.chunk_size // 8 if self.chunk_size else 0
        self.hsize = h.stack_header_size
        count = h.stack_chunk_count
        self.chunks = []
        self.addresses = ()
        if count == 0:
            return
        if count * self.chunk_size > MAX_DEPOT_BYTES:
            raise CorruptTable("a stack depot of %d chunks of %d bytes is more than any process holds"
                               % (count, self.chunk_size))
        check_pointer("stack chunk directory", h.stack_chunks, count * 8)
        addrs = struct.unpack("<%dQ" % count, mem.read(h.stack_chunks, count * 8))
        if len(set(addrs)) != count:
            raise CorruptTable("stack depot lists a chunk twice")
        self.addresses = addrs
        for i, a in enumerate(addrs):
            check_pointer("stack chunk %d" % i, a, self.chunk_size)
            self.chunks.append(mem.read(a, self.chunk_size))

    def decode(self, stack_id):
        if not self.chunks:
            raise CorruptTable("stack id %d but the stack depot is empty" % stack_id)
        word = stack_id - 1
        chunk, index = divmod(word, self.words_per_chunk)
        if chunk >= len(self.chunks):
            raise CorruptTable("stack id %d is beyond the %d depot chunks" % (stack_id, len(self.chunks)))
        data = self.chunks[chunk]
        off = index * 8
        if off + self.hsize > self.chunk_size:
            raise CorruptTable("stack id %d: header crosses its chunk" % stack_id)
        _, depth, flags = struct.unpack_from("<IHH", data, off)
        if depth == 0 or depth > self.h.max_depth:
            raise CorruptTable("stack id %d has depth %d (max_depth %d)"
                               % (stack_id, depth, self.h.max_depth))
        start = off + self.hsize
        if start + depth * 8 > self.chunk_size:
            raise CorruptTable("stack id %d: %d frames cross its chunk" % (stack_id, depth))
        pcs = struct.unpack_from("<%dQ" % depth, data, start)
        return Stack(pcs, bool(flags & abi.STACK_TRUNCATED))


def _decode_records_native(data, record_size):
    """Live records of one chunk as Blocks, decoded column by column with
    strided memoryviews so that no Python code runs per record (a million
    records take a fraction of a second). The field offsets were checked
    against abi.RECORD_FIELDS; the stride is the writer's record size."""
    words = memoryview(data).cast("I")
    stride = record_size // 4
    address = memoryview(data).cast("Q")[0::record_size // 8].tolist()
    size = words[2::stride].tolist()
    high = words[3::stride].tolist()
    seq = words[4::stride].tolist()
    if any(high):
        size = [lo | (hi & 0xFFFF) << 32 for lo, hi in zip(size, high)]
        seq = [lo | (hi >> 16) << 32 for lo, hi in zip(seq, high)]
    columns = zip(address, size, seq, words[5::stride].tolist(), words[6::stride].tolist(),
                  words[7::stride].tolist())
    return map(tuple.__new__, itertools.repeat(Block), itertools.compress(columns, address))


def _decode_records_struct(data, record_size):
    """The same as _decode_records_native on a big-endian host."""
    unpack = struct.Struct(abi.struct_format(abi.RECORD_FIELDS, record_size)).iter_unpack
    return [Block(address, size_lo | size_hi << 32, seq_lo | seq_hi << 32, ticks, tid, sid)
            for address, size_lo, size_hi, seq_hi, seq_lo, ticks, tid, sid in unpack(data)
            if address]


def _check_read_size(what, n):
    if n > MAX_READ:
        raise CorruptTable("%s would be %d bytes, more than the runtime ever lays out" % (what, n))


def _read_shards(mem, h):
    count, size = h.shard_count, h.shard_size
    _check_read_size("the shard array", count * size)
    check_pointer("shard array", h.shards, count * size)
    data = mem.read(h.shards, count * size)
    fmt = struct.Struct(abi.struct_format(abi.SHARD_FIELDS, size))
    return [Shard(*fmt.unpack_from(data, i * size)) for i in range(count)]


def _read_marks(mem, h):
    cap, size = h.mark_capacity, h.mark_size
    used = min(h.mark_count, cap)
    if used == 0:
        return []
    _check_read_size("the marks table", cap * size)
    check_pointer("marks table", h.marks, cap * size)
    data = mem.read(h.marks, used * size)
    fmt = struct.Struct(abi.struct_format(abi.MARK_FIELDS, size))
    marks = []
    for slot in range(used):
        name, seq, ticks, state = fmt.unpack_from(data, slot * size)
        marks.append(Mark(slot, _cstring(name), seq, ticks, state))
    return marks


# read_table's `records` for stats: the records are read to check the
# counters against them, and what cannot be read is a warning, not an error.
COUNTS = "counts"


def _counter_warnings(shards):
    """Per-shard counters that contradict each other: every insert counts
    an allocation and every removal a free, under the shard's lock."""
    out = []
    for i, s in enumerate(shards):
        if not s.lock and (s.allocs - s.frees) & 0xFFFFFFFFFFFFFFFF != s.live_count:
            out.append("shard %d counts %d live blocks, but %d allocations less %d frees is %d"
                       % (i, s.live_count, s.allocs, s.frees,
                          (s.allocs - s.frees) & 0xFFFFFFFFFFFFFFFF))
    return out


def _overlap(a, n, b, m):
    return a < b + m and b < a + n


def read_regions(mem, h):
    """The runtime's own memory regions, as Regions sorted by start; None
    when the writer publishes none (a runtime from before the field)."""
    size = h.region_size
    if size == 0 and h.region_chunks == 0:
        return None
    _check_layout("region", size, h.region_offsets, abi.REGION_FIELDS, abi.REGION_SIZE)
    if size % 8:
        raise CorruptTable("region size %d is not a multiple of 8" % size)
    _check_bound("max_region_chunks", h.max_region_chunks, 1, MAX_REGION_CHUNKS)
    _check_bound("region_chunk_count", h.region_chunk_count, 0, h.max_region_chunks)
    _check_bound("regions_per_chunk", h.regions_per_chunk, 1, MAX_REGIONS_PER_CHUNK)
    count, per = h.region_chunk_count, h.regions_per_chunk
    chunk_bytes = per * size
    _check_read_size("a region chunk", chunk_bytes)
    if count * chunk_bytes > MAX_REGION_BYTES:
        raise CorruptTable("a region table of %d chunks of %d bytes is more than the runtime lays out"
                           % (count, chunk_bytes))
    if count == 0:
        return []
    check_pointer("region chunk directory", h.region_chunks, count * 8)
    addrs = struct.unpack("<%dQ" % count, mem.read(h.region_chunks, count * 8))
    if len(set(addrs)) != count:
        raise CorruptTable("region table lists a chunk twice")
    fmt = struct.Struct(abi.struct_format(abi.REGION_FIELDS, size))
    regions = []
    for i, a in enumerate(addrs):
        check_pointer("region chunk %d" % i, a, chunk_bytes)
        for start, rsize, kind in fmt.iter_unpack(mem.read(a, chunk_bytes)):
            if start == 0 or rsize == 0:
                continue
            if start % PAGE or start + rsize > ADDRESS_LIMIT:
                raise CorruptTable("runtime region 0x%x+%d is not a page-aligned user-space range"
                                   % (start, rsize))
            regions.append(Region(start, rsize, kind))
    regions.sort()
    return regions


def read_table(mem, root, records=True):
    """Reads one consistent snapshot of the table whose root is at `root`;
    with records=False only the root, shards and marks (for mark); with
    COUNTS the records too, without their stacks (for stats).

    Each shard's counters are checked against each other and, for a shard
    not in flux, against the records read; a chunk that overlaps the
    table's own structures (a directory entry pointing at itself) is not
    read as records. Both end in the table's warnings, so the answer is
    given with them rather than silently wrong.
    """
    h = read_header(mem, root)
    shards = _read_shards(mem, h)
    warnings = _counter_warnings(shards)
    if not records:
        return Table(root, h, shards, [], {}, _read_marks(mem, h), bool(h.stack_lock), warnings,
                     regions=read_regions(mem, h))
    rpc, rsize = h.records_per_chunk, h.record_size
    chunk_bytes = rpc * rsize
    _check_read_size("a record chunk", chunk_bytes)
    total_chunks = 0
    for i, s in enumerate(shards):
        if s.chunk_count > h.max_chunks_per_shard:
            raise CorruptTable("shard %d has %d chunks, more than max_chunks_per_shard %d"
                               % (i, s.chunk_count, h.max_chunks_per_shard))
        total_chunks += s.chunk_count
    if total_chunks * rpc > MAX_TOTAL_RECORDS:
        raise CorruptTable("%d record chunks of %d records is more than any process holds"
                           % (total_chunks, rpc))

    tolerant = records == COUNTS
    decode = _decode_records_native if sys.byteorder == "little" else _decode_records_struct
    structures = [("the table's root", root, abi.INTROSPECT_SIZE),
                  ("the shard array", h.shards, h.shard_count * h.shard_size)]
    directories = {}
    for i, s in enumerate(shards):
        if s.chunk_count == 0:
            continue
        check_pointer("shard %d chunk directory" % i, s.chunks, s.chunk_count * 8)
        try:
            directories[i] = struct.unpack("<%dQ" % s.chunk_count,
                                           mem.read(s.chunks, s.chunk_count * 8))
        except ReadError as e:
            if not tolerant:
                raise
            warnings.append("shard %d: its chunk directory cannot be read (%s); its records "
                            "are not counted" % (i, e))
            continue
        structures.append(("shard %d's chunk directory" % i, s.chunks, s.chunk_count * 8))

    seen_chunks = set()
    blocks = []
    for i, s in enumerate(shards):
        if s.chunk_count == 0 and s.live_count == 0:
            continue
        whole = i in directories or s.chunk_count == 0
        found = []
        for j, a in enumerate(directories.get(i, ())):
            check_pointer("shard %d chunk %d" % (i, j), a, chunk_bytes)
            if a in seen_chunks:
                raise CorruptTable("record chunk 0x%x is listed twice" % a)
            seen_chunks.add(a)
            clash = next((what for what, at, n in structures if _overlap(a, chunk_bytes, at, n)),
                         None)
            if clash is not None:
                warnings.append("shard %d chunk %d at 0x%x overlaps %s; not read as records"
                                % (i, j, a, clash))
                whole = False
                continue
            try:
                found.extend(decode(mem.read(a, chunk_bytes), rsize))
            except ReadError as e:
                if not tolerant:
                    raise
                warnings.append("shard %d chunk %d cannot be read (%s); its records are not "
                                "counted" % (i, j, e))
                whole = False
        blocks.extend(found)
        if whole and not s.lock:
            nbytes = sum(b.size for b in found)
            if (len(found), nbytes) != (s.live_count, s.live_bytes):
                warnings.append("shard %d counts %d live blocks (%d bytes), but its records hold "
                                "%d (%d bytes)" % (i, s.live_count, s.live_bytes, len(found), nbytes))

    stacks = {}
    depot_chunks = ()
    if not tolerant:
        depot = _Depot(mem, h)
        depot_chunks = depot.addresses
        for b in blocks:
            sid = b.stack_id
            if sid and sid not in stacks:
                stacks[sid] = depot.decode(sid)
    marks = _read_marks(mem, h)
    return Table(root, h, shards, blocks, stacks, marks, bool(h.stack_lock), warnings,
                 tuple(sorted(seen_chunks)), depot_chunks, regions=read_regions(mem, h))
