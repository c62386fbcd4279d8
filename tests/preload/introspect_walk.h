/*
 * Test-side access to the runtime's table: finds memleak_introspect_t with
 * dlsym and reads it with the table reader (memleak/table_reader.h) over
 * this process's memory, through the ABI only, as gdb would. Shared by the
 * C and C++ preload tests.
 */
#ifndef MEMLEAK_TEST_INTROSPECT_WALK_H
#define MEMLEAK_TEST_INTROSPECT_WALK_H

#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memleak/abi.h"
#include "memleak/table_reader.h"

static int ml_failures __attribute__((unused));

#define ML_CHECK(cond)                                                               \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            ++ml_failures;                                                           \
        }                                                                            \
    } while (0)

/* The root, or NULL without the runtime. With MEMLEAK_TEST_PRELOADED set, a
 * missing runtime is a failure: the checks must not pass by skipping. */
static inline const memleak_introspect_t *ml_root(void) {
    const memleak_introspect_t *ix = (const memleak_introspect_t *)dlsym(RTLD_DEFAULT, "memleak_introspect");
    if (!ix && getenv("MEMLEAK_TEST_PRELOADED")) {
        fprintf(stderr, "memleak_introspect not found although the runtime should be preloaded\n");
        exit(2);
    }
    return ix;
}

/* The table behind ix, opened with the reader; a table it refuses is a
 * failure of the test. */
static inline int ml_open(const memleak_introspect_t *ix, memleak_table_t *t) {
    if (memleak_table_open(t, memleak_table_read_self, NULL, (uint64_t)(uintptr_t)ix) == MEMLEAK_TABLE_OK)
        return 1;
    fprintf(stderr, "table reader: %s\n", t->error);
    ++ml_failures;
    return 0;
}

static inline uint64_t ml_size(const memleak_record_t *r) { return r->size_lo | (uint64_t)r->size_hi << 32; }
static inline uint64_t ml_seq(const memleak_record_t *r) { return r->seq_lo | (uint64_t)r->seq_hi << 32; }

typedef void (*ml_visit_fn)(const memleak_record_t *r, void *ctx);

struct ml_walk_ctx {
    ml_visit_fn visit;
    void *ctx;
};

/* A block as the record it was decoded from. */
static inline int ml_walk_visit(void *p, const memleak_table_block_t *b) {
    struct ml_walk_ctx *w = (struct ml_walk_ctx *)p;
    memleak_record_t r;
    memset(&r, 0, sizeof r);
    r.address = b->address;
    r.size_lo = (uint32_t)b->size;
    r.size_hi = (uint16_t)(b->size >> 32);
    r.seq_lo = (uint32_t)b->seq;
    r.seq_hi = (uint16_t)(b->seq >> 32);
    r.ticks = b->ticks;
    r.tid = b->tid;
    r.stack_id = b->stack_id;
    w->visit(&r, w->ctx);
    return 0;
}

/* Calls visit for every live record. */
static inline void ml_walk(const memleak_introspect_t *ix, ml_visit_fn visit, void *ctx) {
    memleak_table_t t;
    struct ml_walk_ctx w = {visit, ctx};
    if (!ml_open(ix, &t))
        return;
    if (memleak_table_blocks(&t, ml_walk_visit, &w) != MEMLEAK_TABLE_OK) {
        fprintf(stderr, "table reader: %s\n", t.error);
        ++ml_failures;
    }
}

struct ml_find_ctx {
    uint64_t address;
    memleak_record_t found;
    int hits;
};

static inline void ml_find_visit(const memleak_record_t *r, void *ctx) {
    struct ml_find_ctx *f = (struct ml_find_ctx *)ctx;
    if (r->address == f->address) {
        f->found = *r;
        ++f->hits;
    }
}

/* The record of p: 1 when exactly one exists (copied to *out), else 0. */
static inline int ml_find(const memleak_introspect_t *ix, const void *p, memleak_record_t *out) {
    struct ml_find_ctx f;
    memset(&f, 0, sizeof f);
    f.address = (uint64_t)(uintptr_t)p;
    if (out)
        memset(out, 0, sizeof *out);
    ml_walk(ix, ml_find_visit, &f);
    if (f.hits == 1 && out)
        *out = f.found;
    return f.hits == 1;
}

/* Sums of the shard counters. */
static inline void ml_totals(const memleak_introspect_t *ix, uint64_t *count, uint64_t *bytes) {
    memleak_table_t t;
    memleak_shard_t shard;
    *count = 0;
    *bytes = 0;
    if (!ml_open(ix, &t))
        return;
    for (uint32_t s = 0; s < t.header.shard_count; ++s) {
        if (memleak_table_shard(&t, s, &shard) != MEMLEAK_TABLE_OK) {
            fprintf(stderr, "table reader: %s\n", t.error);
            ++ml_failures;
            return;
        }
        *count += shard.live_count;
        *bytes += shard.live_bytes;
    }
}

struct ml_sum_ctx {
    uint64_t count, bytes;
};

static inline void ml_sum_visit(const memleak_record_t *r, void *ctx) {
    struct ml_sum_ctx *s = (struct ml_sum_ctx *)ctx;
    ++s->count;
    s->bytes += ml_size(r);
}

