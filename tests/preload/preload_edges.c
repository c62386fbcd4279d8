/* glibc's results on every edge of the allocator API. Run once plain
 * (proving the expectations are glibc's) and once under the runtime
 * (proving the runtime keeps them), where the table is checked too:
 * failures record nothing, frees remove, failed reallocs keep the old
 * record untouched. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "introspect_walk.h"

static const memleak_introspect_t *ix;
static uint64_t count0, bytes0;

static void begin(void) {
    if (ix)
        ml_totals(ix, &count0, &bytes0);
}

/* Live blocks and bytes gained since begin(). */
static void expect_delta(int64_t count, int64_t bytes, int line) {
    if (!ix)
        return;
    uint64_t c, b;
    ml_totals(ix, &c, &b);
    if ((int64_t)(c - count0) != count || (int64_t)(b - bytes0) != bytes) {
        fprintf(stderr, "line %d: delta %lld blocks %lld bytes, expected %lld %lld\n", line,
                (long long)(c - count0), (long long)(b - bytes0), (long long)count, (long long)bytes);
        ++ml_failures;
    }
}
#define EXPECT_DELTA(c, b) expect_delta((c), (b), __LINE__)

static int recorded_with_size(const void *p, uint64_t size) {
    memleak_record_t r;
    return !ix || (ml_find(ix, p, &r) && ml_size(&r) == size);
}

static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static void zero_and_null(void) {
    begin();
    errno = EXDEV;
    void *volatile p = malloc(0);
    ML_CHECK(p != NULL);
    ML_CHECK(errno == EXDEV);
    ML_CHECK(recorded_with_size(p, 0));
    EXPECT_DELTA(1, 0);
    free(p);
    ML_CHECK(errno == EXDEV);
    free(NULL);
    ML_CHECK(errno == EXDEV);
    ML_CHECK(malloc_usable_size(NULL) == 0);
    EXPECT_DELTA(0, 0);
}

static void errno_untouched_on_success(void) {
    begin();
    errno = EXDEV;
    /* Through a volatile array: the compiler may drop an unused malloc/free pair. */
    void *volatile k[9];
    k[0] = malloc(10);
    k[1] = calloc(2, 8);
    k[2] = realloc(NULL, 3);
    k[2] = realloc(k[2], 300);
    void *d = NULL;
    ML_CHECK(posix_memalign(&d, 32, 8) == 0);
    k[3] = d;
    k[4] = aligned_alloc(16, 32);
    k[5] = memalign(64, 1);
    k[6] = valloc(1);
    k[7] = pvalloc(1);
    k[8] = reallocarray(NULL, 3, 3);
    ML_CHECK(errno == EXDEV);
    EXPECT_DELTA(9, 10 + 16 + 300 + 8 + 32 + 1 + 1 + 1 + 9);
    for (int i = 0; i < 9; ++i)
        free(k[i]);
    ML_CHECK(errno == EXDEV);
    EXPECT_DELTA(0, 0);
}

static void realloc_edges(void) {
    begin();
    char *p = realloc(NULL, 32);
    ML_CHECK(p != NULL);
    ML_CHECK(recorded_with_size(p, 32));
    memset(p, 'a', 32);
    p = realloc(p, 8); /* shrink keeps the prefix */
    ML_CHECK(p && p[0] == 'a' && p[7] == 'a');
    ML_CHECK(recorded_with_size(p, 8));
    p = realloc(p, 100000); /* grow keeps it too */
    ML_CHECK(p && p[0] == 'a' && p[7] == 'a');
    ML_CHECK(recorded_with_size(p, 100000));
    EXPECT_DELTA(1, 100000);

    /* A failing realloc leaves the block and its record exactly as they were. */
    memleak_record_t before, after;
    if (ix)
        ML_CHECK(ml_find(ix, p, &before));
    errno = 0;
    void *q = realloc(p, SIZE_MAX - 4096);
    ML_CHECK(q == NULL && errno == ENOMEM);
    ML_CHECK(p[0] == 'a');
    errno = 0;
    q = reallocarray(p, SIZE_MAX / 2, 3);
    ML_CHECK(q == NULL && errno == ENOMEM);
    if (ix) {
        ML_CHECK(ml_find(ix, p, &after));
        ML_CHECK(memcmp(&before, &after, sizeof before) == 0);
    }
    EXPECT_DELTA(1, 100000);

    /* glibc: realloc(p, 0) frees p and returns NULL; so does reallocarray. */
    errno = EXDEV;
    q = realloc(p, 0);
    ML_CHECK(q == NULL);
    ML_CHECK(errno == EXDEV);
    if (ix)
        ML_CHECK(!ml_find(ix, p, NULL));
    EXPECT_DELTA(0, 0);
    p = malloc(10);
    q = reallocarray(p, 0, 5);
    ML_CHECK(q == NULL);
    EXPECT_DELTA(0, 0);
    p = reallocarray(NULL, 4, 10);
    ML_CHECK(recorded_with_size(p, 40));
    EXPECT_DELTA(1, 40);
    free(p);
    EXPECT_DELTA(0, 0);
}

