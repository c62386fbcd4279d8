/*
 * memleak introspection ABI, version 1.
 *
 * The runtime exports exactly one object, `memleak_introspect`, of type
 * `memleak_introspect_t`. A reader (the gdb extension, or the runtime's
 * own exit report) finds it by symbol and walks everything else from it by
 * plain memory reads, so a live process and a core file read the same.
 *
 * Types carry a `_t` suffix so that no type shares a name with the object
 * `memleak_introspect` or the function `memleak_mark` (a debugger looking
 * up the object must not find a typedef instead).
 *
 * Rules that keep a reader from another build working:
 *   - Fixed-width fields only, no bitfields, no pointers as C pointers:
 *     addresses are uint64_t. Little-endian x86-64 and aarch64 only.
 *   - Every record type's size and field offsets are published below, in
 *     the header itself, so a reader can check or follow them.
 *   - Fields are only ever appended (into the reserved space, or by growing
 *     `size` and the record sizes). A change that moves a field or changes
 *     its meaning must bump MEMLEAK_ABI_VERSION.
 *
 * Consistency: a record is written completely before its `address` is
 * stored (release order); `address == 0` marks an unused slot. A stack is
 * written completely before its id can appear in any record. A reader that
 * finds a nonzero lock word has stopped the process inside a critical
 * section: it reads the shard anyway and reports it as "in flux" (at worst
 * one block that was being recorded or freed is missing or still present).
 */
#ifndef MEMLEAK_ABI_H
#define MEMLEAK_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MEMLEAK_ABI_MAGIC UINT64_C(0x314b41454c4d454d) /* "MEMLEAK1" */
#define MEMLEAK_ABI_VERSION 1u

/* Mark names are NUL-terminated and at most this many bytes with the NUL. */
#define MEMLEAK_MARK_NAME_SIZE 48u

/*
 * One live heap block, 32 bytes. Sizes and sequence numbers are 48-bit
 * (256 TiB, 2.8e14 allocations) so that metadata stays small.
 *   size = size_lo | (uint64_t)size_hi << 32
 *   seq  = seq_lo  | (uint64_t)seq_hi  << 32
 */
typedef struct memleak_record_t {
    uint64_t address;  /* the pointer the program got; 0: slot unused */
    uint32_t size_lo;  /* requested size, low 32 bits */
    uint16_t size_hi;  /* requested size, bits 32..47 */
    uint16_t seq_hi;   /* sequence number, bits 32..47 */
    uint32_t seq_lo;   /* sequence number, low 32 bits; 1 is the first */
    uint32_t ticks;    /* allocation time: tick_ns units since start_monotonic_ns */
    uint32_t tid;      /* kernel thread id (gettid) of the allocating thread */
    uint32_t stack_id; /* stack depot id; 0: no stack was captured */
} memleak_record_t;

/*
 * One shard of the live-block table. Records live in fixed-size chunks of
 * `records_per_chunk` records; `chunks` points to an array of `chunk_count`
 * chunk addresses. Counters cover this shard only; a reader sums them.
 */
typedef struct memleak_shard_t {
    uint32_t lock;        /* 0: free; nonzero: a thread is changing the shard */
    uint32_t chunk_count; /* record chunks in use */
    uint64_t chunks;      /* address of uint64_t[chunk_count] chunk addresses */
    uint64_t live_count;  /* live blocks recorded in this shard */
    uint64_t live_bytes;  /* their requested bytes */
    uint64_t allocs;      /* allocations ever recorded here */
    uint64_t frees;       /* recorded blocks freed (or reallocated) */
    uint32_t last_ticks;  /* ticks of the last change to this shard */
    uint32_t reserved0;
    uint64_t reserved[8];
} memleak_shard_t;

/*
 * One interned stack in the depot: this header, then `depth` uint64_t
 * return addresses, innermost (the allocation's call site) first. Entries
 * are 8-byte aligned and never cross a chunk. The stack id of an entry is
 * 1 + its offset in 8-byte words from the start of chunk 0, counting every
 * chunk as `stack_chunk_size` bytes: chunk = (id - 1) / (stack_chunk_size / 8).
 */
