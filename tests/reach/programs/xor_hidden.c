/*
 * The only copy of a pointer is XORed with a constant: no scanner can see
 * it, so the block is definitely lost (and what it points to indirectly).
 * The same block's plain twin in a global is still reachable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reach_support.h"

static volatile uint64_t hidden;
static void *volatile plain;

KEEP_FRAME static void *block(size_t n) {
    // A mark stays on the line it marks, however long.
    // clang-format off
    char *p = malloc(n); /* REACH: definitely_lost blocks=1 bytes=64 | indirectly_lost blocks=1 bytes=32 | still_reachable blocks=1 bytes=64 */
    // clang-format on
    reach_fill(p, 0, n);
    return p;
}

KEEP_FRAME static void build(void) {
    char *a = block(64);
    void *b = block(32);
    reach_store_ptr(a, 0, b);
    hidden = (uint64_t)(uintptr_t)a ^ REACH_HIDE_KEY;
    plain = block(64);
}

int main(int argc, char **argv) {
    build();
    return reach_finish(argc, argv);
}
