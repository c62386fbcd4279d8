"""`memleak leaks`, `why` and `who`: loss records as Valgrind prints them,
the chain that keeps a block alive, every pointer into a block. Text and
JSON; no gdb (the target describes stack frames and data symbols).

Target interface used here, beyond commands.py's:
    stack_frame_at(thread_num, address) -> (function, file, line) or None
    data_symbol(address) -> (name, offset) or None
    static_tls_extent() -> (bytes below, bytes above) the thread pointer
        that hold static TLS and the thread control block ((0, 0): unknown)
"""

import json

from . import aggregate, render, roots
from .errors import MemleakError
from .render import KIND_ORDER, KIND_TEXT, frame_json, frame_text, kinds_json

LOST_KINDS = KIND_ORDER[:3]


def _pid(table):
    return table.header.pid


# --------------------------------------------------------------------------
# leaks


def leaks(a, table, reach, sym, supp):
    """Loss records: blocks grouped by stack and class; definitely,
    indirectly and possibly lost ones (largest first within a class), then
    with --all the still-reachable ones."""
    by_kind = reach.by_kind()
    records = []
    suppressed = [] if supp is not None else None
    totals = {}
    for kind in KIND_ORDER:
        blocks = by_kind[kind]
        if supp is not None:
            # Matched against the whole stack, whatever --depth groups by.
            blocks, gone = aggregate.split_suppressed(table, blocks, sym.matched, supp)
            sym.fill(gone)
            for g in gone:
                g.leak_kind = kind
                g.kinds = {kind: [g.count, g.bytes]}
            suppressed.extend(gone)
        groups = aggregate.group_blocks(table, blocks, a.depth, a.by)
        for g in groups:
            g.leak_kind = kind
            g.kinds = {kind: [g.count, g.bytes]}
        totals[kind] = (sum(g.count for g in groups), sum(g.bytes for g in groups))
        if kind in LOST_KINDS or a.all:
            records.extend(groups)
    shown = records if a.n is None else records[:a.n]
    sym.fill(shown)
    if a.json:
        return _leaks_json(table, shown, len(records), a.by, totals, suppressed)
    return _leaks_text(table, shown, len(records), totals, suppressed, a.all)


def _leaks_text(table, shown, record_count, totals, suppressed, listed_reachable):
    lines = ["memleak leaks (pid %d): %d loss record%s%s" % (
        _pid(table), record_count, "" if record_count == 1 else "s",
        "" if len(shown) == record_count else ", %d shown" % len(shown))]
    width = max(len(KIND_TEXT[k]) for k in KIND_ORDER)
    for kind in KIND_ORDER:
        count, nbytes = totals[kind]
        line = "%*s: %d bytes in %d blocks" % (width, KIND_TEXT[kind], nbytes, count)
        if kind == "still_reachable" and not listed_reachable and count:
            line += " (memleak leaks --all lists them)"
        lines.append(line)
    for note in render.flux_note(table):
        lines.append("note: " + note)
    if suppressed is not None:
        lines.append(render.suppressed_line(suppressed))
    for i, g in enumerate(shown):
        lines.append("")
        # Valgrind's wording, whatever the count, so its users' greps work.
        lines.append("%d bytes in %d blocks are %s in loss record %d of %d" % (
            g.bytes, g.count, KIND_TEXT[g.leak_kind], i + 1, record_count))
        lines.extend(render._frames_lines(g.frames, g.truncated))
    if not any(totals[k][0] for k in LOST_KINDS):
        lines.append("")
        lines.append("no leaks: every live block is still reachable")
    return "\n".join(lines) + "\n"


def _leaks_json(table, shown, record_count, by, totals, suppressed):
    doc = {
        "format": "memleak-leaks",
        "version": render.JSON_VERSION,
        "pid": _pid(table),
        "by": by,
        "kinds": kinds_json(totals),
        "record_count": record_count,
        "shards_in_flux": table.shards_in_flux,
        "groups": [render._group_json(g) for g in shown],
    }
    if suppressed is not None:
        doc.update(render._suppressed_fields(suppressed))
    return json.dumps(doc, indent=1) + "\n"