typedef struct memleak_stack_t {
    uint32_t hash;  /* hash of the return addresses */
    uint16_t depth; /* number of return addresses that follow; 0: chunk tail, unused */
    uint16_t flags; /* MEMLEAK_STACK_TRUNCATED */
    /* uint64_t pcs[depth] follows */
} memleak_stack_t;

#define MEMLEAK_STACK_TRUNCATED 1u /* deeper frames existed beyond max_depth */

/* A named point in the allocation sequence, set by memleak_mark() or gdb. */
typedef struct memleak_mark_t {
    char name[MEMLEAK_MARK_NAME_SIZE]; /* NUL-terminated */
    uint64_t seq;   /* last sequence number issued when the mark was set */
    uint32_t ticks; /* time of the mark, same clock as records */
    uint32_t state; /* MEMLEAK_MARK_EMPTY, _WRITING or _VALID */
} memleak_mark_t;

#define MEMLEAK_MARK_EMPTY 0u
#define MEMLEAK_MARK_WRITING 1u
#define MEMLEAK_MARK_VALID 2u

/* Bits of memleak_introspect_t.flags. */
#define MEMLEAK_FLAG_RECORDING 1u /* stacks and records are being captured */
#define MEMLEAK_FLAG_DISABLED 2u  /* recording stopped for good (out of memory) */

/* Indices into the layout arrays of memleak_introspect_t. */
enum {
    MEMLEAK_RECORD_ADDRESS, MEMLEAK_RECORD_SIZE_LO, MEMLEAK_RECORD_SIZE_HI,
    MEMLEAK_RECORD_SEQ_HI, MEMLEAK_RECORD_SEQ_LO, MEMLEAK_RECORD_TICKS,
    MEMLEAK_RECORD_TID, MEMLEAK_RECORD_STACK_ID
};
enum {
    MEMLEAK_SHARD_LOCK, MEMLEAK_SHARD_CHUNK_COUNT, MEMLEAK_SHARD_CHUNKS,
    MEMLEAK_SHARD_LIVE_COUNT, MEMLEAK_SHARD_LIVE_BYTES, MEMLEAK_SHARD_ALLOCS,
    MEMLEAK_SHARD_FREES, MEMLEAK_SHARD_LAST_TICKS
};
enum { MEMLEAK_STACK_HASH, MEMLEAK_STACK_DEPTH, MEMLEAK_STACK_FLAGS, MEMLEAK_STACK_PCS };
enum { MEMLEAK_MARK_NAME, MEMLEAK_MARK_SEQ, MEMLEAK_MARK_TICKS, MEMLEAK_MARK_STATE };

