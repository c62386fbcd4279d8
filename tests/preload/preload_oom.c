/* Out of memory for the runtime's bookkeeping: the heap is grown first and
 * kept (no trimming), then the address space is capped near its current
 * size, so glibc still serves small blocks from its free heap while every
 * new mmap of the runtime fails. The program must run on, and every
 * allocation that succeeded must be either recorded or counted in
 * dropped_records. */
#include <stdint.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "introspect_walk.h"

#define MAX_BLOCKS (1u << 22)

int main(void) {
    const memleak_introspect_t *ix = ml_root();
    if (!ix)
        return 0;
    void **blocks = malloc(MAX_BLOCKS * sizeof(void *));
    ML_CHECK(blocks != NULL);
    uint64_t c0, b0, c1, b1;
    ml_totals(ix, &c0, &b0);
    const uint64_t dropped0 = ix->dropped_records;

    ML_CHECK(mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1);
    ML_CHECK(mallopt(M_MMAP_THRESHOLD, 1 << 25) == 1);
    void *volatile pool[4096];
    for (int i = 0; i < 4096; ++i)
        pool[i] = malloc(8192);
    for (int i = 0; i < 4096; ++i)
        free(pool[i]);

    /* A little room beyond what is mapped now. */
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ML_CHECK(f && fscanf(f, "%lu", &pages) == 1);
    fclose(f);
    struct rlimit lim = {pages * 4096ul + (256ul << 10), RLIM_INFINITY};
    ML_CHECK(setrlimit(RLIMIT_AS, &lim) == 0);

    unsigned n = 0;
    while (n < 600000) {
        void *p = malloc(24);
        if (!p)
            break;
        blocks[n++] = p;
    }
    ml_totals(ix, &c1, &b1);
    const uint64_t dropped = ix->dropped_records - dropped0;
    fprintf(stderr, "%u blocks, %llu recorded, %llu dropped\n", n, (unsigned long long)(c1 - c0),
            (unsigned long long)dropped);
    ML_CHECK(dropped > 0); /* the runtime did run out */
    ML_CHECK(c1 - c0 + dropped == n);
    ML_CHECK(b1 - b0 + dropped * 24 == (uint64_t)n * 24);
    /* ... and stopped recording for good, as its flags say. */
    ML_CHECK(ix->flags == MEMLEAK_FLAG_DISABLED);

    lim.rlim_cur = RLIM_INFINITY;
    setrlimit(RLIMIT_AS, &lim);
    /* With memory again, new blocks are still counted as dropped, not
     * recorded: the table holds what came before the stop, exactly. */
    const uint64_t dropped_before = ix->dropped_records;
    void *later = malloc(24);
    ML_CHECK(later != NULL);
    ml_totals(ix, &c1, &b1);
    ML_CHECK(ix->dropped_records == dropped_before + 1);
    ML_CHECK(c1 - c0 + dropped == n);
    free(later);
    for (unsigned i = 0; i < n; ++i)
        free(blocks[i]);
    ml_totals(ix, &c1, &b1);
    ML_CHECK(c1 == c0 && b1 == b0);
    ML_CHECK(ix->untracked_frees >= dropped);
    ml_check_consistent(ix);
    free(blocks);
    return ml_failures ? 1 : 0;
}