/* The shard counters agree with the records they count. */
/* Whether [addr, addr + len) lies inside one published region of `kind`. */
static inline int ml_in_region(const memleak_introspect_t *ix, uint64_t addr, uint64_t len, uint32_t kind) {
    const uint64_t *dir = (const uint64_t *)(uintptr_t)ix->region_chunks;
    for (uint32_t c = 0; c < ix->region_chunk_count; ++c) {
        const char *chunk = (const char *)(uintptr_t)dir[c];
        for (uint32_t i = 0; i < ix->regions_per_chunk; ++i) {
            const memleak_region_t *r = (const memleak_region_t *)(chunk + (uint64_t)i * ix->region_size);
            if (r->start != 0 && r->size != 0 && r->kind == kind && addr >= r->start &&
                addr + len <= r->start + r->size)
                return 1;
        }
    }
    return 0;
}

static inline void ml_region_visit(const memleak_record_t *r, void *ctx) {
    const memleak_introspect_t *ix = (const memleak_introspect_t *)ctx;
    for (uint32_t kind = MEMLEAK_REGION_REGIONS; kind <= MEMLEAK_REGION_STACK; ++kind)
        ML_CHECK(!ml_in_region(ix, r->address, 1, kind));
}

/* Every part of the table a reader walks is one of the runtime's published
 * regions, and no live block is. */
static inline void ml_check_regions(const memleak_introspect_t *ix) {
    ML_CHECK(ix->region_size == sizeof(memleak_region_t) && ix->region_chunk_count >= 1 &&
             ix->region_chunk_count <= ix->max_region_chunks);
    const uint64_t *rdir = (const uint64_t *)(uintptr_t)ix->region_chunks;
    for (uint32_t c = 0; c < ix->region_chunk_count; ++c)
        ML_CHECK(ml_in_region(ix, rdir[c], (uint64_t)ix->regions_per_chunk * ix->region_size,
                              MEMLEAK_REGION_REGIONS));
    memleak_table_t t;
    if (!ml_open(ix, &t))
        return;
    for (uint32_t s = 0; s < ix->shard_count; ++s) {
        memleak_shard_t shard;
        ML_CHECK(memleak_table_shard(&t, s, &shard) == MEMLEAK_TABLE_OK);
        const memleak_shard_t *sh = &shard;
        if (sh->chunk_count == 0)
            continue;
        ML_CHECK(ml_in_region(ix, sh->chunks, (uint64_t)sh->chunk_count * 8, MEMLEAK_REGION_TABLE));
        const uint64_t *dir = (const uint64_t *)(uintptr_t)sh->chunks;
        for (uint32_t c = 0; c < sh->chunk_count; ++c)
            ML_CHECK(ml_in_region(ix, dir[c], (uint64_t)ix->records_per_chunk * ix->record_size,
                                  MEMLEAK_REGION_TABLE));
    }
    const uint64_t *sdir = (const uint64_t *)(uintptr_t)ix->stack_chunks;
    for (uint32_t c = 0; c < ix->stack_chunk_count; ++c)
        ML_CHECK(ml_in_region(ix, sdir[c], ix->stack_chunk_size, MEMLEAK_REGION_DEPOT));
    ml_walk(ix, ml_region_visit, (void *)ix);
}

static inline void ml_check_consistent(const memleak_introspect_t *ix) {
    struct ml_sum_ctx s = {0, 0};
    uint64_t count, bytes;
    ml_walk(ix, ml_sum_visit, &s);
    ml_totals(ix, &count, &bytes);
    ML_CHECK(s.count == count);
    ML_CHECK(s.bytes == bytes);
    ML_CHECK(ix->live_bytes == bytes);
    ml_check_regions(ix);
}

/* The depot entry of a stack id, where it lies in this process; NULL if
 * the reader finds no complete entry for it. */
static inline const memleak_stack_t *ml_stack(const memleak_introspect_t *ix, uint32_t id) {
    memleak_table_t t;
    memleak_table_stack_t st;
    if (id == 0 || !ml_open(ix, &t) || memleak_table_stack(&t, id, &st) != MEMLEAK_TABLE_OK)
        return NULL;
    return (const memleak_stack_t *)(uintptr_t)st.address;
}

static inline uint64_t ml_frame(const memleak_stack_t *st, unsigned i) {
    return ((const uint64_t *)(st + 1))[i];
}

/* Whether pc (a return address) lies inside function fn, whose extent
 * comes from its ELF symbol (the test binary exports its symbols). */
static inline int ml_pc_in_function(uint64_t pc, const void *fn) {
    Dl_info info;
    void *extra = NULL;
    if (!dladdr1(fn, &info, &extra, RTLD_DL_SYMENT) || !extra || !info.dli_saddr)
        return 0;
    const ElfW(Sym) *sym = (const ElfW(Sym) *)extra;
    uint64_t start = (uint64_t)(uintptr_t)info.dli_saddr;
    return pc > start && pc <= start + sym->st_size;
}

/* Frame #0 of p's recorded stack is inside fn. */
static inline int ml_allocated_in(const memleak_introspect_t *ix, const void *p, const void *fn) {
    memleak_record_t r;
    if (!ml_find(ix, p, &r))
        return 0;
    const memleak_stack_t *st = ml_stack(ix, r.stack_id);
    return st && st->depth > 0 && ml_pc_in_function(ml_frame(st, 0), fn);
}

#endif
