"""Grouping and selecting live blocks: plain Python over reader.Table."""

import collections
import operator

from .args import did_you_mean
from .durations import parse_duration
from .errors import MemleakError, UsageError

POINT_FORMS = ("a sequence number (12345), a mark name (startup), or a duration back from the "
               "snapshot (500ms, 90s, 5m, 2h, 1h30m)")

# offset: the pc's offset in `object` (a file offset), for frames without
# debug info; None when unknown. folded: how many library frames this one
# stands for when a view folds them (frames.py), else 0.
Frame = collections.namedtuple("Frame", "pc function file line object inlined offset folded",
                               defaults=(None, 0))


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


def _per_stack(blocks):
    per_stack = {}
    for b in blocks:
        entry = per_stack.get(b.stack_id)
        if entry is None:
            per_stack[b.stack_id] = [b.size, 1]
        else:
            entry[0] += b.size
            entry[1] += 1
    return per_stack


def _sorted(groups, by):
    if by == "count":
        def key(g):
            return (-g.count, -g.bytes, g.pcs)
    else:
        def key(g):
            return (-g.bytes, -g.count, g.pcs)
    return sorted(groups, key=key)


def group_blocks(table, blocks, depth=None, by="bytes"):
    """Groups `blocks` by stack (the whole stack, or its innermost `depth`
    return addresses), largest first by `by` ("bytes" or "count")."""
    groups = {}
    for sid, (nbytes, count) in _per_stack(blocks).items():
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
    return _sorted(groups.values(), by)


def group_blocks_by(table, blocks, key_of, by="bytes"):
    """Groups `blocks` by `key_of(stack)`, which returns (key, frames,
    truncated): the key is a tuple, the frames those the group shows."""
    groups = {}
    for sid, (nbytes, count) in _per_stack(blocks).items():
        key, frames, truncated = key_of(table.stack(sid))
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(key, truncated)
            g.frames = frames
        g.bytes += nbytes
        g.count += count
    return _sorted(groups.values(), by)


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
                 from_table=False, from_text=None, age_text=None):
        self.point = point
        self.kind = kind
        self.seq = seq
        self.ticks = ticks
        self.mark = mark
        self.duration_ns = duration_ns
        self.from_table = from_table
        # Durations: when the window starts, in words, and how old the
        # process was when the window reaches back before its start.
        self.from_text = from_text
        self.age_text = age_text

    def select(self, blocks):
        if self.kind == "duration":
            t = self.ticks
            return [b for b in blocks if b.ticks >= t]
        s = self.seq
        return [b for b in blocks if b.seq > s]

    def describe(self):
        """When the blocks were allocated, in words: "after ...", "in ..."."""
        if self.kind == "seq":
            return "after sequence number %d" % self.seq
        if self.kind == "mark":
            return "after mark %r (sequence number %d)" % (self.mark.name, self.seq)
        window = "in the last %s%s" % (self.point,
                                       " before the table's last change" if self.from_table else "")
        if self.age_text is not None:
            return ("%s, which reaches back before the process started (%s before the "
                    "snapshot): everything still live" % (window, self.age_text))
        return "%s (since %s)" % (window, self.from_text)

    def to_json(self):
        doc = {"point": self.point, "kind": self.kind, "seq": self.seq, "ticks": self.ticks}
        if self.kind == "duration":
            doc["back_from"] = "last_change" if self.from_table else "now"
            doc["before_start"] = self.age_text is not None
        return doc


def duration_text(ns):
    """5025000000 -> '5s', 3723000000000 -> '1h 2m 3s'; below a second in ms."""
    if ns < 10 ** 9:
        return "%dms" % (ns // 10 ** 6)
    s = ns // 10 ** 9
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size or (unit == "s" and not parts):
            parts.append("%d%s" % (s // size, unit))
            s %= size
    return " ".join(parts)


def resolve_since(point, table, now_ticks, now_from_table=False, time_text=None):
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
        start = now_ticks - back
        if start < 0:
            return Since(point, "duration", ticks=0, duration_ns=ns, from_table=now_from_table,
                         age_text=duration_text(now_ticks * tick_ns))
        return Since(point, "duration", ticks=start, duration_ns=ns, from_table=now_from_table,
                     from_text=time_text(start) if time_text else "tick %d" % start)
    if point[:1].isdigit():
        raise UsageError("bad point %r: POINT is %s" % (point, POINT_FORMS))
    names = sorted(set(m.name for m in table.valid_marks()))
    raise MemleakError("no mark named %s%s (marks: %s); POINT is %s"
                       % (point, did_you_mean(point, names),
                          ", ".join(names) if names else "none", POINT_FORMS))


def split_suppressed(table, blocks, frames_of, suppressions):
    """(kept blocks, suppressed groups): each distinct stack is matched
    whole, whatever --depth later groups by; suppressed blocks are grouped
    by their whole stack and remember the pattern that matched."""
    verdicts = {}
    by_pcs = {}
    for b in blocks:
        if b.stack_id not in verdicts:
            pcs = table.stack(b.stack_id).pcs
            verdicts[b.stack_id] = by_pcs[pcs] = suppressions.match(frames_of(pcs))
    kept = [b for b in blocks if verdicts[b.stack_id] is None]
    hidden = [b for b in blocks if verdicts[b.stack_id] is not None]
    groups = group_blocks(table, hidden)
    for g in groups:
        g.suppressed_by = by_pcs[g.pcs]
    return kept, groups
