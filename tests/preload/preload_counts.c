/* Exact live counts, sizes, sequence numbers, threads and call sites of
 * known allocations, read back through the ABI while the program runs. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "introspect_walk.h"

void *volatile sink[16];

__attribute__((noinline)) void alloc_each_way(void) {
    sink[0] = malloc(100);
    sink[1] = calloc(7, 3);
    sink[2] = realloc(NULL, 55);
    sink[3] = reallocarray(NULL, 4, 10);
    sink[4] = aligned_alloc(64, 128);
    sink[5] = memalign(256, 33);
    sink[6] = valloc(5000);
    sink[7] = pvalloc(17);
    void *p = NULL;
    if (posix_memalign(&p, 128, 999) == 0)
        sink[8] = p;
}

static const uint64_t kSizes[9] = {100, 21, 55, 40, 128, 33, 5000, 17, 999};

__attribute__((noinline)) void grow_in_realloc(void) { sink[2] = realloc(sink[2], 4000); }

static void check_header(const memleak_introspect_t *ix) {
    ML_CHECK(ix->magic == MEMLEAK_ABI_MAGIC);
    ML_CHECK(ix->version == MEMLEAK_ABI_VERSION);
    ML_CHECK(ix->size == sizeof(memleak_introspect_t));
    ML_CHECK(ix->record_size == sizeof(memleak_record_t));
    ML_CHECK(ix->shard_size == sizeof(memleak_shard_t));
    ML_CHECK(ix->record_offsets[MEMLEAK_RECORD_STACK_ID] == offsetof(memleak_record_t, stack_id));
    ML_CHECK(ix->shard_offsets[MEMLEAK_SHARD_LAST_TICKS] == offsetof(memleak_shard_t, last_ticks));
    ML_CHECK(ix->stack_offsets[MEMLEAK_STACK_PCS] == sizeof(memleak_stack_t));
    ML_CHECK(ix->mark_offsets[MEMLEAK_MARK_STATE] == offsetof(memleak_mark_t, state));
    ML_CHECK(ix->shard_count == 64);
    const char *depth = getenv("MEMLEAK_DEPTH");
    ML_CHECK(ix->max_depth == (depth ? (uint32_t)atoi(depth) : 32u));
    ML_CHECK(ix->pid == getpid());
    ML_CHECK(ix->flags & MEMLEAK_FLAG_RECORDING);
    ML_CHECK(ix->tick_ns > 0 && ix->tick_ns <= 10000000);
    ML_CHECK(strcmp(ix->runtime_version, "1.0.0") == 0);
    ML_CHECK(ix->start_realtime_ns > 1600000000ull * 1000000000ull);
}

int main(void);

/* Recurses `levels` deep, then allocates; the frames below stay on the stack
 * (the result is used after each call, so nothing becomes a tail call). */
__attribute__((noinline)) int deep_alloc(int levels) {
    if (levels == 0) {
        sink[15] = malloc(77);
        return 1;
    }
    return deep_alloc(levels - 1) + (sink[15] != NULL);
}

/* Stacks keep max_depth frames, innermost first, and say when they were cut. */
static void check_depth(const memleak_introspect_t *ix) {
    ML_CHECK(deep_alloc(60) > 0);
    memleak_record_t r;
    ML_CHECK(ml_find(ix, sink[15], &r));
    const memleak_stack_t *st = ml_stack(ix, r.stack_id);
    ML_CHECK(st && st->depth == ix->max_depth);
    ML_CHECK(st && (st->flags & MEMLEAK_STACK_TRUNCATED));
    for (unsigned i = 0; st && i < st->depth; ++i)
        ML_CHECK(ml_pc_in_function(ml_frame(st, i), (const void *)deep_alloc));
    free(sink[15]);

    sink[15] = malloc(78); /* main -> libc start -> _start: a short stack */
    ML_CHECK(ml_find(ix, sink[15], &r));
    st = ml_stack(ix, r.stack_id);
    if (ix->max_depth >= 8) {
        ML_CHECK(st && st->depth < 8 && !(st->flags & MEMLEAK_STACK_TRUNCATED));
        ML_CHECK(st && ml_pc_in_function(ml_frame(st, 0), (const void *)main));
    }
    free(sink[15]);
}

/* A C program under the runtime must not get a C++ library loaded. */
static void check_no_libstdcxx(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    ML_CHECK(f != NULL);
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "libstdc++"))
            found = 1;
    if (f)
        fclose(f);
    ML_CHECK(!found);
}

/* memleak_mark is in the runtime; the program API header is not needed. */
typedef uint64_t (*mark_fn)(const char *);

