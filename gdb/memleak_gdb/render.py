"""Text and JSON output of the memleak commands (docs/design.md's contract)."""

import datetime
import json
import os

from . import abi

JSON_VERSION = 1


def human_size(n):
    """1536 -> '1.5 KiB'; bytes below 1 KiB stay exact ('17 B')."""
    if n < 1024:
        return "%d B" % n
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024.0
        if n < 1024 or unit == "TiB":
            return "%.1f %s" % (n, unit)


def percent(part, whole):
    return "%.1f%%" % (100.0 * part / whole) if whole else "-"


def frame_text(index, f):
    where = ""
    if f.file:
        where = " %s:%d" % (f.file, f.line) if f.line else " " + f.file
    elif f.object:
        where = " (%s%s)" % (os.path.basename(f.object),
                             "" if f.offset is None else "+0x%x" % f.offset)
    folded = getattr(f, "folded", 0)
    return "#%d 0x%016x in %s%s%s%s" % (
        index, f.pc, f.function or "??", where, " (inlined)" if f.inlined else "",
        " (+%d library frame%s folded)" % (folded - 1, "" if folded == 2 else "s")
        if folded > 1 else "")


def frame_json(f):
    d = {"pc": f.pc, "function": f.function, "file": f.file, "line": f.line,
         "object": f.object, "inlined": bool(f.inlined)}
    if f.offset is not None:
        d["offset"] = f.offset
    if getattr(f, "folded", 0):
        d["folded"] = f.folded
    return d


def _frames_lines(frames, truncated, indent="      "):
    lines = [indent + frame_text(i, f) for i, f in enumerate(frames)]
    if not frames:
        lines.append(indent + "(no stack was captured)")
    if truncated:
        lines.append(indent + "... (deeper frames not recorded)")
    return lines


def flux_note(table):
    notes = []
    n = table.shards_in_flux
    if n:
        notes.append("%d of %d shards in flux (the process stopped while changing them: "
                     "a block being recorded or freed there may be missing or still shown)"
                     % (n, len(table.shards)))
    if table.stack_in_flux:
        notes.append("the stack depot is in flux (a stack was being added)")
    return notes


def suppressed_line(suppressed):
    nbytes = sum(g.bytes for g in suppressed)
    count = sum(g.count for g in suppressed)
    patterns = len(set(g.suppressed_by for g in suppressed))
    return "suppressed: %d bytes in %d blocks by %d patterns" % (nbytes, count, patterns)


KIND_ORDER = ("definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable")
KIND_TEXT = {"definitely_lost": "definitely lost", "indirectly_lost": "indirectly lost",
             "possibly_lost": "possibly lost", "still_reachable": "still reachable"}


def kinds_json(kinds):
    """{kind: {"count": int, "bytes": int}} for all four classes; `kinds`
    maps a class to (count, bytes) and may leave classes out."""
    kinds = kinds or {}
    return {k: {"count": kinds.get(k, (0, 0))[0], "bytes": kinds.get(k, (0, 0))[1]}
            for k in KIND_ORDER}


def kinds_line(kinds):
    """'leak classes: definitely lost 64 B in 1 block, ...'"""
    parts = []
    for k in KIND_ORDER:
        count, nbytes = kinds.get(k, (0, 0))
        plural = "" if count == 1 else "s"
        parts.append("%s %s in %d block%s" % (KIND_TEXT[k], human_size(nbytes), count, plural))
    return "leak classes: " + ", ".join(parts)


def _group_kinds_text(g):
    if not g.kinds:
        return ""
    return "  [%s]" % ", ".join("%d %s" % (g.kinds[k][0], KIND_TEXT[k])
                                for k in KIND_ORDER if k in g.kinds)


