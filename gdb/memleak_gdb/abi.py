"""Python mirror of runtime/include/memleak/abi.h, version 1.

The numbers here must equal the header's static_asserts; a unit test
compares them. The reader does not rely on them blindly: it checks that the
writer's published sizes and offsets agree with these for every field this
reader knows, and follows the published sizes (which may grow when fields
are appended) for strides.
"""

import struct

MAGIC = 0x314B41454C4D454D  # "MEMLEAK1"
VERSION = 1
MARK_NAME_SIZE = 48

STACK_TRUNCATED = 1

MARK_EMPTY = 0
MARK_WRITING = 1
MARK_VALID = 2

FLAG_RECORDING = 1
FLAG_DISABLED = 2

# (field name, struct code) in the order of the header's index enums; the
# offsets are the header's static_asserts.
RECORD_FIELDS = [
    ("address", "Q", 0),
    ("size_lo", "I", 8),
    ("size_hi", "H", 12),
    ("seq_hi", "H", 14),
    ("seq_lo", "I", 16),
    ("ticks", "I", 20),
    ("tid", "I", 24),
    ("stack_id", "I", 28),
]
RECORD_SIZE = 32

SHARD_FIELDS = [
    ("lock", "I", 0),
    ("chunk_count", "I", 4),
    ("chunks", "Q", 8),
    ("live_count", "Q", 16),
    ("live_bytes", "Q", 24),
    ("allocs", "Q", 32),
    ("frees", "Q", 40),
    ("last_ticks", "I", 48),
]
SHARD_SIZE = 120

STACK_FIELDS = [
    ("hash", "I", 0),
    ("depth", "H", 4),
    ("flags", "H", 6),
    ("pcs", "", 8),
]
STACK_HEADER_SIZE = 8

MARK_FIELDS = [
    ("name", "%ds" % MARK_NAME_SIZE, 0),
    ("seq", "Q", 48),
    ("ticks", "I", 56),
    ("state", "I", 60),
]
MARK_SIZE = 64

# The root object: (field, struct code, offset).
INTROSPECT_FIELDS = [
    ("magic", "Q", 0),
    ("version", "I", 8),
    ("size", "I", 12),
    ("record_size", "I", 16),
    ("shard_size", "I", 20),
    ("stack_header_size", "I", 24),
    ("mark_size", "I", 28),
    ("record_offsets", "8H", 32),
    ("shard_offsets", "8H", 48),
    ("stack_offsets", "4H", 64),
    ("mark_offsets", "4H", 72),
    ("shards", "Q", 80),
    ("shard_count", "I", 88),
    ("records_per_chunk", "I", 92),
    ("max_chunks_per_shard", "I", 96),
    ("max_depth", "I", 100),
    ("stack_chunks", "Q", 104),
    ("stack_chunk_count", "I", 112),
    ("stack_chunk_size", "I", 116),
    ("stack_count", "Q", 120),
    ("stack_lock", "I", 128),
    ("max_stack_chunks", "I", 132),
    ("marks", "Q", 136),
    ("mark_capacity", "I", 144),
    ("mark_count", "I", 148),
    ("seq", "Q", 152),
    ("live_bytes", "Q", 160),
    ("peak_bytes", "Q", 168),
    ("dropped_records", "Q", 176),
    ("dropped_stacks", "Q", 184),
    ("untracked_frees", "Q", 192),
    ("bootstrap_bytes", "Q", 200),
    ("pid", "i", 208),
    ("flags", "I", 212),
    ("start_realtime_ns", "Q", 216),
    ("start_monotonic_ns", "Q", 224),
    ("tick_ns", "Q", 232),
    ("runtime_version", "16s", 240),
]
INTROSPECT_SIZE = 416

# Where a marks slot's fields sit, for the `mark` command's writes.
MARK_OFFSETS = {name: off for name, _, off in MARK_FIELDS}
INTROSPECT_OFFSETS = {name: off for name, _, off in INTROSPECT_FIELDS}


def struct_format(fields, size):
    """A little-endian struct format laying `fields` out at their offsets
    and padding to `size` bytes. Fields with an empty code are skipped."""
    parts = ["<"]
    pos = 0
    for _, code, off in sorted(((n, c, o) for n, c, o in fields if c), key=lambda f: f[2]):
        if off < pos:
            raise ValueError("overlapping fields at offset %d" % off)
        if off > pos:
            parts.append("%dx" % (off - pos))
        parts.append(code)
        pos = off + _code_size(code)
    if size < pos:
        raise ValueError("fields end at %d, past the size %d" % (pos, size))
    if size > pos:
        parts.append("%dx" % (size - pos))
    return "".join(parts)


def _code_size(code):
    return struct.calcsize("<" + code)


def field_names(fields):
    """Names of the fields a struct_format of `fields` yields, in order, with
    array fields expanded to name[i]."""
    names = []
    for name, code, _ in sorted((f for f in fields if f[1]), key=lambda f: f[2]):
        count = int(code[:-1]) if code[:-1].isdigit() and code[-1] != "s" else 1
        if count == 1:
            names.append(name)
        else:
            names.extend("%s[%d]" % (name, i) for i in range(count))
    return names