static void failures_record_nothing(void) {
    begin();
    const uint64_t dropped = ix ? ix->dropped_records : 0;
    errno = 0;
    ML_CHECK(malloc(SIZE_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    ML_CHECK(malloc(PTRDIFF_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    ML_CHECK(calloc(SIZE_MAX / 2 + 1, 2) == NULL && errno == ENOMEM);
    errno = 0;
    ML_CHECK(calloc(2, SIZE_MAX / 2 + 1) == NULL && errno == ENOMEM);
    errno = 0;
    ML_CHECK(reallocarray(NULL, SIZE_MAX, 2) == NULL && errno == ENOMEM);
    errno = 0;
    ML_CHECK(valloc(SIZE_MAX - 100) == NULL && errno == ENOMEM);
    errno = 0;
    ML_CHECK(pvalloc(SIZE_MAX - 100) == NULL && errno == ENOMEM);
    errno = 0;
    ML_CHECK(memalign(64, SIZE_MAX - 100) == NULL && errno == ENOMEM);
    errno = 0;
    ML_CHECK(aligned_alloc(64, SIZE_MAX - 100) == NULL && errno == ENOMEM);
    errno = 0;
    ML_CHECK(memalign(SIZE_MAX / 2 + 2, 8) == NULL && errno == EINVAL);

    void *q = (void *)1;
    ML_CHECK(posix_memalign(&q, 3, 8) == EINVAL);
    ML_CHECK(posix_memalign(&q, 0, 8) == EINVAL);
    ML_CHECK(posix_memalign(&q, 4, 8) == EINVAL); /* not a multiple of sizeof(void *) */
    ML_CHECK(posix_memalign(&q, 64, SIZE_MAX - 100) == ENOMEM);
    ML_CHECK(q == (void *)1); /* left alone on error */
    EXPECT_DELTA(0, 0);
    if (ix)
        ML_CHECK(ix->dropped_records == dropped);
}

static void alignments(void) {
    begin();
    int64_t blocks = 0, bytes = 0;
    void *keep[64];
    int n = 0;
    for (size_t a = 8; a <= 65536; a *= 2) {
        void *p = NULL;
        ML_CHECK(posix_memalign(&p, a, 24) == 0 && aligned_to(p, a));
        keep[n++] = p;
        void *q = aligned_alloc(a, 3 * a);
        ML_CHECK(q && aligned_to(q, a));
        keep[n++] = q;
        void *r = memalign(a, 5);
        ML_CHECK(r && aligned_to(r, a));
        keep[n++] = r;
        blocks += 3;
        bytes += 24 + 3 * (int64_t)a + 5;
    }
    /* glibc 2.36 rounds an alignment that is not a power of two up. */
    void *odd = memalign(48, 10);
    ML_CHECK(odd && aligned_to(odd, 64));
    keep[n++] = odd;
    const long page = sysconf(_SC_PAGESIZE);
    void *v = valloc(10);
    ML_CHECK(v && aligned_to(v, (size_t)page));
    keep[n++] = v;
    void *pv = pvalloc(10);
    ML_CHECK(pv && aligned_to(pv, (size_t)page) && malloc_usable_size(pv) >= (size_t)page);
    ML_CHECK(recorded_with_size(pv, 10));
    keep[n++] = pv;
    blocks += 3;
    bytes += 30;
    EXPECT_DELTA(blocks, bytes);
    for (int i = 0; i < n; ++i)
        free(keep[i]);
    EXPECT_DELTA(0, 0);
}

static void usable_size(void) {
    for (size_t n = 1; n < 5000; n = n * 3 + 1) {
        void *p = malloc(n);
        ML_CHECK(malloc_usable_size(p) >= n);
        free(p);
    }
}

int main(void) {
    ix = ml_root();
    zero_and_null();
    errno_untouched_on_success();
    realloc_edges();
    failures_record_nothing();
    alignments();
    usable_size();
    if (ix)
        ml_check_consistent(ix);
    return ml_failures ? 1 : 0;
}