def top_text(table, pid, groups, shown, by, total_bytes, total_count, since=None,
             suppressed=None, kinds=None, notes=()):
    """`shown` groups (symbolized) out of `groups` (all kept groups);
    `kinds`: {class: (count, bytes)} over the blocks, when classified."""
    head = "memleak top: %s in %d live blocks" % (human_size(total_bytes), total_count)
    if since is not None:
        head = "memleak since %s: %s in %d blocks allocated %s" % (
            since.point, human_size(total_bytes), total_count, since.describe())
    head += ", %d stacks (pid %d); %d largest by %s" % (len(groups), pid, len(shown), by)
    lines = [head]
    if kinds is not None:
        lines.append(kinds_line(kinds))
    for note in flux_note(table) + list(notes):
        lines.append("note: " + note)
    if suppressed is not None:
        lines.append(suppressed_line(suppressed))
    if not shown:
        lines.append("(no live blocks)" if since is None else "(nothing allocated since then)")
        return "\n".join(lines) + "\n"
    # The ordering quantity comes first with its share of the total.
    sizes = [human_size(g.bytes) for g in shown]
    wc = max(len(str(g.count)) for g in shown)
    counts = ["%*d block%s" % (wc, g.count, " " if g.count == 1 else "s") for g in shown]
    if by == "count":
        first, second = counts, sizes
        pcts = [percent(g.count, total_count) for g in shown]
    else:
        first, second = sizes, counts
        pcts = [percent(g.bytes, total_bytes) for g in shown]
    ranks = ["[%d]" % (i + 1) for i in range(len(shown))]
    wr, w1, wp, w2 = (max(len(x) for x in col) for col in (ranks, first, pcts, second))
    for i, g in enumerate(shown):
        lines.append("")
        lines.append("%*s  %*s  %*s  %*s  (%d bytes)%s" % (
            wr, ranks[i], w1, first[i], wp, pcts[i], w2, second[i], g.bytes,
            _group_kinds_text(g)))
        lines.extend(_frames_lines(g.frames, g.truncated))
    return "\n".join(lines) + "\n"


def _group_json(g):
    d = {"bytes": g.bytes, "count": g.count, "truncated": g.truncated,
         "stack": [frame_json(f) for f in g.frames]}
    if g.leak_kind is not None:
        d["leak_kind"] = g.leak_kind
    if g.kinds is not None:
        d["kinds"] = kinds_json(g.kinds)
    return d


def top_json(table, pid, shown, by, total_bytes, total_count, since=None, suppressed=None,
             kinds=None):
    doc = {
        "format": "memleak-top",
        "version": JSON_VERSION,
        "pid": pid,
        "by": by,
        "total_bytes": total_bytes,
        "total_count": total_count,
        "shards_in_flux": table.shards_in_flux,
        "groups": [_group_json(g) for g in shown],
    }
    if kinds is not None:
        doc["kinds"] = kinds_json(kinds)
    if since is not None:
        doc["since"] = since.to_json()
    if suppressed is not None:
        doc.update(_suppressed_fields(suppressed))
    doc.update(warnings_field(table))
    return json.dumps(doc, indent=1) + "\n"


def warnings_field(table):
    """`warnings`, only when the table's counters and records disagree."""
    return {"warnings": list(table.warnings)} if table.warnings else {}


