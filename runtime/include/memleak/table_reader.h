/*
 * memleak table reader: a validated walk of the runtime's table (abi.h)
 * over memory the caller reads for it.
 *
 * The caller is the "parent tool", as in LSan's lsan_common.h: it supplies
 * one function that copies bytes at an address (the process's own memory,
 * a core file's segments, bytes gdb read from a live process) and decides
 * what else its setting allows (the in-process exit report takes each
 * shard's lock around the shard's walk; a reader outside the process cannot
 * and reads it as it is). Everything else (which addresses to read, in
 * which strides, and every check on a pointer or count before it is
 * followed) is here, once.
 *
 * The reader trusts nothing it reads: every pointer is checked to be a
 * nonzero, aligned user-space address, every count against the bounds the
 * root publishes and against sanity limits, the layout against abi.h, so a
 * corrupt or foreign table ends in a status and one line in
 * memleak_table_t.error, never in a fault of its own, a long loop or a huge
 * read. It allocates nothing, keeps no state besides memleak_table_t, uses
 * no thread-local storage and no libunwind: it runs inside hooks, at exit,
 * in a test program, or loaded by another process.
 */
#ifndef MEMLEAK_TABLE_READER_H
#define MEMLEAK_TABLE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "memleak/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes returned by the entry points. */
enum {
    MEMLEAK_TABLE_OK = 0,
    MEMLEAK_TABLE_EREAD = 1,      /* the source could not read memory the table points to */
    MEMLEAK_TABLE_ENOT_READY = 2, /* the magic is still 0: the runtime has not set the table up */
    MEMLEAK_TABLE_EMAGIC = 3,     /* no memleak table at that address */
    MEMLEAK_TABLE_EVERSION = 4,   /* an ABI version this reader does not know */
    MEMLEAK_TABLE_ECORRUPT = 5,   /* a pointer, count or layout that no runtime writes */
    MEMLEAK_TABLE_STOPPED = 6     /* the visitor asked to stop */
};

/* Copies `n` bytes at `address` to `buf`: 0, or nonzero when that memory
 * cannot be read. */
typedef int (*memleak_table_read_fn)(void *ctx, uint64_t address, void *buf, size_t n);

/* Reads this process's own memory (memcpy): for a reader inside the
 * process whose table it reads. */
int memleak_table_read_self(void *ctx, uint64_t address, void *buf, size_t n);

/* An open table: the root as read and checked, and where to read the rest. */
typedef struct memleak_table_t {
    memleak_table_read_fn read;
    void *ctx;
    uint64_t root;               /* address of memleak_introspect */
    memleak_introspect_t header; /* the root's first sizeof(memleak_introspect_t) bytes */
    char error[160];             /* what the last failure was, one line, NUL-terminated */
} memleak_table_t;

/* Reads and checks the root at `root`. */
int memleak_table_open(memleak_table_t *t, memleak_table_read_fn read, void *ctx, uint64_t root);

/* Address of shard `index`'s struct, for a caller that locks it. */
uint64_t memleak_table_shard_address(const memleak_table_t *t, uint32_t index);

/* Reads shard `index` and checks its counts. */
int memleak_table_shard(memleak_table_t *t, uint32_t index, memleak_shard_t *out);

/* One live block, decoded from its record. */
typedef struct memleak_table_block_t {
    uint64_t address;
    uint64_t size;
    uint64_t seq;
    uint32_t ticks;
    uint32_t tid;
    uint32_t stack_id;
    uint32_t shard;
} memleak_table_block_t;

/* Called for each live block; nonzero stops the walk (MEMLEAK_TABLE_STOPPED). */
typedef int (*memleak_table_visit_fn)(void *ctx, const memleak_table_block_t *block);

/* Calls `visit` for every live record of `shard` (as read by
 * memleak_table_shard, whose index is `index`), chunk by chunk. */
int memleak_table_shard_blocks(memleak_table_t *t, uint32_t index, const memleak_shard_t *shard,
                               memleak_table_visit_fn visit, void *ctx);

/* Calls `visit` for every live record of every shard. */
int memleak_table_blocks(memleak_table_t *t, memleak_table_visit_fn visit, void *ctx);

/* Where stack `id` lies and what its header says. */
typedef struct memleak_table_stack_t {
    uint64_t address; /* of its memleak_stack_t header */
    uint64_t pcs;     /* of its `depth` return addresses, innermost first */
    uint32_t depth;
    uint32_t flags; /* MEMLEAK_STACK_* */
} memleak_table_stack_t;

/* Finds stack `id` (nonzero) in the depot and checks it lies inside its
 * chunk with a depth up to max_depth. */
int memleak_table_stack(memleak_table_t *t, uint32_t id, memleak_table_stack_t *out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MEMLEAK_TABLE_READER_H */
