/*
 * A block whose only pointer sits in memory the program freed: glibc's
 * free lists keep the stale bytes, but freed memory is no root, so the
 * block is definitely lost. One freed block is small (a tcache chunk),
 * one larger than tcache takes (an unsorted-bin chunk); the pointers sit
 * past the words free() overwrites.
 */
#include <stdlib.h>
#include <string.h>

#include "reach_support.h"

/* Allocated between the two cases, so the larger freed chunk is not the
 * top chunk's neighbour whatever the allocator did before. */
static void *volatile guard;

KEEP_FRAME static void *target(size_t n) {
    char *p = malloc(n); /* REACH: definitely_lost blocks=2 bytes=150 */
    reach_fill(p, 0x99, n);
    return p;
}

KEEP_FRAME static void refer_then_free(size_t holder_size, size_t target_size) {
    char *holder = malloc(holder_size);
    void *t = target(target_size);
    reach_fill(holder, 0, holder_size);
    reach_store_ptr(holder, 32, t);
    reach_store_ptr(holder, holder_size - 16, t);
    free(holder);
}

int main(int argc, char **argv) {
    refer_then_free(64, 70);
    guard = malloc(16); /* REACH: still_reachable blocks=1 bytes=16 */
    refer_then_free(4000, 80);
    return reach_finish(argc, argv);
}