def time_text(table, ticks):
    ns = table.realtime_ns(ticks)
    t = datetime.datetime.fromtimestamp(ns // 10 ** 9, datetime.timezone.utc)
    return "%s.%03d UTC" % (t.strftime("%Y-%m-%d %H:%M:%S"), ns // 10 ** 6 % 1000)


def _suppressed_fields(suppressed):
    return {"suppressed_bytes": sum(g.bytes for g in suppressed),
            "suppressed_count": sum(g.count for g in suppressed)}


_BATCH = 2048


def dump_text(table, pid, blocks, stack_of, total_bytes, total_count, selected_count, min_size,
              limit, since=None, suppressed=None, kind_of=None, kinds=None, notes=()):
    """Yields the text of `memleak dump` in pieces. `blocks` are the ones
    to show, in order; `stack_of(block)` gives (frames, truncated), and the
    frame lines are formatted once per distinct stack; kind_of(block), when
    given, its leak class."""
    if since is None:
        head = "memleak dump: %d live blocks, %s (pid %d)" % (total_count, human_size(total_bytes), pid)
    else:
        head = "memleak since %s: %d blocks, %s allocated %s (pid %d)" % (
            since.point, total_count, human_size(total_bytes), since.describe(), pid)
    filters = []
    if min_size:
        filters.append("--min-size %d" % min_size)
    head += "; %d shown" % len(blocks)
    if filters:
        head += " (%s)" % ", ".join(filters)
    if limit and selected_count > limit:
        head += "; %d more, --limit 0 for all" % (selected_count - limit)
    lines = [head]
    if kinds is not None:
        lines.append(kinds_line(kinds))
    for note in flux_note(table) + list(notes):
        lines.append("note: " + note)
    if suppressed is not None:
        lines.append(suppressed_line(suppressed))
    yield "\n".join(lines) + "\n"
    if not blocks:
        return
    wa = max(len("0x%x" % b.address) for b in blocks)
    ws = max(len("%d B" % b.size) for b in blocks)
    wq = max(len(str(b.seq)) for b in blocks)
    wt = max(len(str(b.tid)) for b in blocks)
    row = "\n%%-%ds  %%%ds  seq %%%dd  tid %%%dd  %%s%%s\n" % (wa, ws, wq, wt)
    stack_text = {}
    times = {}
    out = []
    for b in blocks:
        st = stack_text.get(b.stack_id)
        if st is None:
            frames, truncated = stack_of(b)
            st = stack_text[b.stack_id] = "".join(l + "\n" for l in _frames_lines(frames, truncated))
        tt = times.get(b.ticks)
        if tt is None:
            tt = times[b.ticks] = time_text(table, b.ticks)
        out.append(row % ("0x%x" % b.address, "%d B" % b.size, b.seq, b.tid, tt,
                          "  " + KIND_TEXT[kind_of(b)] if kind_of else ""))
        out.append(st)
        if len(out) >= 2 * _BATCH:
            yield "".join(out)
            out.clear()
    yield "".join(out)


def dump_json(table, pid, blocks, stack_of, since=None, suppressed=None, kind_of=None,
              kinds=None):
    """Yields `memleak dump --json` in pieces; each distinct stack is
    serialized once; kind_of(block), when given, adds "leak_kind"."""
    head = {
        "format": "memleak-dump",
        "version": JSON_VERSION,
        "pid": pid,
        "shards_in_flux": table.shards_in_flux,
    }
    if since is not None:
        head["since"] = since.to_json()
    if suppressed is not None:
        head.update(_suppressed_fields(suppressed))
    head.update(warnings_field(table))
    if kinds is not None:
        head["kinds"] = kinds_json(kinds)
    text = json.dumps(head, separators=(",", ":"))
    yield text[:-1] + ',"allocations":['
    compact = (",", ":")
    stacks = {}
    base, tick_ns = table.header.start_realtime_ns, table.header.tick_ns
    # Each row is three pieces, the stack one shared: stacks run to
    # kilobytes and a million rows to gigabytes, so they are copied once,
    # by the join, and not again by formatting.
    row = '{"address":%d,"size":%d,"seq":%d,"time_ns":%d,"tid":%d,' + \
        ('"leak_kind":"%s",' if kind_of else "") + '"stack":'
    out = []
    append = out.append
    sep = ""
    for b in blocks:
        sj = stacks.get(b.stack_id)
        if sj is None:
            frames, _ = stack_of(b)
            sj = stacks[b.stack_id] = json.dumps([frame_json(f) for f in frames],
                                                 separators=compact) + "}"
        append(sep)
        if kind_of:
            append(row % (b.address, b.size, b.seq, base + b.ticks * tick_ns, b.tid, kind_of(b)))
        else:
            append(row % (b.address, b.size, b.seq, base + b.ticks * tick_ns, b.tid))
        append(sj)
        sep = ",\n"
        if len(out) >= 3 * _BATCH:
            yield "".join(out)
            out.clear()
    append("]}\n")
    yield "".join(out)


def stats_dict(table, pid, kinds=None):
    h = table.header
    live_count = sum(s.live_count for s in table.shards)
    live_bytes = sum(s.live_bytes for s in table.shards)
    return {
        "format": "memleak-stats",
        "version": JSON_VERSION,
        "pid": pid,
        "abi_version": h.version,
        "runtime_version": h.runtime_version,
        "live_blocks": live_count,
        "live_bytes": live_bytes,
        "allocs": sum(s.allocs for s in table.shards),
        "frees": sum(s.frees for s in table.shards),
        "peak_bytes": h.peak_bytes,
        "dropped_records": h.dropped_records,
        "dropped_stacks": h.dropped_stacks,
        "untracked_frees": h.untracked_frees,
        "bootstrap_bytes": h.bootstrap_bytes,
        "seq": h.seq,
        "distinct_stacks": h.stack_count,
        "shards": len(table.shards),
        "shards_in_flux": table.shards_in_flux,
        "stack_depot_in_flux": table.stack_in_flux,
        "recording": bool(h.flags & abi.FLAG_RECORDING),
        "disabled": bool(h.flags & abi.FLAG_DISABLED),
        "start_realtime_ns": h.start_realtime_ns,
        "tick_ns": h.tick_ns,
        "marks": [{"name": m.name, "seq": m.seq, "time_ns": table.realtime_ns(m.ticks)}
                  for m in table.valid_marks()],
        **warnings_field(table),
    } | ({"kinds": kinds_json(kinds)} if kinds is not None else {})


def stats_json(table, pid, kinds=None):
    return json.dumps(stats_dict(table, pid, kinds), indent=1) + "\n"


def stats_text(table, pid, kinds=None, notes=()):
    d = stats_dict(table, pid, kinds)
    start = datetime.datetime.fromtimestamp(d["start_realtime_ns"] // 10 ** 9, datetime.timezone.utc)
    state = "recording" if d["recording"] else "not recording"
    if d["disabled"]:
        state = "disabled (ran out of memory for its bookkeeping)"
    rows = [
        ("pid", str(pid)),
        ("runtime", "%s (ABI version %d), %s" % (d["runtime_version"] or "?", d["abi_version"], state)),
        ("started", start.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("live blocks", str(d["live_blocks"])),
        ("live bytes", "%d (%s)" % (d["live_bytes"], human_size(d["live_bytes"]))),
        ("peak bytes", "%d (%s)" % (d["peak_bytes"], human_size(d["peak_bytes"]))),
        ("allocations", str(d["allocs"])),
        ("frees", str(d["frees"])),
        ("last sequence number", str(d["seq"])),
        ("distinct stacks", str(d["distinct_stacks"])),
        ("dropped records", str(d["dropped_records"])),
        ("dropped stacks", str(d["dropped_stacks"])),
        ("untracked frees", str(d["untracked_frees"])),
        ("bootstrap bytes", str(d["bootstrap_bytes"])),
        ("shards", "%d, %d in flux%s" % (d["shards"], d["shards_in_flux"],
                                         "; stack depot in flux" if d["stack_depot_in_flux"] else "")),
    ]
    if kinds is not None:
        for k in KIND_ORDER:
            count, nbytes = kinds[k]
            rows.append((KIND_TEXT[k], "%d bytes (%s) in %d blocks" % (nbytes, human_size(nbytes),
                                                                       count)))
    for note in notes:
        rows.append(("note", note))
    width = max(len(k) for k, _ in rows)
    lines = ["%-*s  %s" % (width + 1, k + ":", v) for k, v in rows]
    marks = table.valid_marks()
    lines.append("%-*s  %d" % (width + 1, "marks:", len(marks)))
    for m in marks:
        lines.append("  %-24s seq %-10d %s" % (m.name, m.seq, time_text(table, m.ticks)))
    return "\n".join(lines) + "\n"