# --------------------------------------------------------------------------
# Describing blocks and roots


def _block_of(reach, address):
    i = reach.index_containing(address)
    if i is None:
        raise MemleakError("0x%x is in no live block the runtime recorded" % address)
    return i


def _block_json(table, reach, sym, index):
    b = reach.blocks[index]
    return {"address": b.address, "size": b.size, "seq": b.seq, "tid": b.tid,
            "leak_kind": reach.kind_at(index),
            "stack": [frame_json(f) for f in sym.frames(table.stack(b.stack_id).pcs)]}


def _site_text(table, sym, block):
    frames = sym.frames(table.stack(block.stack_id).pcs)
    if not frames:
        return "no stack"
    return frame_text(0, frames[0]).split(" in ", 1)[1]


def _block_text(table, reach, sym, index):
    b = reach.blocks[index]
    return "block 0x%x (%d bytes, %s), allocated in %s" % (
        b.address, b.size, KIND_TEXT[reach.kind_at(index)], _site_text(table, sym, b))


def _root_json(target, plan, index, offset):
    r = plan.roots[index]
    thread = plan.threads[r.owner] if r.kind in (roots.ROOT_STACK, roots.ROOT_REGISTERS,
                                                 roots.ROOT_TLS) else None
    d = {"kind": {roots.ROOT_STACK: "stack", roots.ROOT_REGISTERS: "registers",
                  roots.ROOT_TLS: "tls", roots.ROOT_DATA: "data",
                  roots.ROOT_MAPPING: "mapping"}[r.kind],
         "address": None if r.kind == roots.ROOT_REGISTERS else r.address + offset,
         "thread": thread.num if thread else None, "lwp": thread.tid if thread else None,
         "register": None, "function": None, "file": None, "line": None,
         "symbol": None, "module": None}
    if r.kind == roots.ROOT_REGISTERS:
        slot = offset // 8
        d["register"] = thread.registers[slot][0] if slot < len(thread.registers) else None
    elif r.kind == roots.ROOT_STACK:
        address = r.address + offset
        below, above = target.static_tls_extent()
        if thread.fs_base and thread.fs_base - below <= address < thread.fs_base + above:
            # A thread's static TLS and control block sit at the top of
            # the mapping of its stack.
            d["kind"] = "tls"
        else:
            where = target.stack_frame_at(thread.num, address)
            if where is not None:
                d["function"], d["file"], d["line"] = where
    elif r.kind == roots.ROOT_DATA:
        d["module"] = plan.modules[r.owner]
        found = target.data_symbol(r.address + offset)
        if found is not None:
            d["symbol"] = found[0] if not found[1] else "%s+%d" % found
    elif r.kind == roots.ROOT_MAPPING:
        found = target.data_symbol(r.address + offset)
        if found is not None:
            d["symbol"] = found[0] if not found[1] else "%s+%d" % found
    return d


def _root_text(d):
    if d["kind"] == "registers":
        return "thread %d's register %s (LWP %d)" % (d["thread"], d["register"] or "?", d["lwp"])
    at = "0x%x" % d["address"]
    if d["kind"] == "stack":
        where = ""
        if d["function"]:
            where = " in %s" % render.short_function(d["function"])
            if d["file"]:
                where += " at %s:%s" % (d["file"], d["line"])
        return "thread %d's stack%s (LWP %d, %s)" % (d["thread"], where, d["lwp"], at)
    if d["kind"] == "tls":
        return "TLS of thread %d (LWP %d, %s)" % (d["thread"], d["lwp"], at)
    if d["kind"] == "data":
        if d["symbol"]:
            return "global %s in %s (%s)" % (d["symbol"], d["module"], at)
        return "data of %s (%s)" % (d["module"], at)
    return "mapping of the program (%s)" % at


# --------------------------------------------------------------------------
# why