/* The root object. 416 bytes in version 1. */
typedef struct memleak_introspect_t {
    /* Identity: a reader checks these three first. */
    uint64_t magic;   /* MEMLEAK_ABI_MAGIC */
    uint32_t version; /* MEMLEAK_ABI_VERSION */
    uint32_t size;    /* sizeof(memleak_introspect_t) of the writer */

    /* Layout of every record type: sizes, then field offsets. */
    uint32_t record_size;       /* sizeof(memleak_record_t) */
    uint32_t shard_size;        /* sizeof(memleak_shard_t) */
    uint32_t stack_header_size; /* sizeof(memleak_stack_t) */
    uint32_t mark_size;         /* sizeof(memleak_mark_t) */
    uint16_t record_offsets[8]; /* indexed by MEMLEAK_RECORD_* */
    uint16_t shard_offsets[8];  /* indexed by MEMLEAK_SHARD_* */
    uint16_t stack_offsets[4];  /* indexed by MEMLEAK_STACK_* */
    uint16_t mark_offsets[4];   /* indexed by MEMLEAK_MARK_* */

    /* The live-block table. */
    uint64_t shards;               /* address of memleak_shard_t[shard_count] */
    uint32_t shard_count;          /* a power of two */
    uint32_t records_per_chunk;    /* records in one record chunk */
    uint32_t max_chunks_per_shard; /* bound on memleak_shard_t.chunk_count */
    uint32_t max_depth;            /* MEMLEAK_DEPTH: bound on memleak_stack_t.depth */

    /* The stack depot. */
    uint64_t stack_chunks;      /* address of uint64_t[stack_chunk_count] chunk addresses */
    uint32_t stack_chunk_count; /* depot chunks in use */
    uint32_t stack_chunk_size;  /* bytes in one depot chunk, a multiple of 8 */
    uint64_t stack_count;       /* distinct stacks interned */
    uint32_t stack_lock;        /* nonzero: a thread is adding a stack */
    uint32_t max_stack_chunks;  /* bound on stack_chunk_count */

    /* The marks table. */
    uint64_t marks;         /* address of memleak_mark_t[mark_capacity] */
    uint32_t mark_capacity; /* slots in the marks table */
    uint32_t mark_count;    /* slots claimed so far (next free slot) */

    /* Counters. Live counts and bytes are the sums over the shards. */
    uint64_t seq;             /* last sequence number issued (0: none yet) */
    uint64_t live_bytes;      /* global live bytes, kept for peak_bytes */
    uint64_t peak_bytes;      /* highest live_bytes seen */
    uint64_t dropped_records; /* allocations that could not be recorded */
    uint64_t dropped_stacks;  /* stacks that could not be stored (stack_id 0) */
    uint64_t untracked_frees; /* frees of blocks the table did not hold */
    uint64_t bootstrap_bytes; /* bytes served by the bootstrap arena */

    /* Process and clock. */
    int32_t pid;                 /* getpid() of the process (updated after fork) */
    uint32_t flags;              /* MEMLEAK_FLAG_* */
    uint64_t start_realtime_ns;  /* CLOCK_REALTIME when the runtime started */
    uint64_t start_monotonic_ns; /* CLOCK_MONOTONIC at the same moment */
    uint64_t tick_ns;            /* length of one tick (record and mark times) */
    char runtime_version[16];    /* NUL-terminated, e.g. "1.0.0" */

    uint64_t reserved[20];
} memleak_introspect_t;

/* The root object itself, defined by libmemleak.so. */
extern memleak_introspect_t memleak_introspect;

#ifdef __cplusplus
} /* extern "C" */
#endif

#if defined(__cplusplus)
#define MEMLEAK_ABI_ASSERT(e, m) static_assert(e, m)
#else
#define MEMLEAK_ABI_ASSERT(e, m) _Static_assert(e, m)
#endif

/* The layout is the contract: a reader in Python mirrors these numbers. */
MEMLEAK_ABI_ASSERT(sizeof(memleak_record_t) == 32, "record size");
MEMLEAK_ABI_ASSERT(offsetof(memleak_record_t, address) == 0, "record.address");
MEMLEAK_ABI_ASSERT(offsetof(memleak_record_t, size_lo) == 8, "record.size_lo");
MEMLEAK_ABI_ASSERT(offsetof(memleak_record_t, size_hi) == 12, "record.size_hi");
MEMLEAK_ABI_ASSERT(offsetof(memleak_record_t, seq_hi) == 14, "record.seq_hi");
MEMLEAK_ABI_ASSERT(offsetof(memleak_record_t, seq_lo) == 16, "record.seq_lo");
MEMLEAK_ABI_ASSERT(offsetof(memleak_record_t, ticks) == 20, "record.ticks");
MEMLEAK_ABI_ASSERT(offsetof(memleak_record_t, tid) == 24, "record.tid");
MEMLEAK_ABI_ASSERT(offsetof(memleak_record_t, stack_id) == 28, "record.stack_id");

