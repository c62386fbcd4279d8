"""Byte images of a runtime table, laid out the way abi.h says, at chosen
addresses in a dict-backed memory, for the reader's unit tests.

Every struct is packed field by field from the lists abi.py holds, which
scripts/gen-abi generates from abi_fields.inc (test_abi_header checks them
against that list and against the compiler), so a field added to the list
is in every image, zero unless a test sets it. The tests' own patches and
expectations spell offsets out by hand, so a wrong list still fails them.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "gdb"))

from memleak_gdb import abi  # noqa: E402
from memleak_gdb.errors import ReadError  # noqa: E402

ROOT = 0x10000
SHARDS = 0x20000
CHUNK_DIRS = 0x1000000
CHUNK_DIR_STRIDE = 0x10000
DEPOT_DIR = 0x40000
MARKS = 0x50000
RECORD_CHUNKS = 0x10000000
DEPOT_CHUNKS = 0x800000
REGION_DIR = 0x60000
REGION_CHUNKS = 0x2000000
REGION_CHUNK_STRIDE = 0x10000
PAGE = 0x1000


class Memory:
    """Sparse memory: regions of bytes at addresses; reads outside fail."""

    def __init__(self):
        self.regions = {}
        self.reads = 0

    def map(self, addr, data):
        self.regions[addr] = bytearray(data)

    def _find(self, addr, n):
        for start, buf in self.regions.items():
            if start <= addr and addr + n <= start + len(buf):
                return start, buf
        raise ReadError(addr, n)

    def read(self, addr, n):
        self.reads += 1
        start, buf = self._find(addr, n)
        return bytes(buf[addr - start:addr - start + n])

    def write(self, addr, data):
        start, buf = self._find(addr, len(data))
        buf[addr - start:addr - start + len(data)] = data

    def patch(self, addr, fmt, *values):
        self.write(addr, struct.pack("<" + fmt, *values))


def pack(fields, size, /, **values):
    """`size` bytes holding each named value at its field's offset in
    `fields` (an abi.py list), zero everywhere else; a list fills the start
    of an array field."""
    data = bytearray(size)
    codes = {name: (code, off) for name, code, off in fields if code}
    for name, value in values.items():
        code, off = codes[name]
        if isinstance(value, list):
            code = "%d%s" % (len(value), code[-1])
        struct.pack_into("<" + code, data, off, *(value if isinstance(value, list) else [value]))
    return bytes(data)


def offsets(fields):
    """A record type's published offsets, in the order of its index enum."""
    return [off for _, _, off in fields]


