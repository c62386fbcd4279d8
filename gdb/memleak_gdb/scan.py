"""Binding of the native reachability scanner (libmemleak-scan.so, built
from runtime/scan, API in runtime/include/memleak/scan.h), with ctypes.

No gdb here: the caller gathers blocks, root ranges and the memory it read
(segments), and gets Valgrind's leak class of every block, the pointer that
gave each block its class (for `memleak why`), and every pointer into one
block (`memleak who`). A missing or mismatched library, or input the scanner
rejects, raises ScanError: one line, no traceback.
"""

import array
import ctypes
import os
from collections import namedtuple

from .errors import ScanError

LIBRARY_NAME = "libmemleak-scan.so"
VERSION = 1

DEFINITELY_LOST, INDIRECTLY_LOST, POSSIBLY_LOST, STILL_REACHABLE = 1, 2, 3, 4
# The names the JSON output and --kind use.
KIND_NAMES = {
    DEFINITELY_LOST: "definitely_lost",
    INDIRECTLY_LOST: "indirectly_lost",
    POSSIBLY_LOST: "possibly_lost",
    STILL_REACHABLE: "still_reachable",
}

HEURISTIC_NAMES = {1: "stdstring", 2: "length64", 3: "newarray", 4: "multipleinheritance"}
ALL_HEURISTICS = sum(1 << h for h in HEURISTIC_NAMES)

ROOT_STACK, ROOT_REGISTERS, ROOT_TLS, ROOT_DATA, ROOT_MAPPING = 1, 2, 3, 4, 5
SEGMENT_FILE, SEGMENT_EXEC = 1, 2

FROM_NONE, FROM_ROOT, FROM_BLOCK = 0, 1, 2
_FROM_NAMES = {FROM_NONE: None, FROM_ROOT: "root", FROM_BLOCK: "block"}


# A memory range the caller read: `data` (bytes-like) is the memory at
# `address`; data None with `length` describes a range known to exist but
# not read (its flags still count: executable code for the vtable check).
Segment = namedtuple("Segment", "address data flags length", defaults=(0, None))

# Root words: [address, address + length) read from the segments, or `data`
# itself (registers) when given. `owner` is the caller's thread/module index.
Root = namedtuple("Root", "address length kind owner data", defaults=(0, None))

# A pointer: in root or block `index` (source "root"/"block"), `offset` bytes
# from its start, pointing `target_offset` bytes into the target block;
# `heuristic` names the heuristic that accepts it as a start pointer, if any.
Ref = namedtuple("Ref", "source index offset target_offset heuristic")


class _Block(ctypes.Structure):
    _fields_ = [("address", ctypes.c_uint64), ("size", ctypes.c_uint64)]


class _Segment(ctypes.Structure):
    _fields_ = [("address", ctypes.c_uint64), ("length", ctypes.c_uint64),
                ("bytes", ctypes.c_void_p), ("flags", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32)]


class _Root(ctypes.Structure):
    _fields_ = [("address", ctypes.c_uint64), ("length", ctypes.c_uint64),
                ("bytes", ctypes.c_void_p), ("kind", ctypes.c_uint32),
                ("owner", ctypes.c_uint32)]


class _Input(ctypes.Structure):
    _fields_ = [("blocks", ctypes.c_void_p), ("block_count", ctypes.c_uint64),
                ("segments", ctypes.c_void_p), ("segment_count", ctypes.c_uint64),
                ("roots", ctypes.c_void_p), ("root_count", ctypes.c_uint64),
                ("heuristics", ctypes.c_uint32), ("reserved", ctypes.c_uint32),
                ("allocator", ctypes.c_void_p)]


class _Ref(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint64), ("target_offset", ctypes.c_uint64),
                ("index", ctypes.c_uint32), ("source", ctypes.c_uint16),
                ("heuristic", ctypes.c_uint16)]


class _Result(ctypes.Structure):
    _fields_ = [("kinds", ctypes.c_void_p), ("heuristics", ctypes.c_void_p),
                ("predecessors", ctypes.c_void_p),
                ("class_blocks", ctypes.c_uint64 * 5), ("class_bytes", ctypes.c_uint64 * 5),
                ("scanned_bytes", ctypes.c_uint64), ("unreadable_bytes", ctypes.c_uint64),
                ("message", ctypes.c_char * 256)]


class _Who(ctypes.Structure):
    _fields_ = [("target", ctypes.c_uint64), ("refs", ctypes.c_void_p),
                ("capacity", ctypes.c_uint64), ("total", ctypes.c_uint64),
                ("message", ctypes.c_char * 256)]


