"""Leak classes of the live blocks: the roots and memory roots.py chose,
handed to the native scanner (scan.py), and what its answer says about
any one block (the chain that keeps it, who points into it). No gdb: the
target supplies the memory map, the threads and the memory.

Target interface used here (gdb_backend's GdbTarget, or a test's fake):
    memory: reader's byte source (read(addr, n) -> bytes)
    regions() -> [regions.Region]
    threads() -> [roots.Thread]
    dtv_slot() -> int  roots.DTV_SLOT of the inferior's architecture
    runtime_regions(table) -> [(start, end)]  the runtime's own memory
    read_segments(reads) -> [scan.Segment]
"""

import bisect
import operator

from . import roots, scan
from .args import LEAK_KINDS

KIND_TEXT = {"definitely_lost": "definitely lost", "indirectly_lost": "indirectly lost",
             "possibly_lost": "possibly lost", "still_reachable": "still reachable"}
ROOT_KIND_NAMES = {roots.ROOT_STACK: "stack", roots.ROOT_REGISTERS: "registers",
                   roots.ROOT_TLS: "tls", roots.ROOT_DATA: "data", roots.ROOT_MAPPING: "mapping"}


class Reachability:
    """The classes of one table snapshot's blocks."""

    def __init__(self, scanner, blocks, starts, packed, segments, scan_roots, plan, answer,
                 table_blocks=None):
        self.scanner = scanner
        self.blocks = blocks  # sorted by address
        self.plan = plan
        self.answer = answer  # scan.Classification, block i = self.blocks[i]
        self._packed = packed
        self._segments = segments
        self._roots = scan_roots
        self._starts = starts
        self._by_address = None
        # The table's own block list: totals over it are the scanner's.
        self._all = table_blocks

    def names_by_address(self):
        """{block address: class name}, for loops over many blocks."""
        if self._by_address is None:
            table = [None] + [scan.KIND_NAMES[k] for k in sorted(scan.KIND_NAMES)]
            self._by_address = dict(zip(self._starts, map(table.__getitem__, self.answer.kinds)))
        return self._by_address

    def kind_of(self, block):
        """The class name of a table block."""
        return self.names_by_address()[block.address]

    def by_kind(self):
        """{class name: [blocks]} over every block."""
        out = {k: [] for k in LEAK_KINDS}
        table = [None] + [scan.KIND_NAMES[k] for k in sorted(scan.KIND_NAMES)]
        for b, k in zip(self.blocks, self.answer.kinds):
            out[table[k]].append(b)
        return out

    def kind_at(self, index):
        return self.answer.kind(index)

    def totals(self, blocks=None):
        """{kind: (count, bytes)} over `blocks` (default: every block)."""
        if blocks is None or blocks is self._all:
            return {k: (self.answer.blocks[k], self.answer.bytes[k]) for k in LEAK_KINDS}
        out = {k: [0, 0] for k in LEAK_KINDS}
        names = self.names_by_address()
        for b in blocks:
            t = out[names[b.address]]
            t[0] += 1
            t[1] += b.size
        return {k: tuple(v) for k, v in out.items()}

    def select(self, blocks, kinds):
        """The blocks of `blocks` whose class is one of `kinds`."""
        wanted = set(kinds)
        names = self.names_by_address()
        return [b for b in blocks if names[b.address] in wanted]

    def index_containing(self, address):
        """Index of the block holding `address` (or of a zero-sized block at
        it), else None."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0:
            b = self.blocks[i]
            if address < b.address + b.size or (b.size == 0 and address == b.address):
                return i
        return None

    def chain(self, index):
        """[scan.Ref] from a root (or the definitely-lost block at the head
        of a lost group) to block `index`."""
        return self.answer.chain(index)

    def who(self, index, limit):
        """([scan.Ref] pointing into block `index`, total found)."""
        return self.scanner.who(self._packed, self._segments, self._roots, index, limit)


def classify(table, target, predecessors=False):
    """Classifies every live block of `table`; raises MemleakError (a
    scan.ScanError) when the scanner is missing or refuses its input."""
    scanner = scan.load()
    blocks = sorted(table.blocks, key=operator.attrgetter("address"))
    starts = [b.address for b in blocks]
    sizes = [b.size for b in blocks]
    ends = list(map(operator.add, starts, sizes))
    excluded = roots.table_ranges(table) + list(target.runtime_regions(table))
    threads = target.threads()

    def block_at(address):
        i = bisect.bisect_right(starts, address) - 1
        if i >= 0 and address < ends[i]:
            return starts[i], sizes[i]
        return None

    tls = roots.dynamic_tls_roots(target.memory, threads, block_at, target.dtv_slot())
    extents = roots.mmapped_chunk_extents(target.memory, starts, sizes)
    plan = roots.plan(target.regions(), threads, starts, ends, excluded, tls, extents)
    segments = target.read_segments(plan.reads)
    scan_roots = [scan.Root(r.address, r.length, r.kind, r.owner, r.data) for r in plan.roots]
    packed = scan.pack_blocks(starts, sizes)
    answer = scanner.classify(packed, segments, scan_roots, predecessors=predecessors)
    return Reachability(scanner, blocks, starts, packed, segments, scan_roots, plan, answer,
                        table.blocks)