class Image:
    """A valid table. `blocks` is a list of dicts with keys address, size,
    seq, ticks, tid and stack (a tuple of pcs, or None for no stack)."""

    def __init__(self, blocks=(), shard_count=4, records_per_chunk=4, max_chunks=8,
                 stack_chunk_size=128, max_depth=32, marks=(), mark_capacity=8, seq=None,
                 tick_ns=1000000, start_realtime_ns=1700000000 * 10 ** 9,
                 start_monotonic_ns=5 * 10 ** 9, pid=4242, locked_shards=(), last_ticks=None,
                 truncated_stacks=(), regions=None, regions_per_chunk=4, region_layout=True):
        """`regions`: (start, size, kind) of the runtime's own memory; None
        lists the image's own chunk directories, record and depot chunks,
        page-rounded, as the runtime does. region_layout=False leaves the
        region fields zero, as a runtime from before them did."""
        self.mem = Memory()
        self.root = ROOT
        self.stack_chunk_size = stack_chunk_size
        self.depot = []
        self.stack_ids = {}
        self.shard_blocks = [[] for _ in range(shard_count)]
        for b in blocks:
            self.shard_blocks[(b["address"] >> 6) % shard_count].append(b)
        for b in blocks:
            if b.get("stack"):
                self.intern(b["stack"], b["stack"] in truncated_stacks)
        # Shards.
        shard_data = bytearray()
        self.chunk_addrs = []
        next_chunk = RECORD_CHUNKS
        for i, sb in enumerate(self.shard_blocks):
            nchunks = -(-len(sb) // records_per_chunk)
            addrs = []
            for c in range(nchunks):
                recs = bytearray()
                for b in sb[c * records_per_chunk:(c + 1) * records_per_chunk]:
                    sid = self.stack_ids[b["stack"]] if b.get("stack") else 0
                    recs += pack(abi.RECORD_FIELDS, abi.RECORD_SIZE, address=b["address"],
                                 size_lo=b["size"] & 0xFFFFFFFF, size_hi=b["size"] >> 32,
                                 seq_hi=b["seq"] >> 32, seq_lo=b["seq"] & 0xFFFFFFFF,
                                 ticks=b["ticks"], tid=b["tid"], stack_id=sid)
                recs += bytes(records_per_chunk * abi.RECORD_SIZE - len(recs))
                self.mem.map(next_chunk, recs)
                addrs.append(next_chunk)
                next_chunk += 0x1000 + records_per_chunk * 32
            self.chunk_addrs.append(addrs)
            if addrs:
                self.mem.map(CHUNK_DIRS + i * CHUNK_DIR_STRIDE, struct.pack("<%dQ" % len(addrs), *addrs))
            live_bytes = sum(b["size"] for b in sb)
            lt = max([b["ticks"] for b in sb], default=0) if last_ticks is None else last_ticks
            shard_data += pack(abi.SHARD_FIELDS, abi.SHARD_SIZE, lock=1 if i in locked_shards else 0,
                               chunk_count=len(addrs),
                               chunks=CHUNK_DIRS + i * CHUNK_DIR_STRIDE if addrs else 0,
                               live_count=len(sb), live_bytes=live_bytes, allocs=len(sb) + 3,
                               frees=3, last_ticks=lt)
        self.mem.map(SHARDS, shard_data)
        # Depot.
        for k, chunk in enumerate(self.depot):
            self.mem.map(DEPOT_CHUNKS + k * 0x10000,
                         bytes(chunk) + bytes(stack_chunk_size - len(chunk)))
        if self.depot:
            self.mem.map(DEPOT_DIR, struct.pack("<%dQ" % len(self.depot),
                                                *[DEPOT_CHUNKS + k * 0x10000 for k in range(len(self.depot))]))
        # Marks.
        mark_data = bytearray()
        for name, mseq, mticks, state in marks:
            mark_data += pack(abi.MARK_FIELDS, abi.MARK_SIZE, name=name.encode(), seq=mseq,
                              ticks=mticks, state=state)
        mark_data += bytes(mark_capacity * abi.MARK_SIZE - len(mark_data))
        if mark_capacity:
            self.mem.map(MARKS, mark_data)
        # The runtime's own regions; the first slot of the first chunk is
        # that chunk.
        if regions is None:
            regions = []
            for i, addrs in enumerate(self.chunk_addrs):
                if addrs:
                    regions.append(_paged(CHUNK_DIRS + i * CHUNK_DIR_STRIDE, 8 * len(addrs), abi.REGION_TABLE))
                regions += [_paged(a, records_per_chunk * abi.RECORD_SIZE, abi.REGION_TABLE) for a in addrs]
            regions += [_paged(DEPOT_CHUNKS + k * 0x10000, stack_chunk_size, abi.REGION_DEPOT)
                        for k in range(len(self.depot))]
        self.regions = list(regions)
        nchunks = -(-(len(self.regions) + 1) // regions_per_chunk) if region_layout else 0
        region_chunks = [REGION_CHUNKS + k * REGION_CHUNK_STRIDE for k in range(nchunks)]
        slots = [(a, regions_per_chunk * abi.REGION_SIZE, abi.REGION_REGIONS) for a in region_chunks[:1]]
        slots += self.regions
        for k, a in enumerate(region_chunks):
            data = b"".join(pack(abi.REGION_FIELDS, abi.REGION_SIZE, start=start, size=size, kind=kind)
                            for start, size, kind in slots[k * regions_per_chunk:(k + 1) * regions_per_chunk])
            self.mem.map(a, data + bytes(regions_per_chunk * abi.REGION_SIZE - len(data)))
        region_fields = {}
        if region_layout:
            self.mem.map(REGION_DIR, struct.pack("<64Q", *(region_chunks + [0] * (64 - nchunks))))
            region_fields = dict(region_chunks=REGION_DIR, region_chunk_count=nchunks, max_region_chunks=64,
                                 regions_per_chunk=regions_per_chunk, region_size=abi.REGION_SIZE,
                                 region_offsets=offsets(abi.REGION_FIELDS))
        if seq is None:
            seq = max([b["seq"] for b in blocks], default=0)
        live_bytes = sum(b["size"] for b in blocks)
        root = pack(
            abi.INTROSPECT_FIELDS, abi.INTROSPECT_SIZE,
            magic=abi.MAGIC, version=abi.VERSION, size=abi.INTROSPECT_SIZE,
            record_size=abi.RECORD_SIZE, shard_size=abi.SHARD_SIZE,
            stack_header_size=abi.STACK_HEADER_SIZE, mark_size=abi.MARK_SIZE,
            record_offsets=offsets(abi.RECORD_FIELDS), shard_offsets=offsets(abi.SHARD_FIELDS),
            stack_offsets=offsets(abi.STACK_FIELDS), mark_offsets=offsets(abi.MARK_FIELDS),
            shards=SHARDS, shard_count=shard_count, records_per_chunk=records_per_chunk,
            max_chunks_per_shard=max_chunks, max_depth=max_depth,
            stack_chunks=DEPOT_DIR if self.depot else 0, stack_chunk_count=len(self.depot),
            stack_chunk_size=stack_chunk_size, stack_count=len(self.stack_ids),
            max_stack_chunks=64,
            marks=MARKS if mark_capacity else 0, mark_capacity=mark_capacity,
            mark_count=len(marks),
            seq=seq, live_bytes=live_bytes, peak_bytes=live_bytes + 100,
            pid=pid, flags=abi.FLAG_RECORDING, start_realtime_ns=start_realtime_ns,
            start_monotonic_ns=start_monotonic_ns, tick_ns=tick_ns, runtime_version=b"1.0.0",
            **region_fields)
        self.mem.map(ROOT, root)

    def intern(self, pcs, truncated=False):
        if pcs in self.stack_ids:
            return self.stack_ids[pcs]
        need = 8 + 8 * len(pcs)
        assert need <= self.stack_chunk_size
        if not self.depot or len(self.depot[-1]) + need > self.stack_chunk_size:
            self.depot.append(bytearray())
        chunk = self.depot[-1]
        sid = 1 + ((len(self.depot) - 1) * self.stack_chunk_size + len(chunk)) // 8
        chunk += pack(abi.STACK_FIELDS, abi.STACK_HEADER_SIZE, hash=hash(pcs) & 0xFFFFFFFF,
                      depth=len(pcs), flags=abi.STACK_TRUNCATED if truncated else 0)
        chunk += struct.pack("<%dQ" % len(pcs), *pcs)
        self.stack_ids[pcs] = sid
        return sid


def _paged(addr, length, kind):
    start = addr - addr % PAGE
    return (start, -(-(addr + length - start) // PAGE) * PAGE, kind)


def blocks_for(stacks_sizes, start_seq=1, tid=100, ticks_step=10):
    """Blocks from [(stack, size), ...], one each, addresses 0x7000_0000 + 16*i."""
    out = []
    for i, (stack, size) in enumerate(stacks_sizes):
        out.append({"address": 0x70000000 + 0x40 * i, "size": size, "seq": start_seq + i,
                    "ticks": ticks_step * (i + 1), "tid": tid, "stack": stack})
    return out
