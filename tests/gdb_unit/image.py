"""Byte images of a runtime table, laid out the way abi.h says, at chosen
addresses in a dict-backed memory, for the reader's unit tests.

The layout numbers here are written out from abi.h by hand (not taken from
abi.py), so a mistake in abi.py shows up as a failing test rather than
agreeing with itself.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "gdb"))

from memleak_gdb.errors import ReadError  # noqa: E402

MAGIC = 0x314B41454C4D454D
ROOT = 0x10000
SHARDS = 0x20000
CHUNK_DIRS = 0x1000000
CHUNK_DIR_STRIDE = 0x10000
DEPOT_DIR = 0x40000
MARKS = 0x50000
RECORD_CHUNKS = 0x10000000
DEPOT_CHUNKS = 0x800000


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


class Image:
    """A valid table. `blocks` is a list of dicts with keys address, size,
    seq, ticks, tid and stack (a tuple of pcs, or None for no stack)."""

    def __init__(self, blocks=(), shard_count=4, records_per_chunk=4, max_chunks=8,
                 stack_chunk_size=128, max_depth=32, marks=(), mark_capacity=8, seq=None,
                 tick_ns=1000000, start_realtime_ns=1700000000 * 10 ** 9,
                 start_monotonic_ns=5 * 10 ** 9, pid=4242, locked_shards=(), last_ticks=None,
                 truncated_stacks=()):
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
                    recs += struct.pack("<QIHHIIII", b["address"], b["size"] & 0xFFFFFFFF,
                                        b["size"] >> 32, b["seq"] >> 32, b["seq"] & 0xFFFFFFFF,
                                        b["ticks"], b["tid"], sid)
                recs += bytes(records_per_chunk * 32 - len(recs))
                self.mem.map(next_chunk, recs)
                addrs.append(next_chunk)
                next_chunk += 0x1000 + records_per_chunk * 32
            self.chunk_addrs.append(addrs)
            if addrs:
                self.mem.map(CHUNK_DIRS + i * CHUNK_DIR_STRIDE, struct.pack("<%dQ" % len(addrs), *addrs))
            live_bytes = sum(b["size"] for b in sb)
            lt = max([b["ticks"] for b in sb], default=0) if last_ticks is None else last_ticks
            shard_data += struct.pack("<IIQQQQQII64x", 1 if i in locked_shards else 0, len(addrs),
                                      CHUNK_DIRS + i * CHUNK_DIR_STRIDE if addrs else 0, len(sb), live_bytes,
                                      len(sb) + 3, 3, lt, 0)
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
            mark_data += struct.pack("<48sQII", name.encode(), mseq, mticks, state)
        mark_data += bytes(mark_capacity * 64 - len(mark_data))
        if mark_capacity:
            self.mem.map(MARKS, mark_data)
        if seq is None:
            seq = max([b["seq"] for b in blocks], default=0)
        root = struct.pack(
            "<QIIIIII8H8H4H4HQIIIIQIIQIIQIIQQQQQQQiIQQQ16s160x",
            MAGIC, 1, 416, 32, 120, 8, 64,
            0, 8, 12, 14, 16, 20, 24, 28,
            0, 4, 8, 16, 24, 32, 40, 48,
            0, 4, 6, 8,
            0, 48, 56, 60,
            SHARDS, shard_count, records_per_chunk, max_chunks, max_depth,
            DEPOT_DIR if self.depot else 0, len(self.depot), stack_chunk_size, len(self.stack_ids),
            0, 64,
            MARKS if mark_capacity else 0, mark_capacity, len(marks),
            seq, sum(b["size"] for b in blocks), sum(b["size"] for b in blocks) + 100, 0, 0, 0, 0,
            pid, 1, start_realtime_ns, start_monotonic_ns, tick_ns, b"1.0.0")
        assert len(root) == 416, len(root)
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
        chunk += struct.pack("<IHH", hash(pcs) & 0xFFFFFFFF, len(pcs), 1 if truncated else 0)
        chunk += struct.pack("<%dQ" % len(pcs), *pcs)
        self.stack_ids[pcs] = sid
        return sid


def blocks_for(stacks_sizes, start_seq=1, tid=100, ticks_step=10):
    """Blocks from [(stack, size), ...], one each, addresses 0x7000_0000 + 16*i."""
    out = []
    for i, (stack, size) in enumerate(stacks_sizes):
        out.append({"address": 0x70000000 + 0x40 * i, "size": size, "seq": start_seq + i,
                    "ticks": ticks_step * (i + 1), "tid": tid, "stack": stack})
    return out