def _to_ref(r):
    if r.source == FROM_NONE:
        return None
    return Ref(_FROM_NAMES.get(r.source), r.index, r.offset, r.target_offset,
               HEURISTIC_NAMES.get(r.heuristic))


class Classification:
    """The scanner's answer for blocks 0..n-1 (the caller's order)."""

    def __init__(self, kinds, heuristics, predecessors, result):
        self.kinds = kinds  # bytes: kinds[i] is the class of block i
        self._heuristics = heuristics
        self._predecessors = predecessors
        self.blocks = {KIND_NAMES[k]: result.class_blocks[k] for k in KIND_NAMES}
        self.bytes = {KIND_NAMES[k]: result.class_bytes[k] for k in KIND_NAMES}
        self.scanned_bytes = result.scanned_bytes
        self.unreadable_bytes = result.unreadable_bytes

    def kind(self, i):
        return KIND_NAMES[self.kinds[i]]

    def heuristic(self, i):
        """The heuristic alone that keeps still-reachable block i, or None."""
        return HEURISTIC_NAMES.get(self._heuristics[i])

    def predecessor(self, i):
        """The Ref that gave block i its class, or None (definitely lost);
        only when classify() was asked for predecessors."""
        if self._predecessors is None:
            raise ScanError("predecessors were not asked for")
        return _to_ref(self._predecessors[i])

    def chain(self, i, limit=None):
        """[Ref, ...] from a root (or a lost block with no predecessor) to
        block i, following predecessors; bounded by the block count."""
        refs = []
        seen = set()
        limit = len(self.kinds) if limit is None else limit
        while len(refs) <= limit:
            ref = self.predecessor(i)
            if ref is None or i in seen:
                break
            seen.add(i)
            refs.append(ref)
            if ref.source != "block":
                break
            i = ref.index
        refs.reverse()
        return refs


class _PyBuffer(ctypes.Structure):
    """CPython's Py_buffer, to pin read-only buffers (an mmap of a core file)
    without copying them."""
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p),
                ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p),
                ("strides", ctypes.c_void_p), ("suboffsets", ctypes.c_void_p),
                ("internal", ctypes.c_void_p)]


class _Pins:
    """What must stay alive (and pinned) while the library reads it."""

    def __init__(self):
        self._objects = []
        self._buffers = []

    def keep(self, obj):
        self._objects.append(obj)

    def address(self, data):
        """Address of a bytes-like object's memory, or None when empty."""
        if isinstance(data, bytes):
            self._objects.append(data)
            return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
        view = memoryview(data)
        if view.nbytes == 0:
            return None
        if not view.readonly and view.contiguous:
            holder = (ctypes.c_char * view.nbytes).from_buffer(view.cast("B"))
            self._objects.append(holder)
            return ctypes.addressof(holder)
        if view.contiguous:
            pinned = _PyBuffer()
            try:
                ctypes.pythonapi.PyObject_GetBuffer(ctypes.py_object(data), ctypes.byref(pinned), 0)
            except Exception:  # no buffer protocol through ctypes here: copy
                pinned = None
            if pinned is not None:
                self._buffers.append(pinned)
                return pinned.buf
        return self.address(view.tobytes())

    def release(self):
        for pinned in self._buffers:
            ctypes.pythonapi.PyBuffer_Release(ctypes.byref(pinned))
        self._buffers = []
        self._objects = []


def pack_blocks(addresses, sizes):
    """The blocks array the scanner takes (array('Q') of address, size
    pairs), from two sequences of equal length, sorted by address."""
    if len(addresses) != len(sizes):
        raise ScanError("%d block addresses but %d sizes" % (len(addresses), len(sizes)))
    packed = array.array("Q", bytes(16 * len(addresses)))
    packed[0::2] = array.array("Q", addresses)
    packed[1::2] = array.array("Q", sizes)
    return packed


