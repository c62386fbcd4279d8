/*
 * Workload for the gdb reader benchmark: many live blocks from many
 * distinct allocation stacks, then it waits to be read (live or as a core).
 *
 * Distinct stacks come from a chain of DEPTH calls, each made through
 * step_a or step_b as one bit of the path number says: paths 0..STACKS-1
 * give STACKS different return-address sequences. The two step functions
 * are kept apart (no inlining, cloning or identical-code folding) and the
 * recursive call is not in tail position, so every level leaves a frame.
 *
 * Usage: reader_bench [BLOCKS [STACKS]]   (default 1000000 and 1000)
 * Writes "ready BLOCKS STACKS BYTES" to stdout, then pauses until killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
#define KEEP_FRAME __attribute__((noipa))
#else
#define KEEP_FRAME __attribute__((noinline))
#endif

/* 2^DEPTH must exceed the largest stack count asked for. */
#define DEPTH 12

typedef void (*step_fn)(unsigned depth, unsigned path, unsigned long blocks);

static void **blocks_kept;
static unsigned long kept;
static unsigned long long bytes_kept;

KEEP_FRAME static void step_a(unsigned depth, unsigned path, unsigned long blocks);
KEEP_FRAME static void step_b(unsigned depth, unsigned path, unsigned long blocks);

static step_fn const steps[2] = {step_a, step_b};

static void allocate(unsigned long blocks) {
    for (unsigned long i = 0; i < blocks; i++) {
        size_t size = 16 + 8 * ((kept + i) % 8);
        void *p = malloc(size);
        if (p == NULL)
            abort();
        blocks_kept[kept + i] = p;
        bytes_kept += size;
    }
    kept += blocks;
}

KEEP_FRAME static void step_a(unsigned depth, unsigned path, unsigned long blocks) {
    if (depth == 0)
        allocate(blocks);
    else
        steps[path & 1](depth - 1, path >> 1, blocks);
    __asm__ volatile("" ::: "memory");
}

KEEP_FRAME static void step_b(unsigned depth, unsigned path, unsigned long blocks) {
    if (depth == 0)
        allocate(blocks);
    else
        steps[path & 1](depth - 1, path >> 1, blocks);
    __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv) {
    unsigned long total = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    unsigned long stacks = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
    if (stacks == 0 || stacks > (1ul << DEPTH) || total < stacks) {
        fprintf(stderr, "reader_bench: need 1 <= STACKS <= %lu and BLOCKS >= STACKS\n", 1ul << DEPTH);
        return 2;
    }
    /* One array for the pointers, allocated before the measured blocks:
     * it is one block of its own stack. */
    blocks_kept = malloc(total * sizeof *blocks_kept);
    if (blocks_kept == NULL)
        return 1;
    for (unsigned long s = 0; s < stacks; s++) {
        unsigned long share = total / stacks + (s < total % stacks ? 1 : 0);
        step_a(DEPTH, (unsigned)s, share);
    }
    char line[128];
    int n = snprintf(line, sizeof line, "ready %lu %lu %llu\n", kept, stacks, bytes_kept);
    while (write(1, line, (size_t)n) < 0 && errno == EINTR) {
    }
    for (;;)
        pause();
}
