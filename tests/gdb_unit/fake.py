"""A commands.py target over a byte image, and design.md's JSON contract
as a validator."""

import numbers

import image  # noqa: F401  (puts gdb/ on sys.path)
from memleak_gdb import aggregate, reader


class FakeTarget:
    """Symbolizes pc P as function "fn_P" in "src/P.c" line P % 1000; a pc
    listed in `inlined` expands to an inlined frame inside "outer_P"."""

    def __init__(self, img, live=True, now_ticks=None, inlined=()):
        self.img = img
        self.is_live = live
        self._now = now_ticks
        self.now_from_table = now_ticks is None
        self.inlined = set(inlined)
        self.symbolized = []

    def table(self, records=True):
        return reader.read_table(self.img.mem, self.img.root, records)

    def now_ticks(self, table):
        return table.newest_ticks if self._now is None else self._now

    def symbolize(self, pc):
        self.symbolized.append(pc)
        frame = aggregate.Frame(pc, "fn_%x" % pc, "src/%x.c" % pc, pc % 1000, "/bin/prog",
                                pc in self.inlined)
        if pc in self.inlined:
            return [frame, aggregate.Frame(pc, "outer_%x" % pc, "src/outer.c", 7, "/bin/prog", False)]
        return [frame]

    def write(self, addr, data):
        self.img.mem.write(addr, data)


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_frame(f, where):
    assert isinstance(f, dict), where
    for k in ("pc", "function", "file", "line", "object", "inlined"):
        assert k in f, "%s: frame lacks %s" % (where, k)
    assert _is_int(f["pc"]), where
    assert f["function"] is None or isinstance(f["function"], str), where
    assert f["file"] is None or isinstance(f["file"], str), where
    assert f["line"] is None or _is_int(f["line"]), where
    assert f["object"] is None or isinstance(f["object"], str), where
    assert isinstance(f["inlined"], bool), where


def validate(doc):
    """Raises AssertionError when `doc` breaks design.md's JSON contract."""
    fmt = doc.get("format")
    assert doc.get("version") == 1, "version must be 1"
    assert _is_int(doc.get("pid")), "pid must be an int"
    if fmt == "memleak-top":
        assert doc["by"] in ("bytes", "count")
        assert _is_int(doc["total_bytes"]) and _is_int(doc["total_count"])
        assert isinstance(doc["groups"], list)
        for i, g in enumerate(doc["groups"]):
            assert _is_int(g["bytes"]) and _is_int(g["count"]), "group %d" % i
            for f in g["stack"]:
                _check_frame(f, "group %d" % i)
    elif fmt == "memleak-dump":
        assert isinstance(doc["allocations"], list)
        for i, a in enumerate(doc["allocations"]):
            for k in ("address", "size", "seq", "time_ns", "tid"):
                assert _is_int(a[k]), "allocation %d: %s" % (i, k)
            for f in a["stack"]:
                _check_frame(f, "allocation %d" % i)
    elif fmt == "memleak-stats":
        for k in ("live_blocks", "live_bytes", "allocs", "frees", "peak_bytes", "dropped_records",
                  "dropped_stacks", "untracked_frees", "bootstrap_bytes", "shards_in_flux"):
            assert _is_int(doc[k]), k
    else:
        raise AssertionError("unknown format %r" % fmt)