MEMLEAK_ABI_ASSERT(sizeof(memleak_shard_t) == 120, "shard size");
MEMLEAK_ABI_ASSERT(offsetof(memleak_shard_t, lock) == 0, "shard.lock");
MEMLEAK_ABI_ASSERT(offsetof(memleak_shard_t, chunk_count) == 4, "shard.chunk_count");
MEMLEAK_ABI_ASSERT(offsetof(memleak_shard_t, chunks) == 8, "shard.chunks");
MEMLEAK_ABI_ASSERT(offsetof(memleak_shard_t, live_count) == 16, "shard.live_count");
MEMLEAK_ABI_ASSERT(offsetof(memleak_shard_t, live_bytes) == 24, "shard.live_bytes");
MEMLEAK_ABI_ASSERT(offsetof(memleak_shard_t, allocs) == 32, "shard.allocs");
MEMLEAK_ABI_ASSERT(offsetof(memleak_shard_t, frees) == 40, "shard.frees");
MEMLEAK_ABI_ASSERT(offsetof(memleak_shard_t, last_ticks) == 48, "shard.last_ticks");

MEMLEAK_ABI_ASSERT(sizeof(memleak_stack_t) == 8, "stack header size");
MEMLEAK_ABI_ASSERT(offsetof(memleak_stack_t, hash) == 0, "stack.hash");
MEMLEAK_ABI_ASSERT(offsetof(memleak_stack_t, depth) == 4, "stack.depth");
MEMLEAK_ABI_ASSERT(offsetof(memleak_stack_t, flags) == 6, "stack.flags");

MEMLEAK_ABI_ASSERT(sizeof(memleak_mark_t) == 64, "mark size");
MEMLEAK_ABI_ASSERT(offsetof(memleak_mark_t, name) == 0, "mark.name");
MEMLEAK_ABI_ASSERT(offsetof(memleak_mark_t, seq) == 48, "mark.seq");
MEMLEAK_ABI_ASSERT(offsetof(memleak_mark_t, ticks) == 56, "mark.ticks");
MEMLEAK_ABI_ASSERT(offsetof(memleak_mark_t, state) == 60, "mark.state");

MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, magic) == 0, "introspect.magic");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, version) == 8, "introspect.version");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, size) == 12, "introspect.size");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, record_size) == 16, "introspect.record_size");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, record_offsets) == 32, "introspect.record_offsets");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, shard_offsets) == 48, "introspect.shard_offsets");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, stack_offsets) == 64, "introspect.stack_offsets");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, mark_offsets) == 72, "introspect.mark_offsets");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, shards) == 80, "introspect.shards");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, shard_count) == 88, "introspect.shard_count");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, records_per_chunk) == 92, "introspect.records_per_chunk");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, max_chunks_per_shard) == 96, "introspect.max_chunks_per_shard");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, max_depth) == 100, "introspect.max_depth");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, stack_chunks) == 104, "introspect.stack_chunks");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, stack_chunk_count) == 112, "introspect.stack_chunk_count");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, stack_chunk_size) == 116, "introspect.stack_chunk_size");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, stack_count) == 120, "introspect.stack_count");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, stack_lock) == 128, "introspect.stack_lock");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, max_stack_chunks) == 132, "introspect.max_stack_chunks");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, marks) == 136, "introspect.marks");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, mark_capacity) == 144, "introspect.mark_capacity");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, mark_count) == 148, "introspect.mark_count");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, seq) == 152, "introspect.seq");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, live_bytes) == 160, "introspect.live_bytes");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, peak_bytes) == 168, "introspect.peak_bytes");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, dropped_records) == 176, "introspect.dropped_records");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, dropped_stacks) == 184, "introspect.dropped_stacks");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, untracked_frees) == 192, "introspect.untracked_frees");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, bootstrap_bytes) == 200, "introspect.bootstrap_bytes");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, pid) == 208, "introspect.pid");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, flags) == 212, "introspect.flags");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, start_realtime_ns) == 216, "introspect.start_realtime_ns");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, start_monotonic_ns) == 224, "introspect.start_monotonic_ns");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, tick_ns) == 232, "introspect.tick_ns");
MEMLEAK_ABI_ASSERT(offsetof(memleak_introspect_t, runtime_version) == 240, "introspect.runtime_version");
MEMLEAK_ABI_ASSERT(sizeof(memleak_introspect_t) == 416, "introspect size");

#endif /* MEMLEAK_ABI_H */
