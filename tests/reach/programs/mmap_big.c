/*
 * Blocks above glibc's mmap threshold (each its own mapping) and a
 * mapping the program made itself. A global keeps one big block (still
 * reachable), which alone points to a small one (still reachable); a
 * dropped big block is definitely lost, and the small one only it points
 * to indirectly lost; a small block whose only pointer is in the
 * program's own anonymous mapping is still reachable.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "reach_support.h"

/* Above glibc's default mmap threshold (128 KiB), and small enough that no
 * stray word of the process falls inside it by chance: under valgrind, a
 * 24 MiB block was taken for possibly lost that way. */
#define BIG (1u << 20)

static char *volatile big_kept;
static void *volatile own_map;

KEEP_FRAME static char *big(void) {
    // A mark stays on the line it marks, however long.
    // clang-format off
    char *p = malloc(BIG); /* REACH: still_reachable blocks=1 bytes=1048576 | definitely_lost blocks=1 bytes=1048576 */
    // clang-format on
    reach_fill(p, 0x5b, 64);
    return p;
}

KEEP_FRAME static void *small(size_t n) {
    char *p = malloc(n); /* REACH: still_reachable blocks=2 bytes=200 | indirectly_lost blocks=1 bytes=100 */
    reach_fill(p, 0x5c, n);
    return p;
}

KEEP_FRAME static void build(void) {
    char *k = big();
    void *s = small(100);
    reach_store_ptr(k, (256u << 10), s);
    big_kept = k;
    char *d = big();
    s = small(100);
    reach_store_ptr(d, (512u << 10), s);
    char *m = mmap(NULL, 1u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        abort();
    uint64_t h = (uint64_t)(uintptr_t)m ^ REACH_HIDE_KEY;
    own_map = (void *)(uintptr_t)h;
    s = small(100);
    reach_store_ptr(m, 4096, s);
}

int main(int argc, char **argv) {
    build();
    return reach_finish(argc, argv);
}