class Scanner:
    """The loaded library."""

    def __init__(self, path):
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise ScanError("cannot load the scanner library %s: %s" % (path, e)) from None
        self.path = path
        lib.memleak_scan_version.restype = ctypes.c_uint32
        lib.memleak_scan_version.argtypes = []
        version = lib.memleak_scan_version()
        if version != VERSION:
            raise ScanError("the scanner library %s has version %d, this extension needs %d"
                            % (path, version, VERSION))
        lib.memleak_scan_classify.restype = ctypes.c_int
        lib.memleak_scan_classify.argtypes = [ctypes.POINTER(_Input), ctypes.POINTER(_Result)]
        lib.memleak_scan_who.restype = ctypes.c_int
        lib.memleak_scan_who.argtypes = [ctypes.POINTER(_Input), ctypes.POINTER(_Who)]
        self._lib = lib

    def _input(self, blocks, segments, roots, heuristics, pins):
        if not isinstance(blocks, array.array) or blocks.typecode != "Q":
            flat = array.array("Q")
            for address, size in blocks:
                flat.append(address)
                flat.append(size)
            blocks = flat
        pins.keep(blocks)
        count = len(blocks) // 2
        segs = (_Segment * max(len(segments), 1))()
        for i, s in enumerate(segments):
            segs[i].address = s.address
            if s.data is None:
                segs[i].length = s.length or 0
                segs[i].bytes = None
            else:
                segs[i].length = memoryview(s.data).nbytes
                segs[i].bytes = pins.address(s.data)
            segs[i].flags = s.flags
        rts = (_Root * max(len(roots), 1))()
        for i, r in enumerate(roots):
            rts[i].address = r.address
            rts[i].kind = r.kind
            rts[i].owner = r.owner
            if r.data is None:
                rts[i].length = r.length
            else:
                rts[i].length = memoryview(r.data).nbytes
                rts[i].bytes = pins.address(r.data)
        pins.keep(segs)
        pins.keep(rts)
        inp = _Input()
        inp.blocks = blocks.buffer_info()[0] if count else None
        inp.block_count = count
        inp.segments = ctypes.addressof(segs)
        inp.segment_count = len(segments)
        inp.roots = ctypes.addressof(rts)
        inp.root_count = len(roots)
        inp.heuristics = heuristics
        return inp, count

    def classify(self, blocks, segments, roots, heuristics=ALL_HEURISTICS, predecessors=False):
        """Classifies every block. `blocks`: (address, size) pairs or
        pack_blocks(); `segments`: [Segment]; `roots`: [Root]."""
        pins = _Pins()
        try:
            inp, count = self._input(blocks, segments, roots, heuristics, pins)
            kinds = (ctypes.c_uint8 * max(count, 1))()
            heur = (ctypes.c_uint8 * max(count, 1))()
            preds = (_Ref * max(count, 1))() if predecessors else None
            result = _Result()
            result.kinds = ctypes.addressof(kinds)
            result.heuristics = ctypes.addressof(heur)
            result.predecessors = ctypes.addressof(preds) if preds is not None else None
            status = self._lib.memleak_scan_classify(ctypes.byref(inp), ctypes.byref(result))
        finally:
            pins.release()
        if status != 0:
            raise ScanError("scanner: " + result.message.decode("utf-8", "replace"))
        return Classification(bytes(kinds)[:count], bytes(heur)[:count], preds, result)

    def who(self, blocks, segments, roots, target, limit=1000, heuristics=ALL_HEURISTICS):
        """([Ref, ...], total): pointers into block index `target`, at most
        `limit` of them listed; `total` counts them all."""
        pins = _Pins()
        try:
            inp, _ = self._input(blocks, segments, roots, heuristics, pins)
            refs = (_Ref * max(limit, 1))()
            query = _Who()
            query.target = target
            query.refs = ctypes.addressof(refs)
            query.capacity = limit
            status = self._lib.memleak_scan_who(ctypes.byref(inp), ctypes.byref(query))
        finally:
            pins.release()
        if status != 0:
            raise ScanError("scanner: " + query.message.decode("utf-8", "replace"))
        return [_to_ref(refs[i]) for i in range(min(query.total, limit))], query.total


def candidates():
    """Where the library is looked for, in order."""
    env = os.environ.get("MEMLEAK_SCAN_LIB")
    if env:
        return [env]
    package = os.path.dirname(os.path.abspath(__file__))
    extension = os.path.dirname(package)  # share/memleak/gdb, or the source tree's gdb/
    found = [os.path.join(extension, LIBRARY_NAME)]
    build = os.environ.get("MEMLEAK_BUILD_DIR")
    if build:
        found.append(os.path.join(build, "gdb", LIBRARY_NAME))
    found.append(os.path.join(os.path.dirname(extension), "build", "gdb", LIBRARY_NAME))
    return found


_loaded = {}


def load():
    """The Scanner, loaded once; ScanError naming where it looked if absent."""
    paths = candidates()
    for path in paths:
        if os.path.isfile(path):
            if path not in _loaded:
                _loaded[path] = Scanner(path)
            return _loaded[path]
    raise ScanError("the scanner library %s is missing (looked at %s); build it with "
                    "`cmake --build BUILD --target memleak-scan` or set MEMLEAK_SCAN_LIB"
                    % (LIBRARY_NAME, ", ".join(paths)))