static void check_marks(const memleak_introspect_t *ix) {
    mark_fn mark = (mark_fn)dlsym(RTLD_DEFAULT, "memleak_mark");
    ML_CHECK(mark != NULL);
    if (!mark)
        return;
    const memleak_mark_t *marks = (const memleak_mark_t *)(uintptr_t)ix->marks;
    const uint64_t seq = mark("phase-one");
    ML_CHECK(seq == ix->seq);
    void *volatile p = malloc(10);
    ML_CHECK(ix->mark_count == 1);
    ML_CHECK(strcmp(marks[0].name, "phase-one") == 0);
    ML_CHECK(marks[0].seq == seq);
    ML_CHECK(marks[0].state == MEMLEAK_MARK_VALID);
    free(p);
    char longname[100];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const uint64_t seq2 = mark(longname);
    ML_CHECK(seq2 == ix->seq && seq2 > seq);
    ML_CHECK(strlen(marks[1].name) == MEMLEAK_MARK_NAME_SIZE - 1);
    ML_CHECK(mark(NULL) == 0);
    ML_CHECK(ix->mark_count == 2);
    /* Marking a name again moves its mark instead of taking a new slot. */
    for (int i = 0; i < 300; i++) {
        void *volatile q = malloc(10);
        free(q);
        ML_CHECK(mark("phase-one") == ix->seq);
    }
    ML_CHECK(ix->mark_count == 2);
    ML_CHECK(marks[0].seq == ix->seq);
    ML_CHECK(mark(longname) == ix->seq && ix->mark_count == 2);
}

int main(void) {
    const memleak_introspect_t *ix = ml_root();
    if (!ix)
        return 0;
    check_header(ix);
    check_no_libstdcxx();

    uint64_t c0, b0, c1, b1;
    ml_totals(ix, &c0, &b0);
    const uint64_t seq0 = ix->seq;
    alloc_each_way();
    ml_totals(ix, &c1, &b1);
    uint64_t want_bytes = 0;
    for (int i = 0; i < 9; ++i)
        want_bytes += kSizes[i];
    ML_CHECK(c1 - c0 == 9);
    ML_CHECK(b1 - b0 == want_bytes);
    ML_CHECK(ix->seq == seq0 + 9);

    const uint32_t tid = (uint32_t)syscall(SYS_gettid);
    for (int i = 0; i < 9; ++i) {
        memleak_record_t r;
        ML_CHECK(ml_find(ix, sink[i], &r));
        ML_CHECK(ml_size(&r) == kSizes[i]);
        ML_CHECK(ml_seq(&r) > seq0 && ml_seq(&r) <= seq0 + 9);
        ML_CHECK(r.tid == tid);
        ML_CHECK(ml_allocated_in(ix, sink[i], (const void *)alloc_each_way));
        const memleak_stack_t *st = ml_stack(ix, r.stack_id);
        /* #1 is main, the caller of alloc_each_way. */
        ML_CHECK(st && st->depth >= 2 && ml_pc_in_function(ml_frame(st, 1), (const void *)main));
        if (ml_failures) {
            fprintf(stderr, "block %d\n", i);
            return 1;
        }
    }
    ml_check_consistent(ix);

    /* realloc: the old record goes, a new one with a new seq and the
     * realloc call site comes, even for a block resized in place. */
    memleak_record_t before, after;
    ML_CHECK(ml_find(ix, sink[2], &before));
    void *old = sink[2];
    grow_in_realloc();
    ML_CHECK(ml_find(ix, sink[2], &after));
    ML_CHECK(ml_size(&after) == 4000);
    ML_CHECK(ml_seq(&after) == ix->seq && ml_seq(&after) > ml_seq(&before));
    ML_CHECK(ml_allocated_in(ix, sink[2], (const void *)grow_in_realloc));
    if (sink[2] != old)
        ML_CHECK(!ml_find(ix, old, NULL));
    ml_totals(ix, &c1, &b1);
    ML_CHECK(c1 - c0 == 9);
    ML_CHECK(b1 - b0 == want_bytes - 55 + 4000);

    const uint64_t frees0 = ix->untracked_frees;
    for (int i = 0; i < 9; ++i)
        free(sink[i]);
    ml_totals(ix, &c1, &b1);
    ML_CHECK(c1 == c0);
    ML_CHECK(b1 == b0);
    ML_CHECK(ix->untracked_frees == frees0);
    for (int i = 0; i < 9; ++i)
        ML_CHECK(!ml_find(ix, sink[i], NULL));
    ML_CHECK(ix->peak_bytes >= b0 + want_bytes);
    ml_check_consistent(ix);

    check_marks(ix);
    check_depth(ix);
    return ml_failures ? 1 : 0;
}