def why(a, target, table, reach, address, sym):
    index = _block_of(reach, address)
    kind = reach.kind_at(index)
    chain = reach.chain(index)
    root = None
    if chain and chain[0].source == "root":
        root = _root_json(target, reach.plan, chain[0].index, chain[0].offset)
    # Blocks on the way: each link's source block, with the offset of the
    # pointer inside it and where in the next block that pointer lands.
    steps = []
    for link in chain:
        if link.source == "block":
            steps.append((link.index, link.offset, link.target_offset, link.heuristic))
    holder = None
    if kind in LOST_KINDS[:2] and steps:
        holder = steps[-1][0]
    doc = {
        "format": "memleak-why",
        "version": render.JSON_VERSION,
        "pid": _pid(table),
        "address": address,
        "block": _block_json(table, reach, sym, index),
        "leak_kind": kind,
        "root": None if root is None else dict(root, pointer_target_offset=chain[0].target_offset,
                                               heuristic=chain[0].heuristic),
        "chain": [dict(_block_json(table, reach, sym, i), pointer_offset=off, target_offset=toff,
                       heuristic=h) for i, off, toff, h in steps],
        "lost_by": None if holder is None else _block_json(table, reach, sym, holder),
    }
    if a.json:
        return json.dumps(doc, indent=1) + "\n"
    b = reach.blocks[index]
    lines = ["memleak why 0x%x: %s" % (address, _block_text(table, reach, sym, index))]
    if address != b.address:
        lines[0] += "; 0x%x is %d bytes into it" % (address, address - b.address)
    if kind == "definitely_lost":
        lines.append("it is definitely lost: no root and no other lost block points to it")
    elif kind == "indirectly_lost":
        lines.append("it is indirectly lost: only lost blocks point to it; the chain from the "
                     "definitely lost block that holds it:")
    else:
        lines.append("it is %s; the shortest chain from a root:" % KIND_TEXT[kind])
    if root is not None:
        lines.append("  root: %s" % _root_text(root))
        lines.append("    points %s" % _lands(chain[0].target_offset, chain[0].heuristic))
    for i, off, toff, h in steps:
        lines.append("  %s" % _block_text(table, reach, sym, i))
        lines.append("    its word at offset %d points %s" % (off, _lands(toff, h)))
    if chain:
        lines.append("  block 0x%x (%d bytes): the block asked about" % (b.address, b.size))
    return "\n".join(lines) + "\n"


def _lands(target_offset, heuristic):
    if target_offset == 0:
        return "to the start of"
    text = "%d bytes into (an interior pointer" % target_offset
    if heuristic:
        text += ", taken as a start pointer by the %s heuristic" % heuristic
    return text + ")"


# --------------------------------------------------------------------------
# who


def who(a, target, table, reach, address, sym):
    index = _block_of(reach, address)
    refs, total = reach.who(index, a.limit)
    entries = []
    for r in refs:
        e = {"from": r.source, "pointer_offset": r.offset, "target_offset": r.target_offset,
             "heuristic": r.heuristic}
        if r.source == "root":
            e["root"] = _root_json(target, reach.plan, r.index, r.offset)
        else:
            e["block"] = _block_json(table, reach, sym, r.index)
        entries.append(e)
    if a.json:
        return json.dumps({
            "format": "memleak-who", "version": render.JSON_VERSION, "pid": _pid(table),
            "address": address, "block": _block_json(table, reach, sym, index),
            "total": total, "truncated": total > len(entries), "references": entries,
        }, indent=1) + "\n"
    lines = ["memleak who 0x%x: %s" % (address, _block_text(table, reach, sym, index)),
             "%d pointer%s into it%s" % (total, "" if total == 1 else "s",
                                         "" if total <= len(entries) else
                                         ", %d listed (--limit)" % len(entries))]
    for r, e in zip(refs, entries):
        if r.source == "root":
            where = _root_text(e["root"])
        else:
            where = _block_text(table, reach, sym, r.index) + ", word at offset %d" % r.offset
        lands = "start" if r.target_offset == 0 else "offset %d" % r.target_offset
        lines.append("  %s -> %s" % (where, lands))
    return "\n".join(lines) + "\n"
