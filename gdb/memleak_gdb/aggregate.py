"""Grouping and selecting live blocks: plain Python over reader.Table."""

import collections
import operator

from .durations import parse_duration
from .errors import MemleakError

# offset: the pc's offset in `object` (a file offset), for frames without
# debug info; None when unknown.
Frame = collections.namedtuple("Frame", "pc function file line object inlined offset",
                               defaults=(None,))


class Group:
    """Live blocks that share an allocation stack (or its innermost frames)."""

    __slots__ = ("pcs", "truncated", "bytes", "count", "frames", "suppressed_by", "kinds",
                 "leak_kind")

    def __init__(self, pcs, truncated):
        self.pcs = pcs
        self.truncated = truncated
        self.bytes = 0
        self.count = 0
        self.frames = None
        self.suppressed_by = None
        # {leak kind: [count, bytes]} when the blocks were classified; a
        # `memleak leaks` loss record holds one kind, named in leak_kind.
        self.kinds = None
        self.leak_kind = None


def group_blocks(table, blocks, depth=None, by="bytes"):
    """Groups `blocks` by stack (the whole stack, or its innermost `depth`
    return addresses), largest first by `by` ("bytes" or "count")."""
    per_stack = {}
    for b in blocks:
        entry = per_stack.get(b.stack_id)
        if entry is None:
            per_stack[b.stack_id] = [b.size, 1]
        else:
            entry[0] += b.size
            entry[1] += 1
    groups = {}
    for sid, (nbytes, count) in per_stack.items():
        stack = table.stack(sid)
        pcs = stack.pcs if depth is None else stack.pcs[:depth]
        # "truncated" is the runtime's word that deeper frames were never
        # recorded; a --depth cut is the user's own choice and not flagged.
        truncated = stack.truncated and len(pcs) == len(stack.pcs)
        g = groups.get(pcs)
        if g is None:
            g = groups[pcs] = Group(pcs, truncated)
        g.bytes += nbytes
        g.count += count
    if by == "count":
        def key(g):
            return (-g.count, -g.bytes, g.pcs)
    else:
        def key(g):
            return (-g.bytes, -g.count, g.pcs)
    return sorted(groups.values(), key=key)


def kind_counts(table, blocks, kind_of, depth=None):
    """{group pcs: {kind: [count, bytes]}} for the groups group_blocks
    makes of `blocks` with the same `depth`; kind_of[block address] is the
    block's class."""
    per_stack = {}
    for b in blocks:
        key = (b.stack_id, kind_of[b.address])
        entry = per_stack.get(key)
        if entry is None:
            per_stack[key] = [1, b.size]
        else:
            entry[0] += 1
            entry[1] += b.size
    out = {}
    for (sid, kind), (count, nbytes) in per_stack.items():
        pcs = table.stack(sid).pcs
        if depth is not None:
            pcs = pcs[:depth]
        t = out.setdefault(pcs, {}).setdefault(kind, [0, 0])
        t[0] += count
        t[1] += nbytes
    return out


def totals(blocks):
    return sum(map(operator.attrgetter("size"), blocks)), len(blocks)


def symbolize_pcs(pcs, symbolize):
    """Frames for a stack of return addresses, innermost first; `symbolize`
    maps one pc to its frames (more than one when inlined calls are there)."""
    frames = []
    for pc in pcs:
        frames.extend(symbolize(pc))
    return frames


class Since:
    """A resolved `since POINT`: either a sequence number or a time."""

    def __init__(self, point, kind, seq=None, ticks=None, mark=None, duration_ns=None,
                 from_table=False):
        self.point = point
        self.kind = kind
        self.seq = seq
        self.ticks = ticks
        self.mark = mark
        self.duration_ns = duration_ns
        self.from_table = from_table

    def select(self, blocks):
        if self.kind == "duration":
            t = self.ticks
            return [b for b in blocks if b.ticks >= t]
        s = self.seq
        return [b for b in blocks if b.seq > s]

    def describe(self):
        if self.kind == "seq":
            return "sequence number %d" % self.seq
        if self.kind == "mark":
            return "mark %r (sequence number %d)" % (self.mark.name, self.seq)
        if self.from_table:
            return "the last %s before the table's last change (tick %d on)" % (self.point, self.ticks)
        return "the last %s (tick %d on)" % (self.point, self.ticks)

    def to_json(self):
        doc = {"point": self.point, "kind": self.kind, "seq": self.seq, "ticks": self.ticks}
        if self.kind == "duration":
            doc["back_from"] = "last_change" if self.from_table else "now"
        return doc


def resolve_since(point, table, now_ticks, now_from_table=False):
    """Turns POINT into a Since. Digits are a sequence number; a name that
    is a valid mark is that mark (the latest one of that name); otherwise a
    duration back from `now_ticks` (the snapshot's time: the table's newest
    time stamp when `now_from_table`); otherwise an error naming the marks
    there are."""
    if point.isdigit():
        return Since(point, "seq", seq=int(point))
    marks = [m for m in table.valid_marks() if m.name == point]
    if marks:
        m = max(marks, key=lambda m: m.seq)
        return Since(point, "mark", seq=m.seq, mark=m)
    ns = parse_duration(point)
    if ns is not None:
        tick_ns = table.header.tick_ns
        back = -(-ns // tick_ns)
        return Since(point, "duration", ticks=max(0, now_ticks - back), duration_ns=ns,
                     from_table=now_from_table)
    names = sorted(set(m.name for m in table.valid_marks()))
    raise MemleakError("no mark named %s (marks: %s)" % (point, ", ".join(names) if names else "none"))


def apply_suppressions(groups, suppressions):
    """Splits symbolized groups into (kept, suppressed); suppressed groups
    remember the pattern that matched them."""
    kept, suppressed = [], []
    for g in groups:
        pattern = suppressions.match(g.frames)
        if pattern is None:
            kept.append(g)
        else:
            g.suppressed_by = pattern
            suppressed.append(g)
    return kept, suppressed
